"""The function registry (issue 8, item 9): every registered function appears
everywhere it must, and its facets agree with each other.

Adding a function is one entry in ``matcalc/functions.py``; these tests fail until the
entry is complete: a shape rule the typer knows, a derivative (or an adjoint and a
differential that agree), a NumPy kernel, a LaTeX form, text that parses back, a
domain the checker knows, and a gradient that passes the finite-difference check.
"""
from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc import expr as E
from matcalc.functions import DOMAINS, SHAPE_RULES
from matcalc.kernels import KERNELS
from matcalc.numeric import Evaluator
from matcalc.printing import CALL_RULES, latex

BUILT_IN = sorted(n for n, f in E.FUNCTIONS.items() if f.display is None)

#: an argument for each function: text, its declarations
ARGUMENTS = {
    "elementwise": ("0.3*tanh(x)", {}), "reduce": ("X", {}), "square_scalar": ("X", {}),
    "square": ("X", {}), "diag": ("x", {}), "vector_map": ("x", {}),
    "vector_reduce": ("x", {}), "same": ("X", {}),
}


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_entry_is_complete(name):
    spec = E.FUNCTIONS[name]
    assert spec.shape in SHAPE_RULES and spec.domain in DOMAINS
    assert spec.identity
    if name == "mean":  # built as sum(X)/n: sum's rules serve
        return
    assert spec.kernel in KERNELS and KERNELS[spec.kernel] is not None
    if spec.elementwise:
        assert spec.derivative is not None and spec.sympy
    else:
        assert spec.adjoint is not None and spec.jvp is not None
    assert bool(spec.latex) != (name in CALL_RULES)


def _argument(name):
    spec = E.FUNCTIONS[name]
    text, decls = ARGUMENTS[spec.shape]
    if name in ("log", "sqrt", "log1p"):
        text = "exp(x)"
    if name in ("det", "logdet", "inv"):
        text = "eye + 0.1*X"
    return text, {"x": "vector(n)", "X": "matrix(n,n)", **decls}


@pytest.mark.parametrize("name", BUILT_IN)
def test_text_latex_value_and_gradient(name):
    arg, decls = _argument(name)
    text = f"{name}({arg})"
    e = matcalc.parse(text, decls)
    # text parses back, LaTeX prints
    assert matcalc.parse(str(e), decls) == e
    assert latex(e)
    # the gradient of a scalar made of it checks against finite differences
    scalar = text if e.is_scalar else f"sum({text}.*{'x' if e.shape[1] == 1 else 'X'})"
    for wrt in ("x", "X"):
        if wrt in scalar:
            r = matcalc.diff(scalar, wrt, vars=decls)
            report = r.check()
            assert report.passed, f"{scalar} w.r.t. {wrt}: {report}"


@pytest.mark.parametrize("name", [n for n in BUILT_IN if E.FUNCTIONS[n].jvp is not None])
def test_the_differential_and_the_adjoint_agree(name):
    """<G, J du> = <J*G, du>: the forward rule shown in the steps and the reverse rule
    that computes derivatives are transposes of each other."""
    arg, decls = _argument(name)
    p = matcalc.parse(f"{name}({arg})", decls)
    node = next(n for n in E.walk(p) if isinstance(n, E.Call) and n.fn == name)
    u = node.arg
    du = E.Var("du", u.shape)
    g = E.Var("G", node.shape)
    spec = node.spec
    forward = spec.jvp(node, du)
    backward = spec.adjoint(node, g)
    rng = np.random.default_rng(2)
    n = 3
    values = {"x": rng.normal(size=n), "X": 0.3 * rng.normal(size=(n, n)),
              "du": rng.normal(size=(n, 1) if u.shape[1] == 1 else (n, n)),
              "G": rng.normal(size=(1, 1) if node.is_scalar else (n, 1) if node.shape[1] == 1
                              else (n, n))}
    values = {k: (v[:, 0] if isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[1] == 1
                  and k in ("du", "G") and not (k == "G" and node.is_scalar) else v)
              for k, v in values.items()}
    if node.is_scalar:
        values["G"] = float(np.asarray(values["G"]).reshape(-1)[0])
    ev = Evaluator(values, {}, {"n": n})
    lhs = float(np.sum(ev(g) * ev(forward)))
    rhs = float(np.sum(ev(backward) * ev(du)))
    assert np.isclose(lhs, rhs, rtol=1e-10, atol=1e-12), (name, lhs, rhs)


@pytest.mark.parametrize("text, wrt, decls", [
    ("max(X+X')", "X", {}),            # the off-diagonal pair ties by construction
    ("max(S)", "S", {"S": "symmetric(n)"}),
    ("min(X-X')", "X", {}),
    ("max(x-c)", "x", {"c": "scalar"}),  # max(x-c) - (x-c) rounds away from 0
    ("max(b*vector(1)')", "b", {"b": "vector(n)"}),  # each row ties along itself
])
def test_the_extreme_entries_derivative_shares_ties(text, wrt, decls):
    """d max(U) = ismax(U) : dU with a k-way tie sharing 1 (as JAX does): where U ties
    by construction the result still is the derivative, equal to JAX's gradient."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    r = matcalc.diff(text, wrt, vars={"X": "matrix(n,n)", "x": "vector(n)", **decls})
    rng = np.random.default_rng(5)
    n = 4
    values = {"X": rng.normal(size=(n, n)), "x": rng.normal(size=n), "c": 0.37,
              "b": rng.normal(size=n), "S": None}
    s = rng.normal(size=(n, n))
    values["S"] = s + s.T
    ev = Evaluator(values, {}, {"n": n, "m": 3})
    got = ev(r.expr)
    fn = {"max(X+X')": lambda X: jnp.max(X + X.T), "min(X-X')": lambda X: jnp.min(X - X.T),
          "max(x-c)": lambda x: jnp.max(x - 0.37),
          "max(b*vector(1)')": lambda b: jnp.max(jnp.outer(b, jnp.ones(3))),
          "max(S)": lambda S: jnp.max(S)}[text]
    want = np.asarray(jax.grad(fn)(jnp.asarray(values[wrt])))
    if wrt == "S":  # a symmetric variable: compare the symmetric parts
        want = (want + want.T) / 2
    assert np.allclose(np.asarray(got).reshape(want.shape), want, atol=1e-12), (got, want)
    assert r.check().passed


def test_unknown_names_suggest_the_registry():
    for typo, suggestion in [("sigmod", "sigmoid"), ("expm", "exp"), ("logsumex", "logsumexp"),
                             ("softmx", "softmax"), ("trace", "tr")]:
        with pytest.raises(matcalc.ParseError) as info:
            matcalc.parse(f"{typo}(x)")
        assert suggestion in str(info.value), (typo, str(info.value))
        assert f"--let {typo}=function" in str(info.value)
