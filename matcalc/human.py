"""The human form: an expression with its repeated pieces named once, ``where``.

An expression is a DAG; printed flat, a piece used twice is printed twice, so the
gradient of a deep network, which reuses every layer's activation, grows with the
square of the depth.  The human form names each non-trivial piece that would be
printed more than once, prints it once in a ``where`` clause, and so grows with the
size of the DAG::

    (s - y)*x'  where s = sigmoid(W*x)

Names are chosen in the spirit of the classic derivation: a letter from what the piece
is (``a`` for an affine ``W*x + b``, ``h`` for an activation, ``s`` for a sigmoid or
softmax, ``p`` for a gradient ``∇g(u)``), capitalised for a matrix, numbered when
several pieces want the same letter (``h1, h2, ...``), and never equal to a name of the
user's, a size, or a name of the language.  Both forms parse back to the same
expression.  Naming is a printing concern only: the engine never sees the names.
"""
from __future__ import annotations

import itertools

from . import expr as E
from .nodes import postorder
from .textform import NamedPieces, print_add, render

#: nodes that are printed where they stand, however often
TRIVIAL = (E.Var, E.Num, E.Fill, E.Eye, E.Size, E.Constant, E.Commutation)
#: pieces shorter than this many tokens are printed where they stand
MIN_TOKENS = 4

#: the letter each kind of piece is named by (lower case; upper case for a matrix); no
#: piece is named d, which would read as a differential in the steps
FUNCTION_HINTS = {
    "sigmoid": "s", "softmax": "s", "tanh": "h", "relu": "h", "softplus": "h", "erf": "h",
    "exp": "e", "expm1": "e", "log": "l", "log1p": "l", "inv": "y", "det": "c",
    "logdet": "c", "norm1": "r", "norm2": "r", "sqrt": "r", "sum": "m", "mean": "m",
    "logsumexp": "z", "diag": "v", "tr": "t", "max": "m", "min": "m", "ismax": "e", "ismin": "e",
}


def hint(e: E.Expr) -> str:
    """The letter a piece is named by."""
    if isinstance(e, E.Transpose):
        return hint(e.arg)
    if isinstance(e, E.Abstract):
        letter = ("l", "p", "h")[e.order]
    elif isinstance(e, E.Call):
        letter = FUNCTION_HINTS.get(e.fn, "u")
    elif isinstance(e, E.Add):
        letter = "a"
    elif isinstance(e, E.Hadamard):
        letter = "g"
    elif isinstance(e, (E.Pow, E.ElemPow)):
        letter = "q"
    elif isinstance(e, (E.Kron, E.Vec)):
        letter = "k"
    else:
        letter = "v"
    matrix = e.shape[0] != 1 and e.shape[1] != 1
    return letter.upper() if matrix else letter


def _eligible(e: E.Expr, variable: dict) -> bool:
    if isinstance(e, TRIVIAL):
        return False
    if isinstance(e, E.Transpose) and isinstance(e.arg, TRIVIAL):
        return False  # x'
    if isinstance(e, E.Mul) and len(e.scalars) + len(e.chain) == 1 \
            and isinstance((e.scalars + e.chain)[0], TRIVIAL):
        return False  # -x, 2*x
    if not variable[e]:
        return E.cost(e) >= 3 * MIN_TOKENS  # a constant such as sqrt(2) stays where it is
    return E.cost(e) >= MIN_TOKENS


def shared_pieces(roots: list[E.Expr], forced=()) -> list[E.Expr]:
    """The pieces of ``roots`` worth naming, children before parents: each non-trivial
    node that would be printed twice or more once its named parents print only once,
    and each of ``forced`` that occurs."""
    order: list[E.Expr] = []
    seen: set = set()
    for r in roots:
        for n in postorder(r, lambda n: n not in seen):
            seen.add(n)
            order.append(n)
    # order has every child before its parents; walk it backwards (parents first),
    # carrying how many times each node is printed
    printed: dict = {}
    for r in roots:
        printed[r] = printed.get(r, 0) + 1
    root_set = set(roots)
    variable: dict = {}  # does the piece hold a variable or an abstract function?
    for n in order:
        variable[n] = isinstance(n, (E.Var, E.Abstract)) or any(variable[c]
                                                                for c in n.children())
    named: list[E.Expr] = []
    for n in reversed(order):
        times = printed.get(n, 0)
        # a name pays for itself when the copies it saves outweigh "t = ..., " and the
        # names written in their place
        if n not in root_set and (n in forced or times >= 2 and _eligible(n, variable)
                                  and (times - 1) * E.cost(n) > times + 3):
            named.append(n)
            times = 1
        for c in n.children():
            printed[c] = printed.get(c, 0) + times
    named.reverse()  # children first, so each definition uses only earlier names
    # the transpose of a named piece prints as "Y1'": a name of its own saves nothing
    chosen = set(named)
    return [n for n in named if n in forced or not (
        isinstance(n, E.Transpose) and n.arg in chosen)]


