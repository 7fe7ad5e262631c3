"""The derivation steps: the classic derivation through differentials.

For ``L = g(W*x + b)`` with respect to ``W`` the steps are::

    a = W*x + b
    dL = ∇g(a) : da                [d g(u) = ∇g(u) : du]
    p = ∇g(a)
    da = dW*x                      [d(A*B) = dA*B + A*dB]
    dL = p : dW*x = p*x' : dW      [G : A*dX*B = A'*G*B' : dX]
    ∂L/∂W = p*x'

The intermediate results that a textbook names are named: the argument of each
nonlinear function (``a``), each nonlinear result used further on, each piece used
twice, and each adjoint worth a name (``p``, the part of ``dL`` through ``a`` being
``p : da``).  The derivation then goes from one named piece to the next: its
differential ``da`` from the forward rules, and the Frobenius rearrangement that moves
``dW`` to the right, ``A : B*C = A*C' : B``, each line with the identities it used.
"""
from __future__ import annotations


from . import expr as E
from .calculus import dependence, frobenius, rule_name, sweep, topological_order
from .human import TRIVIAL, TextPieces, choose_names, taken_names
from .textform import negative_part

#: most terms of the differential shown on one line
FRONTIER_SHOWN = 6

FORWARD_RULES = {
    E.Add: "d(A + B) = dA + dB",
    E.Mul: "d(A*B) = dA*B + A*dB",
    E.Hadamard: "d(A.*B) = dA.*B + A.*dB",
    E.Pow: "d(u^p) = p*u^(p-1)*du",
    E.MatPow: "d(X^k) = Σ X^j*dX*X^(k-1-j)",
    E.ElemPow: "d(u.^p) = p*u.^(p-1).*du",
    E.Transpose: "d(X') = dX'",
    E.Kron: "d kron(A,B) = kron(dA,B) + kron(A,dB)",
    E.Vec: "d vec(X) = vec(dX)",
}


class Step:
    """One line of the derivation: ``lhs = rhs    [rule]``, in text and in LaTeX."""

    __slots__ = ("lhs", "rhs", "rule", "lhs_latex", "rhs_latex")

    def __init__(self, lhs: str, rhs: str, rule: str = "", lhs_latex: str = "",
                 rhs_latex: str = ""):
        self.lhs, self.rhs, self.rule = lhs, rhs, rule
        self.lhs_latex, self.rhs_latex = lhs_latex, rhs_latex

    def __repr__(self) -> str:
        return f"<Step {self}>"

    def __str__(self) -> str:
        line = f"{self.lhs} = {self.rhs}"
        return f"{line}    [{self.rule}]" if self.rule else line

    def latex(self) -> str:
        rule = rf" && \text{{{_latex_text(self.rule)}}}" if self.rule else ""
        return f"{self.lhs_latex or self.lhs} &= {self.rhs_latex or self.rhs}{rule}"


def _latex_text(s: str) -> str:
    """A rule in ``\\text{...}``: escape what LaTeX's text mode would misread."""
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("^", r"\^{}"), ("&", r"\&"),
                 ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("{", r"\{"), ("}", r"\}"),
                 ("~", r"\~{}")):
        s = s.replace(a, b)
    return (s.replace("∇²", r"$\nabla^2$").replace("∇", r"$\nabla$")
            .replace("Σ", r"$\Sigma$").replace("'", r"$'$"))


def latex_steps(steps: list[Step]) -> str:
    r"""The steps as one ``aligned`` block (amsmath), one step per line."""
    return "\\begin{aligned}\n" + " \\\\\n".join(s.latex() for s in steps) + \
        "\n\\end{aligned}"


# ---------------------------------------------------------------------------
# the forward differential, for display
# ---------------------------------------------------------------------------

