"""The differential engine: rule tables, every function of the language, the
element-wise derivative table against SymPy, abstract functions, refusals."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import matcalc
from matcalc import NotDifferentiableError
from matcalc import expr as E
from matcalc.calculus import ADJOINT_RULES, LEAVES
from matcalc.numeric import Evaluator


def test_every_node_type_has_a_differential_rule():
    for node_type in E.NODE_TYPES:
        assert node_type in ADJOINT_RULES or node_type in LEAVES, node_type


def test_every_function_has_a_derivative():
    for name, spec in E.FUNCTIONS.items():
        if spec.elementwise:
            assert spec.derivative is not None, name
        elif name != "mean":  # mean(X) is built as sum(X)/n
            assert spec.adjoint is not None, name


t = sympy.Symbol("t", real=True)
SYMPY_FORMS = {
    "exp": sympy.exp(t), "log": sympy.log(t), "sin": sympy.sin(t), "cos": sympy.cos(t),
    "tan": sympy.tan(t), "arcsin": sympy.asin(t), "arccos": sympy.acos(t),
    "arctan": sympy.atan(t), "sinh": sympy.sinh(t), "cosh": sympy.cosh(t),
    "tanh": sympy.tanh(t), "abs": sympy.Abs(t), "sign": sympy.sign(t),
    "sqrt": sympy.sqrt(t), "relu": sympy.Max(0, t), "sigmoid": 1 / (1 + sympy.exp(-t)),
    "softplus": sympy.log(1 + sympy.exp(t)), "log1p": sympy.log(1 + t),
    "expm1": sympy.exp(t) - 1, "erf": sympy.erf(t),
}
# points inside every function's domain (arcsin/arccos need |t| < 1, log/sqrt t > 0)
POINTS = np.array([0.15, 0.4, 0.85])


@pytest.mark.parametrize("fn", E.ELEMENTWISE)
def test_elementwise_derivative_matches_sympy(fn):
    """SymPy is the independent oracle for the one-line derivative table."""
    u = E.Var("u", ("n", 1))
    ours = E.FUNCTIONS[fn].derivative(u, E.call(fn, u))
    value = np.asarray(Evaluator({"u": POINTS}, {"u": u})(ours), dtype=float).reshape(-1)
    if value.size == 1:
        value = np.full(POINTS.shape, value[0])
    # away from 0, where sign' and relu' have their (measure-zero) singular parts
    derivative = sympy.diff(SYMPY_FORMS[fn], t).subs(sympy.DiracDelta(t), 0)
    oracle = sympy.lambdify(t, derivative, modules="numpy")
    expected = np.broadcast_to(np.asarray(oracle(POINTS), dtype=float), POINTS.shape)
    assert np.allclose(value, expected, rtol=1e-12, atol=1e-12)


# one expression per function and operator of the language, each checked numerically
EVERY_FUNCTION = [
    ("sum(exp(A*x))", "x", {}), ("sum(log(x))", "x", {}), ("sum(sin(x))", "x", {}),
    ("sum(cos(x))", "x", {}), ("sum(tan(0.3*x))", "x", {}),
    ("sum(arcsin(0.1*x))", "x", {}), ("sum(arccos(0.1*x))", "x", {}),
    ("sum(arctan(A*x))", "x", {}), ("sum(sinh(x))", "x", {}), ("sum(cosh(x))", "x", {}),
    ("sum(tanh(W*x + b))", "W", {}), ("sum(abs(A*x))", "x", {}),
    ("y'*sign(x) + x'*x", "x", {}), ("sum(sqrt(x))", "x", {}), ("sum(relu(A*x))", "x", {}),
    ("sum(sigmoid(x))", "x", {}), ("sum(softplus(X*w))", "w", {}),
    ("tr(A*X)", "X", {}), ("det(X)", "X", {}), ("logdet(X)", "X", {}),
    ("sum(inv(X))", "X", {}), ("x'*diag(y)*x", "y", {}), ("sum(diag(X).^2)", "X", {}),
    ("sum(A*X)", "X", {}), ("norm1(X)", "X", {}), ("norm2(X)", "X", {}),
    ("y'*softmax(W*x)", "W", {}), ("logsumexp(A*x)", "x", {}),
    ("a^b", "b", {}), ("a^b", "a", {}), ("sum(x.^a)", "a", {}), ("sum(x.^3)", "x", {}),
    ("tr(X^3)", "X", {}), ("tr(A*X^-2)", "X", {}), ("norm2(x)/a", "a", {}),
    ("sum(x./y)", "y", {}), ("sum(a + x)", "a", {}), ("sum(x.*y.*z)", "x", {}),
    ("x'*(a*eye + A)*x", "a", {}), ("sum(vector(2).*x)", "x", {}),
    ("sum(matrix(1)*X)", "X", {}), ("-(x'*x)", "x", {}), ("tr(X')", "X", {}),
    ("g(W*x + b)", "b", {}), ("g(W*x + b)", "x", {}), ("g(a*x)", "a", {}),
    ("x'*∇g(x)", "x", {}), ("a*∇g(a)", "a", {}), ("tr(∇g(X)*A)", "A", {}),
    ("x'*S*x + lam*norm2(x)^2", "S", {"S": "symmetric", "lam": "scalar"}),
    ("logdet(S) - tr(S*A)", "S", {"S": "symmetric"}),
]


@pytest.mark.parametrize("expression, wrt, decls", EVERY_FUNCTION)
def test_every_function_checks_numerically(expression, wrt, decls):
    r = matcalc.diff(expression, wrt, vars=decls)
    report = r.check(points=2)
    assert report.passed, f"{expression} -> {r}: {report}"


def test_gradient_by_an_absent_name_is_zero_with_a_warning():
    # SPEC §3: zero, and a warning that names it (a typo'd variable must not pass quietly)
    with pytest.warns(matcalc.ZeroDerivativeWarning, match="y does not occur"):
        r = matcalc.diff("x'*A*x", "y")
    assert str(r) == "vector(0)"
    assert np.allclose(r.evaluate({"x": np.ones(2), "A": np.eye(2), "y": np.ones(3)}), 0)


def test_a_variable_that_cancels_is_not_absent():
    # sum(softmax(x)) = 1: the gradient is zero, but x was written, so no warning
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = matcalc.diff("sum(softmax(x))", "x")
    assert str(r) == "vector(0)"
    assert str(matcalc.hessian("sum(softmax(x))", "x")) == "matrix(0)"


@pytest.mark.parametrize("expression, wrt, message", [
    ("tr(∇g(X)*A)", "X", "4-way tensor"),
    ("x'*∇²g(x)*x", "x", "third derivatives"),
])
def test_refuses_what_has_no_matrix_form(expression, wrt, message):
    with pytest.raises(NotDifferentiableError, match=message):
        matcalc.diff(expression, wrt)


def test_symmetric_gradient_is_the_symmetric_part():
    # x'*S*x over symmetric S: (x*x' + x*x')/2 = x*x'
    r = matcalc.diff("x'*S*x", "S", vars={"S": "symmetric"})
    assert str(r) == "x*x'"
    r = matcalc.diff("a'*S*b", "S", vars={"S": "symmetric", "a": "vector", "b": "vector"})
    assert str(r) == "0.5*(a*b' + b*a')" or r.check().passed
    assert r.check().passed


def test_abstract_function_keeps_shape():
    r = matcalc.diff("g(W*x+b)", "W")
    assert str(r) == "∇g(W*x+b)*x'"
    assert r.expr.shape == r.variable.shape


def test_factored_forms_share_work():
    # the adjoint of relu(W1*x) reaches it from two parents and is factored once
    r = matcalc.diff("logsumexp(W2*relu(W1*x)) - y'*W2*relu(W1*x)", "W1")
    assert str(r.expr) == "((W2'*(softmax(W2*relu(W1*x))-y)).*sign(relu(W1*x)))*x'"
    assert str(r) == "((W2'*(softmax(W2*h)-y)).*sign(h))*x'  where h = relu(W1*x)"


def test_steps_end_in_the_result():
    r = matcalc.diff("tr(A*X*B)", "X")
    # tr is linear: no piece is named around it, one step moves dX to the right
    assert r.steps == [
        "dL = A'*B' : dX    [g : tr(dX) = g*eye : dX; G : A*dX*B = A'*G*B' : dX]",
        "∂L/∂X = A'*B'",
    ]


def test_seed_steps_are_the_classic_derivation():
    # a = W*x+b, p = ∇g(a), dL = p : da, da = dW*x, dL = p*x' : dW, ∂L/∂W = p*x'
    r = matcalc.diff("g(W*x+b)", "W")
    assert r.steps == [
        "a = W*x + b",
        "dL = ∇g(a) : da    [d g(u) = ∇g(u) : du]",
        "p = ∇g(a)",
        "da = dW*x    [d(A*B) = dA*B + A*dB; d(A + B) = dA + dB]",
        "dL = p : dW*x = p*x' : dW    [G : A*dX*B = A'*G*B' : dX]",
        "∂L/∂W = p*x'",
    ]
    assert str(r) == "∇g(W*x+b)*x'"


def test_a_repeated_scalar_product_is_not_lost():
    # found by the second-order soak: z'*z as a parenthesised factor and z'*z as the
    # chain of one scalar product kept only one of the two
    r = matcalc.diff("c*z'*z/norm2(c*z)", "c")
    assert r.check().passed
    assert matcalc.hessian("norm2(c*z)", "c").check().passed
    e = matcalc.parse("(x'*y)*(x'*y)*a")
    assert str(e) == "(x'*y)^2*a"
    # the factor and the chain are one base, whichever way the product was built
    assert matcalc.parse("(z'*x)*(z'*x)*(z'*x)") == matcalc.parse("(z'*x)^3") \
        == matcalc.parse("k.*(k.*k) where k = z'*x")


@pytest.mark.parametrize("text, wrt, vars", [
    ("norm2(W2*tanh(W1*X + b1) + b2 - Y)^2", ["W1", "b1", "W2", "b2"], {}),
    ("-y'*log(softmax(W*x))", ["W"], {}),
    ("logdet(X'*C*X)", ["X"], {}),
    ("g(W*x+b)", ["W", "b", "x"], {}),
    ("sum(relu(W2*sigmoid(W1*x)).*y) + x'*S*x", ["W1", "x"], {"S": "symmetric"}),
])
def test_the_steps_final_lines_are_the_gradients(text, wrt, vars):
    """The steps end in ∂L/∂W written with the named pieces and adjoints (P3*X');
    substituting their definitions gives the gradient's values."""
    results = matcalc.diff(text, wrt, vars=vars)
    steps = results.derivation
    definitions = [f"{s.lhs} = {s.rhs}" for s in steps
                   if not s.rule and not s.lhs.startswith("∂")]
    finals = {s.lhs.split("∂")[-1]: s.rhs for s in steps if s.lhs.startswith("∂L/∂")}
    assert sorted(finals) == sorted(wrt)
    rng = np.random.default_rng(0)
    checked = 0
    for r in results:
        decls = {**vars, **{n: _decl(v) for n, v in r.variables.items()}}
        where = f"  where {', '.join(definitions)}" if definitions else ""
        final = matcalc.parse(finals[r.wrt] + where, decls, functions=None) \
            if "∇" not in finals[r.wrt] + where else None
        if final is None:
            continue  # abstract functions have no values
        dims = sorted({d for v in r.variables.values() for d in v.shape
                       if isinstance(d, str)})
        sizes = {d: 2 + i for i, d in enumerate(dims)}
        ev = Evaluator(_values(r.variables, sizes, rng), {}, sizes)
        assert np.allclose(ev(final), ev(r.expr), rtol=1e-9, atol=1e-12), (r.wrt, finals)
        checked += 1
    assert checked or "g(" in text
    if len(wrt) > 1:
        assert f"∂L/∂{wrt[0]} = " in "\n".join(results.steps)


def _decl(v):
    from matcalc.parse import declaration_of
    return declaration_of(v)


def _values(variables, sizes, rng):
    out = {}
    for name, v in variables.items():
        shape = tuple(sizes.get(d, d) if isinstance(d, str) else d for d in v.shape)
        a = rng.normal(size=shape)
        if getattr(v, "symmetric", False):
            a = a + a.T
        out[name] = a
    return out


def test_a_scalar_substitution_in_the_steps_keeps_its_parentheses():
    r = matcalc.diff("0.5*lam*norm2(w)^2 + sum(w)", "w", vars={"lam": "scalar"})
    assert any("0.5*lam*(2*dr*r)" in s for s in r.steps), r.steps
