"""Jacobians and Hessians: every case of examples.json, Magnus–Neudecker identities,
evaluation shapes, round trips and refusals."""
from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc import NotDifferentiableError
from matcalc import expr as E
from matcalc.numeric import Evaluator
from matcalc.parse import declarations
from helpers import load_examples, token_count, values_equal

CASES = [e for e in load_examples() if e["kind"] in ("jacobian", "hessian")]
COMPUTE = {"jacobian": matcalc.jacobian, "hessian": matcalc.hessian}


def test_examples_are_present():
    assert len(CASES) == 10


@pytest.mark.parametrize("case", CASES, ids=[e["name"] for e in CASES])
def test_example(case):
    r = COMPUTE[case["kind"]](case["expr"], case["wrt"], vars=case["vars"])
    report = r.check()
    assert report.passed, str(report)
    if "expected_note" in case:  # the 4-way Hessian of log(det(X)), in index notation
        X = np.eye(3) + 0.2 * np.random.default_rng(0).normal(size=(3, 3))
        Xi = np.linalg.inv(X)
        H = r.evaluate({"X": X})
        assert np.allclose(H, -np.einsum("jk,li->ijkl", Xi, Xi))
        assert "kron(inv(X)', inv(X))" in str(r.expr) and "commutation" in str(r.expr)
        # inv(X) twice costs fewer tokens than naming it: the human form is the flat one
        assert str(r) == "-commutation(n, n)*kron(inv(X)', inv(X))"
        return
    assert values_equal(r, case["expected"]) < 1e-8
    assert token_count(str(r.expr)) <= token_count(case["expected"]), str(r.expr)


# Magnus & Neudecker (2019), Matrix Differential Calculus, and the Matrix Cookbook §2
JACOBIANS = [
    ("x", "x", {}, "eye"),
    ("A*x", "x", {}, "A"),
    ("a*x", "a", {}, "x"),
    ("x'*A", "x", {}, "A'"),
    ("exp(x)", "x", {}, "diag(exp(x))"),
    ("x.*y", "x", {}, "diag(y)"),
    ("softmax(z)", "z", {}, "diag(softmax(z)) - softmax(z)*softmax(z)'"),
    ("tanh(W*x+b)", "x", {}, "diag(1-tanh(W*x+b).^2)*W"),
    ("x'*A*x", "x", {}, "x'*(A+A')"),
    ("W*x", "W", {}, "kron(x', eye(n))"),
    ("A*X*B", "X", {}, "kron(B', A)"),
    ("X'", "X", {}, "commutation(n, m)"),
    ("inv(X)", "X", {}, "-kron(inv(X)', inv(X))"),
    ("X*X", "X", {}, "kron(X', eye(n)) + kron(eye(n), X)"),
    ("X'*X", "X", {}, None),
    ("A*X.*B", "X", {"B": "matrix"}, None),
    ("g(W*x+b)*x", "x", {}, None),
]


@pytest.mark.parametrize("expression, wrt, decls, form", JACOBIANS)
def test_jacobian_identities(expression, wrt, decls, form):
    r = matcalc.jacobian(expression, wrt, vars=decls)
    assert r.check().passed, str(r)
    if form is not None:
        assert str(r.expr) == form


HESSIANS = [
    ("x'*A*x", "x", {}, "A + A'"),
    ("norm2(A*x - b)^2", "x", {}, "2*A'*A"),
    ("sum(log(vector(1)+exp(X*w))) - y'*X*w", "w", {},
     "X'*diag((1-sigmoid(X*w)).*sigmoid(X*w))*X"),
    ("logsumexp(x)", "x", {}, "diag(softmax(x)) - softmax(x)*softmax(x)'"),
    ("g(W*x+b)", "x", {}, "W'*∇²g(W*x+b)*W"),
    ("a^3*b", "a", {}, "6*a*b"),
    ("tr(X'*A*X)", "X", {}, None),
    ("logdet(X)", "X", {}, "-commutation(n, n)*kron(inv(X)', inv(X))"),
    ("norm2(X - U*V')^2", "V", {}, None),
    ("x'*S*x + c*norm2(x)^2", "x", {"S": "symmetric"}, None),
]


