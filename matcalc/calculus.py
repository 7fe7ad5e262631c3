"""Differentials and their identification: gradients through the Frobenius product.

For a scalar ``L`` the engine writes ``dL = G : dX`` (``A:B = tr(A'*B)``) and reads off
``∂L/∂X = G``.  It starts from ``1 : dL`` and pushes the left factor inward through
the differential of each node, using the rearrangement identities

    G : A*dX*B = A'*G*B' : dX        G : dX' = G' : dX        G : s*dX = s*G : dX
    G : A.*dX  = (A.*G) : dX         g : tr(dX) = g*eye : dX  g : sum(dX) = g*ones : dX

Seen from the root this is reverse-mode differentiation over the expression DAG (equal
subexpressions are one node), with the identities as adjoint rules.  The adjoint that
reaches a node from all its parents is summed and simplified before it moves on, which
is what keeps results compact (``W2'*a - W2'*b`` becomes ``W2'*(a - b)`` once, at the
shared node, instead of twice further down).  Each expansion is recorded as a step.

One rule per node type lives in ``ADJOINT_RULES``; the derivatives of the built-in
functions live in their registry entries (:mod:`matcalc.functions`).  A missing rule
raises ``NotDifferentiableError``.
"""
from __future__ import annotations

from fractions import Fraction
from collections.abc import Callable

from . import expr as E
from .errors import NotDifferentiableError, LimitError
from .expr import (Expr, add, call, hadamard, mul, neg, scale, transpose, power,
                   elem_power, num, ONE)
from .limits import LIMITS


# ---------------------------------------------------------------------------
# adjoint rules: (node, G) -> [(child, G_child)] with G : d(node) = Σ G_child : d(child)
# ---------------------------------------------------------------------------

def frobenius(a: Expr, b: Expr) -> Expr:
    """``a : b = tr(a'*b)`` in its shortest form (``a'*b`` for vectors)."""
    if a.is_scalar or b.is_scalar:
        return mul(a, b)
    if a.shape[1] == 1:
        return mul(transpose(a), b)
    if a.shape[0] == 1:
        return mul(a, transpose(b))
    return call("tr", mul(transpose(a), b))


# Each rule takes the node, its adjoint G, and ``wanted(child)``: whether that child's
# contribution is needed (a child that does not depend on the variables is skipped, so a
# long product with one varying factor costs one contribution, not one per factor).

def _all(child: Expr) -> bool:
    return True


def _adjoint_add(n: E.Add, g: Expr, wanted=_all):
    # d(A + B) = dA + dB
    return [(t, g) for t in n.terms if wanted(t)]


def _adjoint_mul(n: E.Mul, g: Expr, wanted=_all):
    out = []
    for i, s in enumerate(n.scalars):
        if wanted(s):
            # G : s*M  =  (G : M) ds   with the other factors as a coefficient
            others = E.make_mul(n.coef, n.scalars[:i] + n.scalars[i + 1:], ())
            chain_product = E.make_mul(Fraction(1), (), n.chain)
            out.append((s, mul(others, frobenius(g, chain_product))))
    for j, f in enumerate(n.chain):
        if wanted(f):
            # G : P*dF*Q = P'*G*Q' : dF
            before = E.make_mul(n.coef, n.scalars, n.chain[:j])
            after = E.make_mul(Fraction(1), (), n.chain[j + 1:])
            out.append((f, mul(mul(transpose(before), g), transpose(after))))
    return out


def _adjoint_hadamard(n: E.Hadamard, g: Expr, wanted=_all):
    # G : A.*dB = (A.*G) : dB
    return [(f, hadamard(g, *(n.factors[:i] + n.factors[i + 1:])))
            for i, f in enumerate(n.factors) if wanted(f)]


def _adjoint_pow(n: E.Pow, g: Expr, wanted=_all):
    # d(b^e) = e*b^(e-1) db + b^e*log(b) de
    out = [(n.base, mul(g, mul(n.exp, power(n.base, add(n.exp, num(-1))))))]
    if not isinstance(n.exp, E.Num):
        out.append((n.exp, mul(g, mul(n, call("log", n.base)))))
    return out


