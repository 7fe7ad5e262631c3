"""Evaluation with NumPy and the finite-difference checker."""
from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc import EvaluationError, MatcalcError
from matcalc.numeric import check_gradient, domain_of, evaluate
from matcalc.parse import declarations, parse_typed


def test_evaluate_follows_spec_shapes():
    r = matcalc.diff("g(W*x+b)", "W")
    W = np.arange(6.0).reshape(2, 3)
    x = np.array([1.0, -1.0, 2.0])
    b = np.array([0.5, 0.25])
    values = {"W": W, "x": x, "b": b, "g": lambda u: float(np.sum(u ** 3)),
              "∇g": lambda u: 3 * u ** 2}
    G = r.evaluate(values)
    assert G.shape == (2, 3)
    assert np.allclose(G, np.outer(3 * (W @ x + b) ** 2, x))


def test_abstract_gradient_taken_numerically_when_not_given():
    r = matcalc.diff("g(W*x+b)", "W")
    W, x, b = np.eye(2), np.array([1.0, 2.0]), np.zeros(2)
    G = r.evaluate({"W": W, "x": x, "b": b, "g": lambda u: float(np.sum(np.sin(u)))})
    assert np.allclose(G, np.outer(np.cos(W @ x + b), x), atol=1e-7)


def test_scalar_result_is_a_float_and_vector_is_1d():
    assert isinstance(matcalc.diff("a*x'*x", "a").evaluate({"a": 2.0, "x": [1.0, 2.0]}),
                      float)
    v = matcalc.diff("x'*x", "x").evaluate({"x": [1.0, 2.0]})
    assert v.shape == (2,) and np.allclose(v, [2.0, 4.0])


@pytest.mark.parametrize("values, message", [
    ({"x": [1.0, 2.0]}, "no value given for A"),
    ({"x": [[1.0, 2.0]], "A": np.eye(2)}, "x is a vector"),
    ({"x": [1.0, 2.0], "A": np.eye(3)}, "dimension"),
    ({"x": [1.0, 2.0], "A": [1.0, 2.0]}, "A is a matrix"),
    ({"x": "abc", "A": np.eye(2)}, "not numeric"),
])
def test_evaluation_errors(values, message):
    r = matcalc.diff("x'*A*x", "x")
    with pytest.raises(EvaluationError, match=message):
        r.evaluate(values)


def test_symmetric_value_must_be_symmetric():
    r = matcalc.diff("x'*S*x", "x", vars={"S": "symmetric"})
    with pytest.raises(EvaluationError, match="declared symmetric"):
        r.evaluate({"x": [1.0, 2.0], "S": [[1.0, 2.0], [0.0, 1.0]]})


def test_checker_catches_a_wrong_derivative_and_shows_both_values():
    p = parse_typed("x'*A*x", wrt=("x",))
    wrong = matcalc.parse("A*x", declarations(p.expr))   # misses the A'*x term
    report = check_gradient(p.expr, wrong, p.variables["x"], p.variables, p.functions)
    assert not report.passed
    assert report.worst_error > 1e-3
    text = str(report)
    assert "check FAILED" in text and "analytic" in text and "numeric" in text


def test_checker_sizes_are_distinct():
    r = matcalc.diff("a'*X*b", "X", vars={"a": "vector", "b": "vector"})
    report = r.check()
    assert report.passed
    assert len(set(report.sizes.values())) == len(report.sizes) == 2


@pytest.mark.parametrize("seed", range(5))
def test_no_false_alarm_at_kinks(seed):
    for expression, wrt in [("norm1(A*x - b)", "x"), ("sum(relu(W*x))", "W"),
                            ("sum(abs(x))", "x"), ("sum(sign(x).*x)", "x")]:
        report = matcalc.diff(expression, wrt).check(seed=seed)
        assert report.passed, (expression, str(report))


def test_domain_is_read_off_the_expression():
    d = domain_of(matcalc.parse("sum(log(x)) + logdet(X) + norm1(y)"))
    assert "x" in d.positive and "X" in d.conditioned and len(d.kinks) == 1


@pytest.mark.parametrize("expression, wrt, decls", [
    ("logdet(A + t*B)", "t", {"A": "symmetric", "B": "symmetric", "t": "scalar"}),
    ("tr(inv(X'*C*X)*(X'*B*X))", "X", {"C": "symmetric", "B": "symmetric"}),
    ("sum(sqrt(x)) + sum(log(X))", "X", {}),
    ("det(X'*A*X)", "X", {"A": "symmetric"}),
])
def test_points_are_drawn_inside_the_domain(expression, wrt, decls):
    assert matcalc.diff(expression, wrt, vars=decls).check().passed


def test_check_never_raises_anything_but_matcalc_errors():
    r = matcalc.diff("x'*x", "x")
    with pytest.raises(MatcalcError):
        r.evaluate({"x": [np.nan, object()]})


def test_plain_evaluate():
    assert evaluate(matcalc.parse("tr(X)"), {"X": np.eye(3)}) == 3.0


def test_a_names_kind_is_the_same_in_the_derivative_evaluate_and_check():
    # issue 8: an undeclared e added to a vector is a vector everywhere, and evaluate
    # says so (and how to make it a number) when it is given a float
    r = matcalc.diff("sum(sqrt(w.^2 + e))", "w")
    assert r.variables["e"].shape[1] == 1 and r.check().passed
    with pytest.raises(matcalc.EvaluationError, match="declare e=scalar"):
        r.evaluate({"w": np.ones(3), "e": 0.5})
    assert np.allclose(r.evaluate({"w": np.ones(3), "e": np.full(3, 0.5)}), 1 / np.sqrt(1.5))
    s = matcalc.diff("sum(sqrt(w.^2 + e))", "w", vars={"e": "scalar"})
    assert np.allclose(s.evaluate({"w": np.ones(3), "e": 0.5}), 1 / np.sqrt(1.5))


def test_a_wrong_call_is_the_callers_error_not_an_internal_one():
    # a keyword the function does not take: Python's TypeError, naming the function
    with pytest.raises(TypeError, match=r"^gradient\(\) got an unexpected keyword "
                                        r"argument 'bogus'"):
        matcalc.diff("x'*x", "x", bogus=1)
    # a variable that is not a name, and check() arguments of the wrong type
    with pytest.raises(matcalc.ParseError, match="must be a name, not 5"):
        matcalc.diff("x'*x", 5)
    r = matcalc.diff("x'*x", "x")
    with pytest.raises(matcalc.EvaluationError, match="points must be a positive whole "
                                                      "number, not 'a'"):
        r.check("a")
    with pytest.raises(matcalc.EvaluationError, match="not 0"):
        r.check(0)
    with pytest.raises(matcalc.EvaluationError, match="seed must be a whole number"):
        r.check(seed="s")
    assert r.check(points=np.int64(2), seed=np.int64(1)).passed
    assert str(matcalc.diff("x'*x", ("x",))["x"]) == "2*x"
