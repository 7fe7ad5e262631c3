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

One rule per node type lives in ``ADJOINT_RULES``; the element-wise derivatives live in
``ELEMENTWISE_DERIVATIVES``.  A missing rule raises ``NotDifferentiableError``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from . import expr as E
from .errors import NotDifferentiableError, LimitError
from .expr import (Expr, add, call, hadamard, mul, neg, scale, transpose, power,
                   elem_power, num, ONE)
from .limits import LIMITS


# ---------------------------------------------------------------------------
# element-wise derivatives f'(u), given u and the node f(u)
# ---------------------------------------------------------------------------

def _recip(u: Expr) -> Expr:
    return elem_power(u, num(-1))


ELEMENTWISE_DERIVATIVES: dict[str, Callable[[Expr, Expr], Expr]] = {
    "exp": lambda u, f: f,                                           # exp' = exp
    "log": lambda u, f: _recip(u),                                   # log' = 1/u
    "sin": lambda u, f: call("cos", u),                              # sin' = cos
    "cos": lambda u, f: neg(call("sin", u)),                         # cos' = -sin
    "tan": lambda u, f: add(ONE, elem_power(f, num(2))),             # tan' = 1 + tan^2
    "arcsin": lambda u, f: elem_power(add(ONE, neg(elem_power(u, num(2)))),
                                      num(Fraction(-1, 2))),         # 1/sqrt(1-u^2)
    "arccos": lambda u, f: neg(elem_power(add(ONE, neg(elem_power(u, num(2)))),
                                          num(Fraction(-1, 2)))),    # -1/sqrt(1-u^2)
    "arctan": lambda u, f: _recip(add(ONE, elem_power(u, num(2)))),  # 1/(1+u^2)
    "sinh": lambda u, f: call("cosh", u),                            # sinh' = cosh
    "cosh": lambda u, f: call("sinh", u),                            # cosh' = sinh
    "tanh": lambda u, f: add(ONE, neg(elem_power(f, num(2)))),       # tanh' = 1 - tanh^2
    "abs": lambda u, f: call("sign", u),                             # |u|' = sign(u), u != 0
    "sign": lambda u, f: E.zeros(u.shape),                           # sign' = 0, u != 0
    "sqrt": lambda u, f: scale(Fraction(1, 2), _recip(f)),           # sqrt' = 1/(2 sqrt)
    "relu": lambda u, f: call("sign", f),                            # relu' = step(u), u != 0
    "sigmoid": lambda u, f: hadamard(f, add(ONE, neg(f))),           # s' = s.*(1-s)
    "softplus": lambda u, f: call("sigmoid", u),                     # softplus' = sigmoid
}


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


def _adjoint_add(n: E.Add, g: Expr):
    # d(A + B) = dA + dB
    return [(t, g) for t in n.terms]


def _adjoint_mul(n: E.Mul, g: Expr):
    out = []
    chain_product = E.make_mul(Fraction(1), (), n.chain)
    for i, s in enumerate(n.scalars):
        # G : s*M  =  (G : M) ds   with the other factors as a coefficient
        others = E.make_mul(n.coef, n.scalars[:i] + n.scalars[i + 1:], ())
        out.append((s, mul(others, frobenius(g, chain_product))))
    for j, f in enumerate(n.chain):
        # G : P*dF*Q = P'*G*Q' : dF
        before = E.make_mul(n.coef, n.scalars, n.chain[:j])
        after = E.make_mul(Fraction(1), (), n.chain[j + 1:])
        out.append((f, mul(mul(transpose(before), g), transpose(after))))
    return out


def _adjoint_hadamard(n: E.Hadamard, g: Expr):
    # G : A.*dB = (A.*G) : dB
    return [(f, hadamard(g, *(n.factors[:i] + n.factors[i + 1:])))
            for i, f in enumerate(n.factors)]