def _adjoint_matpow(n: E.MatPow, g: Expr, wanted=_all):
    # d(A^k) = Σ_j A^j*dA*A^(k-1-j)  so  G : d(A^k) = Σ_j (A^j)'*G*(A^(k-1-j))' : dA
    if n.k > LIMITS.max_matrix_power:
        raise LimitError(f"the derivative of ({n.base})^{n.k} "
                         f"has {n.k} terms; the limit is matcalc.LIMITS.max_matrix_power = "
                         f"{LIMITS.max_matrix_power}")
    a = n.base
    terms = [mul(mul(transpose(E.matrix_power(a, j)), g),
                 transpose(E.matrix_power(a, n.k - 1 - j))) for j in range(n.k)]
    return [(a, add(*terms))]


def _adjoint_elempow(n: E.ElemPow, g: Expr, wanted=_all):
    # d(u.^p) = p*u.^(p-1) .* du + u.^p.*log(u) dp
    out = [(n.base, mul(n.exp, hadamard(g, elem_power(n.base, add(n.exp, num(-1))))))]
    if not isinstance(n.exp, E.Num):
        out.append((n.exp, frobenius(g, hadamard(n, call("log", n.base)))))
    return out


def _adjoint_transpose(n: E.Transpose, g: Expr, wanted=_all):
    # G : dA' = G' : dA
    return [(n.arg, transpose(g))]


def _adjoint_call(n: E.Call, g: Expr, wanted=_all):
    spec = n.spec
    if spec.derivative is not None:
        # d f(u) = f'(u) .* du
        return [(n.arg, hadamard(g, spec.derivative(n.arg, n)))]
    if spec.adjoint is None:
        raise NotDifferentiableError(f"no differential rule for {n.fn}")
    return [(n.arg, spec.adjoint(n, g))]


def _adjoint_abstract(n: E.Abstract, g: Expr, wanted=_all):
    u = n.arg
    if n.elementwise:
        if n.order >= 2:
            raise NotDifferentiableError(f"third derivatives of {n.name} are not available")
        # d s(u) = ∇s(u) .* du, entry by entry
        return [(u, hadamard(g, E.abstract(n.name, n.order + 1, u, elementwise=True)))]
    if n.order == 0:     # d g(u) = ∇g(u) : du
        return [(u, mul(g, E.abstract(n.name, 1, u)))]
    if n.order == 1 and u.shape[1] == 1:
        # d ∇g(u) = ∇²g(u)*du, and ∇²g is symmetric
        return [(u, mul(E.abstract(n.name, 2, u), g))]
    if n.order == 1:
        raise NotDifferentiableError(
            f"the derivative of ∇{n.name}({u}) with respect to the matrix {u} is a 4-way "
            "tensor with no matrix form")
    raise NotDifferentiableError(f"third derivatives of {n.name} have no matrix form")


def _adjoint_vec_form(n: Expr, g: Expr, wanted=_all):
    # G : vec(dA) and G : kron(dA, B) need a reshape of G, which the language cannot write
    raise NotDifferentiableError(
        f"differentiating through {n} needs a reshape (un-vec) of the adjoint, which has no "
        "form in the language; write the expression without kron/vec")


ADJOINT_RULES: dict[type, Callable] = {
    E.Add: _adjoint_add,
    E.Mul: _adjoint_mul,
    E.Hadamard: _adjoint_hadamard,
    E.Pow: _adjoint_pow,
    E.MatPow: _adjoint_matpow,
    E.ElemPow: _adjoint_elempow,
    E.Transpose: _adjoint_transpose,
    E.Call: _adjoint_call,
    E.Abstract: _adjoint_abstract,
    E.Kron: _adjoint_vec_form,
    E.Vec: _adjoint_vec_form,
}
#: node types without children to differentiate into
LEAVES = (E.Var, E.Num, E.Fill, E.Eye, E.Size, E.Constant, E.Commutation)


