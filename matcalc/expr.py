"""Expression nodes, their canonical constructors, and their text form.

Nodes are immutable and compared structurally (with a cached hash).  Build them only
through the constructor functions at the bottom of this module (`add`, `mul`,
`hadamard`, `transpose`, `power`, `call`, ...): they check shapes and keep every tree
in one canonical form, so that equal mathematics built two ways compares equal as
often as cheaply possible.  The canonical form is what the printer shows:

* products are ``Mul(coef, scalars, chain)``: a number, the scalar factors (sorted),
  and the matrix chain in order;  ``0*...``, ``eye*A`` and ``A*inv(A)`` are never built;
* sums are flat, with like terms collected and terms in a fixed order;
* transposes sit on leaves, sums and inverses only: ``(A*B)' -> B'*A'``, ``S' -> S``
  for a symmetric ``S``, ``x' -> x`` for a scalar.

Dimensions are ``int`` (a known size) or ``str`` (a symbolic size such as ``"n"``).
The text form (``str(e)``) is the input language, and ``parse(str(e)) == e``.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Iterable, Union

from .errors import LimitError, NotDifferentiableError, ShapeError

Dim = Union[int, str]
Shape = tuple  # (rows, cols) of Dims
SCALAR: Shape = (1, 1)
Number = Union[Fraction, float]

#: element-wise functions of the language (SPEC section 1)
ELEMENTWISE = (
    "exp", "log", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "abs", "sign", "sqrt", "relu", "sigmoid", "softplus",
)
#: functions of matrices and vectors (SPEC section 1)
MATRIX_FUNCTIONS = (
    "tr", "det", "logdet", "inv", "diag", "sum", "norm1", "norm2", "softmax", "logsumexp",
)
#: names that cannot be variables or abstract functions
#: the vec-form vocabulary of Jacobians (SPEC §3): kron(A,B), vec(A), commutation(m,n)
VEC_FUNCTIONS = ("kron", "vec", "commutation")
RESERVED = frozenset(ELEMENTWISE + MATRIX_FUNCTIONS + VEC_FUNCTIONS
                     + ("vector", "matrix", "eye"))

# Printing precedences, loosest first (they mirror grammar/matcalc.lark).
P_SUM, P_PRODUCT, P_UNARY, P_POWER, P_POSTFIX, P_ATOM = range(1, 7)

TOKEN_RE = re.compile(r"∇²|∇|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
                      r"|[A-Za-z][A-Za-z0-9_]*|\.\*|\./|\.\^|\S")


def dim_text(d: Dim) -> str:
    return str(d)


def dim_factors(d: Dim) -> list:
    """``"m*n" -> ["m", "n"]``, ``6 -> [6]``: the factors of a (product) dimension."""
    if isinstance(d, int):
        return [d]
    return [int(f) if f.isdigit() else f for f in d.split("*")]


def dim_mul(*dims: Dim) -> Dim:
    """The product of dimensions, canonical: ``dim_mul("n", "m", 1) == "m*n"``."""
    number = 1
    names: list[str] = []
    for d in dims:
        for f in dim_factors(d):
            if isinstance(f, int):
                number *= f
            else:
                names.append(f)
    if not names:
        return number
    names.sort()
    return "*".join(([str(number)] if number != 1 else []) + names)


def shape_text(shape: Shape) -> str:
    """``(n, 1)`` -> ``'n×1'``."""
    return f"{dim_text(shape[0])}×{dim_text(shape[1])}"


def is_scalar_shape(shape: Shape) -> bool:
    return shape[0] == 1 and shape[1] == 1


def number_text(v: Number) -> str:
    """The shortest exact text of a non-negative number: ``0.5``, ``1e-08``, ``1/3``."""
    if isinstance(v, float):
        return repr(v)
    if max(v.numerator.bit_length(), v.denominator.bit_length()) > 12_000:
        raise LimitError("a number grows past 1e±3600; the limit on numbers is "
                         "matcalc.LIMITS.max_number_exponent")
    if v.denominator == 1:
        s = str(v.numerator)
        if len(s) > 12 and s.rstrip("0") != s:
            mant = s.rstrip("0")
            return f"{mant}e{len(s) - len(mant)}"
        return s
    d = v.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d == 1:
        places = max(twos, fives)
        scaled = v.numerator * 10 ** places // v.denominator
        digits = str(scaled).rjust(places + 1, "0")
        plain = f"{digits[:-places]}.{digits[-places:]}"
        if len(plain) <= 14:
            return plain
        mant = str(scaled).rstrip("0")
        exp = len(str(scaled)) - len(mant) - places
        return f"{mant}e{exp}" if len(mant) == 1 else f"{mant[0]}.{mant[1:]}e{exp + len(mant) - 1}"
    return f"{v.numerator}/{v.denominator}"


class Expr:
    """Base of all nodes.  Subclasses define ``_fields`` (the structural identity)."""

    __slots__ = ("shape", "_hash", "_text", "_cost")

    def _init(self, shape: Shape) -> None:
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "_hash", hash((type(self).__name__,) + self._fields()))
        object.__setattr__(self, "_text", None)
        object.__setattr__(self, "_cost", None)

    def __setattr__(self, name, value):
        raise AttributeError("expressions are immutable")

    def _fields(self) -> tuple:
        raise NotImplementedError

    def children(self) -> tuple["Expr", ...]:
        return ()

    def __eq__(self, other) -> bool:
        # structural equality, compared with an explicit stack so that two deep,
        # equal trees cannot exhaust Python's stack
        stack = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if type(a) is not type(b) or a._hash != b._hash:
                return False
            for x, y in zip(a._fields(), b._fields()):
                if isinstance(x, tuple) and isinstance(y, tuple):
                    if len(x) != len(y):
                        return False
                    pairs = zip(x, y)
                else:
                    pairs = ((x, y),)
                for u, v in pairs:
                    if isinstance(u, Expr) and isinstance(v, Expr):
                        stack.append((u, v))
                    elif u != v:
                        return False
        return True

    def __hash__(self) -> int:
        return self._hash

    @property
    def is_scalar(self) -> bool:
        return is_scalar_shape(self.shape)

    @property
    def is_vector(self) -> bool:
        return self.shape[1] == 1 and self.shape[0] != 1

    def text(self) -> str:
        """The compact text form (no spaces), as it appears inside a larger expression."""
        if self._text is None:
            # children first, without recursion: a deep tree must not exhaust the stack
            pending = [n for n in _postorder(self, lambda n: n._text is None)]
            for n in pending:
                if n._text is None:
                    object.__setattr__(n, "_text", n._print())
        return self._text

    def __str__(self) -> str:
        """The text form; a top-level sum is spaced: ``(A+A')*x + b``."""
        return self.text()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self} : {shape_text(self.shape)}>"

    @property
    def cost(self) -> int:
        """Number of tokens of the printed form: what "compact" is measured in."""
        if self._cost is None:
            object.__setattr__(self, "_cost", len(TOKEN_RE.findall(self.text())))
        return self._cost

    # printing -------------------------------------------------------------
    precedence = P_ATOM

    def _print(self) -> str:
        raise NotImplementedError

    def _wrap(self, child: "Expr", minimum: int) -> str:
        text = child.text()
        return f"({text})" if child.precedence < minimum else text


