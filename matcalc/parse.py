"""Text -> typed expression: Lark parsing, kind defaults, dimension inference.

Three steps.  Lark (LALR, grammar in ``grammar/matcalc.lark``) turns the text into a
small syntax tree that remembers where each piece stands in the input.  Inference then
gives every node a shape whose sizes are integers or symbolic dimensions, unifying them
across the whole expression (``W*x+b`` makes ``b`` as tall as ``W``); a conflict is a
``ShapeError`` with a caret under the operator.  Finally the tree is rebuilt with the
canonical constructors of :mod:`matcalc.expr`.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark

from . import expr as E
from .errors import MatcalcError, ParseError, ShapeError, LimitError
from .limits import LIMITS

KINDS = ("scalar", "vector", "matrix", "symmetric")
DIM_NAMES = ("n", "m", "k", "p", "q", "r", "s", "t", "u", "v", "w", "l", "j", "i")


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
    kind: str                 # num name call nabla unary binary transpose
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
        order = 2 if str(nabla) == "∇²" else 1
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
        what = {"RPAR": "')'", "COMMA": "','"}.get(tok.type, repr(str(tok)))
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

class DimVar:
    """A symbolic dimension during inference (a union-find element)."""

    __slots__ = ("serial", "name")

    def __init__(self, serial: int, name: str | None = None):
        self.serial = serial
        self.name = name


class Dims:
    """Union-find over symbolic dimensions; integers are known sizes."""

    def __init__(self, reserved: set[str]):
        self.parent: dict[DimVar, object] = {}
        self.created: list[DimVar] = []
        self.named: dict[str, DimVar] = {}
        self.reserved = reserved

    def fresh(self, name: str | None = None) -> DimVar:
        if name is not None and name in self.named:
            return self.named[name]
        d = DimVar(len(self.created), name)
        self.created.append(d)
        self.parent[d] = d
        if name is not None:
            self.named[name] = d
        return d

    def find(self, d):
        """The representative of ``d``: an int, a root DimVar, or a normalised Prod."""
        if isinstance(d, int):
            return d
        if isinstance(d, Prod):
            return self._normalise(d)
        root = d
        while True:
            p = self.parent[root]
            if p is root:
                break
            if isinstance(p, int):
                return p
            if isinstance(p, Prod):
                return self._normalise(p)
            root = p
        while self.parent[d] is not root:  # path compression
            self.parent[d], d = root, self.parent[d]
        return root

    def _normalise(self, p: "Prod"):
        number = p.number
        factors: list[DimVar] = []
        for f in p.factors:
            r = self.find(f)
            if isinstance(r, int):
                number *= r
            elif isinstance(r, Prod):
                number *= r.number
                factors.extend(r.factors)
            else:
                factors.append(r)
        if not factors:
            return number
        if number == 1 and len(factors) == 1:
            return factors[0]
        factors.sort(key=lambda v: v.serial)
        return Prod(number, tuple(factors))

    def product(self, a, b):
        """The size a*b (of a Kronecker product or a vec)."""
        return self.find(Prod(1, (a, b)))

    def unify(self, a, b) -> bool:
        """Make ``a`` and ``b`` the same size; False if they cannot be."""
        ra, rb = self.find(a), self.find(b)
        if ra is rb or (isinstance(ra, (int, Prod)) and ra == rb):
            return True
        if isinstance(ra, (int, Prod)) and isinstance(rb, (int, Prod)):
            return False  # products are matched only when they are the same product
        if isinstance(ra, (int, Prod)):
            ra, rb = rb, ra
        if isinstance(rb, Prod):
            if ra in rb.factors:
                return False
            self.parent[ra] = rb
            return True
        if isinstance(rb, int):
            if rb == 1:
                return False  # a symbolic dimension is never assumed to be 1
            self.parent[ra] = rb
            return True
        # keep the earlier (or user-named) one as the root, for stable names
        if (rb.name is not None and ra.name is None) or (
                (ra.name is None) == (rb.name is None) and rb.serial < ra.serial):
            ra, rb = rb, ra
        self.parent[rb] = ra
        return True

    def names(self) -> dict:
        """The name of every root DimVar: a user name or a fresh letter."""
        used = set(self.named) | self.reserved
        candidates = itertools.chain(DIM_NAMES, (f"n{i}" for i in itertools.count(1)))
        pool = (n for n in candidates if n not in used)
        out: dict = {}
        for d in self.created:
            r = self.find(d)
            if isinstance(r, DimVar) and r not in out:
                out[r] = r.name if r.name is not None else next(pool)
        return out

    def resolve(self, d, names: dict | None = None):
        """A final dimension: an int, a name, or a product name like ``"m*n"``."""
        names = self.names() if names is None else names
        r = self.find(d)
        if isinstance(r, int):
            return r
        if isinstance(r, Prod):
            return E.dim_mul(r.number, *(names[f] for f in r.factors))
        return names[r]

    def text(self, d) -> str:
        return str(self.resolve(d))

    def shape_text(self, shape) -> str:
        return f"{self.text(shape[0])}×{self.text(shape[1])}"


class Prod:
    """A product of sizes during inference (the rows of ``kron(A, B)``)."""

    __slots__ = ("number", "factors")

    def __init__(self, number: int, factors: tuple):
        self.number = number
        self.factors = factors

    def __eq__(self, other):
        return (isinstance(other, Prod) and self.number == other.number
                and len(self.factors) == len(other.factors)
                and all(a is b for a, b in zip(self.factors, other.factors)))

    def __hash__(self):
        return hash((self.number, tuple(id(f) for f in self.factors)))


# ---------------------------------------------------------------------------
# declarations
# ---------------------------------------------------------------------------

_DECL_RE = re.compile(r"^\s*([a-z]+)\s*(?:\(\s*([^)]*)\))?\s*$")


def _declaration(name: str, decl: str) -> tuple[str, list]:
    """``"matrix(m,n)" -> ("matrix", ["m", "n"])``; sizes are names or integers."""
    m = _DECL_RE.match(str(decl))
    if not m or m.group(1) not in KINDS:
        raise ParseError(f"cannot declare {name} as {decl!r}: use scalar, vector, matrix or "
                         "symmetric, optionally with sizes like matrix(m,n) or vector(3)")
    kind, sizes_text = m.group(1), m.group(2)
    sizes: list = []
    if sizes_text is not None and sizes_text.strip():
        for part in sizes_text.split(","):
            part = part.strip()
            if re.fullmatch(r"\d+", part) and int(part) >= 1:
                sizes.append(int(part))
            elif re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", part):
                sizes.append(part)
            else:
                raise ParseError(f"cannot declare {name} as {decl!r}: {part!r} is not a size")
    wanted = {"scalar": (0,), "vector": (0, 1), "matrix": (0, 2), "symmetric": (0, 1)}[kind]
    if len(sizes) not in wanted:
        raise ParseError(f"cannot declare {name} as {decl!r}: {kind} takes "
                         f"{' or '.join(str(w) for w in wanted if w)} size(s)")
    return kind, sizes


def default_kind(name: str) -> str:
    """matrixcalculus.org's defaults: a–g scalars, h–z vectors, A–Z matrices."""
    c = name[0]
    if "a" <= c <= "g":
        return "scalar"
    if c.islower():
        return "vector"
    return "matrix"