# ---------------------------------------------------------------------------
# reverse sweep
# ---------------------------------------------------------------------------

RULE_NAMES = {
    E.Add: "d(A + B) = dA + dB",
    E.Mul: "G : A*dX*B = A'*G*B' : dX",
    E.Hadamard: "G : A.*dX = (A.*G) : dX",
    E.Pow: "d(u^p) = p*u^(p-1)*du",
    E.MatPow: "d(X^k) = Σ X^j*dX*X^(k-1-j)",
    E.ElemPow: "d(u.^p) = p*u.^(p-1).*du",
    E.Transpose: "G : dX' = G' : dX",
}


def rule_name(n: Expr) -> str:
    """The identity used to differentiate through ``n``."""
    if isinstance(n, E.Call):
        return n.spec.identity
    if isinstance(n, E.Abstract):
        return ("d g(u) = ∇g(u) : du", "d ∇g(u) = ∇²g(u)*du")[min(n.order, 1)] \
            if not n.elementwise else "d s(u) = ∇s(u) .* du"
    return RULE_NAMES.get(type(n), "")


def dag_tokens(e: Expr) -> int:
    """Tokens of ``e`` with every shared piece counted once: the size of the human form."""
    from .textform import own_tokens
    return sum(own_tokens(n) for n in E.walk(e))


def check_result_size(e: Expr) -> None:
    """Stop a derivative whose human form grows past ``LIMITS.max_result_tokens``."""
    if E.cost(e) > LIMITS.max_result_tokens and dag_tokens(e) > LIMITS.max_result_tokens:
        raise LimitError(f"the derivative grows past {LIMITS.max_result_tokens} tokens; the "
                         "limit is matcalc.LIMITS.max_result_tokens")


def dependence(root: Expr, targets) -> dict:
    """For every node of ``root``: does it depend on any of ``targets``?"""
    targets = set(targets)
    memo: dict = {}
    stack = [(root, False)]
    while stack:
        n, done = stack.pop()
        if n in memo:
            continue
        if done:
            memo[n] = n in targets or any(memo[c] for c in n.children())
            continue
        stack.append((n, True))
        stack.extend((c, False) for c in n.children() if c not in memo)
    return memo


def topological_order(root: Expr, depends: dict, stop=frozenset()) -> list[Expr]:
    """Nodes of ``root`` that depend on the targets, every parent before its children
    (the nodes in ``stop`` are reached but not entered)."""
    order: list[Expr] = []
    seen: set = set()
    stack = [(root, False)]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in seen or not depends.get(n, False):
            continue
        seen.add(n)
        stack.append((n, True))
        if n not in stop or n is root:
            stack.extend((c, False) for c in n.children())
    order.reverse()
    return order


class NodeGuard:
    """Stops a computation that builds more than ``LIMITS.max_nodes`` new nodes."""

    def __init__(self):
        self.start = E.NodeBudget.created

    def check(self) -> None:
        if E.NodeBudget.created - self.start > LIMITS.max_nodes:
            raise LimitError(f"the derivative grows past {LIMITS.max_nodes} distinct pieces; "
                             "the limit is matcalc.LIMITS.max_nodes (and "
                             "matcalc.LIMITS.max_result_tokens for its printed size)")


