"""The identities of ML and statistics that the engine applies (issue 7, item 3).

Each row is an input, the form matcalc must give, and an independent NumPy function
of the input's meaning: the canonical (or simplified) form must equal it numerically,
so a rule that rewrote into something wrong would fail here.
"""
from __future__ import annotations

import numpy as np
import pytest

import matcalc
from matcalc.numeric import Evaluator
from matcalc.parse import parse_typed
from matcalc.simplify import simplify


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


RNG = np.random.default_rng(11)
V = {"a": RNG.uniform(0.5, 1.5, 4), "b": RNG.normal(size=4), "u": RNG.normal(size=4),
     "x": RNG.normal(size=3), "y": RNG.uniform(0.1, 1, 3), "z": RNG.normal(size=3),
     "X": RNG.normal(size=(3, 3)), "A": RNG.normal(size=(3, 3))}

IDENTITIES = [
    # a'*(b./a) = sum(b)
    ("a'*(b./a)", "sum(b)", lambda v: v["a"] @ (v["b"] / v["a"])),
    # exp(u)/sum(exp(u)) = softmax(u)
    ("exp(u)/sum(exp(u))", "softmax(u)", lambda v: np.exp(v["u"]) / np.exp(v["u"]).sum()),
    # sinh(u)./cosh(u) = tanh(u), sin(u)./cos(u) = tan(u)
    ("sinh(u)./cosh(u)", "tanh(u)", lambda v: np.sinh(v["u"]) / np.cosh(v["u"])),
    ("sin(u)./cos(u)", "tan(u)", lambda v: np.sin(v["u"]) / np.cos(v["u"])),
    # 1 - sigmoid(-u) = sigmoid(u)
    ("1 - sigmoid(-u)", "sigmoid(u)", lambda v: 1 - sigmoid(-v["u"])),
    # relu(u).*sign(relu(u)) = relu(u), u.*sign(u) = abs(u)
    ("relu(u).*sign(relu(u))", "relu(u)",
     lambda v: np.maximum(v["u"], 0) * np.sign(np.maximum(v["u"], 0))),
    ("u.*sign(u)", "abs(u)", lambda v: v["u"] * np.sign(v["u"])),
    # sign(relu(u)).^2 = sign(relu(u)) (a step is 0 or 1)
    ("sign(relu(u)).^2", "sign(relu(u))", lambda v: np.sign(np.maximum(v["u"], 0)) ** 2),
    # sum(softmax(z)) = 1
    ("sum(softmax(z))", "1", lambda v: softmax(v["z"]).sum()),
    # sqrt(c)^2 = c
    ("sqrt(pi)^2*x", "pi*x", lambda v: np.sqrt(np.pi) ** 2 * v["x"]),
    # diag(c*v) = c*diag(v)
    ("diag(2*x)", "2*diag(x)", lambda v: np.diag(2 * v["x"])),
    # a column broadcast in an element-wise product is a row scaling
    ("X.*x", "diag(x)*X", lambda v: v["X"] * v["x"][:, None]),
    # A*vector(1) = sum(A, 2), vector(1)'*A = sum(A, 1)
    ("A*vector(1)", "sum(A, 2)", lambda v: v["A"] @ np.ones(3)),
    ("vector(1)'*A", "sum(A, 1)", lambda v: np.ones(3) @ v["A"]),
    # mean(X, 2) = sum(X, 2)/n, printed as mean
    ("sum(X, 2)/3", "sum(X, 2)/3", lambda v: v["X"].sum(axis=1) / 3),
    # tr(eye(n)) = n
    ("tr(eye(n))*x", "dim(n)*x", lambda v: 3 * v["x"]),
]


@pytest.mark.parametrize("text, form, oracle", IDENTITIES, ids=[r[0] for r in IDENTITIES])
def test_identity(text, form, oracle):
    decls = {"x": "vector(n)", "z": "vector(n)", "y": "vector(n)", "X": "matrix(n,n)",
             "A": "matrix(n,n)", "a": "vector(k)", "b": "vector(k)", "u": "vector(k)"}
    p = parse_typed(text, decls)
    e = simplify(p.expr)
    assert str(e) == form
    value = Evaluator(V, p.variables, {"n": 3, "k": 4})(e)
    expected = np.asarray(oracle(V), dtype=float)
    np.testing.assert_allclose(np.asarray(value).reshape(expected.shape), expected,
                               rtol=1e-12, atol=1e-12)


def test_commutation_swaps_a_kron_with_a_column():
    # K(m,n)*kron(x, eye(m)) = kron(eye(m), x) (Magnus–Neudecker), numerically
    from matcalc.kernels import commutation
    decls = {"x": "vector(n)"}
    e = matcalc.parse("commutation(m,n)*kron(x,eye(m))", decls)
    assert str(e) == "kron(eye(m), x)"
    x = RNG.normal(size=3)
    expected = commutation(2, 3) @ np.kron(x[:, None], np.eye(2))
    got = Evaluator({"x": x}, {}, {"n": 3, "m": 2})(e)
    np.testing.assert_allclose(got, expected)


