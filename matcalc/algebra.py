"""Canonical constructors: sums, products, powers, transposes, Kronecker forms.

Build expressions only through these functions (and :func:`call` for functions): they
check shapes and keep every tree in one canonical form, so that equal mathematics built
two ways is usually the same node:

* products are ``Mul(coef, scalars, chain)``: a number, the scalar factors (sorted),
  and the matrix chain in order;  ``0*...``, ``eye*A`` and ``A*inv(A)`` are never built;
* sums are flat, with like terms collected and terms in a fixed order;
* transposes sit on leaves, sums and inverses only: ``(A*B)' -> B'*A'``, ``S' -> S``
  for a symmetric ``S``, ``x' -> x`` for a scalar.

Functions (``tr``, ``exp``, ...) are built by :func:`call`, which hands over to their
entries in :mod:`matcalc.functions`.
"""
from __future__ import annotations

from fractions import Fraction
from collections.abc import Iterable

from .dims import SCALAR, Dim, Shape, dim_mul, dim_text, is_scalar_shape, shape_text
from .errors import NotDifferentiableError, ShapeError
from .nodes import (FUNCTIONS, Abstract, Add, Call, Commutation, ElemPow, Expr, Eye, Fill,
                    Hadamard, Kron, MatPow, Mul, Num, Number, Pow, Size, Transpose, Var, Vec,
                    Constant, postorder)
from .textform import broadcast_vector, order_key, primes


def _number(v) -> Number:
    if isinstance(v, (Fraction, float)):
        return v
    return Fraction(v)


def num(v) -> Num:
    """A scalar constant.  ``num(2)`` prints ``2``; fractions stay exact."""
    return Num(_number(v))


def size(d) -> Expr:
    """A size as a number: ``dim(n)``, or the number itself when it is known (3)."""
    return num(d) if isinstance(d, int) else Size(d)


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
        return e.coef, _unit_product(e.scalars, e.chain, e.shape)
    return Fraction(1), e


def _unit_product(scalars: tuple, chain: tuple, shape) -> Expr:
    """The canonical product of the factors of a canonical product, without its number."""
    if not chain:
        return scalars[0] if len(scalars) == 1 else Mul(Fraction(1), scalars, (), shape) \
            if scalars else ONE
    if not scalars and len(chain) == 1:
        return chain[0]
    return Mul(Fraction(1), scalars, chain, shape)


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
    fused = ratio_identities([(b, _sum_exponents(merged[b])) for b in order])
    if fused is not None:  # sinh(a)/cosh(a) -> tanh(a), a*sign(a) -> abs(a)
        return _merge_scalars(coef, [power(b, e) for b, e in fused])
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
    out.sort(key=lambda s: (isinstance(s, Mul), order_key(s)))
    return coef, out


#: f(u)*g(u)^-1 -> h(u): sinh/cosh = tanh, sin/cos = tan
_QUOTIENTS = {("sinh", "cosh"): "tanh", ("sin", "cos"): "tan"}


def ratio_identities(factors: list) -> list | None:
    """Identities between factors ``(base, exponent)`` of a product (scalar or
    element-wise), or None when none applies:

    * ``sinh(u)*cosh(u)^-1 -> tanh(u)``, ``sin(u)*cos(u)^-1 -> tan(u)``;
    * ``u*sign(u) -> abs(u)`` (so ``relu(u).*sign(relu(u)) -> relu(u)``).
    """
    one, minus_one = Fraction(1), Fraction(-1)

    def exponent(e):
        return e.value if isinstance(e, Num) else None

    index = {b: i for i, (b, _) in enumerate(factors)}
    for i, (b, e) in enumerate(factors):
        if not isinstance(b, Call) or b.axis:
            continue
        for (top, bottom), result in _QUOTIENTS.items():
            if b.fn == top and exponent(e) == one:
                other = index.get(Call(bottom, b.arg, b.arg.shape))
                if other is not None and exponent(factors[other][1]) == minus_one:
                    rest = [f for j, f in enumerate(factors) if j not in (i, other)]
                    return rest + [(call(result, b.arg), Num(one))]
        if b.fn == "sign" and exponent(e) == one and b.arg in index \
                and exponent(factors[index[b.arg]][1]) == one:
            rest = [f for j, f in enumerate(factors) if j not in (i, index[b.arg])]
            return rest + [(call("abs", b.arg), Num(one))]
    return None


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
            if _is_ones(prev) and _is_ones(f):
                # vector(1)'*vector(1) -> n, vector(1)*vector(1)' -> matrix(1)
                out[-1] = mul(size(prev.shape[1]), fill(1, (prev.shape[0], f.shape[1])))
                continue
            if _is_ones(f) and f.shape[1] == 1:
                out[-1] = call("sum", prev, 2)  # A*vector(1) -> sum(A, 2)
                continue
            if _is_ones(prev) and prev.shape[0] == 1:
                out[-1] = call("sum", f, 1)  # vector(1)'*A -> sum(A, 1)
                continue
            quotient = _sum_of_quotient(prev, f)
            if quotient is not None:
                out[-1] = quotient  # a'*(b./a) -> sum(b)
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
            swapped = _commuted_kron(prev, f)
            if swapped is not None:
                out[-1] = swapped  # K(p,m)*kron(A,B) -> kron(B,A) when A or B is a column
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


