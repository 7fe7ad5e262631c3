"""Every ``$ matcalc ...`` session shown in README.md and docs/*.md prints what the page
says it prints (a check's report only has to pass: its error figure is random)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def sessions():
    """(page, command, expected lines) for each shown command that runs on its own
    (pipes and redirections are left out)."""
    out = []
    for page in PAGES:
        for block in re.findall(r"```\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            lines = block.splitlines()
            for i, line in enumerate(lines):
                if not line.startswith("$ matcalc "):
                    continue
                expected = []
                for following in lines[i + 1:]:
                    if following.startswith("$ "):
                        break
                    expected.append(following)
                command = line[2:]
                if not any(c in command for c in "|<>"):
                    out.append(pytest.param(command, expected,
                                            id=f"{page.name}: {command[8:60]}"))
    return out


SESSIONS = sessions()


def test_the_pages_show_sessions():
    assert len(SESSIONS) >= 10


@pytest.mark.parametrize("command, expected", SESSIONS)
def test_a_shown_session_prints_what_the_page_says(command, expected):
    argv = [sys.executable, "-m", "matcalc", *shlex.split(command)[1:]]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}  # the pages show ∇ and ∂
    done = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8",
                          cwd=ROOT, env=env, timeout=60)
    got = (done.stdout + done.stderr).rstrip("\n").splitlines()
    if "--check" in command:
        assert got[:-1] == expected[:-1]
        assert got[-1].startswith("check passed") and expected[-1].startswith("check passed")
    else:
        assert got == expected
