r"""The LaTeX form of expressions.

This module is responsible for one thing: turning an expression tree into LaTeX that
reads like a textbook and means exactly what the tree means.  It mirrors the text
printer in :mod:`matcalc.expr` (the same precedences, the same numerator/denominator
split of products and element-wise quotients), so the two forms always agree; only
the notation changes: ``x'`` is ``x^\top``, ``inv(X)`` is ``X^{-1}``, ``.*`` is
``\odot``, ``./`` is ``\oslash``, ``.^p`` is ``^{\circ p}``, ``a/b`` is ``\frac{a}{b}``.

Rules are data: ``LATEX_RULES`` maps each node class to its printer, ``CALL_RULES``
maps each built-in function name to its printer, and ``PRECEDENCE_RULES`` lists the
few nodes whose LaTeX binds differently from their text (``inv(X)`` is an atom in text
but a superscript, ``X^{-1}``, in LaTeX).
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Callable

from .expr import (
    P_ATOM, P_POSTFIX, P_POWER, P_PRODUCT, P_UNARY,
    Abstract, Add, Call, ElemPow, Expr, Eye, Fill, Hadamard, MatPow, Mul, Num, Number,
    Pow, Transpose, Var, number_text, scale, split_coef, Kron, Vec, Commutation,
    dim_factors, _postorder,
)


_CACHE: dict = {}


def latex(e: Expr) -> str:
    r"""The LaTeX form of ``e`` (math mode, without ``$`` delimiters).

    >>> from matcalc.parse import parse
    >>> print(latex(parse("x'*A*x")))
    x^\top A x
    >>> print(latex(parse("x/sqrt(x'*x)")))
    \frac{x}{\sqrt{x^\top x}}
    """
    if e in _CACHE:
        return _CACHE[e]
    if len(_CACHE) > 100_000:
        _CACHE.clear()
    # children first, without recursion, so that a deep tree cannot exhaust the stack;
    # each rule then finds its children's LaTeX in the cache
    for n in _postorder(e, lambda n: n not in _CACHE):
        rule = LATEX_RULES.get(type(n))
        if rule is None:
            raise TypeError(f"no LaTeX rule for {type(n).__name__} node {n}")
        _CACHE[n] = rule(n)
    return _CACHE[e]


def latex_precedence(e: Expr) -> int:
    """How tightly the LaTeX of ``e`` binds: the node's text precedence unless overridden."""
    rule = PRECEDENCE_RULES.get(type(e))
    return e.precedence if rule is None else rule(e)


def _wrap(child: Expr, minimum: int) -> str:
    text = latex(child)
    return rf"\left({text}\right)" if latex_precedence(child) < minimum else text


def _juxtapose(pieces: list[str]) -> str:
    r"""Factors side by side: ``A x``, but ``2 \cdot 3^{a}`` so that digits never merge."""
    out = pieces[0] if pieces else ""
    for p in pieces[1:]:
        out += (r" \cdot " if p[:1].isdigit() or p[:1] == "." else " ") + p
    return out


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


def latex_number(v: Number) -> str:
    r"""A number: ``0.5``, ``\frac{1}{3}``, ``10^{-20}``, ``-2``.

    >>> print(latex_number(Fraction(1, 3)), latex_number(2.5e-20))
    \frac{1}{3} 2.5 \cdot 10^{-20}
    """
    sign = "-" if v < 0 else ""
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


# ---------------------------------------------------------------------------
# one rule per node type
# ---------------------------------------------------------------------------

def _latex_var(e: Var) -> str:
    return latex_name(e.name)


def _latex_num(e: Num) -> str:
    return latex_number(e.value)


def _fill_symbol(e: Fill, value: Number) -> str:
    symbol = r"\mathbf{0}" if value == 0 else r"\mathbf{1}"
    return symbol + (r"^\top" if e.shape[0] == 1 else "")


def _latex_fill(e: Fill) -> str:
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


def _latex_eye(e: Eye) -> str:
    return "I"


def _latex_add(e: Add) -> str:
    # Unlike the text form (1 - x.^2), a broadcast scalar keeps its vector of ones:
    # \mathbf{1} - x^{\circ 2}, since LaTeX has no broadcasting convention to lean on.
    parts = []
    for i, term in enumerate(e.terms):
        coef, base = split_coef(term)
        if i > 0 and coef < 0:
            parts.append(" - " + _wrap(scale(-coef, base), P_PRODUCT))
        elif i > 0:
            parts.append(" + " + _wrap(term, P_PRODUCT))
        else:
            parts.append(_wrap(term, P_PRODUCT))
    return "".join(parts)


def _latex_mul(e: Mul) -> str:
    r"""``c*s*A*B`` side by side; negative-power scalars and a fraction's denominator
    go under a ``\frac``, as in the text form (``2*A*x/(x'*B*x)``)."""
    if e.coef < 0:
        return "-" + _wrap(e.negated(), P_PRODUCT)
    top, numer, denom = e.fraction()
    coef_text = [] if top is None else [latex_number(top)]
    factors = numer + list(e.chain)
    if denom and not coef_text and len(factors) == 1:
        numer_text = latex(factors[0])  # \frac groups its numerator: no parentheses
    else:
        pieces = coef_text + [_wrap(s, P_POWER) for s in numer]
        for i, f in enumerate(e.chain):
            pieces.append(latex(f) if e.lone_hadamard(i, bool(pieces)) else _wrap(f, P_POWER))
        numer_text = _juxtapose(pieces) or "1"
    if not denom:
        return numer_text
    if len(denom) == 1:
        denom_text = latex(denom[0])
    else:
        denom_text = _juxtapose([_wrap(d, P_POWER) for d in denom])
    return rf"\frac{{{numer_text}}}{{{denom_text}}}"