def _sum_of_quotient(row: Expr, column: Expr) -> Expr | None:
    """``a'*(b./a) -> sum(b)`` (and ``(b./a)'*a``): the quotient's a cancels."""
    if row.shape[0] != 1 or column.shape[1] != 1 or column.is_scalar:
        return None
    for a, h in ((transpose(row), column), (column, transpose(row))):
        if isinstance(h, Hadamard) and ElemPow(a, Num(Fraction(-1))) in h.factors:
            rest = [f for f in h.factors if f != ElemPow(a, Num(Fraction(-1)))]
            return call("sum", hadamard(*rest))
    return None


def _commuted_kron(left: Expr, right: Expr) -> Expr | None:
    """Magnus–Neudecker: ``K(p,m)*kron(A,B) = kron(B,A)*K(q,n)`` for A m×n, B p×q, and
    ``kron(A,B)*K(n,q) = K(m,p)*kron(B,A)``; the commutation on the other side is the
    identity when A or B is a column (a row): ``commutation(m,n)*kron(x, eye(m)) =
    kron(eye(m), x)``."""
    if isinstance(left, Commutation) and isinstance(right, Kron):
        (m, n), (p, q) = right.left.shape, right.right.shape
        if (left.m, left.n) == (p, m) and (n == 1 or q == 1):
            return kron(right.right, right.left)
    if isinstance(left, Kron) and isinstance(right, Commutation):
        (m, n), (p, q) = left.left.shape, left.right.shape
        if (right.m, right.n) == (n, q) and (m == 1 or p == 1):
            return kron(left.right, left.left)
    return None


def _is_ones(e: Expr) -> bool:
    return isinstance(e, Fill) and e.value == 1


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
            # canonical, so that the run's own identities apply: vector(1)'*z -> sum(z)
            scalars.append(make_mul(Fraction(1), (), run) if len(run) > 1 else run[0])
            run = []
    out.extend(run)
    return scalars, out


def _is_product(x: Expr) -> bool:
    """Is ``x`` a 1×1 matrix product such as ``z'*x``?"""
    return isinstance(x, Mul) and bool(x.chain)


def make_mul(coef: Number, scalars: Iterable[Expr], chain: Iterable[Expr]) -> Expr:
    """The canonical product ``coef * scalars * chain`` (chain already shape-checked)."""
    chain = list(chain)
    if any(f.is_scalar for f in chain) or any(
            f.shape[1] == 1 and chain[0].shape[0] == 1 for f in chain[:-1]):
        split, chain = _split_chain(chain)
        scalars = list(scalars) + split
    if len(chain) > 2 and _is_ones(chain[0]) and chain[0].shape[1] == 1 \
            and chain[1].shape[0] == 1 and chain[-1].shape[1] == 1:
        # vector(1)*(r*c) is the scalar r*c spread over a column, as its text reads
        scalars = list(scalars) + [make_mul(Fraction(1), (), chain[1:])]
        chain = chain[:1]
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
    if any(f.is_scalar for f in chain):
        return make_mul(coef, scalars, chain)  # a merge made a scalar: sum(x', 2)
    if len(chain) == 1 and isinstance(chain[0], Call) and chain[0].fn == "exp" \
            and chain[0].shape[1] == 1:
        # exp(u)/sum(exp(u)) -> softmax(u)
        total = Pow(Call("sum", chain[0], SCALAR), Num(Fraction(-1)))
        if total in scalars:
            scalars = [x for x in scalars if x is not total]
            chain = [call("softmax", chain[0].arg)]
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
    if is_scalar_shape(shape) and any(_is_product(x) or isinstance(x, Pow) and (
            _is_product(x.base)) for x in scalars):
        if chain:  # the chain is one of the factors: (z'*x)*z'*x is (z'*x)^2
            coef, scalars = _merge_scalars(
                coef, list(scalars) + [Mul(Fraction(1), (), tuple(chain), SCALAR)])
            chain = []
        products = [x for x in scalars if isinstance(x, Mul) and x.chain]
        others = [x for x in scalars if not (isinstance(x, Mul) and x.chain)]
        if products:
            last = max(range(len(products)), key=lambda k: order_key(products[k]))
            chain = list(products.pop(last).chain)
        scalars = sorted(others + products, key=lambda x: (isinstance(x, Mul), order_key(x)))
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