def sweep(root: Expr, targets, seed: Expr = ONE,
          simplify: Callable[[Expr], Expr] = lambda e: e, stop=frozenset(),
          expanded: list | None = None) -> dict:
    """The adjoints in ``seed : d(root) = Σ G_t : dt``: a dict target -> G_t (summed,
    not simplified; absent when ``root`` does not depend on ``t``).

    Reverse mode over the DAG: each node's contributions are added up and simplified
    once, when all its parents are done.  Nodes in ``stop`` are targets too (their
    adjoints are returned, not pushed further).  ``expanded`` collects
    ``(node, adjoint, contributions)`` for the derivation steps.
    """
    ends = set(targets) | set(stop)
    if root in targets:
        return {root: seed}
    depends = dependence(root, ends)
    if not depends[root]:
        return {}
    guard = NodeGuard()

    def wanted(child: Expr) -> bool:
        return depends.get(child, False)

    adjoint: dict[Expr, list] = {root: [seed]}
    out: dict = {}
    for node in topological_order(root, depends, ends):
        parts = adjoint.pop(node, None)
        if parts is None:
            continue
        if node in ends and node is not root:
            out[node] = add(*parts)
            continue
        g = simplify(add(*parts))
        rule = ADJOINT_RULES.get(type(node))
        if rule is None:
            raise NotDifferentiableError(f"no differential rule for {node}")
        contributions = [(c, piece) for c, piece in rule(node, g, wanted)
                         if depends.get(c, False)]
        for child, piece in contributions:
            adjoint.setdefault(child, []).append(piece)
        if expanded is not None:
            expanded.append((node, g, contributions))
        guard.check()
    return out


def gradients(root: Expr, variables: list, simplify: Callable[[Expr], Expr],
              seed: Expr = ONE) -> list[Expr]:
    """The gradient of the scalar ``root`` w.r.t. each variable, from one sweep; zero for
    a variable it does not depend on.  Symmetric variables get (G + G')/2 (SPEC §3)."""
    adjoints = sweep(root, variables, seed, simplify)
    out = []
    for var in variables:
        g = adjoints.get(var)
        if g is None:
            out.append(E.zeros(var.shape))
            continue
        if getattr(var, "symmetric", False):
            # the gradient in the space of symmetric matrices, (G + G')/2, taken on the
            # unsimplified sum of contributions so that mirror-image terms collect
            g = symmetric_part(g)
        g = simplify(g)
        check_result_size(g)
        out.append(g)
    return out


def reverse_sweep(root: Expr, var: E.Var, seed: Expr = ONE,
                  simplify: Callable[[Expr], Expr] = lambda e: e) -> Expr:
    """The G with ``seed : d(root) = G : dvar`` (symmetric part for a symmetric var)."""
    return gradients(root, [var], simplify, seed)[0]


def symmetric_part(g: Expr) -> Expr:
    """``(G + G')/2``, term by term so that equal terms collect."""
    terms = g.terms if isinstance(g, E.Add) else (g,)
    return scale(Fraction(1, 2), add(*terms, *(transpose(t) for t in terms)))


# ---------------------------------------------------------------------------
# Jacobians and Hessians: the linear map in U : dF = G(U) : dX, in vec form
# ---------------------------------------------------------------------------

