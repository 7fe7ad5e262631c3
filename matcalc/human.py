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
from .textform import print_add, render

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
    "logsumexp": "z", "diag": "v", "tr": "t", "max": "m", "min": "m",
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


def shared_pieces(roots: list[E.Expr]) -> list[E.Expr]:
    """The pieces of ``roots`` worth naming, children before parents: each non-trivial
    node that would be printed twice or more once its named parents print only once."""
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
        if times >= 2 and n not in root_set and _eligible(n, variable) \
                and (times - 1) * E.cost(n) > times + 3:
            named.append(n)
            times = 1
        for c in n.children():
            printed[c] = printed.get(c, 0) + times
    named.reverse()  # children first, so each definition uses only earlier names
    return named


def choose_names(pieces: list[E.Expr], taken: set[str]) -> dict:
    """A name for each piece (in order): its hint letter, numbered when several want it."""
    wanted: dict[str, int] = {}
    for p in pieces:
        wanted[hint(p)] = wanted.get(hint(p), 0) + 1
    used = set(taken)
    counters: dict[str, itertools.count] = {}
    names: dict = {}
    for p in pieces:
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


class TextPieces:
    """Children's text for the human form: a named child is its name (an atom)."""

    def __init__(self, names: dict):
        self.names = names
        self.memo: dict = {}

    def opaque(self, e: E.Expr) -> bool:
        return e in self.names

    def precedence(self, e: E.Expr) -> int:
        return E.P_ATOM if e in self.names else e.precedence

    def __call__(self, e: E.Expr) -> str:
        if e in self.names:
            return self.names[e]
        out = self.memo.get(e)
        if out is None:
            for n in postorder(e, lambda n: n not in self.memo and n not in self.names):
                self.memo[n] = render(n, self)
            out = self.memo[e]
        return out

    def top(self, e: E.Expr) -> str:
        """``e`` at the top of a line: its own definition is printed, not its name, and
        an outermost sum is spaced."""
        if isinstance(e, E.Add):
            return print_add(e, self, spaced=True)
        if e in self.names:
            return render(e, self)
        return self(e)


class HumanForm:
    """Expressions printed with their shared pieces named once: ``names`` maps each piece
    to its name, in definition order, and ``definitions`` lists ``(name, piece)``."""

    def __init__(self, roots: list, names: dict, definitions: list):
        self.roots = roots
        self.names = names
        self.definitions = definitions

    @classmethod
    def of(cls, roots: list[E.Expr], taken: set[str] | None = None) -> "HumanForm":
        taken = taken_names(*roots) if taken is None else taken
        names = choose_names(shared_pieces(roots), taken)
        return cls(list(roots), names, [(name, p) for p, name in names.items()])

    def used_by(self, root: E.Expr) -> list[tuple[str, E.Expr]]:
        """The definitions that ``root`` needs (directly or through other definitions),
        each definition's piece walked once."""
        needed: set = set()
        todo = [root]
        while todo:
            top = todo.pop()
            for n in postorder(top, lambda n: n is top or n not in self.names):
                for c in n.children():
                    if c in self.names and c is not root and c not in needed:
                        needed.add(c)
                        todo.append(c)
        return [(name, p) for name, p in self.definitions if p in needed]

    def body_text(self, root: E.Expr) -> str:
        return TextPieces(self.names).top(root)

    def definitions_text(self, definitions) -> str:
        pieces = TextPieces(self.names)
        return ", ".join(f"{name} = {pieces.top(p)}" for name, p in definitions)

    def text(self, root: E.Expr | None = None) -> str:
        """``body  where a = ..., b = ...`` (only the definitions ``root`` uses)."""
        root = self.roots[0] if root is None else root
        definitions = self.used_by(root)
        body = self.body_text(root)
        if not definitions:
            return body
        return f"{body}  where {self.definitions_text(definitions)}"

    def latex(self, root: E.Expr | None = None, lhs: str = "") -> str:
        r"""The LaTeX: ``lhs body \quad\text{where}\quad a = ...``; with more than two
        definitions, one per line in an ``aligned`` block."""
        from .printing import Pieces, latex_name
        root = self.roots[0] if root is None else root
        pieces = Pieces(self.names)
        body = lhs + _latex_top(root, pieces)
        definitions = [(latex_name(name), _latex_top(p, pieces))
                       for name, p in self.used_by(root)]
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


def human_text(e: E.Expr) -> str:
    """The human form of one expression.

    >>> from matcalc import parse
    >>> print(human_text(parse("sigmoid(W*x)*x' + sigmoid(W*x)*y'")))
    s*x' + s*y'  where s = sigmoid(W*x)
    """
    return HumanForm.of([e]).text()