def choose_names(pieces: list[E.Expr], taken: set[str], preferred=None) -> dict:
    """A name for each piece (in order): the ``preferred`` one (piece -> name) if it has
    one, else its hint letter, numbered when several want it."""
    preferred = preferred or {}
    wanted: dict[str, int] = {}
    for p in pieces:
        wanted[hint(p)] = wanted.get(hint(p), 0) + 1
    used = set(taken) | {preferred[p] for p in pieces if p in preferred}
    counters: dict[str, itertools.count] = {}
    names: dict = {}
    for p in pieces:
        if p in preferred:
            names[p] = preferred[p]
            continue
        letter = hint(p)
        if wanted[letter] == 1 and letter not in used:
            name = letter
        else:
            counter = counters.setdefault(letter, itertools.count(1))
            name = next(f"{letter}{i}" for i in counter if f"{letter}{i}" not in used)
        used.add(name)
        names[p] = name
    return names


def taken_names(*exprs: E.Expr, also=()) -> set[str]:
    """Names a definition must not take: the variables, functions and sizes of
    ``exprs``, and every name of the language."""
    out = set(also) | set(E.RESERVED) | {"where"}
    for e in exprs:
        for n in E.walk(e):
            if isinstance(n, E.Var):
                out.add(n.name)
            elif isinstance(n, E.Abstract):
                out.add(n.name)
            for d in n.shape + ((n.m, n.n) if isinstance(n, E.Commutation) else ()) + (
                    (n.dim,) if isinstance(n, E.Size) else ()):
                out.update(f for f in E.dim_factors(d) if isinstance(f, str))
    return out


class TextPieces(NamedPieces):
    """Children's text for the human form: a named child is its name (an atom)."""

    def precedence(self, e: E.Expr) -> int:
        return E.P_ATOM if e in self.names else e.precedence

    def name_text(self, e: E.Expr) -> str:
        return self.names[e]

    def rule(self, n: E.Expr) -> str:
        return render(n, self)

    def top(self, e: E.Expr) -> str:
        """``e`` at the top of a line: its own definition is printed, not its name, and
        an outermost sum is spaced."""
        if isinstance(e, E.Add):
            return print_add(e, self, spaced=True)
        if e in self.names:
            return render(e, self)
        return self(e)


def definition_order(pieces: list, uses: dict) -> list:
    """``pieces`` reordered so that each comes after the pieces its definition uses
    (``uses``: piece -> set of pieces), otherwise in the given order."""
    out: list = []
    state: dict = {}  # piece -> 1 while visiting, 2 when placed
    for p in pieces:
        stack = [(p, False)]
        while stack:
            n, done = stack.pop()
            if done:
                state[n] = 2
                out.append(n)
                continue
            if state.get(n):
                continue  # placed, or a cycle (which printing never makes): keep going
            state[n] = 1
            stack.append((n, True))
            stack.extend((u, False) for u in reversed([u for u in pieces if u in uses[n]])
                         if not state.get(u))
    return out


class Printed:
    """One printer's view of a human form: each definition's text, the names it uses,
    and the definitions in an order where each follows the ones it uses."""

    def __init__(self, names: dict, pieces: NamedPieces, top):
        self.pieces, self.top = pieces, top
        self.texts: dict = {}  # piece -> the text of its definition
        self.uses: dict = {}   # piece -> the named pieces that text uses
        for p in names:
            self.texts[p], self.uses[p] = pieces.references(p, top)
        self.order = definition_order(list(names), self.uses)

    def parts(self, roots: list) -> tuple[list[str], list]:
        """The text of each root and the definitions they need, directly or through
        other definitions: ``(piece, text)`` in definition order."""
        bodies, todo = [], []
        for r in roots:
            body, used = self.pieces.references(r, self.top)
            bodies.append(body)
            todo.extend(used)
        needed: set = set()
        while todo:
            p = todo.pop()
            if p not in needed:
                needed.add(p)
                todo.extend(self.uses[p])
        return bodies, [(p, self.texts[p]) for p in self.order if p in needed]


