"""The command line, in-process through main(argv) and once as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from matcalc.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_example(capsys):
    code, out, err = run(capsys, "diff", "g(W*x+b)", "W")
    assert (code, out, err) == (0, "∇g(W*x+b)*x'\n", "")


def test_steps_and_check(capsys):
    code, out, err = run(capsys, "diff", "x'*S*x", "x", "--let", "S=symmetric", "--steps",
                         "--check")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "dL = d(x'*S*x)"
    assert lines[-1] == "2*S*x"
    assert "G : A*dX*B = A'*G*B' : dX" in out
    assert err.startswith("check passed: worst error")


def test_seed_steps_follow_the_differential(capsys):
    code, out, _ = run(capsys, "diff", "g(W*x+b)", "W", "--steps")
    assert out.splitlines() == [
        "dL = d(g(W*x+b))",
        "   = ∇g(W*x+b) : d(W*x+b)    [d g(u) = ∇g(u) : du]",
        "   = ∇g(W*x+b) : d(W*x)    [d(A + B) = dA + dB]",
        "   = ∇g(W*x+b)*x' : dW    [G : A*dX*B = A'*G*B' : dX]",
        "∇g(W*x+b)*x'",
    ]


def test_json_format(capsys):
    code, out, _ = run(capsys, "diff", "tr(A*X*B)", "X", "--format", "json", "--check")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"input", "wrt", "kind", "vars", "result", "steps", "check"}
    assert data["result"]["text"] == "A'*B'"
    assert data["check"]["passed"] is True
    assert data["steps"][-1] == "∂L/∂X = A'*B'"


def test_latex_format(capsys):
    code, out, _ = run(capsys, "diff", "tr(A*X*B)", "X", "--format", "latex")
    assert code == 0 and "\\top" in out


def test_let_with_sizes(capsys):
    code, out, _ = run(capsys, "diff", "det(A*X)", "X", "--let", "A=matrix(n,n)",
                       "--let", "X=matrix(n,n)")
    assert (code, out) == (0, "det(A*X)*inv(X)'\n")


@pytest.mark.parametrize("argv, message", [
    (["diff", "x^2", "x"], "cannot raise x (n×1) to a power"),
    (["diff", "x +", "x"], "ends too early"),
    (["diff", "tr(A, B)", "A"], "tr takes 1 argument"),
    (["diff", "x*A", "x"], "cannot multiply x (n×1) by A (m×k): 1 ≠ m"),
    (["diff", "x/y", "x"], "cannot divide by y"),
    (["diff", "A*x", "x"], "the gradient needs a scalar expression"),
    (["diff", "x'*x", "2x"], "must be a name"),
    (["diff", "x'*S*x", "x", "--let", "S=symetric"], "cannot declare S"),
])
def test_errors_are_one_paragraph_on_stderr(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("matcalc: ") and message in err
    assert "Traceback" not in err
    assert "\n\n" not in err.strip()


@pytest.mark.parametrize("argv", [[], ["diff"], ["diff", "x'*x"], ["frobnicate"],
                                  ["diff", "x'*x", "x", "--format", "html"],
                                  ["diff", "x'*x", "x", "--let", "S"]])
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "usage:" in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "diff" in out


def test_failed_check_exits_1(capsys, monkeypatch):
    # a deliberately wrong derivative must be caught by --check
    import matcalc.api as api
    real = api.reverse_sweep

    def wrong(*args, **kwargs):
        from matcalc.expr import scale
        return scale(3, real(*args, **kwargs))

    monkeypatch.setattr(api, "reverse_sweep", wrong)
    code, out, err = run(capsys, "diff", "x'*x", "x", "--check")
    assert code == 1
    assert "check FAILED" in err and "analytic" in err and "numeric" in err


def test_real_subprocess():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "matcalc", "diff", "g(W*x+b)", "W"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0
    assert done.stdout == "∇g(W*x+b)*x'\n"
    bad = subprocess.run([sys.executable, "-m", "matcalc", "diff", "x^2", "x"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "^" in bad.stderr


def test_jacobian_command(capsys):
    code, out, _ = run(capsys, "jacobian", "A*X*B", "X")
    assert (code, out) == (0, "kron(B', A)\n")
    code, out, err = run(capsys, "jacobian", "tanh(W*x+b)", "x", "--check")
    assert code == 0 and out == "W - diag(tanh(W*x+b).^2)*W\n" and "check passed" in err


def test_hessian_command_prints_one_matrix_expression(capsys):
    code, out, err = run(capsys, "hessian", "sum(log(vector(1)+exp(X*w))) - y'*X*w", "w",
                         "--check", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["check"]["passed"]
    assert data["result"]["text"] == "X'*diag(sigmoid(X*w)-sigmoid(X*w).^2)*X"
    assert data["steps"][-1].startswith("d(∇f) = H dw")


def test_hessian_steps_and_latex(capsys):
    code, out, _ = run(capsys, "hessian", "logdet(X)", "X", "--format", "latex")
    assert code == 0 and out == "-K_{n,n} \\left(X^{-\\top} \\otimes X^{-1}\\right)\n"
    code, out, _ = run(capsys, "hessian", "x'*A*x", "x", "--steps")
    lines = out.splitlines()
    assert "∇f = (A+A')*x" in lines and lines[-1] == "A + A'"