def declarations(e: E.Expr) -> dict[str, str]:
    """Declarations (with sizes) that make ``parse(str(e), vars=...)`` rebuild ``e``."""
    out = {}
    for name, v in sorted(E.free_vars(e).items()):
        r, c = v.shape
        if v.symmetric:
            out[name] = f"symmetric({r})"
        elif v.is_scalar:
            out[name] = "scalar"
        elif c == 1:
            out[name] = f"vector({r})"
        else:
            out[name] = f"matrix({r},{c})"
    return out


# ---------------------------------------------------------------------------
# inference and building
# ---------------------------------------------------------------------------

@dataclass
class Parsed:
    """The result of parsing: the expression and the variables it was typed with."""
    text: str
    expr: E.Expr
    variables: dict          # name -> Var (every variable seen or declared)
    functions: set           # abstract function names


class _Typer:
    def __init__(self, text: str, vars: dict | None):
        self.text = text
        self.decls = {}
        if vars is not None and not isinstance(vars, Mapping):
            raise ParseError(f"the declarations must be a dict of name -> kind, like "
                             f"{{'S': 'symmetric'}}, not {type(vars).__name__}")
        for name, decl in (vars or {}).items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(name)):
                raise ParseError(f"cannot declare {name!r}: not a variable name")
            self.decls[name] = _declaration(name, decl)
        reserved = set()
        for kind, sizes in self.decls.values():
            reserved.update(s for s in sizes if isinstance(s, str))
        self.dims = Dims(reserved)
        self.var_shapes: dict[str, tuple] = {}
        self.symmetric: set[str] = set()
        self.shapes: dict[int, tuple] = {}
        self.functions: set[str] = set()
        # undeclared a-g names added to a column vector (W*x+b): made vectors, SPEC §2
        self.promoted: set[str] = set()
        self.promote: set[str] = set()

    # errors -------------------------------------------------------------
    def error(self, cls, message: str, span) -> MatcalcError:
        return cls(message, self.text, span)

    def desc(self, node: Node) -> str:
        text = self.text[node.span[0]:node.span[1]]
        if len(text) > 30:
            text = text[:27] + "..."
        return f"{text} ({self.dims.shape_text(self.shape(node))})"

    # shapes -------------------------------------------------------------
    def shape(self, node: Node):
        return self.shapes[id(node)]

    def is_scalar(self, shape) -> bool:
        return self.dims.find(shape[0]) == 1 and self.dims.find(shape[1]) == 1

    def var_shape(self, name: str, span):
        if name in self.var_shapes:
            return self.var_shapes[name]
        kind, sizes = self.decls.get(name, (default_kind(name), []))
        if name in self.promoted:
            kind = "vector"
        dims = [self.dims.fresh(s) if isinstance(s, str) else s for s in sizes]
        if kind == "scalar":
            shape = (1, 1)
        elif kind == "vector":
            shape = (dims[0] if dims else self.dims.fresh(), 1)
        elif kind == "symmetric":
            d = dims[0] if dims else self.dims.fresh()
            shape = (d, d)
            self.symmetric.add(name)
        else:
            shape = (dims[0], dims[1]) if dims else (self.dims.fresh(), self.dims.fresh())
        self.var_shapes[name] = shape
        return shape

    def infer(self, node: Node):
        # iterative post-order, so that deep inputs do not exhaust Python's stack
        stack = [(node, False)]
        while stack:
            n, done = stack.pop()
            if done:
                self.shapes[id(n)] = self._infer_one(n)
            else:
                stack.append((n, True))
                stack.extend((a, False) for a in reversed(_typed_args(n)))
        return self.shape(node)

    def _infer_one(self, n: Node):
        k = n.kind
        if k == "num":
            return (1, 1)
        if k == "name":
            name = n.value
            if name == "eye":
                d = self.dims.fresh()
                return (d, d)
            if name in E.RESERVED:
                raise self.error(ParseError, f"{name} is a function: write {name}(...)", n.span)
            return self.var_shape(name, n.span)
        if k == "transpose":
            # b' of an undeclared a–g name: transposing a scalar is a no-op nobody
            # writes, so b is taken to be a vector (b'*x), as matrixcalculus.org does
            self._note_promotion(n.args[0], None)
            r, c = self.shape(n.args[0])
            return (c, r)
        if k == "unary":
            return self.shape(n.args[0])
        if k == "binary":
            return self._binary(n)
        if k == "call":
            return self._call(n)
        if k == "nabla":
            return self._nabla(n)
        raise AssertionError(k)  # pragma: no cover

    def _unify_or_fail(self, a, b, n: Node, verb: str, left: Node, right: Node, joiner: str):
        if not self.dims.unify(a, b):
            raise self.error(ShapeError, f"cannot {verb} {self.desc(left)} {joiner} "
                             f"{self.desc(right)}: {self.dims.text(a)} ≠ {self.dims.text(b)}",
                             n.op_span)

    def _binary(self, n: Node):
        op = n.value
        left, right = n.args
        ls, rs = self.shape(left), self.shape(right)
        lsc, rsc = self.is_scalar(ls), self.is_scalar(rs)
        if op in "+-":
            if lsc or rsc:
                self._note_promotion(left if lsc else right, rs if lsc else ls)
                return rs if lsc else ls
            verb = "add" if op == "+" else "subtract"
            joiner = "and" if op == "+" else "from"
            a, b = (left, right) if op == "+" else (right, left)
            for i in (0, 1):
                self._unify_or_fail(self.shape(a)[i], self.shape(b)[i], n, verb, a, b, joiner)
            return ls
        if op == "*":
            if lsc or rsc:
                return rs if lsc else ls
            self._unify_or_fail(ls[1], rs[0], n, "multiply", left, right, "by")
            return (ls[0], rs[1])
        if op == "/":
            if not rsc:
                raise self.error(ShapeError, f"cannot divide by {self.desc(right)}: / divides "
                                 "by a scalar only; use ./ for element-wise division or "
                                 "inv(...) for a matrix inverse", n.op_span)
            return ls
        if op in (".*", "./"):
            if lsc or rsc:
                return rs if lsc else ls
            verb = "multiply" if op == ".*" else "divide"
            for i in (0, 1):
                self._unify_or_fail(ls[i], rs[i], n, f"{verb} element-wise", left, right,
                                    "by")
            return ls
        if op in ("^", ".^"):
            if not rsc:
                raise self.error(ShapeError, f"the exponent {self.desc(right)} must be a "
                                 "scalar", n.op_span)
            if op == ".^" or lsc:
                return ls
            if ls[1] == 1 or ls[0] == 1 or self.dims.find(ls[1]) == 1 \
                    or self.dims.find(ls[0]) == 1:
                raise self.error(ShapeError, f"cannot raise {self.desc(left)} to a power: ^ "
                                 "takes a scalar or a square matrix; use .^ for an "
                                 "element-wise power", n.op_span)
            if _integer_literal(right) is None:
                raise self.error(ShapeError, f"cannot raise the matrix {self.desc(left)} to "
                                 f"the power {self.text[right.span[0]:right.span[1]]}: a "
                                 "matrix power needs an integer literal exponent; use .^ "
                                 "for an element-wise power", n.op_span)
            if not self.dims.unify(ls[0], ls[1]):
                raise self.error(ShapeError, f"cannot raise {self.desc(left)} to a power: it "
                                 "is not square", n.op_span)
            return ls
        raise AssertionError(op)  # pragma: no cover

    def _note_promotion(self, scalar: Node, other_shape) -> None:
        """Remember an undeclared a–g name added to a column vector or transposed."""
        if scalar.kind == "transpose":
            scalar = scalar.args[0]
        if (scalar.kind == "name" and scalar.value not in self.decls
                and scalar.value not in E.RESERVED and default_kind(scalar.value) == "scalar"
                and (other_shape is None or (self.dims.find(other_shape[1]) == 1
                                             and self.dims.find(other_shape[0]) != 1))):
            self.promote.add(scalar.value)

    def _arity(self, n: Node, count: int = 1):
        if len(n.args) != count:
            what = "function" if n.value not in E.RESERVED else n.value
            raise self.error(ParseError, f"{n.value if what == 'function' else what} takes "
                             f"{count} argument{'s' if count != 1 else ''}, not "
                             f"{len(n.args)}", n.op_span)

    def _size_argument(self, n: Node, arg: Node):
        """A dimension written as an argument: ``eye(n)``, ``commutation(m,3)``."""
        if arg.kind == "name":
            return self.dims.fresh(arg.value)
        if arg.kind == "num" and arg.value.denominator == 1 and arg.value >= 1:
            return int(arg.value)
        raise self.error(ParseError, f"{n.value} takes sizes: names or whole numbers",
                         arg.span)

    def _call(self, n: Node):
        fn = n.value
        if fn == "eye":
            self._arity(n)
            d = self._size_argument(n, n.args[0])
            return (d, d)
        if fn == "commutation":
            self._arity(n, 2)
            m, k = (self._size_argument(n, a) for a in n.args)
            size = self.dims.product(m, k)
            return (size, size)
        if fn == "kron":
            self._arity(n, 2)
            a, b = (self.shape(x) for x in n.args)
            return (self.dims.product(a[0], b[0]), self.dims.product(a[1], b[1]))
        self._arity(n)
        arg = n.args[0]
        s = self.shape(arg)
        scalar = self.is_scalar(s)
        if fn in ("vector", "matrix"):
            if not scalar:
                raise self.error(ShapeError, f"{fn}(c) takes a scalar c, not "
                                 f"{self.desc(arg)}", n.op_span)
            return (self.dims.fresh(), 1) if fn == "vector" else (self.dims.fresh(),
                                                                  self.dims.fresh())
        if fn == "vec":
            return (self.dims.product(s[0], s[1]), 1)
        if fn in E.ELEMENTWISE:
            return s
        if fn in ("tr", "det", "logdet", "inv"):
            if scalar:
                return s
            if not self.dims.unify(s[0], s[1]):
                raise self.error(ShapeError, f"{fn} needs a square matrix, not "
                                 f"{self.desc(arg)}", n.op_span)
            return (1, 1) if fn != "inv" else s
        if fn == "diag":
            if scalar:
                return s
            if self.dims.find(s[1]) == 1:
                return (s[0], s[0])
            if self.dims.find(s[0]) == 1:
                return (s[1], s[1])
            if not self.dims.unify(s[0], s[1]):
                raise self.error(ShapeError, f"diag needs a vector or a square matrix, not "
                                 f"{self.desc(arg)}", n.op_span)
            return (s[0], 1)
        if fn in ("sum", "norm1", "norm2"):
            return (1, 1)
        if fn in ("softmax", "logsumexp"):
            if self.dims.find(s[1]) != 1 or scalar:
                raise self.error(ShapeError, f"{fn} needs a column vector, not "
                                 f"{self.desc(arg)}", n.op_span)
            return s if fn == "softmax" else (1, 1)
        if fn in self.var_shapes or fn in self.decls:
            raise self.error(ParseError, f"{fn} is a variable, not a function", n.op_span)
        self.functions.add(fn)  # an abstract scalar function g(u)
        return (1, 1)

    def _nabla(self, n: Node):
        order, fn = n.value
        if fn in E.RESERVED:
            raise self.error(ParseError, f"∇ applies to abstract functions, not to {fn}",
                             n.op_span)
        if len(n.args) != 1:
            raise self.error(ParseError, f"{fn} takes 1 argument, not {len(n.args)}",
                             n.op_span)
        self.functions.add(fn)
        s = self.shape(n.args[0])
        if order == 1:
            return s
        if self.is_scalar(s):
            return s
        if self.dims.find(s[1]) != 1:
            raise self.error(ShapeError, f"∇²{fn} of {self.desc(n.args[0])} would be a 4-way "
                             "tensor; ∇² takes a scalar or a vector argument", n.op_span)
        return (s[0], s[0])

    # building -----------------------------------------------------------
    def build(self, root: Node) -> E.Expr:
        names = self.dims.names()

        def resolve(d):
            return self.dims.resolve(d, names)

        def rshape(shape):
            return (resolve(shape[0]), resolve(shape[1]))

        self.resolve_shape = rshape
        built: dict[int, object] = {}
        depth: dict[int, int] = {}
        stack = [(root, False)]
        while stack:
            n, done = stack.pop()
            if not done:
                stack.append((n, True))
                stack.extend((a, False) for a in reversed(_typed_args(n)))
                continue
            kids = _typed_args(n)
            summing = n.kind == "binary" and n.value in "+-"
            # the depth of the tree being built: a^b^c... or f(g(h(...))) nest without
            # parentheses, and a flat sum does not nest at all
            depth[id(n)] = max((depth.pop(id(a)) + (0 if summing and i == 0 else 1)
                                for i, a in enumerate(kids)), default=0)
            if depth[id(n)] > LIMITS.max_depth:
                raise LimitError(f"the expression nests more than {LIMITS.max_depth} levels "
                                 "deep; the limit is matcalc.LIMITS.max_depth", self.text,
                                 n.op_span or n.span)
            args = [built.pop(id(a)) for a in kids]
            try:
                if summing:
                    # a + b - c + ... is collected and canonicalised once, not per term
                    terms = args[0] if isinstance(args[0], _Terms) else _Terms([args[0]])
                    right = _materialise(args[1])
                    terms.append(right if n.value == "+" else E.neg(right))
                    built[id(n)] = terms
                    continue
                built[id(n)] = self._build_one(n, [_materialise(a) for a in args], rshape)
            except MatcalcError as exc:
                if exc.text is not None:
                    raise
                raise type(exc)(exc.message, self.text, n.op_span or n.span) from None
        try:
            return _materialise(built[id(root)])
        except MatcalcError as exc:
            if exc.text is not None:
                raise
            raise type(exc)(exc.message, self.text, root.span) from None

    def _build_one(self, n: Node, args, rshape) -> E.Expr:
        k = n.kind
        shape = rshape(self.shape(n))
        if k == "num":
            return E.Num(n.value)
        if k == "name":
            if n.value == "eye":
                return E.eye(shape[0])
            return E.Var(n.value, shape, n.value in self.symmetric)
        if k == "transpose":
            return E.transpose(args[0])
        if k == "unary":
            return E.neg(args[0]) if n.value == "-" else args[0]
        if k == "binary":
            a, b = args
            op = n.value
            if op == "+":
                return E.add(a, b)
            if op == "-":
                return E.sub(a, b)
            if op == "*":
                return E.mul(a, b)
            if op == "/":
                return E.mul(a, E.power(b, E.num(-1)))
            if op == ".*":
                return E.hadamard(a, b)
            if op == "./":
                return E.hadamard(a, E.elem_power(b, E.num(-1)) if not b.is_scalar
                                  else E.power(b, E.num(-1)))
            if op == "^":
                return E.power(a, b)
            if op == ".^":
                return E.elem_power(a, b)
        if k == "call":
            fn = n.value
            if fn in ("vector", "matrix"):
                c = args[0]
                if isinstance(c, E.Num):
                    return E.fill(c.value, shape)
                return E.mul(c, E.ones(shape))
            if fn == "eye":
                return E.eye(shape[0])
            if fn == "commutation":
                m, k = (rshape((self._size_argument(n, a), 1))[0] for a in n.args)
                return E.commutation(m, k)
            if fn == "kron":
                return E.kron(*args)
            if fn == "vec":
                return E.vec(args[0])
            if fn in E.ELEMENTWISE or fn in E.MATRIX_FUNCTIONS:
                return E.call(fn, args[0])
            return E.abstract(fn, 0, args[0])
        if k == "nabla":
            order, fn = n.value
            return E.abstract(fn, order, args[0])
        raise AssertionError(k)  # pragma: no cover


