"""The suite's copy of the worked cases stays equal to ../shared/examples.json."""
from __future__ import annotations

import json

import pytest

from helpers import EXAMPLES, ROOT


def test_copy_matches_shared_examples():
    shared = ROOT.parent / "shared" / "examples.json"
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout; the suite uses its own copy")
    assert json.loads(EXAMPLES.read_text(encoding="utf-8")) == \
        json.loads(shared.read_text(encoding="utf-8"))
