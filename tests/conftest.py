"""Test-suite configuration: the long runs stay out of the default run.

Tests marked ``soak`` (thousands of generated inputs) run only when the marker is
selected explicitly, as in ``python -m pytest -m soak``; otherwise they are skipped.
"""
from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    if "soak" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="long run; select it with -m soak (docs/testing.md)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    """Say up front whether the web page's browser test, the LaTeX rendering tests and
    the tests of the generated JAX and PyTorch code can run here."""
    import importlib.util
    import shutil
    from pathlib import Path
    found = Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()
    lines = ["web browser test: headless Chromium found" if found else
             "web browser test: SKIPPED, /usr/bin/chromium or /usr/bin/chromedriver is "
             "missing (apt-get install chromium chromium-driver)"]
    for tool, what, install in (("node", "LaTeX rendered by KaTeX", "nodejs"),
                                ("pdflatex", "LaTeX compiled", "texlive-latex-base")):
        lines.append(f"{what}: tested" if shutil.which(tool) else
                     f"{what}: tests SKIPPED, {tool} is missing (apt-get install {install})")
    for package, install in (("jax", '"jax[cpu]"'), ("torch", "torch")):
        if importlib.util.find_spec(package) is not None:
            lines.append(f"generated {package} code: tested")
        else:
            lines.append(f"generated {package} code: tests SKIPPED, {package} is not "
                         f"installed (pip install {install})")
    return lines