def _postorder(root: "Expr", wanted) -> list:
    """The nodes of ``root`` for which ``wanted(node)`` holds (their subtrees are searched
    only below wanted nodes), children before parents, without recursion."""
    out: list = []
    stack = [(root, False)]
    seen: set[int] = set()
    while stack:
        n, done = stack.pop()
        if done:
            out.append(n)
            continue
        if id(n) in seen or not wanted(n):
            continue
        seen.add(id(n))
        stack.append((n, True))
        stack.extend((c, False) for c in n.children())
    return out


class Var(Expr):
    __slots__ = ("name", "symmetric")

    def __init__(self, name: str, shape: Shape, symmetric: bool = False):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "symmetric", symmetric)
        self._init(shape)

    def _fields(self):
        return (self.name, self.shape, self.symmetric)

    def _print(self):
        return self.name


class Num(Expr):
    __slots__ = ("value",)

    def __init__(self, value: Number):
        object.__setattr__(self, "value", value)
        self._init(SCALAR)

    def _fields(self):
        return (self.value,)

    @property
    def precedence(self):
        if self.value < 0:
            return P_UNARY
        return P_PRODUCT if "/" in number_text(self.value) else P_ATOM

    def _print(self):
        return ("-" if self.value < 0 else "") + number_text(abs(self.value))


class Fill(Expr):
    """A vector or matrix with every entry equal to ``value``: ``vector(1)``, ``matrix(0)``."""

    __slots__ = ("value",)

    def __init__(self, value: Number, shape: Shape):
        object.__setattr__(self, "value", value)
        self._init(shape)

    def _fields(self):
        return (self.value, self.shape)

    @property
    def precedence(self):
        return P_POSTFIX if self.shape[0] == 1 else P_ATOM

    def _print(self):
        arg = str(Num(self.value))
        if self.shape[1] == 1:
            return f"vector({arg})"
        if self.shape[0] == 1:
            return f"vector({arg})'"
        return f"matrix({arg})"


class Eye(Expr):
    __slots__ = ()

    def __init__(self, n: Dim):
        self._init((n, n))

    def _fields(self):
        return (self.shape,)

    def _print(self):
        return "eye"


class Add(Expr):
    __slots__ = ("terms",)
    precedence = P_SUM

    def __init__(self, terms: tuple, shape: Shape):
        object.__setattr__(self, "terms", terms)
        self._init(shape)

    def _fields(self):
        return (self.terms,)

    def children(self):
        return self.terms

    def __str__(self) -> str:
        return self._print(spaced=True)

    def _print(self, spaced: bool = False):
        plus, minus = (" + ", " - ") if spaced else ("+", "-")
        parts = []
        broadcast = [_broadcast_scalar(t) for t in self.terms]
        if all(b is not None for b in broadcast):
            broadcast = [None] * len(self.terms)
        for i, term in enumerate(self.terms):
            if broadcast[i] is not None:
                term = broadcast[i]  # x + a*vector(1) prints as x + a
            coef, base = split_coef(term)
            if i > 0 and coef < 0:
                parts.append(minus + self._wrap(scale(-coef, base), P_PRODUCT))
            elif i > 0:
                parts.append(plus + self._wrap(term, P_PRODUCT))
            else:
                parts.append(self._wrap(term, P_PRODUCT))
        return "".join(parts)


def _broadcast_scalar(term: Expr) -> Expr | None:
    """The scalar ``s`` when ``term`` is ``s*vector(1)`` or ``s*matrix(1)``, else None."""
    if isinstance(term, Fill):
        return Num(term.value)
    if isinstance(term, Mul) and len(term.chain) == 1 and isinstance(term.chain[0], Fill):
        scalar = make_mul(term.coef * term.chain[0].value, term.scalars, ())
        # (b-c)*matrix(1) + B must not print as (b-c) + B, which reads as b + B - c
        return None if isinstance(scalar, Add) or (
            isinstance(scalar, Mul) and scalar.coef < 0 and isinstance(scalar.negated(), Add)
        ) else scalar
    return None


class Mul(Expr):
    """``coef * scalars[0] * ... * chain[0] * chain[1] * ...``; see the module docstring."""

    __slots__ = ("coef", "scalars", "chain")

    def __init__(self, coef: Number, scalars: tuple, chain: tuple, shape: Shape):
        object.__setattr__(self, "coef", coef)
        object.__setattr__(self, "scalars", scalars)
        object.__setattr__(self, "chain", chain)
        self._init(shape)

    def _fields(self):
        return (self.coef, self.scalars, self.chain)

    def children(self):
        return self.scalars + self.chain

    def negated(self) -> Expr:
        """``-self`` for a negative coefficient, built directly (it is canonical already)."""
        factors = self.scalars + self.chain
        if self.coef == -1 and len(factors) == 1:
            return factors[0]
        return Mul(-self.coef, self.scalars, self.chain, self.shape)

    @property
    def precedence(self):
        if self.coef < 0:
            # '-x' alone is a unary expression; '-2*x' is a product.
            return P_UNARY if self.negated().precedence > P_PRODUCT else P_PRODUCT
        return P_PRODUCT

    def fraction(self) -> tuple[Number | None, list, list]:
        """``(coefficient above the line, scalar factors above, factors below)`` of a
        product with a non-negative coefficient: ``2*a*x/(3*b^2)`` gives
        ``(2, [a], [3, b^2])``.  Shared by the text and LaTeX printers."""
        top: Number | None = None
        above: list[Expr] = []
        below: list[Expr] = []
        c = self.coef
        if c != 1:
            if "/" in number_text(c):  # 2/3*x prints as 2*x/3
                if c.numerator != 1:
                    top = Fraction(c.numerator)
                below.append(Num(Fraction(c.denominator)))
            else:
                top = c
        for f in self.scalars:
            if isinstance(f, Pow) and isinstance(f.exp, Num) and f.exp.value < 0:
                below.append(power(f.base, Num(-f.exp.value)))  # a^-k below as a^k
            else:
                above.append(f)
        return top, above, below

    def lone_hadamard(self, index: int, has_left: bool) -> bool:
        """c*a.*b reads as (c*a).*b = c*(a.*b): a lone Hadamard needs no parentheses."""
        return has_left and len(self.chain) == 1 and isinstance(self.chain[index], Hadamard)

    def _print(self):
        if self.coef < 0:
            return "-" + self._wrap(self.negated(), P_PRODUCT)
        top, above, below = self.fraction()
        numer = [] if top is None else [number_text(top)]
        numer.extend(self._wrap(f, P_POWER) for f in above)
        for i, f in enumerate(self.chain):
            numer.append(f.text() if self.lone_hadamard(i, bool(numer))
                         else self._wrap(f, P_POWER))
        text = "*".join(numer) if numer else "1"
        return text + "".join("/" + self._wrap(d, P_POWER) for d in below)