def mul(a: Expr, b: Expr = None, *rest: Expr) -> Expr:
    """Product in the language's sense: a scalar operand scales, otherwise matrix product.

    >>> x = Var("x", ("n", 1)); A = Var("A", ("n", "n"))
    >>> str(mul(transpose(x), A, x))
    "x'*A*x"
    """
    if b is None:
        return a
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


def product(*factors: Expr) -> Expr:
    """``f1*f2*...*fk`` in one canonicalisation (as ``mul`` folded from the left, without
    re-canonicalising the growing product k times)."""
    coef: Number = Fraction(1)
    scalars: list[Expr] = []
    chain: list[Expr] = []
    for f in factors:
        c, s, ch = _parts(f)
        coef = coef * c
        scalars.extend(s)
        if f.is_scalar:
            if ch:
                scalars.append(make_mul(Fraction(1), (), ch))
            continue
        if chain and chain[0].shape[0] == 1 and chain[-1].shape[1] == 1:
            scalars.append(make_mul(Fraction(1), (), chain))  # x'*y*z: (x'*y) scales z
            chain = []
        if chain and chain[-1].shape[1] != ch[0].shape[0]:
            left = make_mul(Fraction(1), (), chain)
            raise ShapeError(f"cannot multiply {left} ({shape_text(left.shape)}) by {f} "
                             f"({shape_text(f.shape)}): {dim_text(left.shape[1])} ≠ "
                             f"{dim_text(f.shape[0])}")
        chain.extend(ch)
    return make_mul(coef, scalars, chain)


def scale(c, e: Expr) -> Expr:
    """``c * e`` for a number ``c`` (built directly: ``e`` is canonical already)."""
    c = _number(c)
    if c == 0:
        return zeros(e.shape)
    if c == 1:
        return e
    if isinstance(e, (Num, Fill)):
        return fill(c * e.value, e.shape)
    if isinstance(e, Mul):
        coef = c * e.coef
        if coef == 0:
            return zeros(e.shape)
        return _unit_product(e.scalars, e.chain, e.shape) if coef == 1 \
            else Mul(coef, e.scalars, e.chain, e.shape)
    if e.is_scalar:
        return Mul(c, (e,), (), SCALAR)
    return Mul(c, (), (e,), e.shape)


def neg(e: Expr) -> Expr:
    return scale(-1, e)


def _broadcast_shape(terms: list, op: str) -> Shape:
    """The shape of an entry-wise operation: scalars broadcast to anything, an m×1
    column across the columns of an m×n matrix, a 1×n row down its rows."""
    rows, cols = 1, 1
    for t in terms:
        r, c = t.shape
        if r != 1:
            if rows != 1 and r != rows:
                raise ShapeError(f"cannot {op} shapes {shape_text((rows, cols))} and "
                                 f"{shape_text(t.shape)}")
            rows = r
        if c != 1:
            if cols != 1 and c != cols:
                raise ShapeError(f"cannot {op} shapes {shape_text((rows, cols))} and "
                                 f"{shape_text(t.shape)}")
            cols = c
    if rows != 1 and cols != 1 and all(t.shape != (rows, cols) for t in terms):
        # a column and a row alone would broadcast to their outer sum: not in the language
        raise ShapeError(f"cannot {op} a column vector and a row vector")
    return (rows, cols)


