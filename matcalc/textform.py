"""The text form of expressions (the input language), and the measures read off it.

One printing rule per node type, ``TEXT_RULES[type](node, piece)``, writes a node with
``piece(child)`` standing for each child.  The same rules serve four purposes, each
cached per (interned) node and computed children first, without recursion:

* ``text(e)``: the flat text, ``piece`` = the child's text;
* ``cost(e)``: the token count of the flat text, from the node's own tokens plus its
  children's costs, so it is structural and never prints anything;
* ``head(e)``: the first ``HEAD`` characters of the text (a child's head suffices), used
  with a structural ``digest`` as the deterministic canonical order of terms;
* the human form (:mod:`matcalc.human`), where ``piece`` writes a named child's name.

The text form parses back: ``parse(str(e)) == e``.
"""
from __future__ import annotations

import re
import zlib
from fractions import Fraction

from .dims import dim_mul, dim_text
from .nodes import (
    P_POSTFIX, P_POWER, P_PRODUCT, Abstract, Add, Call, Commutation, Constant, ElemPow, Eye,
    Expr,
    Fill, Hadamard, Kron, MatPow, Mul, Num, Pow, Size, Transpose, Var, Vec, number_text,
    postorder,
)

TOKEN_RE = re.compile(r"∇²|∇|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
                      r"|[A-Za-z][A-Za-z0-9_]*|\.\*|\./|\.\^|\S")

#: characters of the text that order terms (ties are broken by the structural digest)
HEAD = 48
_SENTINEL = "\x00"


def wrap(piece, child: Expr, minimum: int) -> str:
    """The child's piece, parenthesised when it binds looser than ``minimum`` (a piece
    object may say how its pieces bind: a named child is an atom)."""
    s = piece(child)
    precedence = piece.precedence(child) if hasattr(piece, "precedence") else child.precedence
    return f"({s})" if precedence < minimum else s


def _opaque(piece):
    """The predicate "printed as a name" of a piece object (never, for a plain one)."""
    return getattr(piece, "opaque", None)


# ---------------------------------------------------------------------------
# helpers shared with the LaTeX printer
# ---------------------------------------------------------------------------

def negative_part(term: Expr) -> Expr | None:
    """``-term`` when ``term`` has a negative coefficient (``-2*x -> 2*x``), else None."""
    if isinstance(term, Num) and term.value < 0:
        return Num(-term.value)
    if isinstance(term, Fill) and term.value < 0:
        return Fill(-term.value, term.shape)
    if isinstance(term, Mul) and term.coef < 0:
        return term.negated()
    return None


def scalar_product(coef, scalars: tuple) -> Expr:
    """``coef * scalars`` for canonical scalar factors, built directly."""
    if not scalars:
        return Num(coef)
    if coef == 1 and len(scalars) == 1:
        return scalars[0]
    return Mul(coef, tuple(scalars), (), (1, 1))


def broadcast_scalar(term: Expr) -> Expr | None:
    """The scalar ``s`` when ``term`` is ``s*vector(1)`` or ``s*matrix(1)``, else None."""
    if isinstance(term, Fill):
        return Num(term.value)
    if isinstance(term, Mul) and len(term.chain) == 1 and isinstance(term.chain[0], Fill):
        scalar = scalar_product(term.coef * term.chain[0].value, term.scalars)
        # (b-c)*matrix(1) + B must not print as (b-c) + B, which reads as b + B - c
        if isinstance(scalar, Add) or (isinstance(scalar, Mul) and scalar.coef < 0
                                       and isinstance(scalar.negated(), Add)):
            return None
        return scalar
    return None


def broadcast_vector(term: Expr) -> Expr | None:
    """The vector ``v`` when ``term`` is ``v*vector(1)'`` (a column spread across the
    columns of a matrix) or ``vector(1)*v`` (a row spread down its rows), else None."""
    if not isinstance(term, Mul) or len(term.chain) < 2:
        return None
    first, last = term.chain[0], term.chain[-1]
    if _is_ones(last) and last.shape[0] == 1 and term.chain[-2].shape[1] == 1:
        rest = term.chain[:-1]
    elif _is_ones(first) and first.shape[1] == 1 and term.chain[1].shape[0] == 1:
        rest = term.chain[1:]
    else:
        return None
    if len(rest) == 1 and isinstance(rest[0], Add):
        return None  # (b+c)*vector(1)' must not print as + (b+c), which reads as + b + c
    if term.coef == 1 and not term.scalars and len(rest) == 1:
        return rest[0]
    return Mul(term.coef, term.scalars, tuple(rest), (rest[0].shape[0], rest[-1].shape[1]))


