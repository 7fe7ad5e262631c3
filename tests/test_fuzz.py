"""Fuzzing the front door: random, mutated and grammar-shaped strings through ``parse``,
``diff`` (and ``Result.check``, ``latex``, ``steps``) and the command line.

Only ``MatcalcError`` subclasses may come out, never an internal error, each with a
caret under the input when it carries the input; nothing may hang.  The inputs come
from four sources: random text over the language's characters (and some others),
random sequences of the grammar's tokens, and the expressions of
``../shared/examples.json`` and of ``strategies.cases`` (well-typed, but here read
without their declarations) with characters inserted, deleted, swapped or replaced
and fragments spliced in.

The CI run is small and deterministic; ``MATCALC_FUZZ_EXAMPLES=20000 python -m pytest
-m soak tests/test_fuzz.py`` is the long run (docs/testing.md).
"""
from __future__ import annotations

import io
import json
import os
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcalc
from matcalc import MatcalcError
from matcalc.cli import FORMATS, main

from guards import assert_clean_error, time_limit
from helpers import load_examples
from strategies import cases

CI_EXAMPLES = 400
SOAK_EXAMPLES = int(os.environ.get("MATCALC_FUZZ_EXAMPLES", "20000"))
SECONDS = 10.0

EXAMPLES = [case["expr"] for case in load_examples()] or [
    "g(W*x+b)", "x'*S*x", "tr(A*X*B)", "logdet(X)", "norm2(A*x - b)^2"]
NAMES = ["x", "y", "a", "b", "A", "X", "S", "W", "g", "x1", "lam", "mu"]
TOKENS = (["(", ")", ",", "'", "+", "-", "*", "/", ".*", "./", "^", ".^", "∇", "∇²",
           "0", "1", "2", ".5", "1e-3", "2.5", "1e309", "3e-400", "eye"]
          + NAMES + ["exp", "log", "sqrt", "tr", "det", "logdet", "inv", "diag", "sum",
                     "norm1", "norm2", "softmax", "logsumexp", "vector", "matrix", "relu",
                     "sign", "abs", "sigmoid", "arcsin"])
ALPHABET = st.sampled_from(list("xyabAXSWgnm0123456789.,+-*/^'() \t\n_eE∇²")
                           + ["\x00", "\u00a0", "é", "\u2028", "ℯ", "х", "；", "\ufeff"])
DECLARATIONS = ["scalar", "vector", "matrix", "symmetric", "vector(3)", "matrix(m,n)",
                "symmetric(k)", "matrix(2,3)", "vector(n)", "matrix(0,1)", "vectr", "",
                "matrix(,)", "scalar(2)", "symmetric(2,3)", "matrix(n"]


# ---------------------------------------------------------------------------
# input strategies
# ---------------------------------------------------------------------------

random_text = st.text(ALPHABET, max_size=40)

token_sequence = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(
    lambda tokens: "".join(tokens))
spaced_token_sequence = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(
    lambda tokens: " ".join(tokens))


@st.composite
def mutated(draw, base) -> str:
    """A text from ``base`` with a few characters inserted, deleted, swapped or replaced,
    or with a fragment of an example spliced in."""
    text = draw(base)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "delete", "swap", "replace", "splice",
                                   "duplicate"]))
        i = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:i] + draw(ALPHABET | st.sampled_from(TOKENS)) + text[i:]
        elif op == "delete" and text:
            j = draw(st.integers(i, min(len(text), i + 3)))
            text = text[:i] + text[j:]
        elif op == "swap" and len(text) > 1:
            i = min(i, len(text) - 2)
            text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        elif op == "replace" and text:
            i = min(i, len(text) - 1)
            text = text[:i] + draw(ALPHABET) + text[i + 1:]
        elif op == "splice":
            other = draw(st.sampled_from(EXAMPLES))
            a = draw(st.integers(0, len(other)))
            b = draw(st.integers(a, len(other)))
            text = text[:i] + other[a:b] + text[i:]
        elif op == "duplicate" and text:
            j = draw(st.integers(i, len(text)))
            text = text[:i] + text[i:j] * 2 + text[j:]
    return text


generated_text = cases(max_depth=5, max_nodes=25).map(lambda case: case.text)
fuzz_text = st.one_of(random_text, token_sequence, spaced_token_sequence,
                      mutated(st.sampled_from(EXAMPLES)), mutated(generated_text))
wrt_name = st.one_of(st.sampled_from(NAMES), st.text(ALPHABET, max_size=4))
declarations = st.dictionaries(st.sampled_from(NAMES + ["", "1x", "x y"]),
                               st.sampled_from(DECLARATIONS) | st.text(ALPHABET, max_size=8),
                               max_size=3)


# ---------------------------------------------------------------------------
# the contract
# ---------------------------------------------------------------------------