class Hadamard(Expr):
    """Element-wise product; factors ``u.^-k`` print as ``./u^k``."""

    __slots__ = ("factors",)
    precedence = P_PRODUCT

    def __init__(self, factors: tuple, shape: Shape):
        object.__setattr__(self, "factors", factors)
        self._init(shape)

    def _fields(self):
        return (self.factors,)

    def children(self):
        return self.factors

    def fraction(self) -> tuple[list, list]:
        """``(factors above, factors below)``: ``u.^-k`` goes below as ``u.^k``."""
        above, below = [], []
        for f in self.factors:
            if isinstance(f, ElemPow) and isinstance(f.exp, Num) and f.exp.value < 0:
                below.append(elem_power(f.base, Num(-f.exp.value)))
            else:
                above.append(f)
        return above, below

    def _print(self):
        above, below = self.fraction()
        text = ".*".join(self._wrap(f, P_POWER) for f in above) if above \
            else Fill(Fraction(1), self.shape).text()
        return text + "".join("./" + self._wrap(d, P_POWER) for d in below)


class Pow(Expr):
    """Scalar power ``base^exp`` (both scalar)."""

    __slots__ = ("base", "exp")
    precedence = P_POWER

    def __init__(self, base: Expr, exp: Expr):
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "exp", exp)
        self._init(SCALAR)

    def _fields(self):
        return (self.base, self.exp)

    def children(self):
        return (self.base, self.exp)

    def _print(self):
        return f"{self._wrap(self.base, P_POSTFIX)}^{_exponent_text(self.exp)}"


class MatPow(Expr):
    """Matrix power ``A^k`` of a square matrix, integer ``k >= 2``."""

    __slots__ = ("base", "k")
    precedence = P_POWER

    def __init__(self, base: Expr, k: int):
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "k", k)
        self._init(base.shape)

    def _fields(self):
        return (self.base, self.k)

    def children(self):
        return (self.base,)

    def _print(self):
        return f"{self._wrap(self.base, P_POSTFIX)}^{self.k}"


class ElemPow(Expr):
    """Element-wise power ``u.^p`` of a vector or matrix by a scalar ``p``."""

    __slots__ = ("base", "exp")
    precedence = P_POWER

    def __init__(self, base: Expr, exp: Expr):
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "exp", exp)
        self._init(base.shape)

    def _fields(self):
        return (self.base, self.exp)

    def children(self):
        return (self.base, self.exp)

    def _print(self):
        return f"{self._wrap(self.base, P_POSTFIX)}.^{_exponent_text(self.exp)}"


def _exponent_text(e: Expr) -> str:
    text = e.text()
    if isinstance(e, Num) and "/" not in text:
        return text  # the grammar takes a signed exponent: x^-1
    return text if e.precedence >= P_POWER else f"({text})"


class Transpose(Expr):
    __slots__ = ("arg",)
    precedence = P_POSTFIX

    def __init__(self, arg: Expr):
        object.__setattr__(self, "arg", arg)
        self._init((arg.shape[1], arg.shape[0]))

    def _fields(self):
        return (self.arg,)

    def children(self):
        return (self.arg,)

    def _print(self):
        return f"{self._wrap(self.arg, P_POSTFIX)}'"


class Call(Expr):
    """A built-in function of one argument: element-wise or a matrix function."""

    __slots__ = ("fn", "arg")

    def __init__(self, fn: str, arg: Expr, shape: Shape):
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "arg", arg)
        self._init(shape)

    def _fields(self):
        return (self.fn, self.arg)

    def children(self):
        return (self.arg,)

    def _print(self):
        return f"{self.fn}({self.arg.text()})"


class Abstract(Expr):
    """An unknown smooth scalar function ``g(u)``, its gradient ``∇g(u)`` or Hessian ``∇²g(u)``."""

    __slots__ = ("name", "order", "arg")
    PREFIX = ("", "∇", "∇²")

    def __init__(self, name: str, order: int, arg: Expr, shape: Shape):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "arg", arg)
        self._init(shape)

    def _fields(self):
        return (self.name, self.order, self.arg)

    def children(self):
        return (self.arg,)

    def _print(self):
        return f"{self.PREFIX[self.order]}{self.name}({self.arg.text()})"


class Kron(Expr):
    """Kronecker product ``kron(A, B)``."""

    __slots__ = ("left", "right")

    def __init__(self, left: Expr, right: Expr):
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)
        self._init((dim_mul(left.shape[0], right.shape[0]),
                    dim_mul(left.shape[1], right.shape[1])))

    def _fields(self):
        return (self.left, self.right)

    def children(self):
        return (self.left, self.right)

    def _print(self):
        return f"kron({_sized_text(self.left)}, {_sized_text(self.right)})"


def _sized_text(e: Expr) -> str:
    """Text of a kron argument: an identity there has no context to take its size
    from, so it is written with it (``eye(m)``)."""
    if isinstance(e, Eye):
        return f"eye({dim_text(e.shape[0])})"
    if isinstance(e, Mul) and len(e.chain) == 1 and isinstance(e.chain[0], Eye):
        scalar = make_mul(e.coef, e.scalars, ())
        sized = f"eye({dim_text(e.shape[0])})"
        return sized if is_one(scalar) else f"{scalar._wrap(scalar, P_PRODUCT)}*{sized}"
    return e.text()