def _is_ones(e: Expr) -> bool:
    return isinstance(e, Fill) and e.value == 1


def add_terms(n: Add, keep=None) -> list[Expr]:
    """The terms of a sum as printed: a broadcast ``s*vector(1)`` is just ``s`` and a
    broadcast ``b*vector(1)'`` just ``b``, when another term shows the full shape."""
    shown = [None if keep and keep(t) else broadcast_scalar(t) if broadcast_scalar(t)
             is not None else broadcast_vector(t) for t in n.terms]
    if all(b is not None for b in shown):
        return list(n.terms)
    out = [b if b is not None else t for b, t in zip(shown, n.terms)]
    rows, cols = n.shape
    if rows != 1 and cols != 1 and any(t.shape == (1, cols) for t in out) \
            and any(t.shape == (rows, 1) for t in out):
        # a row and a column would be added first, which reads as an outer sum, not in
        # the language: a term of the full shape goes first (M + x' + x, not x' + x + M)
        first = next(i for i, t in enumerate(out) if t.shape == n.shape)
        out.insert(0, out.pop(first))
    return out


def product_parts(n: Mul, keep=None) -> tuple:
    """``(top, above, below, chain)`` of a product with a non-negative coefficient, as
    printed: ``Mul.fraction`` with ``sum(X, d)/dim(n)`` shown as ``mean(X, d)`` when n
    is the number of entries summed.  Shared by the text and LaTeX printers."""
    top, above, below = n.fraction(keep)
    chain = list(n.chain)
    for size in [d for d in below if isinstance(d, Size)]:
        for group in (above, chain):
            for i, f in enumerate(group):
                if keep and keep(f):
                    continue
                inner = f.arg if isinstance(f, Transpose) else f
                if isinstance(inner, Call) and inner.fn == "sum" and _summed(inner) == size.dim:
                    mean = Call("mean", inner.arg, inner.shape, inner.axis)
                    group[i] = Transpose(mean) if inner is not f else mean
                    below.remove(size)
                    break
            else:
                continue
            break
    return top, above, below, chain


def _summed(f: Call):
    rows, cols = f.arg.shape
    return rows if f.axis == 1 else cols if f.axis == 2 else dim_mul(rows, cols)


def sized_identity(e: Expr):
    """``(scalar or None, dim)`` when ``e`` is ``eye`` or ``c*eye`` (printed sized inside
    ``kron`` and ``vec``, where there is no context to take the size from), else None."""
    if isinstance(e, Eye):
        return None, e.shape[0]
    if isinstance(e, Mul) and len(e.chain) == 1 and isinstance(e.chain[0], Eye):
        return scalar_product(e.coef, e.scalars), e.shape[0]
    return None


# ---------------------------------------------------------------------------
# one rule per node type
# ---------------------------------------------------------------------------

def _var(n: Var, piece) -> str:
    return n.name


def _num(n: Num, piece) -> str:
    return ("-" if n.value < 0 else "") + number_text(abs(n.value))


def _fill(n: Fill, piece) -> str:
    arg = _num(Num(n.value), piece)
    if n.shape[1] == 1:
        return f"vector({arg})"
    if n.shape[0] == 1:
        return f"vector({arg})'"
    return f"matrix({arg})"


def _eye(n: Eye, piece) -> str:
    return "eye"


def _size(n: Size, piece) -> str:
    return f"dim({dim_text(n.dim)})"


def _constant(n: Constant, piece) -> str:
    return n.name


def _commutation(n: Commutation, piece) -> str:
    return f"commutation({dim_text(n.m)}, {dim_text(n.n)})"


def print_add(n: Add, piece, spaced: bool = False) -> str:
    plus, minus = (" + ", " - ") if spaced else ("+", "-")
    parts = []
    keep = _opaque(piece)
    for i, term in enumerate(add_terms(n, keep)):
        positive = None if keep and keep(term) else negative_part(term)
        if i > 0 and positive is not None:
            parts.append(minus + wrap(piece, positive, P_PRODUCT))
        elif i > 0:
            parts.append(plus + wrap(piece, term, P_PRODUCT))
        else:
            parts.append(wrap(piece, term, P_PRODUCT))
    return "".join(parts)


def _add(n: Add, piece) -> str:
    return print_add(n, piece)