def test_softmax_cross_entropy_in_every_spelling():
    # the textbook answer sum(y)*softmax(z) - y, for z = W*x
    spellings = ["-y'*log(softmax(W*x))", "-y'*log(exp(W*x)/sum(exp(W*x)))",
                 "-sum(y.*log(softmax(W*x)))", "logsumexp(W*x)*sum(y) - y'*W*x"]
    for text in spellings:
        r = matcalc.diff(text, "W")
        assert str(r.expr) == "(sum(y)*softmax(W*x)-y)*x'", text
        assert r.check().passed


def test_logsumexp_hessian_is_the_textbook_form():
    r = matcalc.hessian("logsumexp(x)", "x")
    assert str(r.expr) == "diag(softmax(x)) - softmax(x)*softmax(x)'"


def test_an_identically_zero_derivative_prints_as_zero():
    assert str(matcalc.hessian("sum(softmax(x))", "x")) == "matrix(0)"
    assert str(matcalc.diff("sum(softmax(W*x))", "W")) == "matrix(0)"


def test_exact_constants_stay_exact():
    # erf' = 2/sqrt(pi)*exp(-u^2): no 1.1283791670955126
    r = matcalc.diff("sum(erf(x))", "x")
    assert "sqrt(pi)" in str(r) and "." not in str(r).replace("./", "").replace(".^", "")
    r = matcalc.diff("sum(0.5*x.*(1+erf(x/sqrt(2))))", "x")
    assert "sqrt(2)" in str(r) and "0.7978" not in str(r) and r.check().passed


def test_the_adjugate_gives_the_gradient_of_det_at_a_singular_matrix():
    # issue 8: det(X)*inv(X)' exists at a singular X; evaluate uses the adjugate
    r = matcalc.diff("det(X)", "X")
    X = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])  # rank 2
    h = 1e-6
    numeric = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = np.zeros((3, 3))
            e[i, j] = h
            numeric[i, j] = (np.linalg.det(X + e) - np.linalg.det(X - e)) / (2 * h)
    np.testing.assert_allclose(r.evaluate({"X": X}), numeric, atol=1e-6)
    Y = RNG.normal(size=(3, 3))
    np.testing.assert_allclose(r.evaluate({"X": Y}), np.linalg.det(Y) * np.linalg.inv(Y).T)


@pytest.mark.parametrize("text, same", [
    ("c + logdet(diag(2+sin(y-y)))", "c + 3*log(2)"),     # logdet(2*eye(3))
    ("c*det(diag(vector(2) + 0*y))", "8*c"),              # det(2*eye(3))
    ("logsumexp(0*y)", "log(3)"),
    ("norm2(0*y + 1)", "sqrt(3)"),
    ("norm1(y - y + vector(2))", "6"),
    ("mean(softmax(softmax(y,2),1)*x')", "sum(x)/6"),      # softmax of a constant
])
def test_a_constant_of_known_size_folds_to_its_value(text, same):
    """A constant whose size the input fixes is folded where its size matters: printed
    as vector(2) or eye its size would be free again."""
    d = {"x": "vector(2)", "y": "vector(3)", "c": "scalar"}
    e = matcalc.parse(text, d)
    assert e == matcalc.parse(same, d)
    assert matcalc.parse(str(e), d, shape=e.shape) == e


def test_centred_data_sums_to_zero_and_layer_norm_reads_like_the_textbook():
    """sum(x - mean(x)) = 0, so the layer-norm gradient is the textbook's
    (p - mean(p) - xhat*mean(p.*xhat))/sigma, not 2.5 times longer."""
    assert str(matcalc.parse("sum(x - mean(x))")) == "0"
    assert str(matcalc.parse("sum(X - mean(X, 1), 1)")) == "vector(0)'"
    r = matcalc.diff("g(z) where c = x - mean(x), s = sqrt(mean(c.^2) + e), z = c/s", "x",
                     vars={"e": "scalar"})
    assert "mean(p)" in str(r) and "mean(p+" not in str(r), str(r)
    textbook = "(p - mean(p) - z*mean(p.*z))/s"
    assert len(str(r).split("  where ")[0]) <= 1.5 * len(textbook), str(r)
    # the values: the textbook formula with p = ∇g(z) for g = sum of cubes / 3
    rng = np.random.default_rng(3)
    x, e = rng.normal(size=5), 0.1
    c = x - x.mean()
    s = np.sqrt((c ** 2).mean() + e)
    z = c / s
    p = z ** 2
    want = (p - p.mean() - z * (p * z).mean()) / s
    got = r.evaluate({"x": x, "e": e, "g": lambda u: float(np.sum(u ** 3) / 3),
                      "∇g": lambda u: np.asarray(u) ** 2})
    assert np.allclose(got, want)
    assert r.check().passed
