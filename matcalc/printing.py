r"""The LaTeX form of expressions.

This module turns an expression into LaTeX that reads like a textbook and means exactly
what the expression means.  It mirrors the text form (:mod:`matcalc.textform`): the
same precedences, the same numerator/denominator split of products and element-wise
quotients, one rule per node type, and a *piece* object standing for the children, so
that the human form can print a named child as its name.  Only the notation changes:
``x'`` is ``x^\top``, ``inv(X)`` is ``X^{-1}``, ``.*`` is ``\odot``, ``./`` is
``\oslash``, ``.^p`` is ``^{\circ p}``, ``a/b`` is ``\frac{a}{b}``, ``sigmoid`` is
``\sigma``.

The output needs nothing beyond LaTeX's ``article`` class and ``amsmath``
(``\operatorname``, ``\text``, ``\lVert``, ``aligned``), and KaTeX renders it.  A function
name is followed directly by its parenthesis, ``\operatorname{tr}(A X)``, so there is no
gap after it; a tall argument gets ``\mathopen{}\left(...\right)\mathclose{}``.
"""
from __future__ import annotations

import re
from fractions import Fraction
from collections.abc import Callable

from .expr import (
    P_ATOM, P_POSTFIX, P_POWER, P_PRODUCT, P_UNARY, FUNCTIONS,
    Abstract, Add, Call, Commutation, Constant, ElemPow, Expr, Eye, Fill, Hadamard, Kron,
    MatPow, Mul, Num, Number, Pow, Size, Transpose, Var, Vec, dim_factors, number_text,
    postorder,
)
from .textform import (NamedPieces, add_terms, negative_part, product_parts,
                       sized_identity)


class Pieces(NamedPieces):
    """The LaTeX of children: memoised, and with ``names`` (node -> name) a named node
    prints as its name (the human form)."""

    def __init__(self, names: dict | None = None, memo: dict | None = None,
                 raw: dict | None = None):
        super().__init__(names, memo)
        self.raw = raw or {}      # node -> its LaTeX as given (\mathrm{d}W)

    def opaque(self, e: Expr) -> bool:
        return e in self.names or e in self.raw

    def precedence(self, e: Expr) -> int:
        return P_ATOM if self.opaque(e) else latex_precedence(e)

    def name_text(self, e: Expr) -> str:
        return self.raw[e] if e in self.raw else latex_name(self.names[e])

    def rule(self, n: Expr) -> str:
        return LATEX_RULES[type(n)](n, self)


_PLAIN = Pieces()


def latex(e: Expr, names: dict | None = None) -> str:
    r"""The LaTeX form of ``e`` (math mode, without ``$`` delimiters).

    >>> from matcalc.parse import parse
    >>> print(latex(parse("x'*A*x")))
    x^\top A x
    >>> print(latex(parse("x/sqrt(x'*x)")))
    \frac{x}{\sqrt{x^\top x}}
    """
    if names:
        return Pieces(names)(e)
    if len(_PLAIN.memo) > 100_000:
        _PLAIN.memo.clear()
    return _PLAIN(e)


def latex_precedence(e: Expr) -> int:
    """How tightly the LaTeX of ``e`` binds: the node's text precedence unless overridden."""
    rule = PRECEDENCE_RULES.get(type(e))
    return e.precedence if rule is None else rule(e)


def _wrap(p: Pieces, child: Expr, minimum: int) -> str:
    text = p(child)
    return rf"\left({text}\right)" if p.precedence(child) < minimum else text


def _juxtapose(pieces: list[str]) -> str:
    r"""Factors side by side: ``A x``, but ``2 \cdot 3^{a}`` so that digits never merge."""
    out = pieces[0] if pieces else ""
    for p in pieces[1:]:
        out += (r" \cdot " if p[:1].isdigit() or p[:1] == "." or p.startswith(r"\frac")
                and out[-1:].isdigit() else " ") + p
    return out


def _tall(text: str) -> bool:
    return any(t in text for t in (r"\frac", r"\sum", r"\left", r"\sqrt", r"\begin"))


def applied(command: str, argument: str) -> str:
    r"""``command(argument)`` with no gap after the command: plain parentheses, or
    ``\mathopen{}\left(...\right)\mathclose{}`` around a tall argument."""
    if _tall(argument):
        return rf"{command}\mathopen{{}}\left({argument}\right)\mathclose{{}}"
    return f"{command}({argument})"


# ---------------------------------------------------------------------------
# names and numbers
# ---------------------------------------------------------------------------

