"""Rewrites from the canonical form to the compact one.

The constructors of :mod:`matcalc.expr` already fold numbers, collect like terms, drop
zeros and identities and push transposes.  This module adds the rewrites that are not
always shorter, each applied only when it lowers the token count (``Expr.cost``):

* factoring common left or right factors out of sums  ``B*x + B'*x -> (B + B')*x``;
* expanding element-wise products of sums and collecting  ``(1-y).*s - y.*(1-s) -> s - y``;
* the logistic identity  ``exp(u)./(1 + exp(u)) -> sigmoid(u)``.

``simplify`` rebuilds bottom-up, so every subexpression is compact before its parent.
"""
from __future__ import annotations

from collections import Counter
from fractions import Fraction

from . import expr as E
from .expr import Expr, add, call, hadamard, make_mul, mul

#: most terms an expansion may produce before it is abandoned
MAX_EXPANSION = 64


def rebuild(n: Expr, children: list) -> Expr:
    """``n`` with its children replaced, through the canonical constructors."""
    if isinstance(n, E.Add):
        return add(*children)
    if isinstance(n, E.Mul):
        k = len(n.scalars)
        return make_mul(n.coef, children[:k], children[k:])
    if isinstance(n, E.Hadamard):
        return hadamard(*children)
    if isinstance(n, E.Pow):
        return E.power(*children)
    if isinstance(n, E.MatPow):
        return E.matrix_power(children[0], n.k)
    if isinstance(n, E.ElemPow):
        return E.elem_power(*children)
    if isinstance(n, E.Transpose):
        return E.transpose(children[0])
    if isinstance(n, E.Call):
        return call(n.fn, children[0], n.axis)
    if isinstance(n, E.Abstract):
        return E.abstract(n.name, n.order, children[0], n.elementwise)
    return n


#: simplify is a pure function of its (immutable) argument, so results are shared
#: across calls: a reverse sweep simplifies the same subexpressions many times
_MEMO: dict = {}
MEMO_SIZE = 200_000


def simplify(e: Expr) -> Expr:
    """The most compact form these rewrites reach.

    >>> from matcalc import parse
    >>> str(simplify(parse("B*x + B'*x")))
    "(B+B')*x"
    """
    memo = _MEMO
    if len(memo) > MEMO_SIZE:
        memo.clear()
    stack = [(e, False)]
    while stack:
        n, done = stack.pop()
        if n in memo:
            continue
        kids = n.children()
        if not done:
            stack.append((n, True))
            stack.extend((c, False) for c in kids if c not in memo)
            continue
        new = rebuild(n, [memo[c] for c in kids]) if kids else n
        out = memo[n] = _local(new)
        memo.setdefault(out, out)  # a simplified node is its own simplification
    return memo[e]


def _local(n: Expr) -> Expr:
    """Rules at one node whose children are already simplified."""
    for _ in range(8):
        before = n
        if isinstance(n, (E.Hadamard, E.Mul)):
            n = _logistic(n)
        if isinstance(n, (E.Add, E.Hadamard, E.Mul)):
            n = _expand_if_shorter(n)
        if isinstance(n, E.Add):
            n = _sigmoid_complement(n)
        if isinstance(n, E.Add):
            n = factor_sum(n)
        if n == before:
            break
    return n


def _sigmoid_complement(n: E.Add) -> Expr:
    """``1 - sigmoid(-u) -> sigmoid(u)`` (entry by entry, with a broadcast 1)."""
    terms = list(n.terms)
    for i, t in enumerate(terms):
        if not (isinstance(t, E.Mul) and t.coef == -1 and not t.scalars and len(t.chain) == 1
                or isinstance(t, E.Mul) and t.coef == -1 and len(t.scalars) == 1
                and not t.chain):
            continue
        s = (t.scalars + t.chain)[0]
        if not (isinstance(s, E.Call) and s.fn == "sigmoid" and isinstance(s.arg, E.Mul)
                and s.arg.coef < 0):
            continue
        for j, c in enumerate(terms):
            value = c.value if isinstance(c, (E.Num, E.Fill)) else None
            if value is not None and value >= 1 and c.shape == t.shape:
                rest = [x for k, x in enumerate(terms) if k not in (i, j)]
                one_less = E.fill(value - 1, c.shape)
                return add(*rest, one_less, call("sigmoid", E.neg(s.arg)))
    return n