def _mul_precedence(e: Mul) -> int:
    if e.coef < 0:
        # '-x' alone is a unary expression; '-2 x' is a product.
        inner = e.negated()
        return P_UNARY if latex_precedence(inner) > P_PRODUCT else P_PRODUCT
    return P_PRODUCT


def _latex_hadamard(e: Hadamard) -> str:
    r"""Factors ``u.^-k`` print as ``\oslash u^{\circ k}``, as in the text form."""
    above, below = e.fraction()
    text = r" \odot ".join(_wrap(f, P_POWER) for f in above) if above \
        else latex(Fill(Fraction(1), e.shape))
    return text + "".join(r" \oslash " + _wrap(d, P_POWER) for d in below)


def _latex_pow(e: Pow) -> str:
    return f"{_wrap(e.base, P_POSTFIX)}^{{{latex(e.exp)}}}"


def _latex_matpow(e: MatPow) -> str:
    if isinstance(e.base, Call) and e.base.fn == "inv":
        return f"{_wrap(e.base.arg, P_POSTFIX)}^{{-{e.k}}}"  # inv(X)^k = X^{-k}
    return f"{_wrap(e.base, P_POSTFIX)}^{{{e.k}}}"


def _latex_elempow(e: ElemPow) -> str:
    exp = latex(e.exp)
    if not isinstance(e.exp, Num) and latex_precedence(e.exp) < P_POWER:
        exp = rf"\left({exp}\right)"  # x^{\circ (a + b)}, not x^{\circ a + b}
    return rf"{_wrap(e.base, P_POSTFIX)}^{{\circ {exp}}}"


def _latex_transpose(e: Transpose) -> str:
    if isinstance(e.arg, Call) and e.arg.fn == "inv":
        return rf"{_wrap(e.arg.arg, P_POSTFIX)}^{{-\top}}"  # inv(X)' = X^{-\top}
    return rf"{_wrap(e.arg, P_POSTFIX)}^\top"


def _latex_call(e: Call) -> str:
    rule = CALL_RULES.get(e.fn)
    if rule is None:
        raise TypeError(f"no LaTeX rule for the function {e.fn} in {e}")
    return rule(e.arg)


def _call_precedence(e: Call) -> int:
    return P_POWER if e.fn == "inv" else e.precedence  # X^{-1} ends in a superscript


def _latex_abstract(e: Abstract) -> str:
    prefix = ("", r"\nabla ", r"\nabla^2 ")[e.order]
    return rf"{prefix}{latex_name(e.name)}\left({latex(e.arg)}\right)"


# ---------------------------------------------------------------------------
# built-in functions
# ---------------------------------------------------------------------------

def _applied(command: str) -> Callable[[Expr], str]:
    """The printer of a function written as ``command(arg)``."""
    def rule(arg: Expr) -> str:
        return rf"{command}\left({latex(arg)}\right)"
    return rule


def _norm(p: int) -> Callable[[Expr], str]:
    """``norm1``/``norm2``: of a vector ``_1``/``_2``; of a matrix, where those subscripts
    would mean induced norms, the entrywise ``_{1,1}`` and the Frobenius ``_F``."""
    matrix_subscript = {1: "1,1", 2: "F"}[p]

    def rule(arg: Expr) -> str:
        is_matrix = arg.shape[0] != 1 and arg.shape[1] != 1
        sub = matrix_subscript if is_matrix else p
        return rf"\left\lVert {latex(arg)} \right\rVert_{{{sub}}}"
    return rule


def _latex_sqrt(arg: Expr) -> str:
    return rf"\sqrt{{{latex(arg)}}}"


def _latex_abs(arg: Expr) -> str:
    return rf"\left|{latex(arg)}\right|"


def _latex_inv(arg: Expr) -> str:
    return f"{_wrap(arg, P_POSTFIX)}^{{-1}}"


CALL_RULES: dict[str, Callable[[Expr], str]] = {
    **{fn: _applied("\\" + fn) for fn in (
        "exp", "log", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
        "sinh", "cosh", "tanh")},
    **{fn: _applied(rf"\operatorname{{{fn}}}") for fn in (
        "sign", "relu", "sigmoid", "softplus", "tr", "det", "diag", "sum",
        "softmax", "logsumexp")},
    "logdet": _applied(r"\log\det"),
    "abs": _latex_abs,
    "sqrt": _latex_sqrt,
    "inv": _latex_inv,
    "norm1": _norm(1),
    "norm2": _norm(2),
}

def _latex_kron(e: Kron) -> str:
    return f"{_kron_operand(e.left)} \\otimes {_kron_operand(e.right)}"


def _kron_operand(e: Expr) -> str:
    if isinstance(e, Eye):
        return f"I_{{{_latex_dim(e.shape[0])}}}"  # a sized identity, as in the text form
    return _wrap(e, P_POWER)


def _latex_dim(d) -> str:
    return " ".join(latex_name(f) if isinstance(f, str) else str(f)
                    for f in dim_factors(d))


def _latex_vec(e: Vec) -> str:
    return rf"\operatorname{{vec}}\left({latex(e.arg)}\right)"


def _latex_commutation(e: Commutation) -> str:
    return f"K_{{{_latex_dim(e.m)},{_latex_dim(e.n)}}}"


LATEX_RULES: dict[type, Callable[[Expr], str]] = {
    Var: _latex_var,
    Num: _latex_num,
    Fill: _latex_fill,
    Eye: _latex_eye,
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
    Call: _call_precedence,                       # X^{-1}
    Kron: lambda e: P_PRODUCT,                    # A \otimes B inside a product
}