def _mul(n: Mul, piece) -> str:
    if n.coef < 0:
        return "-" + wrap(piece, n.negated(), P_PRODUCT)
    top, above, below, chain = product_parts(n, _opaque(piece))
    numer = [] if top is None else [number_text(top)]
    numer.extend(wrap(piece, f, P_POWER) for f in above)
    for i, f in enumerate(chain):
        numer.append(piece(f) if n.lone_hadamard(i, bool(numer)) else wrap(piece, f, P_POWER))
    text = "*".join(numer) if numer else "1"
    return text + "".join("/" + wrap(piece, d, P_POWER) for d in below)


def _hadamard(n: Hadamard, piece) -> str:
    above, below = n.fraction(_opaque(piece))
    text = ".*".join(wrap(piece, f, P_POWER) for f in above) if above \
        else _fill(Fill(Fraction(1), n.shape), piece)
    return text + "".join("./" + wrap(piece, d, P_POWER) for d in below)


def _exponent(e: Expr, piece) -> str:
    if isinstance(e, Num) and "/" not in number_text(abs(e.value)):
        return _num(e, piece)  # the grammar takes a signed exponent: x^-1
    return wrap(piece, e, P_POWER)


def _pow(n: Pow, piece) -> str:
    if isinstance(n.exp, Num) and n.exp.value < 0:  # a^-k prints as 1/a^k
        k = -n.exp.value
        below = n.base if k == 1 else Pow(n.base, Num(k))
        return f"1/{wrap(piece, below, P_POWER)}"
    return f"{wrap(piece, n.base, P_POSTFIX)}^{_exponent(n.exp, piece)}"


def _matpow(n: MatPow, piece) -> str:
    return f"{wrap(piece, n.base, P_POSTFIX)}^{n.k}"


def _elempow(n: ElemPow, piece) -> str:
    if isinstance(n.exp, Num) and n.exp.value < 0:  # u.^-k prints as 1./u.^k
        k = -n.exp.value
        below = n.base if k == 1 else ElemPow(n.base, Num(k))
        return f"1./{wrap(piece, below, P_POWER)}"
    return f"{wrap(piece, n.base, P_POSTFIX)}.^{_exponent(n.exp, piece)}"


def _transpose(n: Transpose, piece) -> str:
    return f"{wrap(piece, n.arg, P_POSTFIX)}'"


def _call(n: Call, piece) -> str:
    name = n.spec.printed
    if n.axis:
        return f"{name}({piece(n.arg)}, {n.axis})"
    return f"{name}({piece(n.arg)})"


def _abstract(n: Abstract, piece) -> str:
    return f"{Abstract.PREFIX[n.order]}{n.name}({piece(n.arg)})"


def _sized(e: Expr, piece) -> str:
    keep = _opaque(piece)
    sized = None if keep and keep(e) else sized_identity(e)
    if sized is None:
        return piece(e)
    scalar, d = sized
    eye_text = f"eye({dim_text(d)})"
    return eye_text if scalar is None or scalar == Num(Fraction(1)) \
        else f"{wrap(piece, scalar, P_PRODUCT)}*{eye_text}"


def _kron(n: Kron, piece) -> str:
    return f"kron({_sized(n.left, piece)}, {_sized(n.right, piece)})"


def _vec(n: Vec, piece) -> str:
    return f"vec({_sized(n.arg, piece)})"


TEXT_RULES = {
    Var: _var, Num: _num, Fill: _fill, Eye: _eye, Size: _size, Constant: _constant,
    Commutation: _commutation,
    Add: _add, Mul: _mul, Hadamard: _hadamard, Pow: _pow, MatPow: _matpow,
    ElemPow: _elempow, Transpose: _transpose, Call: _call, Abstract: _abstract,
    Kron: _kron, Vec: _vec,
}


def render(n: Expr, piece) -> str:
    """``n`` written by its rule with ``piece(child)`` for each child."""
    return TEXT_RULES[type(n)](n, piece)