GREEK = {name: "\\" + name for name in (
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "varpi", "rho",
    "varrho", "sigma", "varsigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi",
    "Psi", "Omega",
)}
GREEK["lam"] = r"\lambda"  # the usual spelling where `lambda` is a keyword

_TRAILING_DIGITS = re.compile(r"([A-Za-z][A-Za-z0-9]*?)([0-9]+)")


def latex_name(name: str) -> str:
    r"""A variable or function name: ``W1 -> W_{1}``, ``mu -> \mu``, ``lr -> \mathit{lr}``.

    >>> print(latex_name("b_2"), latex_name("lam"), latex_name("W_out"))
    b_{2} \lambda W_{\mathit{out}}
    """
    if name in GREEK:
        return GREEK[name]
    stem, underscore, sub = name.partition("_")
    if not underscore:
        m = _TRAILING_DIGITS.fullmatch(name)
        if m:
            stem, sub = m.groups()
    if underscore and not sub:
        return _latex_word(name)  # `x_`: nothing to put in a subscript
    if not sub:
        return _latex_word(stem)
    if sub.isdigit():
        sub_text = sub
    elif sub[0].isalpha():
        sub_text = latex_name(sub)
    else:
        sub_text = _latex_word(sub)
    return f"{_latex_word(stem)}_{{{sub_text}}}"


def _latex_word(word: str) -> str:
    if word in GREEK:
        return GREEK[word]
    if len(word) == 1:
        return word
    return r"\mathit{" + word.replace("_", r"\_") + "}"


_E_NOTATION = re.compile(r"([0-9.]+)e([+-]?[0-9]+)")
#: denominators that read better as a fraction than as a decimal: 1/2, 3/4, 1/8
FRACTION_DENOMINATORS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16)


def latex_number(v: Number) -> str:
    r"""A number: ``\frac{1}{2}``, ``\frac{1}{3}``, ``0.001``, ``10^{-20}``, ``-2``.

    >>> print(latex_number(Fraction(1, 3)), latex_number(2.5e-20))
    \frac{1}{3} 2.5 \cdot 10^{-20}
    """
    sign = "-" if v < 0 else ""
    if isinstance(v, Fraction) and v.denominator in FRACTION_DENOMINATORS \
            and abs(v.numerator) < 100:
        return rf"{sign}\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
    text = number_text(abs(v))
    if "/" in text:
        p, q = text.split("/")
        return rf"{sign}\frac{{{p}}}{{{q}}}"
    m = _E_NOTATION.fullmatch(text)
    if m:
        mantissa, exponent = m.group(1), int(m.group(2))
        scale_text = f"10^{{{exponent}}}"
        return sign + (scale_text if mantissa == "1" else rf"{mantissa} \cdot {scale_text}")
    if text == "inf":
        return sign + r"\infty"
    if text == "nan":
        return r"\mathrm{NaN}"
    return sign + text


def _number_precedence(v: Number) -> int:
    if v < 0:
        return P_UNARY
    text = latex_number(v)
    if text.startswith(r"\frac") or r"\cdot" in text:
        return P_PRODUCT
    return P_POWER if "^" in text else P_ATOM  # 10^{-20} is a power, 0.5 an atom


def _latex_dim(d) -> str:
    return " ".join(latex_name(f) if isinstance(f, str) else str(f)
                    for f in dim_factors(d))


# ---------------------------------------------------------------------------
# one rule per node type
# ---------------------------------------------------------------------------

def _latex_var(e: Var, p: Pieces) -> str:
    return latex_name(e.name)


def _latex_num(e: Num, p: Pieces) -> str:
    return latex_number(e.value)


def _fill_symbol(e: Fill, value: Number) -> str:
    symbol = r"\mathbf{0}" if value == 0 else r"\mathbf{1}"
    return symbol + (r"^\top" if e.shape[0] == 1 else "")


def _latex_fill(e: Fill, p: Pieces) -> str:
    r"""``vector(1) -> \mathbf{1}``, ``vector(c) -> c \mathbf{1}``,
    ``vector(0)' -> \mathbf{0}^\top``."""
    v = e.value
    if v in (0, 1):
        return _fill_symbol(e, v)
    if v == -1:
        return "-" + _fill_symbol(e, 1)
    return _juxtapose([latex_number(v), _fill_symbol(e, 1)])


def _fill_precedence(e: Fill) -> int:
    if e.value in (0, 1):
        return P_POWER if e.shape[0] == 1 else e.precedence
    return P_UNARY if e.value == -1 else P_PRODUCT


