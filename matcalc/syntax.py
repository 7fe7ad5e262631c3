"""Text -> syntax tree: the Lark parser, positions, and friendly syntax errors.

Lark (LALR, grammar in ``grammar/matcalc.lark``) turns the text into a small tree of
:class:`Node` that remembers where each piece stands in the input, so that every later
error can put a caret under it.  Lark's exceptions become :class:`ParseError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark

from .errors import LimitError, ParseError
from .limits import LIMITS


# ---------------------------------------------------------------------------
# grammar loading: source checkout, editable install and installed wheel alike
# ---------------------------------------------------------------------------

def grammar_text() -> str:
    """The grammar, from the wheel's copy inside the package or the checkout's ``grammar/``."""
    try:
        packaged = resources.files("matcalc").joinpath("grammar/matcalc.lark")
        if packaged.is_file():
            return packaged.read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover
        pass
    source = Path(__file__).resolve().parent.parent / "grammar" / "matcalc.lark"
    return source.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", propagate_positions=True,
                     maybe_placeholders=False)


# ---------------------------------------------------------------------------
# syntax tree
# ---------------------------------------------------------------------------

@dataclass(eq=False)
class Node:
    kind: str                 # num name call nabla unary binary transpose definition where
    span: tuple[int, int]     # where it stands in the text
    value: object = None      # number, name, operator text, (order, name)
    args: list = field(default_factory=list)
    op_span: tuple[int, int] | None = None


def _tok_span(tok) -> tuple[int, int]:
    return (tok.start_pos, tok.end_pos)


def _join(a: Node, b) -> tuple[int, int]:
    end = b.span[1] if isinstance(b, Node) else b.end_pos
    return (a.span[0], end)


class _Build:
    """Builds one Node from a Lark rule's items.  Only builds; checking comes after."""

    def number(self, items):
        (tok,) = items
        return Node("num", _tok_span(tok), number_value(str(tok), tok.start_pos))

    def name(self, items):
        (tok,) = items
        return Node("name", _tok_span(tok), str(tok))

    def call(self, items):
        name, _lp, args, rp = items
        return Node("call", (name.start_pos, rp.end_pos), str(name), args,
                    op_span=_tok_span(name))

    def nabla_call(self, items):
        nabla, name, _lp, args, rp = items
        order = 2 if str(nabla) in ("∇²", "nabla2") else 1
        return Node("nabla", (nabla.start_pos, rp.end_pos), (order, str(name)), args,
                    op_span=(nabla.start_pos, name.end_pos))

    def args(self, items):
        return [i for i in items if isinstance(i, Node)]

    def group(self, items):
        lp, inner, rp = items
        inner.span = (lp.start_pos, rp.end_pos)
        return inner

    def unary(self, items):
        op, arg = items
        return Node("unary", (op.start_pos, arg.span[1]), str(op), [arg],
                    op_span=_tok_span(op))

    def binary(self, items):
        left, op, right = items
        return Node("binary", _join(left, right), str(op), [left, right],
                    op_span=_tok_span(op))

    def transpose(self, items):
        arg, quote = items
        return Node("transpose", _join(arg, quote), "'", [arg], op_span=_tok_span(quote))

    def definition(self, items):
        name, _eq, value = items
        return Node("definition", (name.start_pos, value.span[1]), str(name), [value],
                    op_span=_tok_span(name))

    def where(self, items):
        body, where, *rest = items
        definitions = [i for i in rest if isinstance(i, Node)]
        return Node("where", (body.span[0], definitions[-1].span[1]), None,
                    [body] + definitions, op_span=_tok_span(where))


class _NumberLimit(Exception):
    """A number literal past a limit; turned into a LimitError with the input shown."""

    def __init__(self, message: str, span: tuple[int, int]):
        super().__init__(message)
        self.span = span