class NamedPieces:
    """Children's text for a printer in which ``names`` (node -> name) print as their
    names: memoised, and recording which names each node's text uses.

    A printing rule may print a node that is not one of its children (``y - v`` prints
    the negation ``v`` of the child ``-v``; ``1./q`` the power ``q = a.^0.5`` of the
    child ``a.^-0.5``), so the names a text uses are those it looked up while printing,
    not those below it in the tree: :meth:`references` gives them.  Subclasses say how a
    name prints (:meth:`name_text`) and how a node does (:meth:`rule`).
    """

    def __init__(self, names: dict | None = None, memo: dict | None = None):
        self.names = names or {}
        self.memo = {} if memo is None else memo
        self.refs: dict = {}        # node -> the named nodes its memoised text uses
        self._frames: list = []     # the names used by each text being printed

    def opaque(self, e: Expr) -> bool:
        """Is ``e`` printed as a name (so that a rule must not look inside it)?"""
        return e in self.names

    def name_text(self, e: Expr) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def rule(self, n: Expr) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, e: Expr) -> str:
        frames = self._frames
        if self.opaque(e):
            if frames and e in self.names:
                frames[-1].add(e)
            return self.name_text(e)
        out = self.memo.get(e)
        if out is None:
            for n in postorder(e, lambda n: n not in self.memo and not self.opaque(n)):
                frames.append(set())
                self.memo[n] = self.rule(n)
                self.refs[n] = frames.pop()
            out = self.memo[e]
        if frames:
            frames[-1].update(self.refs.get(e, ()))
        return out

    def references(self, e: Expr, top) -> tuple[str, set]:
        """``top(e)`` (a text of ``e``) and the named nodes it uses."""
        self._frames.append(set())
        try:
            out = top(e)
        finally:
            used = self._frames.pop()
        used.discard(e)
        return out, used


# ---------------------------------------------------------------------------
# cached measures, computed children first
# ---------------------------------------------------------------------------

def _put(n: Expr, slot: str, value) -> None:
    object.__setattr__(n, slot, value)


def text(e: Expr) -> str:
    """The flat text (no spaces)."""
    if e._text is None:
        for n in postorder(e, lambda n: n._text is None):
            _put(n, "_text", render(n, text))
    return e._text


def top_text(e: Expr) -> str:
    """The flat text with the outermost sum spaced: ``(A+A')*x + b``."""
    return print_add(e, text, spaced=True) if isinstance(e, Add) else text(e)


def _template(n: Expr) -> tuple[str, list]:
    parts: list = []

    def piece(c: Expr) -> str:
        parts.append(c)
        return _SENTINEL

    return render(n, piece), parts


def cost(e: Expr) -> int:
    """Tokens of the flat text, counted structurally."""
    if e._cost is None:
        for n in postorder(e, lambda n: n._cost is None):
            template, parts = _template(n)
            own = len(TOKEN_RE.findall(template)) - template.count(_SENTINEL)
            _put(n, "_cost", own + sum(cost(c) for c in parts))
    return e._cost


def own_tokens(n: Expr) -> int:
    """Tokens a node prints besides its children's."""
    template, _ = _template(n)
    return len(TOKEN_RE.findall(template)) - template.count(_SENTINEL)


def primes(e: Expr) -> int:
    """How many transpose marks (``'``) the flat text has."""
    if e._primes is None:
        for n in postorder(e, lambda n: n._primes is None):
            template, parts = _template(n)
            _put(n, "_primes", template.count("'") + sum(primes(c) for c in parts))
    return e._primes


def head(e: Expr) -> str:
    """The first ``HEAD`` characters of the flat text."""
    if e._head is None:
        for n in postorder(e, lambda n: n._head is None):
            _put(n, "_head", render(n, head)[:HEAD])
    return e._head


_MASK = (1 << 64) - 1


def _mix(h: int, value) -> int:
    if isinstance(value, Expr):
        v = digest(value)
    elif isinstance(value, tuple):
        v = 0x345678
        for x in value:
            v = _mix(v, x)
    else:
        v = zlib.crc32(repr(value).encode())
    return ((h ^ v) * 0x100000001B3) & _MASK  # FNV-style mixing


def digest(e: Expr) -> int:
    """A structural hash that is the same in every process (Python's ``hash`` of strings
    is not), for a deterministic order."""
    if e._digest is None:
        for n in postorder(e, lambda n: n._digest is None):
            h = zlib.crc32(type(n).__name__.encode())
            for a in n._args():
                h = _mix(h, a)
            _put(n, "_digest", h)
    return e._digest


def order_key(e: Expr) -> tuple:
    """The canonical order of terms and factors: by text (``A`` before ``A'``), then by
    structure."""
    return (head(e).replace("'", "~"), digest(e))


def token_count(s: str) -> int:
    """Tokens of a printed text."""
    return len(TOKEN_RE.findall(s))