class Vec(Expr):
    """``vec(A)``: the columns of A stacked into one column."""

    __slots__ = ("arg",)

    def __init__(self, arg: Expr):
        object.__setattr__(self, "arg", arg)
        self._init((dim_mul(arg.shape[0], arg.shape[1]), 1))

    def _fields(self):
        return (self.arg,)

    def children(self):
        return (self.arg,)

    def _print(self):
        return f"vec({_sized_text(self.arg)})"


class Commutation(Expr):
    """The commutation matrix ``K`` of an m×n shape: ``K*vec(A) = vec(A')``."""

    __slots__ = ("m", "n")

    def __init__(self, m: Dim, n: Dim):
        object.__setattr__(self, "m", m)
        object.__setattr__(self, "n", n)
        size = dim_mul(m, n)
        self._init((size, size))

    def _fields(self):
        return (self.m, self.n)

    def _print(self):
        return f"commutation({dim_text(self.m)}, {dim_text(self.n)})"


NODE_TYPES = (Var, Num, Fill, Eye, Add, Mul, Hadamard, Pow, MatPow, ElemPow, Transpose,
              Call, Abstract, Kron, Vec, Commutation)


# ---------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------

def _number(v) -> Number:
    if isinstance(v, (Fraction, float)):
        return v
    return Fraction(v)


def num(v) -> Num:
    """A scalar constant.  ``num(2)`` prints ``2``; fractions stay exact."""
    return Num(_number(v))


ZERO = Num(Fraction(0))
ONE = Num(Fraction(1))


def zeros(shape: Shape) -> Expr:
    return ZERO if is_scalar_shape(shape) else Fill(Fraction(0), shape)


def fill(value, shape: Shape) -> Expr:
    value = _number(value)
    return Num(value) if is_scalar_shape(shape) else Fill(value, shape)


def ones(shape: Shape) -> Expr:
    return fill(1, shape)


def eye(n: Dim) -> Expr:
    return ONE if n == 1 else Eye(n)


def is_zero(e: Expr) -> bool:
    return isinstance(e, (Num, Fill)) and e.value == 0


def is_one(e: Expr) -> bool:
    return isinstance(e, Num) and e.value == 1


def split_coef(e: Expr) -> tuple[Number, Expr]:
    """``3*x*y -> (3, x*y)``; ``vector(2) -> (2, vector(1))``; ``5 -> (5, 1)``."""
    if isinstance(e, Num):
        return e.value, ONE
    if isinstance(e, Fill):
        return e.value, Fill(Fraction(1), e.shape)
    if isinstance(e, Mul):
        return e.coef, make_mul(Fraction(1), e.scalars, e.chain)
    return Fraction(1), e


def _parts(e: Expr) -> tuple[Number, list, list]:
    """(coefficient, scalar factors, matrix chain) of ``e`` seen as a product."""
    if isinstance(e, Num):
        return e.value, [], []
    if isinstance(e, Mul):
        return e.coef, list(e.scalars), list(e.chain)
    if isinstance(e, Fill) and e.value != 1:
        return e.value, [], [Fill(Fraction(1), e.shape)]
    if e.is_scalar:
        return Fraction(1), [e], []
    return Fraction(1), [], [e]


def _chain_shape(chain: list) -> Shape:
    return (chain[0].shape[0], chain[-1].shape[1])


def _pow_parts(s: Expr) -> tuple[Expr, Expr]:
    if isinstance(s, Pow):
        return s.base, s.exp
    return s, ONE


def _merge_scalars(coef: Number, scalars: list) -> tuple[Number, list]:
    """Fold numbers into the coefficient and merge powers of equal bases (a*a^-1 -> 1)."""
    merged: dict[Expr, list] = {}
    order: list[Expr] = []
    for s in scalars:
        if isinstance(s, Mul):  # flatten nested scalar products
            if not s.chain:
                coef = coef * s.coef
                for t in s.scalars:
                    b, e = _pow_parts(t)
                    _acc(merged, order, b, e)
                continue
            if s.coef != 1 or s.scalars:
                coef = coef * s.coef
                for t in s.scalars:
                    b, e = _pow_parts(t)
                    _acc(merged, order, b, e)
                s = make_mul(Fraction(1), (), s.chain)
        if isinstance(s, Num):
            coef = coef * s.value
            continue
        b, e = _pow_parts(s)
        _acc(merged, order, b, e)
    out = []
    for b in order:
        e = merged[b]
        total = _sum_exponents(e)
        if is_zero(total):
            continue
        p = power(b, total)
        if isinstance(p, Num):
            coef = coef * p.value
        elif isinstance(p, Mul) and not p.chain:
            coef = coef * p.coef
            out.extend(p.scalars)
        else:
            out.append(p)
    out.sort(key=lambda s: (isinstance(s, Mul), s.text()))
    return coef, out


def _acc(merged, order, b, e):
    if b not in merged:
        merged[b] = []
        order.append(b)
    merged[b].append(e)


def _sum_exponents(exps: list) -> Expr:
    if len(exps) == 1:
        return exps[0]
    if all(isinstance(x, Num) for x in exps):
        return Num(sum((x.value for x in exps), Fraction(0)))
    return add(*exps)  # b^p*b^q -> b^(p+q)


def _merge_chain(chain: list) -> list | None:
    """One pass of adjacent-factor identities; ``None`` if a factor became 1."""
    out: list[Expr] = []
    for f in chain:
        if isinstance(f, Eye) and (out or len(chain) > 1):
            continue  # A*eye -> A
        if out:
            prev = out[-1]
            pb, pk = _matpow_parts(prev)
            fb, fk = _matpow_parts(f)
            if pb == fb and pb.shape[0] == pb.shape[1] and not pb.is_scalar:
                out[-1] = matrix_power(pb, pk + fk)  # A^j*A^k -> A^(j+k)
                if isinstance(out[-1], Eye):
                    out.pop()
                continue
            if (isinstance(prev, Call) and prev.fn == "diag" and prev.arg.is_vector
                    and f.shape[1] == 1):
                out[-1] = hadamard(prev.arg, f)  # diag(a)*b -> a.*b
                continue
            if isinstance(prev, Kron) and isinstance(f, Kron) \
                    and prev.left.shape[1] == f.left.shape[0] \
                    and prev.right.shape[1] == f.right.shape[0]:
                out[-1] = kron(mul(prev.left, f.left), mul(prev.right, f.right))
                continue  # kron(A,B)*kron(C,D) -> kron(A*C, B*D)
            if isinstance(prev, Commutation) and isinstance(f, Commutation) \
                    and (prev.m, prev.n) == (f.n, f.m):
                out.pop()  # K(n,m)*K(m,n) -> eye
                continue
            cancelled = _cancel_inverse(prev, f)
            if cancelled is None and isinstance(prev, Transpose) and isinstance(f, Transpose):
                # A'*inv(A*X)' = (inv(A*X)*A)' -> inv(X)'
                inner = _cancel_inverse(f.arg, prev.arg)
                cancelled = None if inner is None else [transpose(g) for g in reversed(inner)]
            if cancelled is not None:
                out.pop()
                out.extend(cancelled)
                continue
        out.append(f)
    return out