def _adjoint_pow(n: E.Pow, g: Expr):
    # d(b^e) = e*b^(e-1) db + b^e*log(b) de
    out = [(n.base, mul(g, mul(n.exp, power(n.base, add(n.exp, num(-1))))))]
    if not isinstance(n.exp, E.Num):
        out.append((n.exp, mul(g, mul(n, call("log", n.base)))))
    return out


def _adjoint_matpow(n: E.MatPow, g: Expr):
    # d(A^k) = Σ_j A^j*dA*A^(k-1-j)  so  G : d(A^k) = Σ_j (A^j)'*G*(A^(k-1-j))' : dA
    if n.k > LIMITS.max_matrix_power:
        raise LimitError(f"the derivative of ({n.base})^{n.k} "
                         f"has {n.k} terms; the limit is matcalc.LIMITS.max_matrix_power = "
                         f"{LIMITS.max_matrix_power}")
    a = n.base
    terms = [mul(mul(transpose(E.matrix_power(a, j)), g),
                 transpose(E.matrix_power(a, n.k - 1 - j))) for j in range(n.k)]
    return [(a, add(*terms))]


def _adjoint_elempow(n: E.ElemPow, g: Expr):
    # d(u.^p) = p*u.^(p-1) .* du + u.^p.*log(u) dp
    out = [(n.base, mul(n.exp, hadamard(g, elem_power(n.base, add(n.exp, num(-1))))))]
    if not isinstance(n.exp, E.Num):
        out.append((n.exp, frobenius(g, hadamard(n, call("log", n.base)))))
    return out


def _adjoint_transpose(n: E.Transpose, g: Expr):
    # G : dA' = G' : dA
    return [(n.arg, transpose(g))]


def _adjoint_call(n: E.Call, g: Expr):
    u = n.arg
    fn = n.fn
    if fn in ELEMENTWISE_DERIVATIVES:
        # d f(u) = f'(u) .* du
        return [(u, hadamard(g, ELEMENTWISE_DERIVATIVES[fn](u, n)))]
    if fn == "tr":       # g : tr(dA) = g*eye : dA
        return [(u, mul(g, E.eye(u.shape[0])))]
    if fn == "det":      # d det(A) = det(A)*inv(A)' : dA
        return [(u, mul(mul(g, n), transpose(call("inv", u))))]
    if fn == "logdet":   # d logdet(A) = inv(A)' : dA
        return [(u, mul(g, transpose(call("inv", u))))]
    if fn == "inv":      # d inv(A) = -inv(A)*dA*inv(A)
        t = transpose(n)
        return [(u, neg(mul(mul(t, g), t)))]
    if fn == "diag":     # G : diag(dv) = diag(G) : dv, and g : diag(dA) = diag(g) : dA
        return [(u, call("diag", g))]
    if fn == "sum":      # g : sum(dA) = g*ones : dA
        return [(u, mul(g, E.ones(u.shape)))]
    if fn == "norm2":    # d norm2(A) = A/norm2(A) : dA
        return [(u, mul(mul(g, u), power(n, num(-1))))]
    if fn == "norm1":    # d norm1(A) = sign(A) : dA
        return [(u, mul(g, call("sign", u)))]
    if fn == "softmax":  # d s = (diag(s) - s*s') dz
        return [(u, add(hadamard(n, g), neg(mul(n, mul(transpose(n), g)))))]
    if fn == "logsumexp":  # d logsumexp(z) = softmax(z) : dz
        return [(u, mul(g, call("softmax", u)))]
    raise NotDifferentiableError(f"no differential rule for {fn}")


def _adjoint_abstract(n: E.Abstract, g: Expr):
    u = n.arg
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


def _adjoint_vec_form(n: Expr, g: Expr):
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
LEAVES = (E.Var, E.Num, E.Fill, E.Eye, E.Commutation)


# ---------------------------------------------------------------------------
# reverse sweep
# ---------------------------------------------------------------------------