def broadcast(g: Expr, shape: Shape) -> Expr:
    """``g`` spread over ``shape``: a scalar as ``g*ones``, an m×1 column across the
    columns (``g*vector(1)'``), a 1×n row down the rows (``vector(1)*g``)."""
    if g.shape == shape:
        return g
    if g.is_scalar:
        return mul(g, Fill(Fraction(1), shape))
    if g.shape[1] == 1:
        return mul(g, Fill(Fraction(1), (1, shape[1])))
    return mul(Fill(Fraction(1), (shape[0], 1)), g)


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
    # s + X means s*ones + X, b + X means b*ones' + X
    flat = [broadcast(t, shape) for t in flat]
    while len(flat) > 1 and any(_scaled_sum(t) for t in flat):
        spread = _spread_scaled_sums(flat)  # again: terms that joined may be alike
        if spread == flat:
            break
        flat = spread
    coefs: dict[Expr, Number] = {}
    for t in flat:
        c, base = split_coef(t)
        coefs[base] = coefs.get(base, Fraction(0)) + c
    out = [scale(c, b) for b, c in coefs.items() if c != 0]
    if not out:
        return zeros(shape)
    if len(out) == 1:
        return out[0]
    out.sort(key=_term_key)
    return Add(tuple(out), shape)


def _scaled_sum(t: Expr) -> bool:
    """Is ``t`` a number times a sum, ``-(a - b)``?"""
    return isinstance(t, Mul) and not t.scalars and len(t.chain) == 1 \
        and isinstance(t.chain[0], Add)


def _spread_scaled_sums(flat: list) -> list:
    """``c*(a + b)`` spread into ``c*a + c*b`` where one of a, b is like another term of
    the sum (so that ``v - (v - y)`` is ``y``); otherwise kept whole."""
    bases = [split_coef(t)[1] for t in flat]
    out: list = []
    for i, t in enumerate(flat):
        if _scaled_sum(t):
            others = set(bases[:i] + bases[i + 1:])
            inner = t.chain[0].terms
            if any(split_coef(u)[1] in others for u in inner):
                for u in inner:  # -(-(a + b)) is a sum again: its terms join the sum
                    v = scale(t.coef, u)
                    out.extend(v.terms if isinstance(v, Add) else (v,))
                continue
        out.append(t)
    return out


def _term_key(t: Expr):
    c, base = split_coef(t)
    return (c < 0, not isinstance(base, (Num, Fill, Eye)), order_key(base), c)


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
    spread = {f: broadcast_vector(f) for f in factors if isinstance(f, Mul)}
    spread = {f: v for f, v in spread.items() if v is not None}
    if spread:  # (b*vector(1)').*A is b.*A: a column spread across the columns
        factors = tuple(spread.get(f, f) for f in factors)
    columns = [f for f in factors if f.shape[1] == 1 and f.shape != shape and not f.is_scalar]
    rows = [f for f in factors if f.shape[0] == 1 and f.shape != shape and not f.is_scalar]
    if columns or rows:
        # X.*b scales the rows of X by b: diag(b)*X; X.*r scales its columns: X*diag(r)
        rest = [f for f in factors if f.shape == shape or f.is_scalar]
        core = hadamard(*rest) if rest else Fill(Fraction(1), shape)
        left = [call("diag", hadamard(*columns))] if columns else []
        right = [call("diag", hadamard(*rows))] if rows else []
        return mul(*left, core, *right) if left or right else core
    coef: Number = Fraction(1)
    scalars: list[Expr] = []
    bases: dict[Expr, list] = {}
    order: list[Expr] = []
    pending = list(reversed(factors))  # a stack: the next factor is last
    while pending:
        f = pending.pop()
        if f.is_scalar:
            scalars.append(f)
            continue
        if isinstance(f, Hadamard):
            pending.extend(reversed(f.factors))
            continue
        if isinstance(f, (Mul, Fill, Num)):
            c, s, ch = _parts(f)
            coef = coef * c
            scalars.extend(s)
            g = make_mul(Fraction(1), (), ch)
        else:
            g = f  # already a canonical factor
        if is_zero(g):
            return zeros(shape)
        if isinstance(g, Fill) and g.value == 1:
            continue  # ones.*A -> A
        if isinstance(g, Hadamard):
            pending.extend(reversed(g.factors))
            continue
        if isinstance(g, ElemPow):
            _acc(bases, order, g.base, g.exp)
        else:
            _acc(bases, order, g, ONE)
    fused = ratio_identities([(b, _sum_exponents(bases[b])) for b in order])
    if fused is not None:  # sinh(u)./cosh(u) -> tanh(u), u.*sign(u) -> abs(u)
        return make_mul(coef, scalars, [hadamard(*(elem_power(b, e) for b, e in fused))])
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
                                and f.exp.value < 0, order_key(f)))
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
        if isinstance(base, Call) and base.fn == "sqrt" and _is_integer(exp) \
                and exp.value % 2 == 0:
            return power(base.arg, Num(exp.value / 2))  # sqrt(c)^2 -> c
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
        if _is_integer(exp) and exp.value > 0 and isinstance(base, Call) and base.fn == "sign" \
                and is_nonnegative(base.arg):
            return base  # sign(relu(u)).^k -> sign(relu(u)): its values are 0 and 1
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