def _cancel_inverse(a: Expr, b: Expr) -> list | None:
    """``inv(A*X)*A -> inv(X)`` and ``X*inv(A*X) -> inv(A)`` for square factors A, X."""
    if isinstance(a, Call) and a.fn == "inv" and isinstance(a.arg, Mul) \
            and a.arg.coef == 1 and not a.arg.scalars and a.arg.chain[0] == b \
            and b.shape[0] == b.shape[1] and all(f.shape[0] == f.shape[1]
                                                  for f in a.arg.chain):
        return [call("inv", make_mul(Fraction(1), (), a.arg.chain[1:]))]
    if isinstance(b, Call) and b.fn == "inv" and isinstance(b.arg, Mul) \
            and b.arg.coef == 1 and not b.arg.scalars and b.arg.chain[-1] == a \
            and a.shape[0] == a.shape[1] and all(f.shape[0] == f.shape[1]
                                                  for f in b.arg.chain):
        return [call("inv", make_mul(Fraction(1), (), b.arg.chain[:-1]))]
    return None


def _matpow_parts(f: Expr) -> tuple[Expr, int]:
    """``A^k -> (A, k)``, ``inv(A)^k -> (A, -k)``, ``A -> (A, 1)``."""
    if isinstance(f, MatPow):
        b, k = _matpow_parts(f.base)
        return b, k * f.k
    if isinstance(f, Call) and f.fn == "inv":
        return f.arg, -1
    if isinstance(f, Transpose) and isinstance(f.arg, Call) and f.arg.fn == "inv":
        return transpose(f.arg.arg), -1  # inv(A)' = inv(A')
    return f, 1


def _split_chain(chain: list) -> tuple[list, list]:
    """(scalar factors, matrix chain): scalar elements leave the chain, and so does every
    leading run that multiplies to 1×1 while more factors follow (``x'*y*y'*y`` is
    ``(x'*y)*y'*y``), which is how a left-to-right reading of the text groups it."""
    scalars: list[Expr] = []
    rest: list[Expr] = []
    for f in chain:
        if f.is_scalar:
            scalars.append(f)
        else:
            rest.append(f)
    out: list[Expr] = []
    run: list[Expr] = []
    for i, f in enumerate(rest):
        run.append(f)
        if run[0].shape[0] == 1 and f.shape[1] == 1 and i < len(rest) - 1:
            scalars.append(Mul(Fraction(1), (), tuple(run), SCALAR) if len(run) > 1
                           else run[0])
            run = []
    out.extend(run)
    return scalars, out


def make_mul(coef: Number, scalars: Iterable[Expr], chain: Iterable[Expr]) -> Expr:
    """The canonical product ``coef * scalars * chain`` (chain already shape-checked)."""
    chain = list(chain)
    if any(f.is_scalar for f in chain) or any(
            f.shape[1] == 1 and chain[0].shape[0] == 1 for f in chain[:-1]):
        split, chain = _split_chain(chain)
        scalars = list(scalars) + split
    shape = _chain_shape(chain) if chain else SCALAR
    if coef == 0 or any(is_zero(s) for s in scalars) or any(is_zero(f) for f in chain):
        return zeros(shape)
    coef, scalars = _merge_scalars(coef, list(scalars))
    if coef == 0:
        return zeros(shape)
    while True:
        merged = _merge_chain(chain)
        if merged == chain:
            break
        chain = merged
    # A chain that merged down to nothing was an identity of the original shape.
    if not chain and not is_scalar_shape(shape):
        chain = [Eye(shape[0])]
    # a*vector(2) -> 2*a*vector(1): a constant's value belongs to the coefficient
    if any(isinstance(f, Fill) and f.value != 1 for f in chain):
        for i, f in enumerate(chain):
            if isinstance(f, Fill) and f.value != 1:
                coef = coef * f.value
                chain[i] = Fill(Fraction(1), f.shape)
    # Of the 1×1 products in a scalar product, the last in canonical order is the chain
    # and the others are parenthesised factors, as reading the printed text gives.
    if is_scalar_shape(shape) and any(isinstance(x, Mul) and x.chain for x in scalars):
        products = [x for x in scalars if isinstance(x, Mul) and x.chain]
        others = [x for x in scalars if not (isinstance(x, Mul) and x.chain)]
        if chain:
            products.append(Mul(Fraction(1), (), tuple(chain), SCALAR))
        last = max(range(len(products)), key=lambda k: products[k].text())
        chain = list(products.pop(last).chain)
        scalars = sorted(others + products, key=lambda x: (isinstance(x, Mul), x.text()))
    # A chain factor that became a product (diag(a)*b -> a.*b pulls out scalars).
    flat: list[Expr] = []
    for f in chain:
        if isinstance(f, Mul):
            coef = coef * f.coef
            scalars = scalars + list(f.scalars)
            flat.extend(f.chain)
        else:
            flat.append(f)
    if len(flat) != len(chain) or any(isinstance(f, Mul) for f in chain):
        return make_mul(coef, scalars, flat)
    if not chain and not scalars:
        return Num(coef)
    if not scalars and len(chain) == 1 and isinstance(chain[0], Fill):
        return fill(coef * chain[0].value, shape)
    if coef == 1 and not scalars and len(chain) == 1:
        return chain[0]
    if coef == 1 and not chain and len(scalars) == 1:
        return scalars[0]
    return Mul(coef, tuple(scalars), tuple(chain), shape)


