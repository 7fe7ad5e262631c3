"""The human form (issue 7): shared pieces named once with `where`, linear in depth,
names that never clash, and every printed form parsing back."""
from __future__ import annotations

import pytest

import matcalc
from matcalc.human import human_text
from matcalc.parse import declarations
from helpers import token_count


def tanh_network(depth: int) -> str:
    h = "x"
    for k in range(1, depth):
        h = f"tanh(W{k}*{h}+b{k})"
    return f"norm2(W{depth}*{h} - y)^2"


def nested_softmax(depth: int) -> str:
    return "y'*log(" + "softmax(" * depth + "x" + ")" * depth + ")"


def _parses_back(r):
    decls = declarations(r.expr)
    for name, v in r.variables.items():
        decls.setdefault(name, declarations(v)[name])
    assert matcalc.parse(str(r), decls, shape=r.expr.shape) == r.expr


@pytest.mark.parametrize("series, wrt", [(tanh_network, "W1"), (nested_softmax, "x")])
def test_printed_size_grows_linearly_with_depth(series, wrt):
    matcalc.LIMITS.max_depth = 1000
    try:
        tokens = []
        for depth in (8, 16, 32, 64, 128):
            r = matcalc.diff(series(depth), wrt)
            tokens.append(token_count(str(r)))
            if depth in (8, 32):
                _parses_back(r)
    finally:
        matcalc.LIMITS.max_depth = 200
    ratios = [b / a for a, b in zip(tokens, tokens[1:])]
    assert all(q <= 2.2 for q in ratios), (tokens, ratios)


def test_the_flat_form_is_the_quadratic_one():
    flat, human = [], []
    for depth in (16, 32):
        r = matcalc.diff(tanh_network(depth), "W1")
        flat.append(token_count(str(r.expr)))
        human.append(token_count(str(r)))
    assert flat[1] > 3.5 * flat[0] and human[1] < 2.2 * human[0]


def test_names_never_clash_with_the_users():
    # the user has variables named h, a and g: the pieces take other names
    r = matcalc.diff("norm2(W2*tanh(W1*h+a) - g)^2", "W1",
                     vars={"a": "vector", "g": "vector"})
    names = [d.split(" = ")[0] for d in str(r).split("  where ")[1].split(", ")]
    assert not {"h", "a", "g", "W1", "W2"} & set(names)
    _parses_back(r)


def test_output_is_deterministic():
    texts = {str(matcalc.diff(tanh_network(6), "W1")) for _ in range(3)}
    assert len(texts) == 1


def test_human_form_of_an_input():
    assert human_text(matcalc.parse("sigmoid(W*x)*x' + sigmoid(W*x)*y'")) == \
        "s*x' + s*y'  where s = sigmoid(W*x)"
    assert human_text(matcalc.parse("x'*A*x")) == "x'*A*x"


def test_where_in_input_is_a_shared_piece():
    e = matcalc.parse("a'*a + sum(a) where a = W*x + b")
    assert e == matcalc.parse("(W*x+b)'*(W*x+b) + sum(W*x+b)")
    with pytest.raises(matcalc.ParseError, match="used before its definition"):
        matcalc.parse("x where a = b, b = x'*x")
    with pytest.raises(matcalc.ParseError, match="defined twice"):
        matcalc.parse("a where a = x, a = y")
    with pytest.raises(matcalc.ParseError, match="where clause"):
        matcalc.diff("a'*a where a = W*x", "a")
    # a defined name takes its definition's kind: A here is a vector, not a matrix
    assert matcalc.parse("A'*A where A = x + y").shape == (1, 1)


def test_a_piece_the_input_named_keeps_its_name():
    r = matcalc.diff("g(u) where u = W*x + b", "W")
    assert str(r) == "∇g(u)*x'  where u = W*x + b"
    _parses_back(r)
    # a declared name is never taken for a piece, even one absent from the result
    vars = {"s": "elementwise"}
    r = matcalc.diff("sum(sigmoid(x).*sigmoid(x)) + sum(s(y))", "x", vars=vars)
    assert "s = " not in str(r)
    assert matcalc.parse(str(r), {**vars, **declarations(r.expr)}) == r.expr


def test_definitions_follow_the_names_they_use():
    # y - v prints the negation v of the child -v: v is defined before h = relu(y-v)
    e = matcalc.parse("sum(max(max(sin(a)*y, y), y))", {"y": "vector(m)", "a": "scalar"})
    text = human_text(e)
    assert "  where " in text
    # the parser refuses a name used before its definition
    assert matcalc.parse(text, {"y": "vector(m)", "a": "scalar"}, shape=e.shape) == e


def test_the_transpose_of_a_named_piece_is_not_named_again():
    r = matcalc.diff("tr(inv(X'*C*X)*A)", "X")
    text = str(r)
    assert text.count(" = ") == 1 and "Y'" in text, text
    _parses_back(r)
