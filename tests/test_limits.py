"""Limits: huge, deep and explosive inputs get an answer in bounded time and memory, or
a ``LimitError`` that names the limit (``matcalc.LIMITS.<name>``), which can be raised.

Never a RecursionError, a MemoryError, an internal error or a hang.
"""
from __future__ import annotations

import io
import tracemalloc
from contextlib import redirect_stderr, redirect_stdout

import pytest

import matcalc
from matcalc import LIMITS, LimitError, MatcalcError
from matcalc.cli import main

from guards import Hang, assert_clean_error, time_limit

DEEP = 10_000
MEGABYTE = 1_048_576
SECONDS = 5.0


@pytest.fixture(autouse=True)
def restore_limits():
    saved = LIMITS.as_dict()
    yield
    for name, value in saved.items():
        setattr(LIMITS, name, value)


def outcome(call, seconds: float = SECONDS):
    """The result of ``call()`` or the MatcalcError it raised, within ``seconds``."""
    with time_limit(seconds):
        try:
            return call()
        except MatcalcError as exc:
            return exc


def refused_by(call, *limits: str, seconds: float = SECONDS) -> LimitError:
    """The LimitError of ``call()``, which must name one of ``limits``."""
    result = outcome(call, seconds)
    assert type(result) is LimitError, f"expected a LimitError, got {type(result).__name__}"
    assert any(f"matcalc.LIMITS.{limit}" in str(result) for limit in limits), str(result)
    assert_clean_error(result)
    return result


# ---------------------------------------------------------------------------
# nesting 10,000 levels deep
# ---------------------------------------------------------------------------

