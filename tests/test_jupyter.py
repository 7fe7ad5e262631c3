"""Jupyter and Python's object protocols (issue 9): rich display as rendered math, with
the steps at hand; pickle, copy and deepcopy of expressions and results."""
from __future__ import annotations

import copy
import pickle

import numpy as np

import matcalc
from matcalc import expr as E


def test_a_result_displays_as_math_with_its_steps():
    r = matcalc.diff("g(W*x+b)", "W")
    bundle = r._repr_mimebundle_()
    assert bundle["text/plain"] == "∂L/∂W = ∇g(W*x+b)*x'"
    assert bundle["text/latex"].startswith("$$") and r"\frac{\partial L}{\partial W}" in \
        bundle["text/latex"]
    markdown = bundle["text/markdown"]
    assert "<details><summary>steps</summary>" in markdown and r"\begin{aligned}" in markdown
    assert len(repr(r)) < 120  # not a dataclass dump


def test_several_results_and_reports_display():
    rs = matcalc.diff("norm2(W2*tanh(W1*x+b1) - y)^2", ["W1", "W2"])
    assert r"\begin{aligned}" in rs._repr_latex_() and "where" in rs._repr_latex_()
    report = rs.check()
    assert report.passed and "✅" in report._repr_markdown_()
    assert matcalc.parse("x'*A*x")._repr_latex_() == r"$x^\top A x$"


def test_expressions_and_results_pickle_and_copy():
    r = matcalc.diff("sum(softmax(Q*K'/sqrt(c), 2)*V .* G)", "Q")
    back = pickle.loads(pickle.dumps(r))
    assert back.expr == r.expr and str(back) == str(r) and back.steps == r.steps
    assert copy.copy(r.expr) is r.expr and copy.deepcopy(r.expr) is r.expr
    deep = copy.deepcopy(r)
    assert deep.expr == r.expr and deep is not r
    rs = matcalc.diff("norm2(W2*tanh(W1*x+b1) - y)^2", ["W1", "b1"])
    assert str(pickle.loads(pickle.dumps(rs))) == str(rs)
    # after Jupyter has shown them (the LaTeX printer is then built), as %store does
    latex, shown = r._repr_latex_(), rs._repr_latex_()
    assert pickle.loads(pickle.dumps(r))._repr_latex_() == latex
    assert pickle.loads(pickle.dumps(rs))._repr_latex_() == shown


def test_a_deep_expression_pickles_without_recursion():
    text = "sum(" + "tanh(" * 400 + "x" + ")" * 400 + ")"
    matcalc.LIMITS.max_depth = 1000
    try:
        e = matcalc.parse(text)
    finally:
        matcalc.LIMITS.max_depth = 200
    assert pickle.loads(pickle.dumps(e)) == e


def test_pickled_results_evaluate_in_another_process():
    import multiprocessing
    r = matcalc.diff("x'*A*x", "x")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        out = pool.apply(_evaluate, (r,))
    A = np.arange(4.0).reshape(2, 2)
    assert np.allclose(out, (A + A.T) @ np.ones(2))


def _evaluate(r):
    return r.evaluate({"x": np.ones(2), "A": np.arange(4.0).reshape(2, 2)})


def test_unpickled_nodes_are_the_interned_ones():
    x = E.Var("x", ("n", 1))
    assert pickle.loads(pickle.dumps(E.add(x, x))) is E.add(x, x)