def call_cleanly(call, what: str = "", tally: Counter | None = None):
    """``call()``'s result or its MatcalcError, which must be clean; within SECONDS."""
    with time_limit(SECONDS, "the call"):
        try:
            result = call()
        except MatcalcError as exc:
            assert_clean_error(exc)
            result = exc
    if tally is not None:
        tally[f"{what}: {type(result).__name__ if isinstance(result, MatcalcError) else 'ok'}"] += 1
    return result


def exercise(text: str, wrt: str, vars: dict, tally: Counter | None = None) -> None:
    parsed = call_cleanly(lambda: matcalc.parse(text), "parse", tally)
    if isinstance(parsed, MatcalcError) and type(parsed).__name__ in ("ParseError",
                                                                      "ShapeError"):
        # an error about the expression itself points into the expression
        assert parsed.text == text and parsed.span is not None, repr(parsed)
    if not isinstance(parsed, MatcalcError):
        str(parsed)
    call_cleanly(lambda: matcalc.parse(text, vars=vars))
    r = call_cleanly(lambda: matcalc.diff(text, wrt, vars=vars), "diff", tally)
    if isinstance(r, MatcalcError):
        return
    call_cleanly(lambda: (str(r), r.latex(), list(r.steps), r.to_json()))
    call_cleanly(lambda: r.check(points=2), "check", tally)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with time_limit(SECONDS, f"matcalc {argv!r}"), redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    assert code in (0, 1, 2), code
    if code == 1 and not err.getvalue().startswith("check "):
        assert err.getvalue().startswith("matcalc: "), err.getvalue()
        assert "internal error" not in err.getvalue(), err.getvalue()
    if code != 0 and "--check" not in argv and out.getvalue():
        # the only output of a failure is the error as JSON, for --format json (SPEC §6)
        assert code == 1 and "error" in json.loads(out.getvalue()), out.getvalue()
    return code, out.getvalue(), err.getvalue()


FUZZ_SETTINGS = dict(deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much])


@settings(max_examples=CI_EXAMPLES, derandomize=True, **FUZZ_SETTINGS)
@given(text=fuzz_text, wrt=wrt_name, vars=declarations)
def test_fuzzed_input_through_parse_and_diff(text, wrt, vars):
    exercise(text, wrt, vars)


@settings(max_examples=CI_EXAMPLES // 2, derandomize=True, **FUZZ_SETTINGS)
@given(text=fuzz_text, wrt=wrt_name, fmt=st.sampled_from(FORMATS),
       flags=st.lists(st.sampled_from(["--steps", "--check", "--let", "S=symmetric",
                                       "--let", "x=vector(3)", "--let=a=scalar",
                                       "--format", "-x", "--"]), max_size=4),
       command=st.sampled_from(["diff", "gradient", "parse", "dif", ""]))
def test_fuzzed_command_lines(text, wrt, fmt, flags, command):
    argv = ([command] if command else []) + [text] + ([wrt] if command != "parse" else [])
    argv += flags + ([] if "--format" in flags else ["--format", fmt])
    run_cli(argv)


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_example_goes_through_cleanly(text):
    exercise(text, "x", {})


@pytest.mark.parametrize("text, wrt, where", [
    ("sum(∇²g(x)*x)", "x", 4),     # third derivatives of g
    ("sum(∇g(X))", "X", 4),        # a 4-way tensor
])
def test_a_refused_derivative_points_at_the_operation(text, wrt, where):
    with pytest.raises(matcalc.NotDifferentiableError) as info:
        matcalc.diff(text, wrt)
    assert info.value.text == text and info.value.span is not None
    assert info.value.span[0] <= where < info.value.span[1]   # the caret covers ∇g or ∇²g
    assert_clean_error(info.value)


def test_the_guard_catches_a_foreign_exception(monkeypatch):
    # the contract can fail: an exception that is not a MatcalcError is reported
    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(matcalc, "parse", broken)
    with pytest.raises(KeyError):
        exercise("x", "x", {})


@pytest.mark.soak
def test_soak_fuzzing():
    tally: Counter = Counter()

    @settings(max_examples=SOAK_EXAMPLES, **FUZZ_SETTINGS)
    @given(text=fuzz_text, wrt=wrt_name, vars=declarations, cli=st.integers(0, 9),
           fmt=st.sampled_from(FORMATS))
    def run(text, wrt, vars, cli, fmt):
        tally["inputs"] += 1
        exercise(text, wrt, vars, tally)
        if cli == 0:  # one in ten also through the command line
            code, _, _ = run_cli(["diff", text, wrt, "--format", fmt, "--check"])
            tally[f"cli exit {code}"] += 1

    start = time.time()
    run()
    print(f"fuzz soak: {tally['inputs']} inputs in {time.time() - start:.0f} s, no escapes")
    for key, count in sorted(tally.items()):
        print(f"  {key}: {count}")
