"""Expression nodes: immutable, hash-consed, picklable.

Every node is interned: building a node equal to one that already exists returns the
existing object, so structural equality is identity (``a == b`` is ``a is b``), hashing
is a cached integer, and a dict keyed by expressions costs O(1) per lookup however deep
the expressions are.  Build nodes through the canonical constructors of
:mod:`matcalc.algebra` and :mod:`matcalc.functions`, which check shapes and keep one
canonical form; the raw classes here only store.

Pickling writes the DAG once as a flat list (no recursion, so deep trees are fine) and
unpickling re-interns it; ``copy`` and ``deepcopy`` return the node itself.
"""
from __future__ import annotations

import weakref
from fractions import Fraction

from .dims import SCALAR, Shape, dim_mul, is_scalar_shape
from .errors import LimitError

Number = Fraction | float

# Printing precedences, loosest first (they mirror grammar/matcalc.lark).
P_WHERE, P_SUM, P_PRODUCT, P_UNARY, P_POWER, P_POSTFIX, P_ATOM = range(0, 7)


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


#: every live node, by its structural key
_TABLE: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


class NodeBudget:
    """Counts the distinct nodes built, so a computation can be bounded (see
    :func:`matcalc.calculus.reverse_sweep`): ``created`` only grows."""
    created = 0


def _exact(v):
    """An int (sign(2), a count) is the exact Fraction it equals: one node for 1."""
    return Fraction(v) if type(v) in (int, bool) else v


def _number_key(v):
    # Fraction(1) == 1.0, but 1 and 1.0 print differently: keep them apart
    return (type(v), v)


class Expr:
    """Base of all nodes.  Subclasses set ``_slots`` (their fields, in constructor order)
    and construct through :meth:`_make`."""

    __slots__ = ("shape", "_hash", "_text", "_cost", "_head", "_digest", "_primes",
                 "__weakref__")
    _slots: tuple = ()

    @classmethod
    def _make(cls, fields: tuple, shape: Shape):
        key = (cls, fields, shape)
        node = _TABLE.get(key)
        if node is not None:
            return node
        node = object.__new__(cls)
        put = object.__setattr__
        for name, value in zip(cls._slots, fields):
            put(node, name, value)
        put(node, "shape", shape)
        put(node, "_hash", hash(key))
        for name in ("_text", "_cost", "_head", "_digest", "_primes"):
            put(node, name, None)
        _TABLE[key] = node
        NodeBudget.created += 1
        return node

    def __setattr__(self, name, value):
        raise AttributeError("expressions are immutable")

    def __delattr__(self, name):
        raise AttributeError("expressions are immutable")

    def _args(self) -> tuple:
        """The constructor arguments (children included) that rebuild this node."""
        return tuple(getattr(self, s) for s in self._slots)

    def children(self) -> tuple["Expr", ...]:
        return ()

    __eq__ = object.__eq__   # interned: equal structure is the same object

    def __hash__(self) -> int:
        return self._hash

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (_rebuild, (_flatten(self),))

    @property
    def is_scalar(self) -> bool:
        return is_scalar_shape(self.shape)

    @property
    def is_vector(self) -> bool:
        return self.shape[1] == 1 and self.shape[0] != 1

    @property
    def precedence(self) -> int:
        return P_ATOM

    def text(self) -> str:
        """The flat text form (no spaces), as it appears inside a larger expression."""
        from .textform import text
        return text(self)

    def __str__(self) -> str:
        """The flat text form; a top-level sum is spaced: ``(A+A')*x + b``."""
        from .textform import top_text
        return top_text(self)

    def __repr__(self) -> str:
        from .dims import shape_text
        return f"<{type(self).__name__} {self} : {shape_text(self.shape)}>"

    @property
    def cost(self) -> int:
        """Number of tokens of the flat printed form: what "compact" is measured in."""
        from .textform import cost
        return cost(self)

    def _repr_latex_(self) -> str:
        from .printing import latex
        return f"${latex(self)}$"


def _flatten(root: Expr) -> list:
    """The DAG of ``root`` as a list, children first: ``(class name, args)`` where a child
    is written as ``("@", index)`` of an earlier entry."""
    index: dict[int, int] = {}
    out: list = []

    def ref(v):
        if isinstance(v, Expr):
            return ("@", index[id(v)])
        if isinstance(v, tuple) and any(isinstance(x, Expr) for x in v):
            return ("@@", tuple(index[id(x)] for x in v))
        return v

    for n in postorder(root, lambda n: True):
        index[id(n)] = len(out)
        out.append((type(n).__name__, tuple(ref(a) for a in n._args())))
    return out


def _rebuild(flat: list) -> Expr:
    built: list = []
    for name, args in flat:
        cls = NODE_CLASSES[name]
        real = []
        for a in args:
            if isinstance(a, tuple) and len(a) == 2 and a[0] == "@":
                real.append(built[a[1]])
            elif isinstance(a, tuple) and len(a) == 2 and a[0] == "@@":
                real.append(tuple(built[i] for i in a[1]))
            else:
                real.append(a)
        built.append(cls(*real))
    return built[-1]


