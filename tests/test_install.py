"""The grammar loads from a source checkout, an editable install and an installed wheel."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import matcalc, matcalc.parse as p; "
         "print(matcalc.__file__); print(matcalc.diff('g(W*x+b)', 'W'))")


def _run(code: str, cwd: Path, pythonpath: str | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                           "--quiet", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr


def test_from_checkout(tmp_path):
    where, result = _run(PROBE, cwd=tmp_path, pythonpath=str(ROOT))
    assert Path(where).parent == ROOT / "matcalc"
    assert result == "∇g(W*x+b)*x'"


@pytest.mark.slow
def test_from_wheel(tmp_path):
    _pip("wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT), cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("matcalc-*.whl")
    _pip("install", "--no-deps", "--target", str(tmp_path / "site"), str(wheel), cwd=tmp_path)
    packaged = tmp_path / "site" / "matcalc" / "grammar" / "matcalc.lark"
    assert packaged.is_file()
    where, result = _run(PROBE, cwd=tmp_path, pythonpath=str(tmp_path / "site"))
    assert Path(where).parent == tmp_path / "site" / "matcalc"
    assert result == "∇g(W*x+b)*x'"


@pytest.mark.slow
def test_from_editable_install(tmp_path):
    # a separate environment, so that the one running the tests is left untouched
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    python = venv / "bin" / "python"
    _pip("--python", str(python), "install", "--no-deps", "-e", str(ROOT), cwd=tmp_path)
    import lark
    import numpy
    import sympy
    deps = os.pathsep.join(sorted({str(Path(m.__file__).resolve().parent.parent)
                                   for m in (lark, numpy, sympy)}))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = deps
    done = subprocess.run([str(python), "-c", PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    where, result = done.stdout.splitlines()
    assert Path(where).parent == ROOT / "matcalc"
    assert result == "∇g(W*x+b)*x'"