def _jvp(n: E.Expr, d: list) -> E.Expr:
    """``d n`` from the differentials ``d`` of its children (None: constant)."""
    kids = n.children()
    terms: list[E.Expr] = []
    if isinstance(n, E.Add):
        terms = [x for x in d if x is not None]
    elif isinstance(n, E.Mul):
        k = len(n.scalars)
        for i, dx in enumerate(d):
            if dx is None:
                continue
            if i < k:   # d(s)*rest
                rest = E.make_mul(n.coef, n.scalars[:i] + n.scalars[i + 1:], n.chain)
                terms.append(E.mul(dx, rest))
            else:       # prefix*dF*suffix
                j = i - k
                prefix = E.make_mul(n.coef, n.scalars, n.chain[:j])
                suffix = n.chain[j + 1:]
                out = E.mul(prefix, dx)
                if suffix:
                    out = E.mul(out, E.make_mul(1, (), suffix))
                terms.append(out)
    elif isinstance(n, E.Hadamard):
        terms = [E.hadamard(dx, *(kids[:i] + kids[i + 1:])) for i, dx in enumerate(d)
                 if dx is not None]
    elif isinstance(n, E.Pow):
        if d[0] is not None:
            terms.append(E.mul(n.exp, E.power(n.base, E.add(n.exp, E.num(-1))), d[0]))
        if d[1] is not None:
            terms.append(E.mul(n, E.call("log", n.base), d[1]))
    elif isinstance(n, E.ElemPow):
        if d[0] is not None:
            terms.append(E.mul(n.exp, E.hadamard(E.elem_power(n.base, E.add(n.exp, E.num(-1))),
                                                 d[0])))
        if d[1] is not None:
            terms.append(E.mul(E.hadamard(n, E.call("log", n.base)), d[1]))
    elif isinstance(n, E.MatPow):
        a = n.base
        terms = [E.mul(E.matrix_power(a, j), d[0], E.matrix_power(a, n.k - 1 - j))
                 for j in range(n.k)]
    elif isinstance(n, E.Transpose):
        terms = [E.transpose(d[0])]
    elif isinstance(n, E.Call):
        spec = n.spec
        if spec.derivative is not None:
            terms = [E.hadamard(spec.derivative(n.arg, n), d[0])]
        else:
            terms = [spec.jvp(n, d[0])]
    elif isinstance(n, E.Abstract):
        u = n.arg
        if n.elementwise:
            terms = [E.hadamard(E.abstract(n.name, n.order + 1, u, True), d[0])]
        elif n.order == 0:
            terms = [frobenius(E.abstract(n.name, 1, u), d[0])]
        else:
            terms = [E.mul(E.abstract(n.name, 2, u), d[0])]
    elif isinstance(n, E.Kron):
        if d[0] is not None:
            terms.append(E.kron(d[0], n.right))
        if d[1] is not None:
            terms.append(E.kron(n.left, d[1]))
    elif isinstance(n, E.Vec):
        terms = [E.vec(d[0])]
    return E.add(*terms) if terms else E.zeros(n.shape)


def forward(node: E.Expr, dmap: dict, depends: dict) -> tuple[E.Expr, list[str]]:
    """The differential of ``node`` in terms of the differentials in ``dmap`` (node ->
    its ``d`` symbol), and the forward rules it used."""
    memo: dict = dict(dmap)
    rules: list[str] = []
    for n in E.postorder(node, lambda n: n not in memo and depends.get(n, False)):
        memo[n] = _jvp(n, [memo.get(c) if depends.get(c, False) else None
                           for c in n.children()])
        rule = FORWARD_RULES.get(type(n)) if not isinstance(n, (E.Call, E.Abstract)) \
            else rule_name(n)
        if rule and rule not in rules:
            rules.append(rule)
    return memo.get(node, E.zeros(node.shape)), rules


# ---------------------------------------------------------------------------
# the derivation
# ---------------------------------------------------------------------------

_NONLINEAR = (E.Call, E.Abstract, E.Pow, E.ElemPow, E.MatPow)
#: functions that are linear in their argument: no piece is named around them
_LINEAR_CALLS = ("sum", "tr", "diag")