class _Terms(list):
    """The terms of a sum being read, added up once when the sum is complete."""


def _materialise(x):
    return E.add(*x) if isinstance(x, _Terms) else x


def _typed_args(n: Node) -> list:
    """Arguments that are expressions (the sizes in eye(n), commutation(m,n) are not)."""
    if n.kind == "call" and n.value in ("eye", "commutation"):
        return []
    return n.args


def _integer_literal(n: Node) -> int | None:
    if n.kind == "num" and n.value.denominator == 1:
        return int(n.value)
    if n.kind == "unary" and n.args[0].kind == "num":
        v = _integer_literal(n.args[0])
        return None if v is None else (-v if n.value == "-" else v)
    return None


def parse_typed(text: str, vars: dict | None = None, wrt: tuple[str, ...] = (),
                shape=None) -> Parsed:
    """Parse and type ``text``; also types the names in ``wrt`` (variables to differentiate
    by) even when they do not occur, and unifies the result with ``shape`` if given."""
    if not isinstance(text, str):
        raise ParseError(f"the expression must be a string, not {type(text).__name__}")
    tree = syntax_tree(text)
    typer = _Typer(text, vars)
    result_shape = typer.infer(tree)
    while typer.promote - typer.promoted:
        # W*x+b: b becomes a vector, unless that makes the expression ill-typed
        retry = _Typer(text, vars)
        retry.promoted = typer.promoted | typer.promote
        try:
            result_shape = retry.infer(tree)
        except MatcalcError:
            break
        typer = retry
    if shape is not None:
        ok = all(typer.dims.unify(a, typer.dims.fresh(b) if isinstance(b, str) else b)
                 for a, b in zip(result_shape, shape))
        if not ok:
            raise ShapeError(f"the expression has shape {typer.dims.shape_text(result_shape)}"
                             f", not {E.shape_text(shape)}", text, (0, len(text)))
    for name in wrt:
        if name in typer.functions or name in E.RESERVED:
            raise ParseError(f"cannot differentiate with respect to {name}: it is a function")
        typer.var_shape(name, None)
    for name in typer.decls:
        typer.var_shape(name, None)
    expr = typer.build(tree)
    variables = {name: E.Var(name, typer.resolve_shape(s), name in typer.symmetric)
                 for name, s in typer.var_shapes.items()}
    return Parsed(text, expr, variables, typer.functions)


def parse(text: str, vars: dict | None = None, shape=None) -> E.Expr:
    """Parse matrixcalculus.org-style text into a typed, canonical expression.

    >>> str(parse("x'*A*x + 0*b"))
    "x'*A*x"
    >>> parse("W*x + b").shape
    ('n', 1)
    """
    return parse_typed(text, vars, shape=shape).expr