# ---------------------------------------------------------------------------
# factoring
# ---------------------------------------------------------------------------

def factor_sum(n: Expr) -> Expr:
    """Greedily pull out the left or right chain factor shared by the most terms."""
    while isinstance(n, E.Add):
        best = None
        for side in ("left", "right"):
            groups: dict[Expr, list[int]] = {}
            for i, t in enumerate(n.terms):
                c, s, ch = E._parts(t)
                if not ch:
                    continue
                f = ch[0] if side == "left" else ch[-1]
                groups.setdefault(f, []).append(i)
            for f, idx in groups.items():
                if len(idx) < 2:
                    continue
                cand = _factored(n, f, idx, side)
                if cand is not None and cand != n and cand.cost <= n.cost and (
                        best is None or cand.cost < best.cost):
                    best = cand
        common = _common_scalars(n)
        if common is not None and common != n and common.cost <= n.cost and (
                best is None or common.cost < best.cost):
            best = common
        if best is None or best == n:
            return n
        n = best
    return n


def _common_scalars(n: E.Add) -> Expr | None:
    """``2*a*X + 2*a*Y -> 2*a*(X + Y)``: the shared coefficient and scalar factors."""
    parts = [E._parts(t) for t in n.terms]
    coefs = [c for c, _, _ in parts]
    if any(isinstance(c, float) for c in coefs):
        return None
    g = Fraction(_gcd_all([c.numerator for c in coefs]), _lcm_all([c.denominator for c in coefs]))
    if all(c < 0 for c in coefs):
        g = -g
    common = Counter(parts[0][1])
    for _, s, _ in parts[1:]:
        common &= Counter(s)
    common = list(common.elements())
    if g == 1 and not common:
        return None
    rest = []
    for c, s, ch in parts:
        s = list(s)
        for x in common:
            s.remove(x)
        rest.append(make_mul(c / g, s, ch))
    return make_mul(g, common, [add(*rest)])


def _gcd_all(xs):
    from math import gcd
    out = 0
    for x in xs:
        out = gcd(out, abs(x))
    return out or 1


def _lcm_all(xs):
    from math import lcm
    out = 1
    for x in xs:
        out = lcm(out, x)
    return out


def _factored(n: E.Add, f: Expr, idx: list[int], side: str) -> Expr | None:
    rest_shape = (f.shape[1], n.shape[1]) if side == "left" else (n.shape[0], f.shape[0])
    remainders = []
    for i in idx:
        c, s, ch = E._parts(n.terms[i])
        remainders.append(make_mul(c, s, ch[1:] if side == "left" else ch[:-1]))
    if all(r.is_scalar for r in remainders):
        return add(*(t for i, t in enumerate(n.terms) if i not in idx),
                   mul(add(*remainders), f))  # a*F + b*F -> (a + b)*F
    if isinstance(f, E.Eye):
        return None
    # A*B + 2*A -> A*(B + 2*eye)
    remainders = [mul(r, E.eye(rest_shape[0])) if r.is_scalar
                  and not E.is_scalar_shape(rest_shape) else r for r in remainders]
    inner = factor_sum(add(*remainders))
    if E.is_zero(inner):
        core = E.zeros(n.shape)
    else:
        core = mul(f, inner) if side == "left" else mul(inner, f)
    others = [t for i, t in enumerate(n.terms) if i not in idx]
    return add(*others, core)


# ---------------------------------------------------------------------------
# expansion of element-wise products and scalar products over sums
# ---------------------------------------------------------------------------

def expand_terms(e: Expr, matrix_products: bool = False, budget: int = MAX_EXPANSION
                 ) -> list[Expr]:
    """``e`` as a list of terms, distributing element-wise and scalar products (and, with
    ``matrix_products``, matrix products) over sums.  One sum is distributed at a time,
    the largest first, so that the constructors can cancel ``(1-s).*(1-s).^-1`` before
    the smaller sums are split.  Gives up (returns ``[e]``) past ``budget`` terms."""
    out: list[Expr] = []
    work = [e]
    while work:
        t = work.pop()
        if isinstance(t, E.Add):
            work.extend(reversed(t.terms))
            continue
        split = _distribute_once(t, matrix_products)
        if split is None:
            out.append(t)
        else:
            work.extend(reversed(split))
        if len(out) + len(work) > budget:
            return [e]
    return out