class HumanForm:
    """Expressions printed with their shared pieces named once: ``names`` maps each piece
    to its name, and ``definitions`` lists ``(name, piece)`` with every definition after
    the ones it uses."""

    def __init__(self, roots: list, names: dict):
        self.roots = roots
        self.names = names
        pieces = TextPieces(names)
        self.plain = Printed(names, pieces, pieces.top)
        self.definitions = [(names[p], p) for p in self.plain.order]
        self._latex: Printed | None = None

    @classmethod
    def of(cls, roots: list[E.Expr], taken: set[str] | None = None,
           preferred: dict | None = None) -> "HumanForm":
        """The human form of ``roots``; no name of ``taken`` is given to a piece, except
        the ``preferred`` names (piece -> name) of pieces that occur."""
        preferred = {p: n for p, n in (preferred or {}).items()
                     if not isinstance(p, TRIVIAL) and not (
                         isinstance(p, E.Transpose) and isinstance(p.arg, TRIVIAL))}
        taken = taken_names(*roots) if taken is None else taken
        pieces = shared_pieces(roots, forced=preferred)
        return cls(list(roots), choose_names(pieces, taken - set(preferred.values()),
                                             preferred))

    def __getstate__(self):
        # the LaTeX printer is built on demand and holds a closure: not pickled
        return {**self.__dict__, "_latex": None}

    @property
    def latex_printed(self) -> Printed:
        if self._latex is None:
            from .printing import Pieces
            pieces = Pieces(self.names)
            self._latex = Printed(self.names, pieces, lambda e: _latex_top(e, pieces))
        return self._latex

    def used_by(self, root: E.Expr) -> list[tuple[str, E.Expr]]:
        """The definitions that ``root``'s text needs, directly or through others."""
        return [(self.names[p], p) for p, _ in self.plain.parts([root])[1]]

    def lines(self, roots: list) -> tuple[list[str], str]:
        """The text of each root, and their ``a = ..., b = ...`` definitions ('' if none)."""
        bodies, definitions = self.plain.parts(roots)
        return bodies, ", ".join(f"{self.names[p]} = {t}" for p, t in definitions)

    def text(self, root: E.Expr | None = None) -> str:
        """``body  where a = ..., b = ...`` (only the definitions ``root`` uses)."""
        (body,), definitions = self.lines([self.roots[0] if root is None else root])
        return f"{body}  where {definitions}" if definitions else body

    def latex_lines(self, roots: list) -> tuple[list[str], list[tuple[str, str]]]:
        """The LaTeX of each root, and their definitions as ``(name, LaTeX)``."""
        from .printing import latex_name
        bodies, definitions = self.latex_printed.parts(roots)
        return bodies, [(latex_name(self.names[p]), t) for p, t in definitions]

    def latex(self, root: E.Expr | None = None, lhs: str = "") -> str:
        r"""The LaTeX: ``lhs body \quad\text{where}\quad a = ...``; with more than two
        definitions, one per line in an ``aligned`` block."""
        (body,), definitions = self.latex_lines([self.roots[0] if root is None else root])
        body = lhs + body
        if not definitions:
            return body
        if len(definitions) <= 2:
            defs = r",\; ".join(f"{n} = {d}" for n, d in definitions)
            return rf"{body} \quad\text{{where}}\quad {defs}"
        lines = [rf"&{body} \\", r"&\text{where} \\"]
        lines += [rf"&\quad {n} = {d} \\" for n, d in definitions]
        lines[-1] = lines[-1][:-3]
        return "\\begin{aligned}\n" + "\n".join(lines) + "\n\\end{aligned}"


def _latex_top(e: E.Expr, pieces) -> str:
    from .printing import LATEX_RULES
    return LATEX_RULES[type(e)](e, pieces) if e in pieces.names else pieces(e)


def human_text(e: E.Expr, avoid=()) -> str:
    """The human form of one expression (no piece is named after a name of ``avoid``,
    such as the declared names it was parsed with).

    >>> from matcalc import parse
    >>> print(human_text(parse("sigmoid(W*x)*x' + sigmoid(W*x)*y'")))
    s*x' + s*y'  where s = sigmoid(W*x)
    """
    return HumanForm.of([e], taken_names(e, also=avoid)).text()
