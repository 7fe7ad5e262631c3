"""The parser: the committed LALR tables are the grammar's, and the small driver reads
exactly what Lark's own parser reads (issue 11: the first parse in a process imports
neither Lark nor builds tables)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings

from matcalc import lalr, _tables
from matcalc.errors import ParseError
from matcalc.syntax import Node, grammar_text, lark_syntax_tree, syntax_tree
from helpers import ROOT, load_examples
from test_fuzz import FUZZ_SETTINGS, fuzz_text


def test_committed_tables_accept_what_freshly_generated_tables_accept():
    # Lark numbers its states differently from run to run, so the tables are compared
    # by what they do: the committed ones and tables generated now from the grammar read
    # every input of the corpus alike (and, below, like Lark's own parser)
    namespace: dict = {}
    exec(compile(lalr.generate(grammar_text()), "fresh_tables", "exec"), namespace)
    fresh = type("Tables", (), namespace)
    from matcalc.syntax import _Build
    for text in CORPUS:
        try:
            ours = _shape(lalr.parse(text, _tables, _Build()))
        except (lalr.UnexpectedToken, lalr.UnexpectedCharacter) as exc:
            ours = type(exc).__name__
        try:
            theirs = _shape(lalr.parse(text, fresh, _Build()))
        except (lalr.UnexpectedToken, lalr.UnexpectedCharacter) as exc:
            theirs = type(exc).__name__
        assert ours == theirs, (text, "grammar changed: run python -m matcalc.lalr")


def _shape(n):
    """A comparable form of a syntax tree."""
    if isinstance(n, Node):
        return (n.kind, n.span, str(n.value), n.op_span, tuple(_shape(a) for a in n.args))
    return n


def _reading(text: str):
    """What our parser makes of ``text``: a tree, or the error it reports."""
    try:
        return _shape(syntax_tree(text))
    except ParseError as exc:
        return ("error", exc.span)
    except Exception as exc:  # a LimitError: both parsers stop there alike
        return ("limit", type(exc).__name__)


def _reference(text: str):
    """What Lark's parser makes of it, through the same error mapping."""
    import lark
    try:
        return _shape(lark_syntax_tree(text))
    except lark.exceptions.UnexpectedCharacters as exc:
        return ("error", (exc.pos_in_stream, exc.pos_in_stream + 1))
    except lark.exceptions.UnexpectedToken as exc:
        if exc.token.type == "$END":
            return ("error", (len(text), len(text) + 1))
        t = exc.token
        return ("error", (t.start_pos, max(t.end_pos, t.start_pos + 1)))
    except lark.exceptions.UnexpectedEOF:
        return ("error", (len(text), len(text) + 1))
    except lark.exceptions.VisitError as exc:
        return ("limit", type(exc.orig_exc).__name__)


CORPUS = [e["expr"] for e in load_examples()] + [
    "g(W*x+b)", "x'*A*x + b'*x", "sum(X, 2) where a = W*x, b = a + 1", "-x.^-2'", "∇²g(x)",
    "nabla g(x) + nabla2 h(x)", "a^b^c", "a^-b", "f(x, y, z)", "2.*x", ".5*x", "1e-3*x",
    "(A*B)'*x", "x where where = 1", "x + ", "x $", "x)", "f(x,", "  x  ", "x where a =",
    "x where a = 1,", "A''", "--+-a", "sum(X,1)'", "max(0, 1 - y.*(X*w))", "x..*y", "eye(n)",
]


@pytest.mark.parametrize("text", CORPUS)
def test_the_driver_reads_like_lark(text):
    ours, theirs = _reading(text), _reference(text)
    if theirs[0] != "limit":
        assert ours == theirs


@settings(max_examples=300, derandomize=True, **FUZZ_SETTINGS)
@given(text=fuzz_text)
def test_the_driver_reads_fuzzed_text_like_lark(text):
    ours, theirs = _reading(text), _reference(text)
    if theirs[0] != "limit" and ours[0] != "limit":
        assert ours == theirs


def test_every_contextual_lexer_keeps_the_root_lexers_order():
    # the driver tries the root lexer first and keeps its match when the state accepts
    # that terminal, which is exact only if each state's terminals are a subsequence of
    # the root's (as Lark orders them: priority, then width)
    root = _tables.LEXERS[_tables.ROOT_LEXER]
    position = {name: i for i, name in enumerate(root)}
    for names in _tables.LEXERS:
        assert set(names) <= set(root)
        assert [position[n] for n in names] == sorted(position[n] for n in names)


def test_a_fresh_process_parses_without_lark():
    code = ("import sys, matcalc; matcalc.diff('g(W*x+b)', 'W'); "
            "print(sorted(m for m in ('lark', 'numpy', 'sympy', 'dataclasses') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