def is_nonnegative(e: Expr) -> bool:
    """Is ``e`` known to be >= 0 entry by entry (``relu(u)``, ``exp(u)``, a size)?"""
    if isinstance(e, Call):
        spec = FUNCTIONS[e.fn]
        return spec.nonnegative or e.fn == "sign" and is_nonnegative(e.arg)
    if isinstance(e, (Num, Fill)):
        return e.value >= 0
    if isinstance(e, (Size, Constant)):
        return True
    return False


def is_symmetric(e: Expr) -> bool:
    """True when ``e`` is structurally its own transpose (``A+A'``, ``X'*X``, ``S``)."""
    return e.shape[0] == e.shape[1] and transpose(e) == e


#: the nodes whose transpose is built from their children's transposes
_PUSHED = (Mul, Add, Hadamard, Kron, MatPow)
#: transpose is a pure function of its (interned, immutable) argument: results are kept,
#: so that the transpose of a deep product is built once, children first, without recursion
_T_MEMO: dict = {}
T_MEMO_SIZE = 200_000


def transpose(a: Expr) -> Expr:
    """``a'``, pushed through products, onto leaves.

    >>> A = Var("A", ("m", "n")); x = Var("x", ("n", 1))
    >>> str(transpose(mul(A, x)))
    "x'*A'"
    """
    if a.is_scalar:
        return a
    if not isinstance(a, _PUSHED):
        return _transpose(a)
    memo = _T_MEMO
    out = memo.get(a)
    if out is None:
        if len(memo) > T_MEMO_SIZE:
            memo.clear()
        for n in postorder(a, lambda n: isinstance(n, _PUSHED) and not n.is_scalar
                           and n not in memo):
            memo[n] = _transpose(n)
        out = memo[a]
    return out


def _transpose(a: Expr) -> Expr:
    """``a'`` for a non-scalar ``a`` whose pushed children are transposed already."""
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
        if FUNCTIONS[a.fn].elementwise and isinstance(a.arg, Transpose):
            return call(a.fn, a.arg.arg)
    if isinstance(a, Abstract) and a.elementwise and isinstance(a.arg, Transpose):
        return Abstract(a.name, a.order, a.arg.arg, a.arg.arg.shape, True)  # s(A')' -> s(A)
    if isinstance(a, Abstract) and a.order == 2 and not a.elementwise:
        return a  # a Hessian is symmetric
    if isinstance(a, Kron):
        return kron(transpose(a.left), transpose(a.right))  # kron(A,B)' = kron(A',B')
    if isinstance(a, Commutation):
        return commutation(a.n, a.m)  # K(m,n)' = K(n,m)
    if isinstance(a, Add):
        pushed = [transpose(t) for t in a.terms]
        if sum(primes(t) for t in pushed) < sum(primes(t) for t in a.terms) + 1:
            return add(*pushed)
        return Transpose(a)
    if isinstance(a, Hadamard):
        pushed = [transpose(t) for t in a.factors]
        if sum(primes(t) for t in pushed) < sum(primes(t) for t in a.factors) + 1:
            return hadamard(*pushed)
    if isinstance(a, ElemPow) and isinstance(a.base, Transpose):
        return elem_power(a.base.arg, a.exp)
    return Transpose(a)



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




def call(fn: str, arg: Expr, axis: int = 0) -> Expr:
    """A built-in function applied to ``arg`` (along ``axis`` for the axis forms), with
    its shape rule and identities, as its entry in :mod:`matcalc.functions` says."""
    spec = FUNCTIONS.get(fn)
    if spec is None:
        raise NotDifferentiableError(f"unknown function {fn}")
    return spec.build(arg, axis)