@dataclass
class Step:
    """One rewrite of the differential: ``dL = <frontier>`` and the identity used."""
    text: str
    rule: str = ""

    def __str__(self) -> str:
        return f"{self.text}    [{self.rule}]" if self.rule else self.text


RULE_NAMES = {
    E.Add: "d(A + B) = dA + dB",
    E.Mul: "G : A*dX*B = A'*G*B' : dX",
    E.Hadamard: "G : A.*dX = (A.*G) : dX",
    E.Pow: "d(u^p) = p*u^(p-1)*du",
    E.MatPow: "d(X^k) = Σ X^j*dX*X^(k-1-j)",
    E.ElemPow: "d(u.^p) = p*u.^(p-1).*du",
    E.Transpose: "G : dX' = G' : dX",
    E.Abstract: "d g(u) = ∇g(u) : du",
}
CALL_RULE_NAMES = {
    "tr": "g : tr(dX) = g*eye : dX",
    "det": "d det(X) = det(X)*inv(X)' : dX",
    "logdet": "d logdet(X) = inv(X)' : dX",
    "inv": "d inv(X) = -inv(X)*dX*inv(X)",
    "diag": "G : diag(dv) = diag(G) : dv",
    "sum": "g : sum(dX) = g*ones : dX",
    "norm2": "d norm2(X) = X/norm2(X) : dX",
    "norm1": "d norm1(X) = sign(X) : dX",
    "softmax": "d softmax(z) = (diag(s) - s*s')*dz",
    "logsumexp": "d logsumexp(z) = softmax(z) : dz",
}


def _rule_name(n: Expr) -> str:
    if isinstance(n, E.Call):
        return CALL_RULE_NAMES.get(n.fn, f"d {n.fn}(u) = {n.fn}'(u) .* du")
    return RULE_NAMES.get(type(n), "")


def _d(n: Expr) -> str:
    return f"d{n.text()}" if isinstance(n, E.Var) else f"d({n.text()})"


def _term(g: Expr, n: Expr) -> str:
    """``G : dN`` for the frontier of the differential; a sum G is parenthesised."""
    if E.is_one(g):
        return _d(n)
    text = g.text() if not isinstance(g, E.Add) else f"({g.text()})"
    return f"{text} : {_d(n)}"


def check_result_size(e: Expr) -> None:
    """Stop a derivative that grows past ``LIMITS.max_result_tokens``."""
    if e.cost > LIMITS.max_result_tokens:
        raise LimitError(f"the derivative grows past {LIMITS.max_result_tokens} tokens; the "
                         "limit is matcalc.LIMITS.max_result_tokens")


def topological_order(root: Expr, depends: dict) -> list[Expr]:
    """Nodes of ``root`` that depend on the variable, every parent before its children."""
    order: list[Expr] = []
    seen: set = set()
    stack = [(root, False)]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in seen or not depends[n]:
            continue
        seen.add(n)
        stack.append((n, True))
        stack.extend((c, False) for c in n.children())
    order.reverse()
    return order


def dependence(root: Expr, var: E.Var) -> dict:
    """For every node of ``root``: does it depend on ``var``?"""
    memo: dict = {}
    stack = [(root, False)]
    while stack:
        n, done = stack.pop()
        if n in memo:
            continue
        if done:
            memo[n] = (n == var) or any(memo[c] for c in n.children())
            continue
        stack.append((n, True))
        stack.extend((c, False) for c in n.children() if c not in memo)
    return memo


#: most terms of the differential shown in one derivation step
FRONTIER_SHOWN = 6