DEEP_INPUTS = {
    "parentheses": "(" * DEEP + "x" + ")" * DEEP + "'*x",
    "unary minus": "-" * DEEP + "a",
    "alternating signs": "-+" * (DEEP // 2) + "a",
    "transposes": "x'" + "'" * DEEP + "*x",
    "spaced transposes": "x'" + " '" * DEEP + "*x",
    "function calls": "exp(" * DEEP + "a" + ")" * DEEP,
    "abstract calls": "g(" * DEEP + "a" + ")" * DEEP,
    "signed groups": "-(" * DEEP + "a" + ")" * DEEP,
    "element-wise powers": "x" + ".^(x" * DEEP + ")" * DEEP,
}


@pytest.mark.parametrize("kind", list(DEEP_INPUTS))
def test_ten_thousand_levels_are_refused_naming_a_limit(kind):
    # some of these are longer than max_input_chars, which may refuse them first
    text = DEEP_INPUTS[kind]
    wrt = "a" if "a" in text else "x"
    refused_by(lambda: matcalc.diff(text, wrt), "max_depth", "max_input_chars")
    refused_by(lambda: matcalc.parse(text), "max_depth", "max_input_chars")
    # and with the length limit out of the way, the depth limit holds on its own
    LIMITS.max_input_chars = 10 * MEGABYTE
    refused_by(lambda: matcalc.diff(text, wrt), "max_depth")
    refused_by(lambda: matcalc.parse(text), "max_depth")


@pytest.mark.parametrize("api", ["diff", "parse"])
def test_a_ten_thousand_level_power_tower_is_refused_naming_max_depth(api):
    # a^a^...^a nests without parentheses; parse() used to return it, unprintable
    LIMITS.max_input_chars = 10 * MEGABYTE
    text = "a^" * DEEP + "a"
    call = (lambda: matcalc.diff(text, "a")) if api == "diff" else (lambda: matcalc.parse(text))
    refused_by(call, "max_depth")


def test_a_ten_thousand_level_signed_power_tower_is_refused_naming_max_depth():
    LIMITS.max_input_chars = 10 * MEGABYTE
    text = "a^-" * DEEP + "a"
    refused_by(lambda: matcalc.diff(text, "a"), "max_depth")
    refused_by(lambda: matcalc.parse(text), "max_depth")


def test_deep_input_through_the_command_line():
    out, err = io.StringIO(), io.StringIO()
    with time_limit(SECONDS), redirect_stdout(out), redirect_stderr(err):
        code = main(["diff", "(" * 5000 + "x'*x" + ")" * 5000, "x"])
    assert code == 1
    assert out.getvalue() == ""
    assert err.getvalue().startswith("matcalc: ")
    assert "matcalc.LIMITS.max_depth" in err.getvalue()


def test_deep_nesting_needs_little_memory():
    tracemalloc.start()
    try:
        refused_by(lambda: matcalc.diff("exp(" * 5000 + "a" + ")" * 5000, "a"), "max_depth")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


def test_raising_max_depth_admits_deeper_input():
    text = "(" * 300 + "x'*x" + ")" * 300
    refused_by(lambda: matcalc.diff(text, "x"), "max_depth")
    LIMITS.max_depth = 400
    assert str(outcome(lambda: matcalc.diff(text, "x"))) == "2*x"
    text = "-" * 300 + "a"
    LIMITS.max_depth = 200
    refused_by(lambda: matcalc.diff(text, "a"), "max_depth")
    LIMITS.max_depth = 400
    assert str(outcome(lambda: matcalc.diff(text, "a"))) == "1"


def test_raised_max_depth_is_honoured_for_nested_calls():
    # 600 nested calls pass the raised depth limit, and their derivative, a product of
    # 600 factors 1 - t.^2 with each t named once, prints in linear size
    LIMITS.max_depth = 2000
    text = "tanh(" * 600 + "a" + ")" * 600
    r = outcome(lambda: matcalc.diff(text, "a"), seconds=30)
    assert not isinstance(r, MatcalcError), str(r)
    assert len(str(r)) < 60 * 600
    assert str(outcome(lambda: matcalc.parse(text))).startswith("tanh(tanh(")


def test_a_flat_product_of_thousands_of_factors_is_not_deep():
    # issue 11: tr(A1*...*A2000*X) is a flat product, not a nesting
    text = "tr(" + "*".join(f"A{k}" for k in range(1, 2001)) + "*X)"
    r = outcome(lambda: matcalc.diff(text, "X"), seconds=30)
    assert not isinstance(r, MatcalcError), str(r)
    assert str(r.expr).startswith("A2000'*A1999'")


def _tanh_network(depth: int) -> str:
    h = "x"
    for k in range(1, depth):
        h = f"tanh(W{k}*{h}+b{k})"
    return f"norm2(W{depth}*{h} - y)^2"


@pytest.mark.parametrize("text, wrt", [
    (_tanh_network(128), "W1"),
    ("y'*log(" + "softmax(" * 128 + "x" + ")" * 128 + ")", "x"),
])
def test_the_default_limits_admit_a_network_128_layers_deep(text, wrt):
    # issue 11: each layer is a call and a sum of products, which do not count as depth
    r = outcome(lambda: matcalc.diff(text, wrt), seconds=30)
    assert not isinstance(r, MatcalcError), str(r)
    # printing, LaTeX and generated code do not recurse down the layers
    assert len(str(r)) < 10_000 and r.latex()
    code = r.numpy_code()
    assert "def f(" in code


# ---------------------------------------------------------------------------
# a megabyte of input
# ---------------------------------------------------------------------------

def _megabyte(unit: str) -> str:
    return (unit * (MEGABYTE // len(unit) + 1))[:MEGABYTE]


MEGABYTE_INPUTS = {
    "sum of quadratic forms": (" + ".join(["x'*A*x"] * (MEGABYTE // 9 + 1)))[:MEGABYTE - 1] + "x",
    "one long name": _megabyte("a"),
    "one long number": _megabyte("7"),
    "whitespace": "a" + " " * (MEGABYTE - 1),
    "garbage": _megabyte("$#@"),
    "open parentheses": _megabyte("("),
}


@pytest.mark.parametrize("kind", list(MEGABYTE_INPUTS))
def test_a_megabyte_of_input_is_refused_naming_max_input_chars(kind):
    text = MEGABYTE_INPUTS[kind]
    assert len(text) == MEGABYTE
    tracemalloc.start()
    try:
        error = refused_by(lambda: matcalc.diff(text, "x"), "max_input_chars", seconds=2.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(MEGABYTE) in str(error)
    assert peak < 20 * MEGABYTE


def test_a_megabyte_through_the_command_line():
    out, err = io.StringIO(), io.StringIO()
    with time_limit(SECONDS), redirect_stdout(out), redirect_stderr(err):
        code = main(["diff", MEGABYTE_INPUTS["sum of quadratic forms"], "x"])
    assert code == 1 and out.getvalue() == ""
    assert "matcalc.LIMITS.max_input_chars" in err.getvalue()
    assert len(err.getvalue()) < 2000  # the message quotes a window, not the megabyte


def test_raising_max_input_chars_admits_longer_input():
    text = "x'*x" + " " * (LIMITS.max_input_chars + 10)
    refused_by(lambda: matcalc.diff(text, "x"), "max_input_chars")
    LIMITS.max_input_chars = len(text)
    assert str(outcome(lambda: matcalc.diff(text, "x"))) == "2*x"


def test_a_long_flat_sum_under_the_length_limit_is_answered():
    text = "+".join(["a"] * (LIMITS.max_input_chars // 2 - 1))
    result = outcome(lambda: matcalc.diff(text, "a"), seconds=10)
    assert str(result) == str(LIMITS.max_input_chars // 2 - 1)


@pytest.mark.parametrize("terms", [
    lambda i: f"b{i}*a",         # 1,600 terms took ~90 s: each + re-canonicalised the sum
    lambda i: f"x{i}'*A*x{i}",   # a 50 kB input of these took minutes and GBs
], ids=["b0*a+b1*a+...", "x0'*A*x0+x1'*A*x1+..."])
def test_a_sum_of_many_distinct_terms_is_answered_in_bounded_time(terms):
    text = "+".join(terms(i) for i in range(1600))
    text = text[:text.rfind("+", 0, LIMITS.max_input_chars)]
    wrt = "a" if "a" in text else "A"
    try:
        result = outcome(lambda: matcalc.diff(text, wrt), seconds=10)
    except Hang as exc:
        pytest.fail(str(exc))
    assert not isinstance(result, MatcalcError) or "LIMITS" in str(result)


# ---------------------------------------------------------------------------
# derivatives that blow up
# ---------------------------------------------------------------------------

def _product_of(k: int, f: str = "sin") -> str:
    """sum(sin(1*x).*sin(2*x).*...): the derivative has k terms of k - 1 distinct factors,
    so its size grows with k², whatever is named."""
    return "sum(" + ".*".join(f"{f}({i}*x)" for i in range(1, k + 1)) + ")"


BLOW_UP = {
    "a product of 200 sines": (_product_of(200), "x"),
    "a product of 200 tanh times exp": (_product_of(200, "exp(x).*tanh"), "x"),
    "a product of 200 scalar sines": ("*".join(f"sin({i}*a)" for i in range(1, 201)), "a"),
}

# Deep nestings are not blow-ups any more: their derivatives repeat pieces, which the
# human form names once (issue 7), so their size is linear in the depth.
NESTED = {
    "nested sines": ("sum(" + "sin(" * 190 + "x" + ")" * 190 + ")", "x"),
    "nested exponentials": ("sum(" + "exp(" * 150 + "x" + ")" * 150 + ")", "x"),
}
#: a^a^...^a: the derivative is a sum over the levels, answered within the limits
POWER_TOWERS = {
    "power tower": ("a^" * 100 + "a", "a"),
    "signed power tower": ("-a^" * 100 + "a", "a"),
}


@pytest.mark.parametrize("kind", list(BLOW_UP))
def test_an_exploding_derivative_is_refused_naming_max_result_tokens(kind):
    text, wrt = BLOW_UP[kind]
    refused_by(lambda: matcalc.diff(text, wrt), "max_result_tokens", "max_nodes",
               seconds=30)


@pytest.mark.parametrize("kind", list(NESTED))
def test_a_deep_nesting_has_a_linear_derivative(kind):
    text, wrt = NESTED[kind]
    r = outcome(lambda: matcalc.diff(text, wrt), seconds=30)
    assert not isinstance(r, MatcalcError), str(r)
    assert len(str(r)) < 60 * 200


@pytest.mark.parametrize("kind", list(POWER_TOWERS))
def test_a_power_tower_is_answered_or_refused_by_a_limit(kind):
    text, wrt = POWER_TOWERS[kind]
    r = outcome(lambda: matcalc.diff(text, wrt), seconds=30)
    assert not isinstance(r, MatcalcError) or "LIMITS" in str(r), str(r)


def test_raising_max_result_tokens_admits_a_larger_derivative():
    text = _product_of(40)
    LIMITS.max_result_tokens = 1000
    refused_by(lambda: matcalc.diff(text, "x"), "max_result_tokens")
    LIMITS.max_result_tokens = 100_000
    r = outcome(lambda: matcalc.diff(text, "x"))
    assert not isinstance(r, MatcalcError), str(r)
    assert r.check().passed


def test_raising_max_nodes_admits_more_pieces():
    text = _product_of(60)
    LIMITS.max_nodes = 50
    refused_by(lambda: matcalc.diff(text, "x"), "max_nodes")
    LIMITS.max_nodes = 1_000_000
    assert not isinstance(outcome(lambda: matcalc.diff(text, "x")), MatcalcError)


# ---------------------------------------------------------------------------
# X^1000000
# ---------------------------------------------------------------------------

def test_a_millionth_matrix_power_is_refused_naming_max_matrix_power():
    error = refused_by(lambda: matcalc.diff("tr(X^1000000)", "X"), "max_matrix_power")
    assert "1000000" in str(error)


def test_a_millionth_power_parses_and_scalar_powers_differentiate():
    assert str(outcome(lambda: matcalc.parse("X^1000000"))) == "X^1000000"
    assert str(outcome(lambda: matcalc.diff("a^1000000", "a"))) == "1000000*a^999999"
    r = outcome(lambda: matcalc.diff("sum(x.^1000000)", "x"))
    assert str(r) == "1000000*x.^999999"


def test_raising_max_matrix_power_admits_a_higher_power():
    refused_by(lambda: matcalc.diff("tr(X^100)", "X"), "max_matrix_power")
    LIMITS.max_matrix_power = 128
    r = outcome(lambda: matcalc.diff("tr(X^100)", "X"))
    assert str(r) == "100*X'^99"


# ---------------------------------------------------------------------------
# huge numbers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, limit", [
    ("1e5000*a", "max_number_exponent"),   # printing it was an internal error (str of a
    ("7" * 5000 + "*a", "max_number_digits"),   # 5,000-digit int)
    ("0." + "1" * 5000 + "*a", "max_number_digits"),  # was 'cannot parse (VisitError)'
])
def test_a_huge_number_literal_is_refused_naming_a_limit(text, limit):
    refused_by(lambda: matcalc.diff(text, "a"), limit)
    refused_by(lambda: matcalc.parse(text), limit)


def test_raising_max_number_digits_admits_a_longer_literal():
    text = "7" * 150 + "*a"
    refused_by(lambda: matcalc.diff(text, "a"), "max_number_digits")
    LIMITS.max_number_digits = 200
    assert str(outcome(lambda: matcalc.diff(text, "a"))) == "7" * 150


@pytest.mark.parametrize("text", ["1e299*1e299*a^2", "(1e200)^2*a^2", "2^2000*a^2"])
def test_a_folded_constant_beyond_floats_is_a_clean_outcome(text):
    # 1e400*a^2 once made check() an internal error (OverflowError in numeric.Evaluator)
    r = outcome(lambda: matcalc.diff(text, "a"))
    assert not isinstance(r, MatcalcError), str(r)
    report = outcome(r.check)
    if isinstance(report, MatcalcError):
        assert_clean_error(report)
    else:
        assert report.passed


# ---------------------------------------------------------------------------
# huge declared sizes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, wrt, vars", [
    ("x'*x", "x", {"x": "vector(100000)"}),            # took minutes
    ("sum(X)", "X", {"X": "matrix(3000,3000)"}),
    ("x'*x", "x", {"x": "vector(99999999999999999999)"}),  # was an internal error
], ids=["vector(100000)", "matrix(3000,3000)", "vector(10^20)"])
def test_checking_with_a_huge_declared_size_is_refused_naming_max_check_size(text, wrt, vars):
    r = outcome(lambda: matcalc.diff(text, wrt, vars=vars))
    assert not isinstance(r, MatcalcError), str(r)
    try:
        refused_by(r.check, "max_check_size", seconds=3)
    except Hang as exc:
        pytest.fail(str(exc))


def test_raising_max_check_size_admits_a_larger_declared_size():
    r = matcalc.diff("x'*x", "x", vars={"x": "vector(80)"})
    refused_by(r.check, "max_check_size")
    LIMITS.max_check_size = 100
    report = outcome(r.check)
    assert not isinstance(report, MatcalcError) and report.passed, str(report)