@pytest.mark.parametrize("expression, wrt, decls, form", HESSIANS)
def test_hessian_is_one_symmetric_expression(expression, wrt, decls, form):
    r = matcalc.hessian(expression, wrt, vars=decls)
    report = r.check()
    assert report.passed, str(report)
    if form is not None:
        assert str(r.expr) == form
    # one closed form: no per-entry loop, and symmetric as a matrix
    rng = np.random.default_rng(3)
    from matcalc.numeric import draw_points, Evaluator, dims_of
    (p,) = draw_points(r.differentiated, dict(r.variables), r.functions, rng, 1,
                       extra_dims=dims_of(r.expr))
    H = Evaluator(p.values, r.variables, p.sizes)(r.expr)
    assert np.allclose(H, H.T, atol=1e-9)


def test_evaluate_has_the_shape_of_F_then_X():
    rng = np.random.default_rng(0)
    A, X, B = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    J = matcalc.jacobian("A*X*B", "X").evaluate({"A": A, "X": X, "B": B})
    assert J.shape == (2, 5, 3, 4)
    # ∂(AXB)[i,j]/∂X[k,l] = A[i,k]*B[l,j]
    assert np.allclose(J, np.einsum("ik,lj->ijkl", A, B))
    x = rng.normal(size=3)
    assert matcalc.jacobian("exp(x)", "x").evaluate({"x": x}).shape == (3, 3)
    row = matcalc.jacobian("x'*x", "x").evaluate({"x": x})
    assert row.shape == (3,) and np.allclose(row, 2 * x)


def test_kron_results_round_trip():
    for expression, wrt in [("A*X*B", "X"), ("W*x", "W"), ("inv(X)", "X")]:
        j = matcalc.jacobian(expression, wrt).expr
        back = matcalc.parse(str(j), declarations(j), shape=j.shape)
        assert back == j


_R = np.random.default_rng(1)
_X32, _X33 = _R.normal(size=(3, 2)), _R.normal(size=(3, 3))


@pytest.mark.parametrize("expression, kind, values", [
    ("X*X'", "jacobian", {"X": _X32}),
    ("logdet(X)", "hessian", {"X": _X33 @ _X33.T + 3 * np.eye(3)}),
    ("X*A*X", "jacobian", {"X": _X32, "A": _R.normal(size=(2, 3))}),
    ("X*A*X'", "jacobian", {"X": _X32, "A": _R.normal(size=(2, 2))}),
    ("tr(X*A*X)", "hessian", {"X": _X33, "A": _R.normal(size=(3, 3))}),
    # kept product equations that later sizes decide: m*n = k*r at the commutation
    ("A*X'*B*X", "jacobian", {"X": _X32, "A": _R.normal(size=(4, 2)),
                              "B": _R.normal(size=(3, 3))}),
    ("X.*(A*X)", "jacobian", {"X": _X32, "A": _R.normal(size=(3, 3))}),
    ("exp(X)*A*X", "jacobian", {"X": _X33, "A": _R.normal(size=(3, 3))}),
])
def test_printed_jacobians_parse_back_without_declarations(expression, kind, values):
    # pasted back as text alone: kron(X'*A', eye(n)) + kron(eye(m), X*A) leaves
    # b*n = m*a for X of size a×b, where only b = m, a = n keeps the sizes written n
    # and m apart; the reading has the value of the derivative
    r = COMPUTE[kind](expression, "X")
    back = matcalc.parse(str(r))
    expected = Evaluator(values, E.free_vars(r.expr), {})(r.expr)
    again = Evaluator(values, E.free_vars(back), {})(back)
    assert again.shape == expected.shape and np.allclose(again, expected)


def test_sizes_that_no_single_matching_decides_ask_for_declarations():
    # commutation(p, n)*kron(A*X, B') + kron(B'*X, A): n*p = m*r is met two ways
    r = matcalc.jacobian("A*X*X'*B", "X")
    with pytest.raises(matcalc.ShapeError, match="cannot multiply commutation"):
        matcalc.parse(str(r))
    back = matcalc.parse(str(r), declarations(r.expr))  # with the sizes, as JSON has them
    assert back == r.expr
    with pytest.raises(matcalc.ShapeError, match=r"m\*p ≠ q\*r") as info:
        matcalc.parse("kron(A,B)*vec(X)")
    assert info.value.span == (9, 10)  # the caret under the *