def mul(a: Expr, b: Expr, *rest: Expr) -> Expr:
    """Product in the language's sense: a scalar operand scales, otherwise matrix product.

    >>> x = Var("x", ("n", 1)); A = Var("A", ("n", "n"))
    >>> str(mul(transpose(x), A, x))
    "x'*A*x"
    """
    if rest:
        return mul(mul(a, b), *rest)
    ca, sa, cha = _parts(a)
    cb, sb, chb = _parts(b)
    if not a.is_scalar and not b.is_scalar:
        if a.shape[1] != b.shape[0]:
            raise ShapeError(f"cannot multiply {a} ({shape_text(a.shape)}) by {b} "
                             f"({shape_text(b.shape)}): {dim_text(a.shape[1])} ≠ "
                             f"{dim_text(b.shape[0])}")
        return make_mul(ca * cb, sa + sb, cha + chb)
    if a.is_scalar and b.is_scalar:
        if cha and chb:
            return make_mul(ca * cb, sa + [make_mul(1, (), cha)] + sb, chb)
        return make_mul(ca * cb, sa + sb, cha or chb)
    if a.is_scalar:
        if cha:
            sa.append(make_mul(Fraction(1), (), cha))
        return make_mul(ca * cb, sa + sb, chb)
    if chb:
        sb.append(make_mul(Fraction(1), (), chb))
    return make_mul(ca * cb, sa + sb, cha)


def scale(c, e: Expr) -> Expr:
    """``c * e`` for a number ``c``."""
    return mul(Num(_number(c)), e)


def neg(e: Expr) -> Expr:
    return scale(-1, e)


def _broadcast_shape(terms: list, op: str) -> Shape:
    shape = SCALAR
    for t in terms:
        if not t.is_scalar:
            if shape != SCALAR and t.shape != shape:
                raise ShapeError(f"cannot {op} shapes {shape_text(shape)} and "
                                 f"{shape_text(t.shape)}")
            shape = t.shape
    return shape


def add(*terms: Expr) -> Expr:
    """Sum with scalar broadcasting, like terms collected, in canonical order.

    >>> x = Var("x", ("n", 1))
    >>> str(add(x, scale(2, x), num(1)))
    '1 + 3*x'
    """
    flat: list[Expr] = []
    for t in terms:
        flat.extend(t.terms if isinstance(t, Add) else (t,))
    shape = _broadcast_shape(flat, "add")
    coefs: dict[Expr, Number] = {}
    for t in flat:
        if not is_scalar_shape(shape) and t.is_scalar:
            t = mul(t, Fill(Fraction(1), shape))  # s + X means s*ones + X
        c, base = split_coef(t)
        coefs[base] = coefs.get(base, Fraction(0)) + c
    out = [scale(c, b) for b, c in coefs.items() if c != 0]
    if not out:
        return zeros(shape)
    if len(out) == 1:
        return out[0]
    out.sort(key=_term_key)
    return Add(tuple(out), shape)


def _term_key(t: Expr):
    c, base = split_coef(t)
    return (c < 0, not isinstance(base, (Num, Fill, Eye)), base.text().replace("'", "~"), c)


def sub(a: Expr, b: Expr) -> Expr:
    return add(a, neg(b))


def hadamard(*factors: Expr) -> Expr:
    """Element-wise product; scalar operands broadcast (and so become scaling).

    >>> x = Var("x", ("n", 1)); y = Var("y", ("n", 1))
    >>> str(hadamard(x, elem_power(y, num(-1)), x))
    'x.^2./y'
    """
    shape = _broadcast_shape(list(factors), "multiply element-wise")
    if is_scalar_shape(shape):
        out = ONE
        for f in factors:
            out = mul(out, f)
        return out
    coef: Number = Fraction(1)
    scalars: list[Expr] = []
    bases: dict[Expr, list] = {}
    order: list[Expr] = []
    pending = list(factors)
    while pending:
        f = pending.pop(0)
        if f.is_scalar:
            scalars.append(f)
            continue
        if isinstance(f, Hadamard):
            pending[:0] = list(f.factors)
            continue
        c, s, ch = _parts(f)
        coef = coef * c
        scalars.extend(s)
        g = make_mul(Fraction(1), (), ch)
        if is_zero(g):
            return zeros(shape)
        if isinstance(g, Fill) and g.value == 1:
            continue  # ones.*A -> A
        if isinstance(g, Hadamard):
            pending[:0] = list(g.factors)
            continue
        if isinstance(g, ElemPow):
            _acc(bases, order, g.base, g.exp)
        else:
            _acc(bases, order, g, ONE)
    out = []
    for b in order:
        total = _sum_exponents(bases[b])
        if is_zero(total):
            continue
        p = elem_power(b, total)
        if isinstance(p, (Mul, Fill)):
            c, s, ch = _parts(p)
            coef = coef * c
            scalars.extend(s)
            p = make_mul(Fraction(1), (), ch)
            if isinstance(p, Fill) and p.value == 1:
                continue
        out.append(p)
    if not out:
        core = Fill(Fraction(1), shape)
    elif len(out) == 1:
        core = out[0]
    else:
        out.sort(key=lambda f: (isinstance(f, ElemPow) and isinstance(f.exp, Num)
                                and f.exp.value < 0, f.text()))
        core = Hadamard(tuple(out), shape)
    return make_mul(coef, scalars, [core])


def _is_integer(e: Expr) -> bool:
    return isinstance(e, Num) and not isinstance(e.value, float) and e.value.denominator == 1


def power(base: Expr, exp: Expr) -> Expr:
    """``base^exp``: a scalar power, or a matrix power by an integer literal."""
    if not exp.is_scalar:
        raise ShapeError(f"the exponent {exp} must be a scalar, not {shape_text(exp.shape)}")
    if not base.is_scalar:
        if not _is_integer(exp):
            raise ShapeError(f"a matrix power needs an integer exponent, not {exp}")
        return matrix_power(base, int(exp.value))
    if isinstance(exp, Num):
        if exp.value == 0:
            return ONE
        if exp.value == 1:
            return base
        if isinstance(base, Num):
            if _is_integer(exp):
                if base.value == 0 and exp.value < 0:
                    raise NotDifferentiableError("division by zero")
                if abs(exp.value) <= 64:
                    return Num(base.value ** int(exp.value))
            elif base.value == 1:
                return ONE
        if isinstance(base, Pow) and _is_integer(exp) and isinstance(base.exp, Num):
            return power(base.base, Num(base.exp.value * exp.value))  # (b^p)^k -> b^(p*k)
        if isinstance(base, Mul) and not base.chain and _is_integer(exp):
            # (c*a*b)^k -> c^k*a^k*b^k
            out: Expr = Num(base.coef ** int(exp.value)) if base.coef != 0 else ZERO
            for s in base.scalars:
                out = mul(out, power(s, exp))
            return out
    return Pow(base, exp)


