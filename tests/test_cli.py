"""The command line, in-process through main(argv) and once as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import matcalc
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
    assert lines[0].startswith("dL = ")
    assert lines[-2] == "∂L/∂x = 2*S*x" and lines[-1] == "2*S*x"
    assert "G : A*dX*B = A'*G*B' : dX" in out
    assert err.startswith("check passed: worst error")


def test_seed_steps_are_the_classic_derivation(capsys):
    code, out, _ = run(capsys, "diff", "g(W*x+b)", "W", "--steps")
    assert out.splitlines() == [
        "a = W*x + b",
        "dL = ∇g(a) : da    [d g(u) = ∇g(u) : du]",
        "p = ∇g(a)",
        "da = dW*x    [d(A*B) = dA*B + A*dB; d(A + B) = dA + dB]",
        "dL = p : dW*x = p*x' : dW    [G : A*dX*B = A'*G*B' : dX]",
        "∂L/∂W = p*x'",
        "∇g(W*x+b)*x'",
    ]


def test_json_format(capsys):
    code, out, _ = run(capsys, "diff", "tr(A*X*B)", "X", "--format", "json", "--check")
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"input", "wrt", "kind", "vars", "result", "steps", "steps_latex",
                         "check"}
    assert data["kind"] == "gradient"
    assert data["result"]["text"] == "A'*B'" and data["result"]["flat"] == "A'*B'"
    assert data["result"]["latex"].startswith(r"\frac{\partial L}{\partial X} = ")
    assert data["check"]["passed"] is True
    assert data["steps"][-1] == "∂L/∂X = A'*B'"


def test_json_error_has_kind_and_error(capsys):
    code, out, err = run(capsys, "diff", "x*A", "x", "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert data["kind"] == "gradient" and data["error"]["type"] == "ShapeError"
    assert data["error"]["span"] == [1, 2] and "^" in data["error"]["caret"]
    assert "cannot multiply" in err


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
    (["diff", "a'*X*b", "X"], "b is read as a scalar by the first letter: declare a "
                              "vector as one (vars={'b': 'vector'}, or --let b=vector)"),
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
    real = api.gradients

    def wrong(*args, **kwargs):
        from matcalc.expr import scale
        return [scale(3, g) for g in real(*args, **kwargs)]

    monkeypatch.setattr(api, "gradients", wrong)
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
    assert code == 0 and out == "diag(1-tanh(W*x+b).^2)*W\n" and "check passed" in err


def test_hessian_command_prints_one_matrix_expression(capsys):
    code, out, err = run(capsys, "hessian", "sum(log(vector(1)+exp(X*w))) - y'*X*w", "w",
                         "--check", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["check"]["passed"]
    assert data["result"]["flat"] == "X'*diag((1-sigmoid(X*w)).*sigmoid(X*w))*X"
    assert data["result"]["text"] == "X'*diag((1-s).*s)*X  where s = sigmoid(X*w)"
    assert data["steps"][-1].startswith("∂²L/∂w∂w' = ")


def test_hessian_steps_and_latex(capsys):
    code, out, _ = run(capsys, "hessian", "logdet(X)", "X", "--format", "latex")
    assert code == 0
    assert out.startswith("\\frac{\\partial^2 L}{\\partial X\\, \\partial X^\\top} = ")
    assert "K_{n,n}" in out and "\\otimes" in out
    code, out, _ = run(capsys, "hessian", "x'*A*x", "x", "--steps")
    lines = out.splitlines()
    assert "∂L/∂x = (A+A')*x" in lines and lines[-1] == "A + A'"


# ---------------------------------------------------------------------------
# CLI conventions (SPEC §6)
# ---------------------------------------------------------------------------

def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"matcalc {matcalc.__version__}"


def test_stdin_and_a_leading_minus(capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("-y'*log(softmax(W*x))\n"))
    code, out, _ = run(capsys, "diff", "-", "W")
    assert (code, out) == (0, "(sum(y)*softmax(W*x)-y)*x'\n")
    code, out2, _ = run(capsys, "diff", "-y'*log(softmax(W*x))", "W")
    assert (code, out2) == (0, out)
    code, out3, _ = run(capsys, "diff", "-y'*log(softmax(W*x))", "W", "--format", "json")
    assert code == 0 and json.loads(out3)["input"] == "-y'*log(softmax(W*x))"


def test_several_variables_print_one_line_each(capsys):
    code, out, _ = run(capsys, "diff", "norm2(W2*tanh(W1*x+b1) - y)^2", "W1", "b1", "W2",
                       "--check")
    lines = out.splitlines()
    assert code == 0
    assert [line.split(" = ")[0] for line in lines[:3]] == ["∂L/∂W1", "∂L/∂b1", "∂L/∂W2"]
    assert lines[3].startswith("  where ") and "h = tanh(W1*x+b1)" in lines[3]


def test_mixed_hessian(capsys):
    code, out, _ = run(capsys, "hessian", "x'*A*y", "x", "y")
    assert (code, out) == (0, "A\n")


def test_ascii_terminal_falls_back_to_a_spelling_that_parses_back():
    env = dict(os.environ, PYTHONIOENCODING="ascii",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "matcalc", "diff", "g(W*x+b)", "W",
                           "--format", "json"], capture_output=True, env=env, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.decode("ascii"))
    assert data["result"]["text"] == "nabla g(W*x+b)*x'"
    assert str(matcalc.parse(data["result"]["text"])) == "∇g(W*x+b)*x'"
    text = subprocess.run([sys.executable, "-m", "matcalc", "diff", "x*A", "x"],
                          capture_output=True, env=env, cwd=ROOT, timeout=60)
    assert text.returncode == 1 and b"(nx1)" in text.stderr


@pytest.mark.parametrize("argv, code", [
    (["diff", "x'*x", "x"], 0),
    (["diff", "x^2", "x"], 1),
    (["diff", "x'*x", "x", "--frobnicate"], 2),
])
def test_exit_codes(capsys, argv, code):
    assert run(capsys, *argv)[0] == code


def test_an_internal_error_exits_3_and_asks_for_a_report(capsys, monkeypatch):
    import matcalc.api as api

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api, "gradients", broken)
    code, out, err = run(capsys, "diff", "x'*x", "x")
    assert code == 3 and out == ""
    assert "internal error" in err and "report" in err and "Traceback" not in err


def test_a_wrong_flag_shows_the_subcommands_usage(capsys):
    code, out, err = run(capsys, "hessian", "x'*A*x", "x", "--frobnicate")
    assert code == 2 and err.startswith("usage: matcalc hessian")
    assert "unrecognized arguments: --frobnicate" in err


def test_a_closed_pipe_exits_cleanly():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    script = ("import subprocess, sys\n"
              "p = subprocess.Popen([sys.executable, '-m', 'matcalc', 'diff', "
              "'norm2(W3*tanh(W2*tanh(W1*x+b1)+b2)-y)^2', 'W1', '--steps'], "
              "stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
              "p.stdout.readline(); p.stdout.close()\n"
              "err = p.stderr.read(); code = p.wait()\n"
              "print(code, len(err)); sys.stderr.write(err.decode())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)
    code, err_len = done.stdout.split()
    assert code in ("0", "-13") and "Traceback" not in done.stderr, done.stderr
    assert err_len == "0" or "Broken pipe" not in done.stderr


def test_absent_variable_warns_on_stderr(capsys):
    code, out, err = run(capsys, "diff", "x'*x", "y")
    assert code == 0 and out == "vector(0)\n"
    assert err.startswith("matcalc: warning: y does not occur")