def test_identity_inside_kron_prints_its_size():
    r = matcalc.jacobian("W*x", "W", vars={"W": "matrix(m,n)"})
    assert str(r) == "kron(x', eye(m))"


def test_human_forms_of_jacobians_and_hessians_name_repeated_pieces():
    assert str(matcalc.jacobian("softmax(z)", "z")) == "diag(s) - s*s'  where s = softmax(z)"
    assert str(matcalc.hessian("logdet(X)", "X")) == \
        "-commutation(n, n)*kron(inv(X)', inv(X))"
    assert str(matcalc.hessian("logdet(A + X)", "X")) == \
        "-commutation(n, n)*kron(Y', Y)  where Y = inv(A+X)"


# Refusals that the language issue turned into answers (issue 8, item 7): each is
# checked against finite differences and against a closed form.
@pytest.mark.parametrize("call, expression, wrt, decls, form", [
    # the diagonal as a vector: d diag(X) = (eye.*dX)*1
    (matcalc.jacobian, "diag(X)", "X", {}, "kron(vector(1)', eye(n))*diag(vec(eye(n)))"),
    # the diagonal matrix of a vector in vec form: vec(diag(dx)) = vec(eye.*(dx*1'))
    (matcalc.jacobian, "diag(x)", "x", {}, "diag(vec(eye(n)))*kron(vector(1), eye(n))"),
    # with respect to a symmetric matrix, on symmetric directions (SPEC §3)
    (matcalc.jacobian, "x'*S*x", "S", {"S": "symmetric"}, None),
    (matcalc.jacobian, "S*x", "S", {"S": "symmetric"}, None),
    (matcalc.hessian, "x'*A*x", "A", {"A": "symmetric"}, "matrix(0)"),
    (matcalc.hessian, "logdet(S)", "S", {"S": "symmetric"}, None),
    (matcalc.hessian, "tr(S*A*S)", "S", {"S": "symmetric"}, None),
])
def test_former_refusals_are_answered(call, expression, wrt, decls, form):
    r = call(expression, wrt, vars=decls)
    report = r.check()
    assert report.passed, str(report)
    if form is not None:
        assert str(r.expr) == form


def test_symmetric_hessian_of_logdet_matches_the_symmetric_directions():
    # on symmetric E1, E2: d²logdet(S)[E1, E2] = -tr(inv(S)*E1*inv(S)*E2)
    r = matcalc.hessian("logdet(S)", "S", vars={"S": "symmetric(3)"})
    rng = np.random.default_rng(5)
    a = rng.normal(size=(3, 3))
    S = a @ a.T + 3 * np.eye(3)
    H = r.evaluate({"S": S})
    Si = np.linalg.inv(S)
    for _ in range(3):
        e1, e2 = (lambda b: b + b.T)(rng.normal(size=(3, 3))), \
            (lambda b: b + b.T)(rng.normal(size=(3, 3)))
        assert np.isclose(np.einsum("ij,ijkl,kl->", e1, H, e2), -np.trace(Si @ e1 @ Si @ e2))


@pytest.mark.parametrize("call, expression, wrt, decls, message", [
    (matcalc.jacobian, "a'*vec(X)", "X", {"a": "vector"}, "reshape"),
    (matcalc.hessian, "A*x", "x", {}, "needs a scalar expression"),
])
def test_refusals_say_why(call, expression, wrt, decls, message):
    with pytest.raises(matcalc.MatcalcError, match=message) as info:
        call(expression, wrt, vars=decls)
    assert isinstance(info.value, (NotDifferentiableError, matcalc.ShapeError))


def test_hessian_steps_go_through_the_gradient():
    r = matcalc.hessian("x'*A*x", "x")
    assert r.steps[0].startswith("dL = ")
    assert "∂L/∂x = (A+A')*x" in r.steps
    assert r.steps[-1] == "∂²L/∂x∂x' = A + A'"


def test_jacobian_steps_open_with_dF():
    r = matcalc.jacobian("tanh(W*x+b)", "x")
    assert r.steps[0] == "a = W*x + b"
    assert any(s.startswith("dF = ") for s in r.steps)
    assert r.steps[-1].startswith("∂F/∂x = ")