def _nonlinear(n: E.Expr) -> bool:
    return isinstance(n, _NONLINEAR) and not (isinstance(n, E.Call) and n.fn in _LINEAR_CALLS)


def named_intermediates(root: E.Expr, variables: list, depends: dict) -> list[E.Expr]:
    """The pieces between ``root`` and the variables that the derivation names:
    arguments and results of nonlinear functions, and pieces used twice."""
    order = topological_order(root, depends)
    parents: dict = {}
    for n in order:
        for c in n.children():
            if depends.get(c, False):
                parents.setdefault(c, []).append(n)
    chosen = []
    for n in order:
        if n is root or n in variables or isinstance(n, TRIVIAL):
            continue
        if isinstance(n, E.Transpose) and (n.arg in variables or isinstance(n.arg, TRIVIAL)):
            continue
        ps = parents.get(n, [])
        if _nonlinear(n) or any(_nonlinear(p) for p in ps) \
                or len(ps) > 1:
            chosen.append(n)
    chosen.reverse()  # children first: each definition uses only earlier names
    return chosen


class Derivation:
    """Builds the steps of a gradient (or of the first part of a Hessian)."""

    def __init__(self, root: E.Expr, variables: list, simplify, lhs: str = "L",
                 taken: set | None = None):
        self.root = root
        self.variables = list(variables)
        self.simplify = simplify
        self.lhs = lhs
        self.depends = dependence(root, self.variables)
        self.taken = taken_names(root) if taken is None else set(taken)
        self.named = named_intermediates(root, self.variables, self.depends)
        self.names = choose_names(self.named, self.taken)
        self.taken |= set(self.names.values())
        self.steps: list[Step] = []
        self.differentials = {n: E.Var("d" + name, n.shape) for n, name in self.names.items()}
        for v in self.variables:
            self.differentials[v] = E.Var("d" + v.name, v.shape)
        self.adjoint_names: dict = {}    # a named adjoint -> its name
        self.adjoint_symbols: dict = {}  # a named adjoint -> the symbol standing for it

    # printing -------------------------------------------------------------
    def _names(self) -> dict:
        out = dict(self.names)
        out.update(self.adjoint_names)
        return out

    def text(self, e: E.Expr, top: bool = True) -> str:
        pieces = TextPieces(self._names())
        return pieces.top(e) if top else pieces(e)

    def latex(self, e: E.Expr, top: bool = True) -> str:
        from .printing import LATEX_RULES, Pieces
        raw = {d: _latex_differential(n, self) for n, d in self.differentials.items()}
        pieces = Pieces(self._names(), raw=raw)
        return LATEX_RULES[type(e)](e, pieces) if top and e in pieces.names else pieces(e)

    def symbol(self, n: E.Expr) -> str:
        return self.differentials[n].name

    def term(self, g: E.Expr, n: E.Expr, latex: bool = False) -> str:
        """``G : dN`` (``g*dN`` for a scalar N, ``dN`` for G = 1, ``-G : dN`` for a
        negative G)."""
        d = self.differentials[n]
        positive = None if g in self._names() else negative_part(g)
        if positive is not None:
            return "-" + self.product(positive, d, latex)
        return self.product(g, d, latex)

    def product(self, g: E.Expr, d: E.Expr, latex: bool = False) -> str:
        show = (lambda e: self.latex(e, top=False)) if latex else \
            (lambda e: self.text(e, top=False))
        names = self._names()

        def grouped(e: E.Expr) -> str:
            text = show(e)
            if e not in names and (isinstance(e, E.Add) or text.startswith("-")):
                return rf"\left({text}\right)" if latex else f"({text})"
            return text

        if E.is_one(g):
            return show(d)
        if d.is_scalar and g.is_scalar:
            # a product differential in parentheses reads as the substitution it is:
            # 0.5*lam*(2*r*dr), not 0.5*lam*2*r*dr
            if isinstance(d, (E.Mul, E.Hadamard)) and d not in names:
                right = rf"\left({show(d)}\right)" if latex else f"({show(d)})"
            else:
                right = grouped(d)
            return f"{grouped(g)} {right}" if latex else f"{grouped(g)}*{right}"
        colon = r" \mathbin{:} " if latex else " : "
        return f"{grouped(g)}{colon}{grouped(d)}"

    def frontier(self, frontier: dict, latex: bool = False) -> str:
        items = list(frontier.items())
        shown = [self.term(g, n, latex) for n, g in items[:FRONTIER_SHOWN]]
        if len(items) > FRONTIER_SHOWN:
            more = len(items) - FRONTIER_SHOWN
            shown.append(rf"\ldots\ (\text{{{more} more terms}})" if latex
                         else f"... ({more} more terms)")
        if not shown:
            return "0"
        out = shown[0]
        for t in shown[1:]:  # a - b, never a + -b
            out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
        return out

    def add(self, lhs: str, rhs_expr=None, rule: str = "", rhs: str | None = None,
            rhs_latex: str | None = None, lhs_latex: str | None = None) -> None:
        self.steps.append(Step(
            lhs, rhs if rhs is not None else self.text(rhs_expr), rule,
            lhs_latex if lhs_latex is not None else _latex_lhs(lhs),
            rhs_latex if rhs_latex is not None else self.latex(rhs_expr)))

    # the derivation -------------------------------------------------------
    def run(self) -> dict:
        """Record the steps; returns the adjoint reached at each variable."""
        stop = set(self.named) | set(self.variables)
        for n in self.named:   # the named pieces, defined in order
            self.add(self.names[n], rhs=TextPieces(self._names()).top(n),
                     rhs_latex=_latex_top(n, self), lhs_latex=_latex_lhs(self.names[n]))
        frontier: dict = {self.root: E.ONE}
        for node in [self.root] + [n for n in topological_order(self.root, self.depends)
                                   if n in self.names]:
            if node not in frontier:
                continue
            g = self.simplify(frontier.pop(node))
            if node is not self.root and E.cost(g) > 3 and g not in self.adjoint_names \
                    and not isinstance(g, TRIVIAL):
                self.name_adjoint(node, g)
            # below a named adjoint the derivation carries its name, as a textbook does
            # (dL = P : dW*X = P*X' : dW): a symbol of its shape that stands for it; a
            # scalar one goes on by value, so that 2*r*A/r can still become 2*A
            if not g.is_scalar:
                g = self.adjoint_symbols.get(g, g)
            expanded: list = []
            reached = sweep(node, self.variables, g, self.simplify, stop - {node}, expanded)
            rules = []
            for n, _, _ in expanded:
                if rule_name(n) and rule_name(n) not in rules and not isinstance(n, E.Add):
                    rules.append(rule_name(n))
            before_text, before_latex = self.frontier(frontier), self.frontier(frontier, True)
            for n, piece in reached.items():
                frontier[n] = E.add(frontier[n], piece) if n in frontier else piece
            after = {n: self.simplify(v) for n, v in frontier.items()}
            if node is self.root:
                self.add(f"d{self.lhs}", rule="; ".join(rules), rhs=self.frontier(after),
                         rhs_latex=self.frontier(after, True))
                continue
            d, forward_rules = forward(node, {n: self.differentials[n] for n in stop
                                              if n is not node}, self.depends)
            self.add(self.symbol(node), d, "; ".join(forward_rules),
                     lhs_latex=self.latex(self.differentials[node]))
            left = self.product(g, d)
            left_latex = self.product(g, d, latex=True)
            if before_text != "0":
                joiner = " - " if before_text.startswith("-") else " + "
                left = f"{left}{joiner}{before_text.lstrip('-')}"
                left_latex = f"{left_latex}{joiner}{before_latex.lstrip('-')}"
            self.add(f"d{self.lhs}", rule="; ".join(rules),
                     rhs=f"{left} = {self.frontier(after)}",
                     rhs_latex=f"{left_latex} = {self.frontier(after, True)}")
        return {v: self.simplify(frontier[v]) if v in frontier else E.zeros(v.shape)
                for v in self.variables}

    def name_adjoint(self, node: E.Expr, g: E.Expr) -> None:
        """``p = G``: with one named piece the adjoint is ``p`` (``P`` for a matrix), with
        several they are numbered ``p1, p2, ...`` in the order they are reached."""
        letter = "P" if g.shape[0] != 1 and g.shape[1] != 1 else "p"
        used = self.taken
        if len(self.named) == 1 and letter not in used:
            name = letter
        else:
            name = next(f"{letter}{i}" for i in range(1, 10_000) if f"{letter}{i}" not in used)
        self.taken.add(name)
        self.adjoint_names[g] = name
        self.adjoint_symbols[g] = E.Var(name, g.shape)
        self.add(name, g)