def _latex_eye(e: Eye, p: Pieces) -> str:
    return "I"


def _latex_size(e: Size, p: Pieces) -> str:
    return _latex_dim(e.dim)


def _latex_constant(e: Constant, p: Pieces) -> str:
    return "\\" + e.name


def _latex_add(e: Add, p: Pieces) -> str:
    # A broadcast vector keeps its vector of ones, b 1^T, and so does a broadcast scalar
    # (1 - x^{o2} is \mathbf{1} - x^{\circ 2}): LaTeX has no broadcasting convention.
    parts = []
    for i, term in enumerate(e.terms):
        positive = None if p.opaque(term) else negative_part(term)
        if i > 0 and positive is not None:
            parts.append(" - " + _wrap(p, positive, P_PRODUCT))
        elif i > 0:
            parts.append(" + " + _wrap(p, term, P_PRODUCT))
        else:
            parts.append(_wrap(p, term, P_PRODUCT))
    return "".join(parts)


def _latex_mul(e: Mul, p: Pieces) -> str:
    r"""``c*s*A*B`` side by side; negative-power scalars and a fraction's denominator
    go under a ``\frac``, as in the text form (``2*A*x/(x'*B*x)``)."""
    if e.coef < 0:
        return "-" + _wrap(p, e.negated(), P_PRODUCT)
    top, numer, denom, chain = product_parts(e, keep=p.opaque)
    coef_text = [] if top is None else [latex_number(top)]
    factors = numer + chain
    if denom and not coef_text and len(factors) == 1:
        numer_text = p(factors[0])  # \frac groups its numerator: no parentheses
    else:
        pieces = coef_text + [_wrap(p, s, P_POWER) for s in numer]
        for i, f in enumerate(chain):
            pieces.append(p(f) if e.lone_hadamard(i, bool(pieces)) else _wrap(p, f, P_POWER))
        numer_text = _juxtapose(pieces) or "1"
    if not denom:
        return numer_text
    if len(denom) == 1:
        denom_text = p(denom[0])
    else:
        denom_text = _juxtapose([_wrap(p, d, P_POWER) for d in denom])
    return rf"\frac{{{numer_text}}}{{{denom_text}}}"


def _mul_precedence(e: Mul) -> int:
    if e.coef < 0:
        # '-x' alone is a unary expression; '-2 x' is a product.
        inner = e.negated()
        return P_UNARY if latex_precedence(inner) > P_PRODUCT else P_PRODUCT
    return P_PRODUCT


def _latex_hadamard(e: Hadamard, p: Pieces) -> str:
    r"""Factors ``u.^-k`` print as ``\oslash u^{\circ k}``, as in the text form."""
    above, below = e.fraction(keep=p.opaque)
    text = r" \odot ".join(_wrap(p, f, P_POWER) for f in above) if above \
        else p(Fill(Fraction(1), e.shape))
    return text + "".join(r" \oslash " + _wrap(p, d, P_POWER) for d in below)


def _latex_pow(e: Pow, p: Pieces) -> str:
    return f"{_wrap(p, e.base, P_POSTFIX)}^{{{p(e.exp)}}}"


def _latex_matpow(e: MatPow, p: Pieces) -> str:
    if isinstance(e.base, Call) and e.base.fn == "inv" and not p.opaque(e.base):
        return f"{_wrap(p, e.base.arg, P_POSTFIX)}^{{-{e.k}}}"  # inv(X)^k = X^{-k}
    return f"{_wrap(p, e.base, P_POSTFIX)}^{{{e.k}}}"


def _latex_elempow(e: ElemPow, p: Pieces) -> str:
    exp = p(e.exp)
    if not isinstance(e.exp, Num) and p.precedence(e.exp) < P_POWER:
        exp = rf"\left({exp}\right)"  # x^{\circ (a + b)}, not x^{\circ a + b}
    return rf"{_wrap(p, e.base, P_POSTFIX)}^{{\circ {exp}}}"


def _latex_transpose(e: Transpose, p: Pieces) -> str:
    if isinstance(e.arg, Call) and e.arg.fn == "inv" and not p.opaque(e.arg):
        return rf"{_wrap(p, e.arg.arg, P_POSTFIX)}^{{-\top}}"  # inv(X)' = X^{-\top}
    return rf"{_wrap(p, e.arg, P_POSTFIX)}^\top"