def number_value(text: str, start: int = 0) -> Fraction:
    """The exact value of a number literal, within LIMITS.max_number_digits and
    LIMITS.max_number_exponent (floats cannot hold more anyway)."""
    span = (start, start + len(text))
    mantissa, _, exponent = text.lower().partition("e")
    digits = len(mantissa.replace(".", "").lstrip("0"))
    if digits > LIMITS.max_number_digits or len(exponent) > 8:
        raise _NumberLimit(f"the number has more than {LIMITS.max_number_digits} digits; the "
                           "limit is matcalc.LIMITS.max_number_digits", span)
    value = Fraction(text)
    if value != 0:
        magnitude = len(str(int(mantissa.split(".")[0] or "0"))) + int(exponent or 0)
        if abs(magnitude) > LIMITS.max_number_exponent:
            raise _NumberLimit(f"the number {text} is beyond 1e±{LIMITS.max_number_exponent}; "
                               "the limit is matcalc.LIMITS.max_number_exponent", span)
    return value


def _build_nodes(tree: lark.Tree) -> Node:
    """Lark tree -> Node tree, iteratively: a flat sum of a million terms is a left-deep
    tree a million levels deep, too deep for a recursive transformer."""
    build = _Build()
    done: dict[int, object] = {}
    stack = [(tree, False)]
    while stack:
        t, ready = stack.pop()
        if not ready:
            stack.append((t, True))
            stack.extend((c, False) for c in t.children if isinstance(c, lark.Tree))
            continue
        items = [done.pop(id(c)) if isinstance(c, lark.Tree) else c for c in t.children]
        done[id(t)] = getattr(build, t.data)(items)
    return done[id(tree)]


def syntax_tree(text: str) -> Node:
    """Parse ``text`` to a :class:`Node` tree; syntax errors become ``ParseError``."""
    if len(text) > LIMITS.max_input_chars:
        raise LimitError(f"the input has {len(text)} characters; the limit is "
                         f"{LIMITS.max_input_chars} (matcalc.LIMITS.max_input_chars)")
    if not text.strip():
        raise ParseError("the expression is empty", text, (0, 1))
    depth = _nesting_depth(text)
    if depth > LIMITS.max_depth:
        raise LimitError(f"the input nests {depth} levels deep; the limit is "
                         f"{LIMITS.max_depth} (matcalc.LIMITS.max_depth)")
    try:
        tree = _parser().parse(text)
        return _build_nodes(tree)
    except _NumberLimit as exc:
        raise LimitError(str(exc), text, exc.span) from None
    except lark.exceptions.UnexpectedCharacters as exc:
        raise ParseError(f"unexpected character {text[exc.pos_in_stream]!r}", text,
                         (exc.pos_in_stream, exc.pos_in_stream + 1)) from None
    except lark.exceptions.UnexpectedEOF:
        raise ParseError("the expression ends too early", text,
                         (len(text), len(text) + 1)) from None
    except lark.exceptions.UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            raise ParseError("the expression ends too early", text,
                             (len(text), len(text) + 1)) from None
        what = {"RPAR": "')'", "COMMA": "','", "WHERE": "'where'", "EQUALS": "'='"}.get(
            tok.type, repr(str(tok)))
        raise ParseError(f"unexpected {what}", text,
                         (tok.start_pos, max(tok.end_pos, tok.start_pos + 1))) from None
    except lark.exceptions.LarkError as exc:  # pragma: no cover - defensive
        raise ParseError(f"cannot parse the expression ({type(exc).__name__})", text,
                         (0, len(text))) from None
    except RecursionError:
        raise LimitError("the expression nests too deeply to parse; limit "
                         f"matcalc.LIMITS.max_depth = {LIMITS.max_depth}") from None


def _nesting_depth(text: str) -> int:
    depth = best = 0
    for ch in text:
        if ch == "(":
            depth += 1
            best = max(best, depth)
        elif ch == ")":
            depth -= 1
    # unary signs and transposes nest too: count the longest run of them
    runs = re.findall(r"(?:[-+]\s*){2,}|(?:'\s*){2,}", text)
    return max(best, max((len(r.replace(" ", "")) for r in runs), default=0))


# ---------------------------------------------------------------------------
# dimensions and unification
# ---------------------------------------------------------------------------
