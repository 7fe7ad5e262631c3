"""The input language: grammar, kinds, dimension inference, errors, round trips."""
from __future__ import annotations

import pytest

import matcalc
from matcalc import ParseError, ShapeError
from matcalc.parse import declarations, parse_typed


@pytest.mark.parametrize("text, shape", [
    ("x'*A*x", (1, 1)),
    ("W*x + b", ("n", 1)),          # b is added to a vector: it is one (SPEC §2)
    ("A*B", ("n", "k")),
    ("X^3", ("n", "n")),
    ("a*x", ("n", 1)),
    ("2.*x", ("n", 1)),             # 2 .* x, not 2. * x
    (".5*x", ("n", 1)),
    ("1e-3*x", ("n", 1)),
    ("x.^2", ("n", 1)),
    ("diag(x)", ("n", "n")),
    ("diag(A)", ("n", 1)),
    ("sum(A)", (1, 1)),
    ("softmax(x)", ("n", 1)),
    ("eye + X*X'", ("n", "n")),
    ("1 + exp(x)", ("n", 1)),
    ("∇g(W*x)", ("n", 1)),
    ("∇²g(x)", ("n", "n")),
])
def test_shapes_are_inferred(text, shape):
    assert matcalc.parse(text).shape == shape


@pytest.mark.parametrize("text, same_as", [
    ("-a^2", "-(a^2)"),
    ("a^-1", "1/a"),
    ("a^b^c", "a^(b^c)"),
    ("x'*y*z", "(x'*y)*z"),
    ("2.*x", "2 .* x"),
    ("A*B*C", "A*(B*C)"),
    ("a - b - c", "(a - b) - c"),
    ("x./y.*z", "(x./y).*z"),
    ("X^-1", "inv(X)"),
    ("(A*B)'", "B'*A'"),
    ("S'", "S"),
])
def test_precedence_and_identities(text, same_as):
    decls = {"S": "symmetric", "A": "matrix(m,n)", "B": "matrix(n,k)"}
    assert matcalc.parse(text, decls) == matcalc.parse(same_as, decls)


ROUND_TRIP = [
    "x'*A*x", "g(W*x+b)", "(x - A*s)'*W*(x - A*s)", "sum(log(vector(1) + exp(W*x + b)))",
    "0.5*(x - mu)'*inv(S)*(x - mu) + 0.5*logdet(S)", "(x'*A*x)/(x'*B*x)", "tr(A*X^3)",
    "x.^2./y", "2/3*x", "a/3", "x - 1/3", "-x.*y", "2*(A*x).*y", "X^-2", "1e-300*x",
    "x/a/b", "(x'*y)*(a'*b)", "vector(2) + x", "matrix(-1) + A", "∇g(x) + ∇²g(x)*x",
    "norm2(A*x - b)^2 + lam*norm2(x)^2", "a^(b+c)", "x.^(a+1)", "(-2)^a", "sign(relu(x))",
    "softmax(A*x + b)*x'", "det(X)*inv(X)'", "-(A + A')*(x - mu)", "a*vector(1)'*x",
    "inv(A*B)'", "diag(diag(A))", "x./(1 + exp(-x))",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_print_parse_round_trip(text):
    e = matcalc.parse(text, {"S": "symmetric"})
    again = matcalc.parse(str(e), declarations(e), shape=e.shape)
    assert again == e
    assert str(again) == str(e)


def test_output_is_deterministic():
    texts = {str(matcalc.diff("x'*A*x + b'*x + c*norm2(x)^2", "x").expr) for _ in range(3)}
    assert len(texts) == 1


def test_transposed_or_added_letter_a_to_g_is_a_vector():
    # b'*x and W*x + b: an undeclared b is a vector there, as on matrixcalculus.org
    assert parse_typed("b'*x").variables["b"].shape == ("n", 1)
    assert parse_typed("W*x + b").variables["b"].shape == ("n", 1)
    assert parse_typed("c*x + 1").variables["c"].is_scalar


def test_declarations_override_defaults():
    p = parse_typed("a*x + b", {"a": "vector", "x": "scalar"})
    assert p.variables["a"].shape == ("n", 1)
    assert p.variables["x"].is_scalar


def test_declared_sizes_are_shared_and_checked():
    p = parse_typed("A*x", {"A": "matrix(m,n)", "x": "vector(n)"})
    assert p.variables["A"].shape == ("m", "n")
    with pytest.raises(ShapeError, match="cannot multiply A"):
        matcalc.parse("A*x", {"A": "matrix(2,3)", "x": "vector(4)"})


def test_symbolic_dimension_is_never_one():
    with pytest.raises(ShapeError, match="cannot multiply x"):
        matcalc.parse("x*y")


@pytest.mark.parametrize("text, cls, message, caret_at", [
    ("x +", ParseError, "ends too early", 3),
    ("3 $ 4", ParseError, "unexpected character '$'", 2),
    ("A*(x+", ParseError, "ends too early", 5),
    ("x ++* y", ParseError, "unexpected '*'", 4),
    ("tr(A, B)", ParseError, "tr takes 1 argument, not 2", 0),
    ("g(x, y)", ParseError, "g takes 1 argument, not 2", 0),
    ("exp", ParseError, "exp is a function", 0),
    ("eye(2.5)", ParseError, "eye takes sizes", 4),
    ("kron(A)", ParseError, "kron takes 2 arguments, not 1", 0),
    ("x*A", ShapeError, "cannot multiply x (n×1) by A (m×k): 1 ≠ m", 1),
    ("x + y'", ShapeError, "cannot add x (n×1) and y' (1×m)", 2),
    ("x^2", ShapeError, "cannot raise x (n×1) to a power", 1),
    ("x/y", ShapeError, "cannot divide by y (m×1)", 1),
    ("A^0.5", ShapeError, "integer literal exponent", 1),
    ("softmax(A)", ShapeError, "softmax needs a column vector", 0),
    ("tr(x)", ShapeError, "tr needs a square matrix", 0),
    ("vector(x)", ShapeError, "vector(c) takes a scalar c", 0),
    ("x.*y'", ShapeError, "cannot multiply element-wise x", 1),
    ("", ParseError, "empty", 0),
])
def test_errors_point_at_the_input(text, cls, message, caret_at):
    with pytest.raises(cls) as info:
        matcalc.parse(text)
    err = info.value
    assert message in err.message
    lines = str(err).splitlines()
    assert lines[-2] == "  " + text
    assert lines[-1].index("^") - 2 == caret_at


def test_bad_declaration():
    with pytest.raises(ParseError, match="cannot declare S as 'symetric'"):
        matcalc.parse("x'*S*x", {"S": "symetric"})


def test_grammar_loads_from_checkout():
    from matcalc.syntax import grammar_text
    assert "?sum" in grammar_text()


def test_inspect_lists_the_names_the_expression_uses():
    info = matcalc.inspect("b'*X'*X*c", vars={"a": "vector", "b": "vector", "c": "vector"})
    assert sorted(info["variables"]) == ["X", "b", "c"]   # a is only declared
    assert info["variables"]["b"] == {"kind": "vector", "shape": ["n", 1],
                                      "declaration": "vector(n)"}
    assert info["shape"] == [1, 1] and info["kind"] == "scalar"
    info = matcalc.inspect("g(u) where u = W*x")
    assert sorted(info["variables"]) == ["W", "x"] and info["functions"] == {"g": "function"}