def _latex_lhs(lhs: str) -> str:
    from .printing import latex_name
    if lhs.startswith("d") and len(lhs) > 1:
        return r"\mathrm{d}" + latex_name(lhs[1:])
    return latex_name(lhs)


def _latex_differential(n: E.Expr, derivation: Derivation) -> str:
    from .printing import latex_name
    name = derivation.names.get(n) or (n.name if isinstance(n, E.Var) else "")
    return r"\mathrm{d}" + latex_name(name)


def _latex_top(n: E.Expr, derivation: Derivation) -> str:
    from .printing import LATEX_RULES, Pieces
    pieces = Pieces(derivation._names())
    return LATEX_RULES[type(n)](n, pieces)


def gradient_steps(root: E.Expr, variables: list, results: list, simplify,
                   lhs: str = "L") -> list[Step]:
    """The classic derivation of the gradients ``results`` of ``root``."""
    derivation = Derivation(root, variables, simplify, lhs)
    reached = derivation.run()
    for var in variables:
        derivation.add(f"∂{lhs}/∂{var.name}", reached[var],
                       lhs_latex=rf"\frac{{\partial {lhs}}}{{\partial {_latex_lhs(var.name)}}}")
    return derivation.steps


def jacobian_steps(f: E.Expr, var: E.Var, jacobian: E.Expr, simplify,
                   lhs: str = "F") -> list[Step]:
    """``dF`` from the forward rules, then the vec identities give the Jacobian."""
    derivation = Derivation(f, [var], simplify, lhs)
    for n in derivation.named:
        derivation.add(derivation.names[n], rhs=TextPieces(derivation._names()).top(n),
                       rhs_latex=_latex_top(n, derivation))
    stop = set(derivation.named)
    dmap = {n: derivation.differentials[n] for n in stop}
    dmap[var] = derivation.differentials[var]
    # dF first, as a gradient's steps open with dL; then the named pieces' differentials,
    # outermost first, down to the variable's
    d, rules = forward(f, dmap, derivation.depends)
    derivation.add(f"d{lhs}", d, "; ".join(rules))
    for n in reversed(derivation.named):
        dn, rules = forward(n, {m: dmap[m] for m in dmap if m is not n}, derivation.depends)
        derivation.add(derivation.symbol(n), dn, "; ".join(rules),
                       lhs_latex=derivation.latex(derivation.differentials[n]))
    dx = derivation.differentials[var]
    vector = var.shape[1] == 1 and f.shape[1] == 1
    rule = "d(A*x) = A*dx" if vector else "vec(P*dX*Q) = kron(Q', P)*vec(dX)"
    linear = E.mul(jacobian, dx if vector else E.vec(dx))
    if not (vector and linear == d):
        derivation.add(f"d{lhs}" if vector else f"vec(d{lhs})", linear, rule,
                       lhs_latex=None if vector else
                       rf"\operatorname{{vec}}(\mathrm{{d}}{lhs})")
    derivation.add(f"∂{lhs}/∂{var.name}", jacobian,
                   lhs_latex=rf"\frac{{\partial {lhs}}}{{\partial {_latex_lhs(var.name)}}}")
    return derivation.steps