def matrix_power(base: Expr, k: int) -> Expr:
    if base.shape[0] != base.shape[1]:
        raise ShapeError(f"cannot raise {base} ({shape_text(base.shape)}) to a power: "
                         "it is not square")
    if k == 0:
        return eye(base.shape[0])
    if k == 1:
        return base
    if k < 0:
        return matrix_power(call("inv", base), -k)
    if isinstance(base, Eye):
        return base
    if isinstance(base, MatPow):
        return matrix_power(base.base, base.k * k)
    if isinstance(base, Mul) and len(base.chain) == 1:
        c, s, ch = _parts(base)
        return make_mul(c ** k, [power(x, num(k)) for x in s], [matrix_power(ch[0], k)])
    return MatPow(base, k)


def elem_power(base: Expr, exp: Expr) -> Expr:
    """Element-wise power ``base.^exp`` with a scalar exponent."""
    if not exp.is_scalar:
        raise ShapeError(f"the exponent {exp} of .^ must be a scalar, "
                         f"not {shape_text(exp.shape)}")
    if base.is_scalar:
        return power(base, exp)
    if isinstance(exp, Num):
        if exp.value == 0:
            return Fill(Fraction(1), base.shape)
        if exp.value == 1:
            return base
        if isinstance(base, Fill):
            if base.value == 1:
                return base
            if _is_integer(exp) and (base.value != 0 or exp.value > 0):
                return Fill(base.value ** int(exp.value), base.shape)
        if _is_integer(exp):
            if isinstance(base, ElemPow) and isinstance(base.exp, Num):
                return elem_power(base.base, Num(base.exp.value * exp.value))
            if isinstance(base, Hadamard):
                return hadamard(*(elem_power(f, exp) for f in base.factors))
            if isinstance(base, Mul) and len(base.chain) == 1 and (base.coef != 1 or base.scalars):
                c, s, ch = _parts(base)
                return make_mul(c ** int(exp.value), [power(x, exp) for x in s],
                                [elem_power(ch[0], exp)])
    return ElemPow(base, exp)


def is_symmetric(e: Expr) -> bool:
    """True when ``e`` is structurally its own transpose (``A+A'``, ``X'*X``, ``S``)."""
    return e.shape[0] == e.shape[1] and transpose(e) == e


def transpose(a: Expr) -> Expr:
    """``a'``, pushed through products, onto leaves.

    >>> A = Var("A", ("m", "n")); x = Var("x", ("n", 1))
    >>> str(transpose(mul(A, x)))
    "x'*A'"
    """
    if a.is_scalar:
        return a
    if isinstance(a, Transpose):
        return a.arg
    if isinstance(a, Var) and a.symmetric:
        return a
    if isinstance(a, Eye):
        return a
    if isinstance(a, Fill):
        return Fill(a.value, (a.shape[1], a.shape[0]))
    if isinstance(a, Mul):
        return make_mul(a.coef, a.scalars, [transpose(f) for f in reversed(a.chain)])
    if isinstance(a, MatPow):
        return matrix_power(transpose(a.base), a.k)  # (A^k)' -> A'^k
    if isinstance(a, Call):
        if a.fn == "diag" and a.arg.shape[1] == 1:
            return a  # diag(v) is a diagonal matrix: symmetric
        if a.fn == "inv":
            return a if is_symmetric(a.arg) else Transpose(a)
        if a.fn in ELEMENTWISE and isinstance(a.arg, Transpose):
            return call(a.fn, a.arg.arg)
    if isinstance(a, Abstract) and a.order == 2:
        return a
    if isinstance(a, Kron):
        return kron(transpose(a.left), transpose(a.right))  # kron(A,B)' = kron(A',B')
    if isinstance(a, Commutation):
        return commutation(a.n, a.m)  # K(m,n)' = K(n,m)
    if isinstance(a, Add):
        pushed = [transpose(t) for t in a.terms]
        if sum(_primes(t) for t in pushed) < sum(_primes(t) for t in a.terms) + 1:
            return add(*pushed)
        return Transpose(a)
    if isinstance(a, Hadamard):
        pushed = [transpose(t) for t in a.factors]
        if sum(_primes(t) for t in pushed) < sum(_primes(t) for t in a.factors) + 1:
            return hadamard(*pushed)
    if isinstance(a, ElemPow) and isinstance(a.base, Transpose):
        return elem_power(a.base.arg, a.exp)
    return Transpose(a)


def _primes(e: Expr) -> int:
    return e.text().count("'")


def call(fn: str, arg: Expr) -> Expr:
    """A built-in function applied to ``arg``, with its shape rule and identities."""
    if fn in ELEMENTWISE:
        return _elementwise(fn, arg)
    rule = _MATRIX_RULES.get(fn)
    if rule is None:
        raise NotDifferentiableError(f"unknown function {fn}")
    return rule(arg)


def _elementwise(fn: str, arg: Expr) -> Expr:
    if isinstance(arg, Transpose):
        return transpose(_elementwise(fn, arg.arg))  # f(A') -> f(A)'
    if isinstance(arg, Num) and fn in ("abs", "sign", "relu"):
        v = arg.value
        return Num({"abs": abs(v), "sign": (v > 0) - (v < 0), "relu": max(v, 0 * v)}[fn])
    if isinstance(arg, Call) and arg.fn == fn and fn in ("abs", "sign", "relu"):
        return arg  # abs(abs(u)) -> abs(u)
    if is_zero(arg) and fn in ("abs", "sign", "relu", "sin", "tan", "arcsin", "arctan",
                               "sinh", "tanh", "sqrt"):
        return arg  # f(0) = 0
    return Call(fn, arg, arg.shape)


def _square(fn: str, a: Expr) -> None:
    if a.shape[0] != a.shape[1]:
        raise ShapeError(f"{fn} needs a square matrix, not {a} ({shape_text(a.shape)})")


def _trace(a: Expr) -> Expr:
    _square("tr", a)
    if a.is_scalar:
        return a
    if isinstance(a, Transpose):
        return _trace(a.arg)  # tr(A') -> tr(A)
    if isinstance(a, Mul):
        rest = make_mul(Fraction(1), (), a.chain)
        inner = _trace(rest) if rest != a else None
        if inner is None:
            n = len(a.chain)
            for i in range(1, n):  # cyclic: tr(A*b*c') -> c'*A*b
                if a.chain[i].shape[0] == 1:
                    return make_mul(Fraction(1), (), a.chain[i:] + a.chain[:i])
            return Call("tr", a, SCALAR)
        return make_mul(a.coef, a.scalars, [inner])
    if isinstance(a, Call) and a.fn == "diag":
        return _sum(a.arg)  # tr(diag(v)) -> sum(v)
    return Call("tr", a, SCALAR)


