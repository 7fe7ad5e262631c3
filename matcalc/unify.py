"""Dimension inference: union-find over symbolic sizes.

Every size in an expression being typed is an ``int`` (known), a :class:`DimVar` (a
symbolic size, possibly named by a declaration), or a :class:`Prod` of sizes (the
rows of ``kron(A, B)``).  Operators unify sizes; a conflict is reported by the caller
with a caret under the operator.  Finally each symbolic size gets a name (a declared
one, or the next free letter of ``DIM_NAMES``).
"""
from __future__ import annotations

import itertools

from .dims import dim_mul

DIM_NAMES = ("n", "m", "k", "p", "q", "r", "s", "t", "u", "v", "w", "l", "j", "i")


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
        # product equations that more than one matching solves (b*n = m*a), kept until
        # the whole expression is typed: later sizes usually decide them (settle())
        self.pending: list[tuple] = []
        self.context = None  # what the caller reports if a pending equation fails

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
        if isinstance(ra, Prod) and isinstance(rb, Prod):
            return self._unify_products(ra, rb)
        if isinstance(ra, (int, Prod)) and isinstance(rb, (int, Prod)):
            return False  # a product and a known size: not matched
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

    def _unify_products(self, a: "Prod", b: "Prod", final: bool = False) -> bool:
        """``m*n = k*n`` makes m = k, ``n*n = m*m`` makes n = m and ``a = m*n`` is a
        product: the products are matched where that is the only way.  An equation that
        more than one matching solves is kept for :meth:`settle` (unless ``final``)."""
        left, right = list(a.factors), list(b.factors)
        for f in list(left):
            if f in right:  # a common factor cancels
                left.remove(f)
                right.remove(f)
        if a.number != b.number or not left or not right:
            return False
        if len(left) == len(right) == 1:
            return self.unify(left[0], right[0])
        if len(left) == 1 or len(right) == 1:
            single, other = (left[0], right) if len(left) == 1 else (right[0], left)
            return self.unify(single, Prod(1, tuple(other)))
        if len(left) == len(right) and all(f is left[0] for f in left) \
                and all(f is right[0] for f in right):
            return self.unify(left[0], right[0])  # n^k = m^k
        if not final:
            self.pending.append((a, b, self.context))
            return True
        if len(left) == len(right) == 2:
            # b*n = m*a with n and m written as sizes (eye(n), eye(m)) and a, b free: of
            # the two pairings only b = m, a = n keeps two differently written sizes
            # apart, so it is taken (the printed Jacobian of X*A*X reads back so)
            (a1, a2), (b1, b2) = left, right
            straight = not _clash(a1, b1) and not _clash(a2, b2)
            crossed = not _clash(a1, b2) and not _clash(a2, b1)
            if straight != crossed:
                first, second = (b1, b2) if straight else (b2, b1)
                return self.unify(a1, first) and self.unify(a2, second)
        return False

    def settle(self):
        """Solve the kept product equations with everything typed since: None when all
        hold, else the context of one that fails or that no single matching solves."""
        while self.pending:
            entries, self.pending = self.pending, []
            before = [(self.find(a), self.find(b)) for a, b, _ in entries]
            for a, b, context in entries:
                self.context = context
                if not self.unify(a, b):
                    return context or True
            after = [(self.find(a), self.find(b)) for a, b, _ in self.pending]
            if self.pending and after == before:
                # nothing decided them: the one matching that keeps written sizes apart
                a, b, context = self.pending.pop(0)
                ra, rb = self.find(a), self.find(b)
                if not (isinstance(ra, Prod) and isinstance(rb, Prod)) \
                        or not self._unify_products(ra, rb, final=True):
                    return context or True
        self.context = None
        return None

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
            return dim_mul(r.number, *(names[f] for f in r.factors))
        return names[r]

    def text(self, d) -> str:
        return str(self.resolve(d))

    def shape_text(self, shape) -> str:
        return f"{self.text(shape[0])}×{self.text(shape[1])}"


def _clash(a: DimVar, b: DimVar) -> bool:
    """Are ``a`` and ``b`` sizes written with different names?"""
    return a.name is not None and b.name is not None and a.name != b.name


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