def _distribute_once(t: Expr, matrix_products: bool) -> list[Expr] | None:
    if isinstance(t, E.Hadamard):
        factors = list(t.factors)
        sums = [i for i, f in enumerate(factors) if isinstance(f, E.Add)]
        if not sums:
            return None
        i = max(sums, key=lambda j: factors[j].cost)
        rest = factors[:i] + factors[i + 1:]
        return [hadamard(term, *rest) for term in factors[i].terms]
    if isinstance(t, E.Mul):
        items = list(t.scalars) + list(t.chain)
        sums = [i for i, f in enumerate(items) if isinstance(f, E.Add)
                and (i < len(t.scalars) or len(t.chain) == 1 or matrix_products)]
        hads = [i for i, f in enumerate(items) if isinstance(f, E.Hadamard)
                and i >= len(t.scalars) and len(t.chain) == 1]
        if not sums and hads:
            inner = _distribute_once(items[hads[0]], matrix_products)
            if inner is None:
                return None
            return [make_mul(t.coef, t.scalars, [term]) for term in inner]
        if not sums:
            return None
        i = max(sums, key=lambda j: items[j].cost)
        k = len(t.scalars)
        result = []
        for term in items[i].terms:
            new = items[:i] + [term] + items[i + 1:]
            if i < k:
                result.append(mul(make_mul(t.coef, new[:k], ()), make_mul(1, (), new[k:])))
            else:
                result.append(make_mul(t.coef, new[:k], new[k:]))
        return result
    return None


#: expansions are tried on pieces up to this many tokens: a larger piece only grows when
#: its factors are copied into every term (the human form names what is shared instead)
EXPAND_MAX_TOKENS = 400


def _expand_if_shorter(n: Expr) -> Expr:
    if n.cost > EXPAND_MAX_TOKENS:
        return n
    terms = expand_terms(n)
    if len(terms) <= 1 or len(terms) > MAX_EXPANSION:
        return n
    # multiplied out, a product only gets shorter when some of its terms combine or
    # cancel (refactoring alone is factor_sum's job on the unexpanded sum)
    bases = {E.split_coef(t)[1] for t in terms}
    if len(bases) == len(terms) and not any(E.is_zero(t) for t in terms):
        return n
    expanded = factor_sum(add(*terms))
    # a one-token saving is not worth losing the factored, readable form
    return expanded if expanded.cost < n.cost - 1 else n


# ---------------------------------------------------------------------------
# the logistic function
# ---------------------------------------------------------------------------

def _one_plus_exp(b: Expr) -> Expr | None:
    """``u`` when ``b`` is ``1 + exp(u)`` (a scalar or a broadcast one), else None."""
    if isinstance(b, E.Add) and len(b.terms) == 2:
        one, other = b.terms
        ones = (E.Num, E.Fill)
        if isinstance(other, ones):
            one, other = other, one
        if (isinstance(one, ones) and one.value == 1 and isinstance(other, E.Call)
                and other.fn == "exp"):
            return other.arg
    return None


def _logistic(n: Expr) -> Expr:
    """``exp(u)./(1 + exp(u)) -> sigmoid(u)`` and ``1./(1 + exp(u)) -> sigmoid(-u)``."""
    if isinstance(n, E.Hadamard):
        factors = list(n.factors)
        make = lambda fs: hadamard(*fs) if fs else E.ones(n.shape)
        power_type = E.ElemPow
    elif isinstance(n, E.Mul) and not n.chain:
        factors = list(n.scalars)
        make = lambda fs: make_mul(n.coef, fs, ())
        power_type = E.Pow
    else:
        return n
    for i, f in enumerate(factors):
        if isinstance(f, E.Call) and f.fn == "sigmoid":
            # exp(u).*sigmoid(-u) = exp(u)./(1 + exp(u)) -> sigmoid(u)
            expu = call("exp", E.neg(f.arg))
            rest = factors[:i] + factors[i + 1:]
            if expu in rest:
                rest.remove(expu)
                return make(rest + [call("sigmoid", E.neg(f.arg))])
            continue
        if not (isinstance(f, power_type) and isinstance(f.exp, E.Num) and f.exp.value == -1):
            continue
        u = _one_plus_exp(f.base)
        if u is None:
            continue
        rest = factors[:i] + factors[i + 1:]
        expu = call("exp", u)
        if expu in rest:
            rest.remove(expu)
            return make(rest + [call("sigmoid", u)])
        return make(rest + [call("sigmoid", E.neg(u))])
    return n