def _latex_call(e: Call, p: Pieces) -> str:
    rule = CALL_RULES.get(e.fn)
    if rule is not None:
        return rule(e.arg, p)
    command = FUNCTIONS[e.fn].latex
    if e.axis:
        command = rf"{command}_{{{e.axis}}}"
    return applied(command, p(e.arg))


def _call_precedence(e: Call) -> int:
    return P_POWER if e.fn == "inv" else e.precedence  # X^{-1} ends in a superscript


def _latex_abstract(e: Abstract, p: Pieces) -> str:
    prefix = ("", r"\nabla ", r"\nabla^2 ")[e.order]
    return applied(f"{prefix}{latex_name(e.name)}", p(e.arg))


# ---------------------------------------------------------------------------
# built-in functions that are not written command(argument)
# ---------------------------------------------------------------------------

def _norm(order: int) -> Callable[[Expr, Pieces], str]:
    """``norm1``/``norm2``: of a vector ``_1``/``_2``; of a matrix, where those subscripts
    would mean induced norms, the entrywise ``_{1,1}`` and the Frobenius ``_F``."""
    matrix_subscript = {1: "1,1", 2: "F"}[order]

    def rule(arg: Expr, p: Pieces) -> str:
        is_matrix = arg.shape[0] != 1 and arg.shape[1] != 1
        sub = matrix_subscript if is_matrix else order
        return rf"\left\lVert {p(arg)} \right\rVert_{{{sub}}}"
    return rule


def _latex_sqrt(arg: Expr, p: Pieces) -> str:
    return rf"\sqrt{{{p(arg)}}}"


def _latex_abs(arg: Expr, p: Pieces) -> str:
    return rf"\left|{p(arg)}\right|"


def _latex_inv(arg: Expr, p: Pieces) -> str:
    return f"{_wrap(p, arg, P_POSTFIX)}^{{-1}}"


#: the functions whose LaTeX is not "command(argument)"
CALL_RULES: dict[str, Callable[[Expr, Pieces], str]] = {
    "abs": _latex_abs,
    "sqrt": _latex_sqrt,
    "inv": _latex_inv,
    "norm1": _norm(1),
    "norm2": _norm(2),
}


def _latex_kron(e: Kron, p: Pieces) -> str:
    return f"{_kron_operand(e.left, p)} \\otimes {_kron_operand(e.right, p)}"


def _kron_operand(e: Expr, p: Pieces) -> str:
    sized = None if p.opaque(e) else sized_identity(e)
    if sized is not None and sized[0] is None:
        return f"I_{{{_latex_dim(sized[1])}}}"  # a sized identity, as in the text form
    return _wrap(p, e, P_POWER)


def _latex_vec(e: Vec, p: Pieces) -> str:
    return applied(r"\operatorname{vec}", p(e.arg))


def _latex_commutation(e: Commutation, p: Pieces) -> str:
    return f"K_{{{_latex_dim(e.m)},{_latex_dim(e.n)}}}"


LATEX_RULES: dict[type, Callable[[Expr, Pieces], str]] = {
    Var: _latex_var,
    Num: _latex_num,
    Fill: _latex_fill,
    Eye: _latex_eye,
    Size: _latex_size,
    Constant: _latex_constant,
    Add: _latex_add,
    Mul: _latex_mul,
    Hadamard: _latex_hadamard,
    Pow: _latex_pow,
    MatPow: _latex_matpow,
    ElemPow: _latex_elempow,
    Transpose: _latex_transpose,
    Call: _latex_call,
    Abstract: _latex_abstract,
    Kron: _latex_kron,
    Vec: _latex_vec,
    Commutation: _latex_commutation,
}

#: nodes whose LaTeX binds differently from their text form
PRECEDENCE_RULES: dict[type, Callable[[Expr], int]] = {
    Num: lambda e: _number_precedence(e.value),   # \frac{1}{3}, 10^{-20}
    Fill: _fill_precedence,                       # 3 \mathbf{1}, \mathbf{1}^\top
    Mul: _mul_precedence,
    Transpose: lambda e: P_POWER,                 # x^\top ends in a superscript
    Pow: lambda e: P_POWER,                       # a^{-1}, not 1/a as in the text form
    ElemPow: lambda e: P_POWER,
    Call: _call_precedence,                       # X^{-1}
    Kron: lambda e: P_PRODUCT,                    # A \otimes B inside a product
}


def latex_document(body: str) -> str:
    """A complete LaTeX document (``article`` and ``amsmath``) showing ``body`` as
    displayed math."""
    return ("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
            f"\\[\n{body}\n\\]\n\\end{{document}}\n")