def _negative_number(e: Expr) -> bool:
    return isinstance(e, Num) and e.value < 0


def postorder(root: Expr, wanted) -> list:
    """The nodes of ``root`` for which ``wanted(node)`` holds (their subtrees are searched
    only below wanted nodes), each once, children before parents, without recursion."""
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
        stack.extend((c, False) for c in reversed(n.children()))
    return out


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


def free_vars(e: Expr) -> dict:
    """The variables of ``e`` by name."""
    return {n.name: n for n in walk(e) if isinstance(n, Var)}


# ---------------------------------------------------------------------------
# leaves
# ---------------------------------------------------------------------------

class Var(Expr):
    __slots__ = ("name", "symmetric")
    _slots = ("name", "symmetric")

    def __new__(cls, name: str, shape: Shape, symmetric: bool = False):
        node = cls._make((name, symmetric), shape)
        return node

    def _args(self):
        return (self.name, self.shape, self.symmetric)


class Num(Expr):
    __slots__ = ("value",)
    _slots = ("value",)

    def __new__(cls, value: Number):
        value = _exact(value)
        node = cls._make((_number_key(value),), SCALAR)
        object.__setattr__(node, "value", value)
        return node

    def _args(self):
        return (self.value,)

    @property
    def precedence(self):
        if self.value < 0:
            return P_UNARY
        return P_PRODUCT if "/" in number_text(self.value) else P_ATOM


class Fill(Expr):
    """A vector or matrix with every entry equal to ``value``: ``vector(1)``, ``matrix(0)``."""

    __slots__ = ("value",)
    _slots = ("value",)

    def __new__(cls, value: Number, shape: Shape):
        value = _exact(value)
        node = cls._make((_number_key(value),), shape)
        object.__setattr__(node, "value", value)
        return node

    def _args(self):
        return (self.value, self.shape)

    @property
    def precedence(self):
        return P_POSTFIX if self.shape[0] == 1 else P_ATOM


class Eye(Expr):
    __slots__ = ()

    def __new__(cls, n):
        return cls._make((), (n, n))

    def _args(self):
        return (self.shape[0],)


class Size(Expr):
    """A dimension used as a number: ``dim(n)`` (the ``n`` of ``mean``'s ``1/n``)."""

    __slots__ = ("dim",)
    _slots = ("dim",)

    def __new__(cls, dim):
        return cls._make((dim,), SCALAR)


class Constant(Expr):
    """A named number of the language: ``pi``."""

    __slots__ = ("name",)
    _slots = ("name",)

    def __new__(cls, name: str):
        return cls._make((name,), SCALAR)


class Commutation(Expr):
    """The commutation matrix ``K`` of an m×n shape: ``K*vec(A) = vec(A')``."""

    __slots__ = ("m", "n")
    _slots = ("m", "n")

    def __new__(cls, m, n):
        size = dim_mul(m, n)
        return cls._make((m, n), (size, size))


# ---------------------------------------------------------------------------
# inner nodes
# ---------------------------------------------------------------------------

class Add(Expr):
    __slots__ = ("terms",)
    _slots = ("terms",)

    def __new__(cls, terms: tuple, shape: Shape):
        return cls._make((terms,), shape)

    def _args(self):
        return (self.terms, self.shape)

    def children(self):
        return self.terms

    @property
    def precedence(self):
        return P_SUM


class Mul(Expr):
    """``coef * scalars[0] * ... * chain[0] * chain[1] * ...``: a number, the scalar
    factors (sorted) and the matrix chain in order."""

    __slots__ = ("coef", "scalars", "chain")
    _slots = ("coef", "scalars", "chain")

    def __new__(cls, coef: Number, scalars: tuple, chain: tuple, shape: Shape):
        coef = _exact(coef)
        node = cls._make((_number_key(coef), scalars, chain), shape)
        object.__setattr__(node, "coef", coef)
        return node

    def _args(self):
        return (self.coef, self.scalars, self.chain, self.shape)

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

    def fraction(self, keep=None) -> tuple:
        """``(coefficient above the line, scalar factors above, factors below)`` of a
        product with a non-negative coefficient: ``2*a*x/(3*b^2)`` gives
        ``(2, [a], [3, b^2])``.  Shared by the text and LaTeX printers; a factor for
        which ``keep`` holds (a named one) stays above as it is."""
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
            if isinstance(f, Pow) and isinstance(f.exp, Num) and f.exp.value < 0 and not (
                    keep and keep(f)):
                k = -f.exp.value
                below.append(f.base if k == 1 else Pow(f.base, Num(k)))  # a^-k below as a^k
            else:
                above.append(f)
        return top, above, below

    def lone_hadamard(self, index: int, has_left: bool) -> bool:
        """c*a.*b reads as (c*a).*b = c*(a.*b): a lone Hadamard needs no parentheses."""
        return has_left and len(self.chain) == 1 and isinstance(self.chain[index], Hadamard)