def linear_coefficient(e: Expr, u: E.Var, simplify: Callable[[Expr], Expr]) -> Expr:
    """The matrix M with ``vec(e) = M*vec(u)``, for an ``e`` that is linear in ``u``.

    The rules are the vec identities (Magnus–Neudecker):

        vec(P*dX*Q) = kron(Q', P)*vec(dX)      vec(dX') = commutation(m,n)*vec(dX)
        vec(A.*dX)  = diag(vec(A))*vec(dX)     s(dX) scalar: vec(r*s) = vec(r)*(∂s/∂X)'

    For vectors vec is the identity and kron(1, P) = P, so they collapse to the familiar
    ``d(A*x) = A dx`` and ``d exp.(u) = diag(exp(u)) du``.
    """
    depends = dependence(e, [u])
    u_size = E.dim_mul(*u.shape)

    def coefficient(n: Expr) -> Expr:
        if not depends.get(n, False):
            return E.zeros((E.dim_mul(*n.shape), u_size))
        if n == u:
            return E.eye(u_size)
        if n.is_scalar:
            # a scalar linear in U is s = (∂s/∂U) : U = vec(∂s/∂U)'*vec(U)
            return transpose(E.vec(reverse_sweep(n, u, simplify=simplify)))
        if isinstance(n, E.Add):
            return add(*(coefficient(t) for t in n.terms if depends[t]))
        if isinstance(n, E.Mul):
            for i, s in enumerate(n.scalars):
                if depends[s]:
                    rest = E.make_mul(n.coef, n.scalars[:i] + n.scalars[i + 1:], n.chain)
                    return mul(E.vec(rest), coefficient(s))
            for j, f in enumerate(n.chain):
                if depends[f]:
                    before = E.make_mul(n.coef, n.scalars, n.chain[:j])
                    if not n.chain[:j]:
                        before = mul(before, E.eye(f.shape[0]))
                    after = E.make_mul(Fraction(1), (), n.chain[j + 1:]) if n.chain[j + 1:] \
                        else E.eye(f.shape[1])
                    return mul(E.kron(transpose(after), before), coefficient(f))
        if isinstance(n, E.Hadamard):
            for i, f in enumerate(n.factors):
                if depends[f]:
                    others = hadamard(*(n.factors[:i] + n.factors[i + 1:]))
                    return mul(call("diag", E.vec(others)), coefficient(f))
        if isinstance(n, E.Transpose):
            return mul(E.commutation(*n.arg.shape), coefficient(n.arg))
        if isinstance(n, E.Call) and n.fn == "sum" and n.axis:
            rows, cols = n.arg.shape
            if n.axis == 1:   # vec(1'*dX) = kron(eye(n), 1')*vec(dX)
                m = E.kron(E.eye(cols), E.fill(1, (1, rows)))
            else:             # vec(dX*1) = kron(1', eye(m))*vec(dX)
                m = E.kron(E.fill(1, (1, cols)), E.eye(rows))
            return mul(m, coefficient(n.arg))
        if isinstance(n, E.Call) and n.fn == "diag":
            d = n.shape[0] if n.shape[1] == 1 else n.shape[1]
            picks = call("diag", E.vec(E.eye(d)))   # keeps the diagonal entries of vec
            if n.shape[1] == 1:   # diag(dX) = (eye.*dX)*1: kron(1', eye)*diag(vec(eye))
                return mul(E.kron(E.fill(1, (1, d)), E.eye(d)), picks, coefficient(n.arg))
            # vec(diag(dv)) = vec(eye.*(dv*1')) = diag(vec(eye))*kron(1, eye)*dv
            return mul(picks, E.kron(E.fill(1, (d, 1)), E.eye(d)), coefficient(n.arg))
        raise NotDifferentiableError(
            f"the derivative has no matrix form: {n} is not a product, sum, transpose or "
            "element-wise product of the variable")

    return coefficient(e)


def seed_variable(shape, taken: set) -> E.Var:
    """A direction U for ``U : dF``, named apart from the user's variables."""
    for name in ("U", "V", "Λ", "Ω"):
        if name not in taken:
            return E.Var(name, shape)
    return E.Var("Λ" + str(len(taken)), shape)


def jacobian_expr(f: Expr, var: E.Var, simplify: Callable[[Expr], Expr]) -> Expr:
    """``∂vec(F)/∂vec(X)'`` (numerator layout; the plain Jacobian for vectors)."""
    from .simplify import expand_terms
    u = seed_variable(f.shape, set(E.free_vars(f)) | {var.name})
    g = adjoint_map(f, var, u, simplify)
    # read the map off G as it is, and off G multiplied out (so that a factored
    # (a*A + b*B)*x does not become kron(x, eye)*(...)); keep the shorter
    candidates = [g]
    expanded = add(*expand_terms(g, matrix_products=True, budget=256))
    if expanded != g:
        candidates.append(expanded)
    return min((simplify(transpose(linear_coefficient(c, u, simplify))) for c in candidates),
               key=lambda e: e.cost)


def adjoint_map(f: Expr, var: E.Var, u: E.Var, simplify) -> Expr:
    """The G(U) with ``U : dF = G(U) : dX``, linear in the direction U."""
    return sweep(f, [var], u, simplify).get(var, E.zeros(var.shape)) if not \
        getattr(var, "symmetric", False) else reverse_sweep(f, var, u, simplify)