def _det(a: Expr) -> Expr:
    _square("det", a)
    if a.is_scalar:
        return a
    if isinstance(a, Transpose):
        return _det(a.arg)
    if isinstance(a, Eye):
        return ONE
    return Call("det", a, SCALAR)


def _logdet(a: Expr) -> Expr:
    _square("logdet", a)
    if a.is_scalar:
        return call("log", a)
    if isinstance(a, Transpose):
        return _logdet(a.arg)
    if isinstance(a, Eye):
        return ZERO
    return Call("logdet", a, SCALAR)


def _inv(a: Expr) -> Expr:
    _square("inv", a)
    if a.is_scalar:
        return power(a, Num(Fraction(-1)))
    if isinstance(a, Eye):
        return a
    if isinstance(a, Call) and a.fn == "inv":
        return a.arg
    if isinstance(a, Transpose):
        return transpose(_inv(a.arg))
    if isinstance(a, MatPow):
        return matrix_power(_inv(a.base), a.k)
    if isinstance(a, Mul) and (a.coef != 1 or a.scalars):
        # inv(c*A) -> c^-1*inv(A)
        c, s, ch = _parts(a)
        return make_mul(1 / Fraction(c) if not isinstance(c, float) else 1 / c,
                        [power(x, Num(Fraction(-1))) for x in s],
                        [_inv(make_mul(Fraction(1), (), ch))])
    return Call("inv", a, a.shape)


def _diag(a: Expr) -> Expr:
    if a.is_scalar:
        return a
    if a.shape[1] == 1:
        if isinstance(a, Fill):
            return scale(a.value, Eye(a.shape[0]))
        return Call("diag", a, (a.shape[0], a.shape[0]))
    if a.shape[0] == 1:
        return _diag(transpose(a))
    _square("diag", a)
    if isinstance(a, Eye):
        return Fill(Fraction(1), (a.shape[0], 1))
    if isinstance(a, Transpose):
        return _diag(a.arg)
    if isinstance(a, Call) and a.fn == "diag" and a.arg.is_vector:
        return a.arg  # diag(diag(v)) -> v
    return Call("diag", a, (a.shape[0], 1))


def _sum(a: Expr) -> Expr:
    if a.is_scalar:
        return a
    if isinstance(a, Transpose):
        return _sum(a.arg)
    if isinstance(a, Mul) and (a.coef != 1 or a.scalars):
        c, s, ch = _parts(a)
        return make_mul(c, s, [_sum(make_mul(Fraction(1), (), ch))])
    if isinstance(a, Hadamard) and len(a.factors) == 2 and a.shape[1] == 1:
        return mul(transpose(a.factors[0]), a.factors[1])  # sum(a.*b) -> a'*b
    return Call("sum", a, SCALAR)


def _norm(fn: str):
    def rule(a: Expr) -> Expr:
        if is_zero(a):
            return ZERO
        if a.is_scalar:
            return call("abs", a)
        if isinstance(a, Transpose):
            return rule(a.arg)
        return Call(fn, a, SCALAR)
    return rule


def _vector_fn(fn: str, scalar_result: bool):
    def rule(a: Expr) -> Expr:
        if a.shape[1] != 1:
            raise ShapeError(f"{fn} needs a column vector, not {a} ({shape_text(a.shape)})")
        return Call(fn, a, SCALAR if scalar_result else a.shape)
    return rule


_MATRIX_RULES = {
    "tr": _trace, "det": _det, "logdet": _logdet, "inv": _inv, "diag": _diag,
    "sum": _sum, "norm1": _norm("norm1"), "norm2": _norm("norm2"),
    "softmax": _vector_fn("softmax", False), "logsumexp": _vector_fn("logsumexp", True),
}


def abstract(name: str, order: int, arg: Expr) -> Expr:
    """``g(u)`` (order 0), ``∇g(u)`` (1) or ``∇²g(u)`` (2) of an unknown smooth g."""
    if order == 0:
        shape = SCALAR
    elif order == 1:
        shape = arg.shape
    else:
        if arg.shape[1] != 1:
            raise NotDifferentiableError(
                f"∇²{name}({arg}) of a matrix argument is a 4-way tensor with no matrix form")
        shape = (arg.shape[0], arg.shape[0])
    return Abstract(name, order, arg, shape)


def kron(a: Expr, b: Expr) -> Expr:
    """Kronecker product; a scalar operand is a scaling (``kron(x', 1) -> x'``)."""
    if a.is_scalar or b.is_scalar:
        return mul(a, b)
    if is_zero(a) or is_zero(b):
        return zeros((dim_mul(a.shape[0], b.shape[0]), dim_mul(a.shape[1], b.shape[1])))
    ca, sa, cha = _parts(a)
    cb, sb, chb = _parts(b)
    if ca != 1 or sa or cb != 1 or sb:  # kron(c*A, B) -> c*kron(A, B)
        return make_mul(ca * cb, sa + sb, [kron(make_mul(Fraction(1), (), cha),
                                                make_mul(Fraction(1), (), chb))])
    if isinstance(a, Eye) and isinstance(b, Eye):
        return Eye(dim_mul(a.shape[0], b.shape[0]))
    return Kron(a, b)


def vec(a: Expr) -> Expr:
    """``vec(A)``; a column vector is its own vec."""
    if a.shape[1] == 1:
        return a
    if isinstance(a, Fill):
        return Fill(a.value, (dim_mul(*a.shape), 1))
    c, s, ch = _parts(a)
    if c != 1 or s:
        return make_mul(c, s, [vec(make_mul(Fraction(1), (), ch))])
    if a.shape[0] == 1:
        return transpose(a)  # vec of a row vector
    return Vec(a)


def commutation(m: Dim, n: Dim) -> Expr:
    """The commutation matrix of m×n shapes; the identity when m or n is 1."""
    if m == 1 or n == 1:
        return eye(dim_mul(m, n))
    return Commutation(m, n)


def walk(e: Expr):
    """All nodes of ``e``, parents before children (each distinct node once)."""
    seen = set()
    stack = [e]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        yield n
        stack.extend(reversed(n.children()))


def free_vars(e: Expr) -> dict[str, Var]:
    """The variables of ``e`` by name."""
    return {n.name: n for n in walk(e) if isinstance(n, Var)}