class Hadamard(Expr):
    """Element-wise product; factors ``u.^-k`` print as ``./u^k``."""

    __slots__ = ("factors",)
    _slots = ("factors",)

    def __new__(cls, factors: tuple, shape: Shape):
        return cls._make((factors,), shape)

    def _args(self):
        return (self.factors, self.shape)

    def children(self):
        return self.factors

    @property
    def precedence(self):
        return P_PRODUCT

    def fraction(self, keep=None) -> tuple:
        """``(factors above, factors below)``: ``u.^-k`` goes below as ``u.^k`` (unless
        ``keep`` holds for it)."""
        above, below = [], []
        for f in self.factors:
            if isinstance(f, ElemPow) and isinstance(f.exp, Num) and f.exp.value < 0 and not (
                    keep and keep(f)):
                k = -f.exp.value
                below.append(f.base if k == 1 else ElemPow(f.base, Num(k)))
            else:
                above.append(f)
        return above, below


class Pow(Expr):
    """Scalar power ``base^exp`` (both scalar)."""

    __slots__ = ("base", "exp")
    _slots = ("base", "exp")

    def __new__(cls, base: Expr, exp: Expr):
        return cls._make((base, exp), SCALAR)

    def children(self):
        return (self.base, self.exp)

    @property
    def precedence(self):
        # a^-k prints as 1/a^k, a quotient
        return P_PRODUCT if _negative_number(self.exp) else P_POWER


class MatPow(Expr):
    """Matrix power ``A^k`` of a square matrix, integer ``k >= 2``."""

    __slots__ = ("base", "k")
    _slots = ("base", "k")

    def __new__(cls, base: Expr, k: int):
        return cls._make((base, k), base.shape)

    def children(self):
        return (self.base,)

    @property
    def precedence(self):
        return P_POWER


class ElemPow(Expr):
    """Element-wise power ``u.^p`` of a vector or matrix by a scalar ``p``."""

    __slots__ = ("base", "exp")
    _slots = ("base", "exp")

    def __new__(cls, base: Expr, exp: Expr):
        return cls._make((base, exp), base.shape)

    def children(self):
        return (self.base, self.exp)

    @property
    def precedence(self):
        # u.^-k prints as 1./u.^k, a quotient
        return P_PRODUCT if _negative_number(self.exp) else P_POWER


class Transpose(Expr):
    __slots__ = ("arg",)
    _slots = ("arg",)

    def __new__(cls, arg: Expr):
        return cls._make((arg,), (arg.shape[1], arg.shape[0]))

    def children(self):
        return (self.arg,)

    @property
    def precedence(self):
        return P_POSTFIX


#: the built-in functions by name, filled in by :mod:`matcalc.functions`
FUNCTIONS: dict = {}


class Call(Expr):
    """A built-in function of one argument (see :mod:`matcalc.functions`); ``axis`` is
    0 for the whole argument, 1 or 2 for the axis forms ``sum(X, 1)``, ``softmax(X, 2)``."""

    __slots__ = ("fn", "arg", "axis")
    _slots = ("fn", "arg", "axis")

    def __new__(cls, fn: str, arg: Expr, shape: Shape, axis: int = 0):
        return cls._make((fn, arg, axis), shape)

    def _args(self):
        return (self.fn, self.arg, self.shape, self.axis)

    def children(self):
        return (self.arg,)

    @property
    def spec(self):
        """This function's entry in the registry (:mod:`matcalc.functions`)."""
        return FUNCTIONS[self.fn]


class Abstract(Expr):
    """An unknown smooth function: scalar-valued ``g(u)`` with gradient ``∇g(u)`` and
    Hessian ``∇²g(u)`` (``elementwise=False``), or applied entry by entry, ``s(u)``,
    with entry-wise derivatives ``∇s(u)`` and ``∇²s(u)`` (``elementwise=True``)."""

    __slots__ = ("name", "order", "arg", "elementwise")
    _slots = ("name", "order", "arg", "elementwise")
    PREFIX = ("", "∇", "∇²")

    def __new__(cls, name: str, order: int, arg: Expr, shape: Shape,
                elementwise: bool = False):
        return cls._make((name, order, arg, elementwise), shape)

    def _args(self):
        return (self.name, self.order, self.arg, self.shape, self.elementwise)

    def children(self):
        return (self.arg,)


class Kron(Expr):
    """Kronecker product ``kron(A, B)``."""

    __slots__ = ("left", "right")
    _slots = ("left", "right")

    def __new__(cls, left: Expr, right: Expr):
        return cls._make((left, right), (dim_mul(left.shape[0], right.shape[0]),
                                         dim_mul(left.shape[1], right.shape[1])))

    def children(self):
        return (self.left, self.right)


class Vec(Expr):
    """``vec(A)``: the columns of A stacked into one column."""

    __slots__ = ("arg",)
    _slots = ("arg",)

    def __new__(cls, arg: Expr):
        return cls._make((arg,), (dim_mul(arg.shape[0], arg.shape[1]), 1))

    def children(self):
        return (self.arg,)


NODE_TYPES = (Var, Num, Fill, Eye, Size, Constant, Add, Mul, Hadamard, Pow, MatPow, ElemPow,
              Transpose, Call, Abstract, Kron, Vec, Commutation)
NODE_CLASSES = {cls.__name__: cls for cls in NODE_TYPES}