def reverse_sweep(root: Expr, var: E.Var, seed: Expr = ONE, steps: list | None = None,
                  simplify: Callable[[Expr], Expr] = lambda e: e,
                  lhs: str = "dL") -> Expr:
    """The adjoint of ``var`` in ``seed : d(root)``: the G with ``seed : d(root) = G : dvar``."""
    depends = dependence(root, var)
    if not depends[root]:
        return E.zeros(var.shape)
    order = topological_order(root, depends)
    # the contributions reaching each node, added up once when the node is expanded
    adjoint: dict[Expr, list] = {root: [seed]}
    pending: dict[Expr, None] = {root: None}   # the frontier, in order of arrival
    displayed: dict[Expr, tuple] = {}
    size: dict[Expr, int] = {}

    def shown(p: Expr) -> Expr:
        """The simplified adjoint of a pending node, recomputed only when it grew."""
        parts = adjoint[p]
        if p not in displayed or displayed[p][0] != len(parts):
            displayed[p] = (len(parts), simplify(add(*parts)))
        return displayed[p][1]

    if steps is not None:
        steps.append(Step(f"{lhs} = {_term(seed, root)}"))
    for node in order:
        if node == var:
            continue
        parts = adjoint.pop(node, None)
        if parts is None:
            continue
        del pending[node]
        g = simplify(add(*parts))
        check_result_size(g)
        rule = ADJOINT_RULES.get(type(node))
        if rule is None:
            raise NotDifferentiableError(f"no differential rule for {node}")
        for child, contribution in rule(node, g):
            if not depends.get(child, False):
                continue
            if child in adjoint:
                adjoint[child].append(contribution)
            else:
                adjoint[child] = [contribution]
                pending[child] = None
            # stop a blow-up early: the sum of the contributions bounds what they add to
            size[child] = size.get(child, 0) + contribution.cost
            if size[child] > LIMITS.max_result_tokens:
                compact = simplify(add(*adjoint[child]))
                check_result_size(compact)
                adjoint[child] = [compact]
                size[child] = compact.cost
        if steps is not None:
            front = list(pending)
            shown_terms = [_term(shown(p), p) for p in front[:FRONTIER_SHOWN]]
            if len(front) > FRONTIER_SHOWN:
                shown_terms.append(f"... ({len(front) - FRONTIER_SHOWN} more terms)")
            frontier = " + ".join(shown_terms)
            steps.append(Step(f"   = {frontier}" if frontier else "   = 0", _rule_name(node)))
    result = add(*adjoint[var]) if var in adjoint else E.zeros(var.shape)
    if getattr(var, "symmetric", False):
        # the gradient in the space of symmetric matrices, (G + G')/2, taken on the
        # unsimplified sum of contributions so that mirror-image terms collect
        result = symmetric_part(result)
    result = simplify(result)
    check_result_size(result)
    return result


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
    depends = dependence(e, u)
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


def jacobian_expr(f: Expr, var: E.Var, simplify: Callable[[Expr], Expr],
                  steps: list | None = None, lhs_name: str = "F") -> Expr:
    """``∂vec(F)/∂vec(X)'`` (numerator layout; the plain Jacobian for vectors)."""
    if var.symmetric:
        raise NotDifferentiableError(
            f"Jacobians and Hessians with respect to the symmetric matrix {var.name} are not "
            f"supported; declare {var.name} as a matrix")
    from .simplify import expand_terms
    u = seed_variable(f.shape, set(E.free_vars(f)) | {var.name})
    g = reverse_sweep(f, var, seed=u, steps=steps, simplify=simplify,
                      lhs=f"{u.name} : d{lhs_name}")
    # read the map off G as it is, and off G multiplied out (so that a factored
    # (a*A + b*B)*x does not become kron(x, eye)*(...)); keep the shorter
    candidates = [g]
    expanded = add(*expand_terms(g, matrix_products=True, budget=256))
    if expanded != g:
        candidates.append(expanded)
    j = min((simplify(transpose(linear_coefficient(c, u, simplify))) for c in candidates),
            key=lambda e: e.cost)
    if steps is not None:
        steps.append(Step(f"vec({g.text()}) = {mul(transpose(j), E.vec(u)).text()}",
                          "vec(P*dX*Q) = kron(Q', P)*vec(dX)"))
    return j
