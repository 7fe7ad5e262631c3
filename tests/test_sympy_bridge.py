"""SymPy, used for what it is good at (issue 9): the bridge to SymPy's matrix expressions,
checked by evaluating both sides at the same numbers, and user-defined element-wise
functions that SymPy differentiates."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy

import matcalc
from matcalc.numeric import Evaluator
from matcalc.parse import parse_typed
from helpers import ROOT

BRIDGED = [
    "tr(A*X*B)", "x'*S*x + a*norm2(x)^2", "det(X)*inv(X)'", "logdet(X) + tr(inv(X))",
    "sum(exp(W*x))", "x.*y + x.^2", "kron(A, B)", "X^3 - 2*eye", "sigmoid(a)*log1p(b)",
    "diag(x)*A", "tanh(W*x + y)", "matrix(2) + A", "pi*tr(X')",
]
DECLS = {"A": "matrix(n,n)", "B": "matrix(n,n)", "X": "matrix(n,n)", "S": "symmetric(n)",
         "W": "matrix(n,n)", "x": "vector(n)", "y": "vector(n)", "a": "scalar",
         "b": "scalar"}


def _values(rng):
    n = 3
    s = rng.normal(size=(n, n))
    return {"A": rng.normal(size=(n, n)), "B": rng.normal(size=(n, n)),
            "X": np.eye(n) + 0.3 * rng.normal(size=(n, n)), "S": s @ s.T + n * np.eye(n),
            "W": rng.normal(size=(n, n)), "x": rng.normal(size=n), "y": rng.normal(size=n),
            "a": 0.7, "b": 0.4}


def _sympy_value(s, values):
    """A SymPy expression at numbers: sizes, then matrix and scalar symbols replaced."""
    sizes = {sym: 3 for sym in s.free_symbols if str(sym) == "n"}
    s = s.subs(sizes)
    matrices = {m: sympy.ImmutableMatrix(np.atleast_2d(values[m.name]).T
                                         if np.ndim(values[m.name]) == 1 else values[m.name])
                for m in s.atoms(sympy.MatrixSymbol)}
    s = s.xreplace(matrices)
    scalars = {sym: values[str(sym)] for sym in s.free_symbols
               if isinstance(sym, sympy.Symbol) and str(sym) in values}
    s = s.xreplace(scalars)
    s = s.replace(lambda e: isinstance(e, (sympy.OneMatrix, sympy.Identity)),
                  lambda e: sympy.ImmutableMatrix(e.as_explicit()))
    out = s.doit()
    if isinstance(out, sympy.MatrixBase) or getattr(out, "is_Matrix", False):
        return np.array(sympy.Matrix(out).evalf(), dtype=float)
    return np.array([[float(sympy.N(out))]])


@pytest.mark.parametrize("text", BRIDGED)
def test_to_sympy_means_the_same(text):
    p = parse_typed(text, DECLS)
    s = matcalc.to_sympy(p.expr)
    values = _values(np.random.default_rng(3))
    ours = Evaluator(values, p.variables, {"n": 3})(p.expr)
    theirs = _sympy_value(s, values)
    np.testing.assert_allclose(theirs.reshape(ours.shape), ours, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("text", ["tr(A*X*B)", "x'*S*x", "inv(X)'*A", "kron(A, B) + eye",
                                  "exp(W*x).*x", "X^2", "det(X)*tr(X)"])
def test_from_sympy_round_trip(text):
    e = matcalc.parse(text, DECLS)
    assert matcalc.from_sympy(matcalc.to_sympy(e)) == matcalc.parse(text, {
        k: v.replace("symmetric", "matrix").replace("(n)", "(n,n)") if "symmetric" in v
        else v for k, v in DECLS.items()}) or str(matcalc.from_sympy(matcalc.to_sympy(e))) \
        == str(e)


def test_from_sympy_reads_sympys_own_derivative():
    X = sympy.MatrixSymbol("X", 3, 3)
    A = sympy.MatrixSymbol("A", 3, 3)
    g = sympy.Trace(A * X).diff(X)  # SymPy's answer: A.T
    assert str(matcalc.from_sympy(g)) == "A'"


def test_what_does_not_map_is_refused_by_name():
    with pytest.raises(matcalc.MatcalcError, match="softmax"):
        matcalc.to_sympy(matcalc.parse("softmax(x)"))


def test_user_defined_function_is_differentiated_by_sympy():
    f = {"f": "t^3/(1+t^2)"}
    r = matcalc.diff("sum(f(W*x))", "W", functions=f)
    assert r.check().passed
    # the derivative is f' lifted entry by entry: t^2*(t^2+3)/(t^2+1)^2 at t = W*x
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(2, 3)), rng.normal(size=3)
    t = W @ x
    expected = np.outer(t ** 2 * (t ** 2 + 3) / (t ** 2 + 1) ** 2, x)
    np.testing.assert_allclose(r.evaluate({"W": W, "x": x}), expected, rtol=1e-12)
    # printed with f's derivative written out, and it parses back with the definition
    assert "f" not in str(r.expr) and matcalc.parse(str(r), functions=f) == r.expr
    h = matcalc.hessian("sum(f(x))", "x", functions={"f(z)": "z^3/(1+z^2)"})
    assert h.check().passed


def test_user_defined_functions_print_by_name_and_redefine_safely():
    a = matcalc.parse("f(x) + x", functions={"f": "t^2"})
    b = matcalc.parse("f(x) + x", functions={"f": "exp(t)"})
    assert str(a) == str(b) == "f(x) + x"
    assert a != b  # two bodies, two functions
    x = np.array([1.0, 2.0])
    assert np.allclose(Evaluator({"x": x}, {})(a)[:, 0], x ** 2 + x)
    assert np.allclose(Evaluator({"x": x}, {})(b)[:, 0], np.exp(x) + x)


@pytest.mark.parametrize("functions, message", [
    ({"f": "t^2 + y"}, "may use only t"),
    ({"f": "sigmod(t)"}, "sigmoid"),
    ({"exp": "t"}, "name of the language"),
    ({"f(": "t"}, "cannot define"),
])
def test_bad_definitions_are_clear_errors(functions, message):
    with pytest.raises(matcalc.ParseError, match=message):
        matcalc.diff("sum(f(x))", "x", functions=functions)


def test_cli_define(capsys):
    from matcalc.cli import main
    assert main(["diff", "sum(f(W*x))", "W", "--define", "f(t)=t^3/(1+t^2)", "--check"]) == 0
    out, err = capsys.readouterr()
    assert ")*x'" in out and "check passed" in err


def test_sympy_is_not_imported_by_the_command_line():
    code = ("import sys, matcalc.cli; matcalc.cli.main(['diff', 'g(W*x+b)', 'W']); "
            "print('sympy' in sys.modules, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.stdout.splitlines()[-1] == "False False", done.stdout + done.stderr
