r"""LaTeX printing: exact strings, well-formed LaTeX, and meaning.

Beside the golden strings, every case is read back: a small reader of the LaTeX subset
that `latex` writes turns it into fully parenthesised input text, which must evaluate
to the same numbers as the original expression.  That checks that the LaTeX is
unambiguous (each superscript, fraction and juxtaposition binds as intended) without
trusting the printer's own precedence logic.
"""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from matcalc import expr as E
from matcalc.numeric import Evaluator, draw_points
from matcalc.parse import parse, parse_typed
from matcalc.printing import CALL_RULES, LATEX_RULES, latex, latex_name, latex_number

DECLS = {"lam": "scalar", "sigma": "scalar", "alpha": "scalar", "lr": "scalar",
         "S": "symmetric", "loss": "function"}

# (input text, its LaTeX)
CASES = [
    # products, transposes, inverses
    ("x'*A*x", r"x^\top A x"),
    ("-x'*A*x", r"-x^\top A x"),
    ("x'*S*x", r"x^\top S x"),
    ("inv(X)'", r"X^{-\top}"),
    ("det(X)*inv(X)'", r"\det(X) X^{-\top}"),
    ("inv(A + B)", r"\left(A + B\right)^{-1}"),
    ("inv(A + B)'", r"\left(A + B\right)^{-\top}"),
    ("(A + B)'*x", r"\left(A + B\right)^\top x"),
    ("eye + X*X'", r"I + X X^\top"),
    ("3*eye - A", r"3 I - A"),
    # matrix powers: a superscript never takes a second superscript
    ("tr(A*X^3)", r"\operatorname{tr}(A X^{3})"),
    ("X^-2", r"X^{-2}"),
    ("A'^2", r"\left(A^\top\right)^{2}"),
    ("inv(X)'^2", r"\left(X^{-\top}\right)^{2}"),
    # scalar division and coefficients (Matrix Cookbook eq. 2.4.1-style quotients)
    ("x/sqrt(x'*x)", r"\frac{x}{\sqrt{x^\top x}}"),
    ("2*(A*x)/(x'*B*x) - 2*(x'*A*x)*(B*x)/(x'*B*x)^2",
     r"\frac{2 A x}{x^\top B x} - \frac{2 \left(x^\top A x\right) B x}"
     r"{\left(x^\top B x\right)^{2}}"),
    ("(a + b)/c", r"\frac{a + b}{c}"),
    ("-(a + b)/c", r"-\frac{a + b}{c}"),
    ("x'*x/(a*b)", r"\frac{x^\top x}{a b}"),
    ("a/(3*b)*x", r"\frac{a x}{3 b}"),
    ("2/3*x", r"\frac{2 x}{3}"),
    ("-1/a", r"-a^{-1}"),
    ("1/3", r"\frac{1}{3}"),
    ("0.5*x", r"\frac{1}{2} x"),
    ("1e30*x", r"10^{30} x"),
    ("3*2^a", r"3 \cdot 2^{a}"),
    ("2^a", r"2^{a}"),
    ("(1/3)^a", r"\left(\frac{1}{3}\right)^{a}"),
    ("a^(1/3)", r"a^{\frac{1}{3}}"),
    ("(-a)^b", r"\left(-a\right)^{b}"),
    ("(x'*x)^(1/2)", r"\left(x^\top x\right)^{\frac{1}{2}}"),
    ("norm2(A*x - b)^2", r"\left\lVert A x - b \right\rVert_{2}^{2}"),
    # element-wise products, quotients and powers
    ("exp(W*x + b)./(1 + exp(W*x + b))",
     r"\exp(W x + b) \oslash \left(\mathbf{1} + \exp(W x + b)\right)"),
    ("x./y./z", r"x \oslash y \oslash z"),
    ("2*a*(x.*y)", r"2 a x \odot y"),
    ("(A*x).*y", r"\left(A x\right) \odot y"),
    ("x.^2", r"x^{\circ 2}"),
    ("vector(1)./x", r"x^{\circ -1}"),
    ("x.^(a + b)", r"x^{\circ \left(a + b\right)}"),
    ("vector(1) - tanh(x).^2", r"\mathbf{1} - \tanh(x)^{\circ 2}"),
    # constants
    ("x + a", r"a + x"),
    ("a*x + a", r"a \mathbf{1} + a x"),
    ("x - vector(3)", r"x - 3 \mathbf{1}"),
    ("x'*vector(1)", r"\operatorname{sum}(x)"),
    ("vector(1)'*x - a*vector(1)'*y", r"\operatorname{sum}(x) - a \operatorname{sum}(y)"),
    ("matrix(1)", r"\mathbf{1}"),
    ("-vector(1)", r"-\mathbf{1}"),
    ("vector(0)'", r"\mathbf{0}^\top"),
    # names
    ("mu'*x", r"\mu^\top x"),
    ("W1*x + b1", r"W_{1} x + b_{1}"),
    ("b_2*theta_max", r"b_{2} \theta_{\mathit{max}}"),
    ("lam*norm1(x) + sigma*alpha", r"\alpha \sigma + \lambda \left\lVert x \right\rVert_{1}"),
    ("lr*W_out*x", r"\mathit{lr} W_{\mathit{out}} x"),
    # abstract functions
    ("g(W*x + b)", r"g(W x + b)"),
    ("∇g(W*x+b)*x'", r"\nabla g(W x + b) x^\top"),
    ("∇²g(x)", r"\nabla^2 g(x)"),
    ("loss(W*x)", r"\mathit{loss}(W x)"),
    # element-wise functions
    ("exp(x)", r"\exp(x)"),
    ("log(x)", r"\log(x)"),
    ("sin(x)", r"\sin(x)"),
    ("cos(x)", r"\cos(x)"),
    ("tan(x)", r"\tan(x)"),
    ("arcsin(a)", r"\arcsin(a)"),
    ("arccos(a)", r"\arccos(a)"),
    ("arctan(x)", r"\arctan(x)"),
    ("sinh(x)", r"\sinh(x)"),
    ("cosh(x)", r"\cosh(x)"),
    ("tanh(x)", r"\tanh(x)"),
    ("abs(x - abs(y))", r"\left|x - \left|y\right|\right|"),
    ("sign(a)^2", r"\operatorname{sign}(a)^{2}"),
    ("sqrt(x)", r"\sqrt{x}"),
    ("relu(W*x)", r"\operatorname{relu}(W x)"),
    ("sigmoid(x)'", r"\sigma(x)^\top"),
    ("softplus(x)", r"\operatorname{softplus}(x)"),
    # matrix functions
    ("tr(X)", r"\operatorname{tr}(X)"),
    ("det(X)", r"\det(X)"),
    ("logdet(X)", r"\log\det(X)"),
    ("inv(X)", r"X^{-1}"),
    ("diag(x)", r"\operatorname{diag}(x)"),
    ("diag(X)", r"\operatorname{diag}(X)"),
    ("sum(X)", r"\operatorname{sum}(X)"),
    ("norm1(x)", r"\left\lVert x \right\rVert_{1}"),
    ("norm1(X)", r"\left\lVert X \right\rVert_{1,1}"),
    ("norm2(x)", r"\left\lVert x \right\rVert_{2}"),
    ("norm2(X)", r"\left\lVert X \right\rVert_{F}"),
    ("softmax(x)", r"\operatorname{softmax}(x)"),
    ("logsumexp(x)", r"\operatorname{logsumexp}(x)"),
    ("log1p(x)", r"\operatorname{log1p}(x)"),
    ("expm1(x)", r"\operatorname{expm1}(x)"),
    ("erf(x)", r"\operatorname{erf}(x)"),
    ("mean(X)", r"\operatorname{mean}(X)"),
    ("max(X)", r"\max(X)"),
    ("ismax(X)", r"\operatorname{ismax}(X)"),
    ("ismin(x)'", r"\operatorname{ismin}(x)^\top"),
    ("min(x)", r"\min(x)"),
    # axis forms, broadcasting, sizes and constants
    ("sum(X, 1)", r"\operatorname{sum}_{1}(X)"),
    ("mean(X, 2)", r"\operatorname{mean}_{2}(X)"),
    ("softmax(X, 2)", r"\operatorname{softmax}_{2}(X)"),
    ("logsumexp(X, 1)", r"\operatorname{logsumexp}_{1}(X)"),
    ("A*X + b", r"A X + b \mathbf{1}^\top"),
    ("dim(n)*x", r"n x"),
    ("pi*x", r"\pi x"),
    ("tanh(x/sqrt(a))", r"\tanh\mathopen{}\left(\frac{x}{\sqrt{a}}\right)\mathclose{}"),
    # the vec-form vocabulary of Jacobians
    ("kron(B', A)", r"B^\top \otimes A"),
    ("kron(x', eye(m))", r"x^\top \otimes I_{m}"),
    ("2*kron(B,C) + A", r"A + 2 \left(B \otimes C\right)"),
    ("vec(X)", r"\operatorname{vec}(X)"),
    ("commutation(m,n)", r"K_{m,n}"),
]

# LaTeX drops the shapes of constants: \mathbf{1} reads back as a vector, I needs a size.
NOT_READ_BACK = {"matrix(1)", "-vector(1)", "vector(0)'", "kron(B', A)", "kron(x', eye(m))",
                 "2*kron(B,C) + A", "vec(X)", "commutation(m,n)", "dim(n)*x", "pi*x",
                 "A*X + b"}

# Nodes the parser never builds (non-canonical), printed all the same.
x_ = E.Var("x", ("n", 1))
A_ = E.Var("A", ("n", "n"))
BUILT = [
    (E.Transpose(E.Transpose(A_)), r"\left(A^\top\right)^\top"),
    (E.Num(2.5e-20), r"2.5 \cdot 10^{-20}"),
    (E.Num(1e-8), r"10^{-8}"),
    (E.Num(Fraction(-7, 2)), r"-\frac{7}{2}"),
    (E.Num(Fraction(-7, 20)), r"-0.35"),
    (E.Fill(Fraction(1, 3), ("n", 1)), r"\frac{1}{3} \mathbf{1}"),
    (E.MatPow(E.Fill(Fraction(3), ("n", "n")), 2), r"\left(3 \mathbf{1}\right)^{2}"),
    (E.Hadamard((E.ElemPow(x_, E.num(-1)), E.ElemPow(E.Var("y", ("n", 1)), E.num(-2))),
                ("n", 1)),
     r"\mathbf{1} \oslash x \oslash y^{\circ 2}"),
]


def _parse(text: str) -> E.Expr:
    return parse(text, vars=DECLS)


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0] for c in CASES])
def test_latex(text, expected):
    assert latex(_parse(text)) == expected


@pytest.mark.parametrize("node, expected", BUILT, ids=[b[1] for b in BUILT])
def test_latex_of_built_nodes(node, expected):
    assert latex(node) == expected


@pytest.mark.parametrize("name, expected", [
    ("x", "x"), ("W1", "W_{1}"), ("b_2", "b_{2}"), ("W12", "W_{12}"),
    ("mu", r"\mu"), ("lam", r"\lambda"), ("lambda", r"\lambda"), ("Sigma", r"\Sigma"),
    ("beta1", r"\beta_{1}"), ("x_mu", r"x_{\mu}"), ("lr", r"\mathit{lr}"),
    ("W_out", r"W_{\mathit{out}}"), ("x_W1", r"x_{W_{1}}"), ("x1y", r"\mathit{x1y}"),
    ("x_", r"\mathit{x\_}"), ("x_1_2", r"x_{\mathit{1\_2}}"),
])
def test_latex_name(name, expected):
    assert latex_name(name) == expected


@pytest.mark.parametrize("value, expected", [
    (Fraction(1, 2), r"\frac{1}{2}"), (Fraction(1, 3), r"\frac{1}{3}"), (Fraction(-2), "-2"),
    (Fraction(1, 1000), "0.001"), (Fraction(3, 4), r"\frac{3}{4}"),
    (Fraction(10) ** 30, "10^{30}"), (1e-8, "10^{-8}"), (2.5e-20, r"2.5 \cdot 10^{-20}"),
])
def test_latex_number(value, expected):
    assert latex_number(value) == expected


def test_every_node_type_has_a_rule():
    assert set(E.NODE_TYPES) <= set(LATEX_RULES)


def test_every_function_has_a_rule():
    for name, spec in E.FUNCTIONS.items():
        assert (name in CALL_RULES) != bool(spec.latex), name


def test_cases_cover_every_node_type_and_function():
    types, functions = set(), set()
    for text, _ in CASES:
        for n in E.walk(_parse(text)):
            types.add(type(n))
            if isinstance(n, E.Call):
                functions.add(n.fn)
    assert types == set(E.NODE_TYPES)
    # mean(X) is built as sum(X)/n and printed as mean(X) again
    assert functions | {"mean"} == set(E.ELEMENTWISE + E.MATRIX_FUNCTIONS)


def _assert_balanced(text: str) -> None:
    """Braces and \\left/\\right pairs open and close in nested order."""
    stack = []
    for m in re.finditer(r"\\left(?![A-Za-z])|\\right(?![A-Za-z])|(?<!\\)[{}]", text):
        token = m.group()
        if token in (r"\left", "{"):
            stack.append(token)
        else:
            assert stack and stack[-1] == (r"\left" if token == r"\right" else "{"), text
            stack.pop()
    assert not stack, text


def _assert_single_superscripts(text: str) -> None:
    """No base carries two superscripts (``x^\\top^{2}`` is a LaTeX error)."""
    for m in re.finditer(r"\^", text):
        rest = text[m.end():]
        if rest.startswith("{"):
            depth, end = 0, 0
            for end, ch in enumerate(rest):
                depth += {"{": 1, "}": -1}.get(ch, 0)
                if depth == 0:
                    break
            rest = rest[end + 1:]
        else:
            rest = re.sub(r"^(\\[A-Za-z]+|.)", "", rest)
        assert not re.match(r"(_\{[^{}]*\})?\^", rest), f"double superscript in {text}"


ALL_LATEX = [latex(_parse(text)) for text, _ in CASES] + [latex(n) for n, _ in BUILT]


@pytest.mark.parametrize("text", ALL_LATEX)
def test_latex_is_well_formed(text):
    _assert_balanced(text)
    _assert_single_superscripts(text)
    assert not re.search(r"\*|'|\.\^|\./|\.\*|∇|\beye\b|\bvector\(|\binv\(", text), \
        "text-language notation left in the LaTeX"


@pytest.mark.parametrize("bad", ["{", "}{", r"\left(x", r"\right)", r"{\left(}\right)"])
def test_balance_check_rejects_unbalanced(bad):
    with pytest.raises(AssertionError):
        _assert_balanced(bad)


@pytest.mark.parametrize("bad", [r"x^\top^\top", r"X^{-1}^{2}", r"x^2^3", r"W_{1}^{2}^\top"])
def test_superscript_check_rejects_double_superscripts(bad):
    with pytest.raises(AssertionError):
        _assert_single_superscripts(bad)


def test_latex_is_deterministic():
    # equal trees print equally however they were spelled, and every time
    assert latex(_parse("b + A*x")) == latex(_parse("A*x + b")) == r"A x + b"
    assert [latex(_parse(t)) for t, _ in CASES] == [latex(_parse(t)) for t, _ in CASES]


# ---------------------------------------------------------------------------
# reading the LaTeX back: the printed form must mean what the expression means
# ---------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | \\mathopen\{\}\\left\( | \\right\)\\mathclose\{\}
  | \\left\\lVert | \\right\\rVert | \\left[(|] | \\right[)|] | [()]
  | \\(?:operatorname|mathit|mathbf)\{(?:\\_|[A-Za-z0-9])+\}
  | \\[A-Za-z]+
  | [0-9]+(?:\.[0-9]+)?
  | [A-Za-z] | [-+^_{},]
""", re.X)

_FUNCTIONS = {
    **{"\\" + f: f for f in ("exp", "log", "sin", "cos", "tan", "arcsin", "arccos",
                             "arctan", "sinh", "cosh", "tanh", "det", "max", "min")},
    **{rf"\operatorname{{{f}}}": f for f in ("sign", "relu", "softplus", "tr", "diag", "sum",
                                              "softmax", "logsumexp", "log1p", "expm1",
                                              "erf", "mean", "ismax", "ismin")},
    r"\sigma": "sigmoid",
}
#: a call's parenthesis: plain right after the name, or \mathopen{}\left( for a tall one
_CALL_OPEN = {"(": ")", r"\mathopen{}\left(": r"\right)\mathclose{}"}
_PRODUCT_OPS = {r"\cdot": "*", r"\odot": ".*", r"\oslash": "./"}
_ENDS = {"+", "-", "}", "^", "_", ",", r"\right)", r"\right|", r"\right\rVert", ")",
         r"\right)\mathclose{}", None}


class LatexReader:
    """The LaTeX subset written by `latex`, read as fully parenthesised input text.

    Juxtaposition is a product, except that a name written directly against
    ``\\left(`` is a function call; a base takes at most one superscript.
    """

    def __init__(self, text: str, names: dict[str, str]):
        self.text = text
        self.names = names
        self.tokens = []  # (token, start, end, preceded by a space)
        spaced = False
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            assert m, f"unexpected LaTeX at {text[pos:]!r}"
            if m.group("space"):
                spaced = True
            else:
                self.tokens.append((m.group(), m.start(), m.end(), spaced))
                spaced = False
            pos = m.end()
        self.i = 0

    def peek(self, ahead: int = 0):
        j = self.i + ahead
        return self.tokens[j][0] if j < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        assert token is not None and expected in (None, token), \
            f"expected {expected!r}, got {token!r} in {self.text!r}"
        self.i += 1
        return token

    def read(self) -> str:
        out = self.sum()
        assert self.peek() is None, f"trailing {self.peek()!r} in {self.text!r}"
        return out

    def sum(self) -> str:
        left = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()
            left = f"({left}){op}({self.product()})"
        return left

    def product(self) -> str:
        left = self.unary()
        while True:
            token = self.peek()
            if token in _PRODUCT_OPS:
                self.take()
                left = f"({left}){_PRODUCT_OPS[token]}({self.unary()})"
            elif token not in _ENDS and token not in _PRODUCT_OPS:
                left = f"({left})*({self.unary()})"  # juxtaposition
            else:
                return left

    def unary(self) -> str:
        if self.peek() == "-":
            self.take()
            return f"-({self.unary()})"
        return self.power()

    def power(self) -> str:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take("^")
        if self.peek() == r"\top":
            self.take()
            return f"({base})'"
        self.take("{")
        if self.peek() == "-" and self.peek(1) == r"\top":
            self.take()
            self.take()
            out = f"(({base})^-1)'"
        elif self.peek() == r"\circ":
            self.take()
            out = f"({base}).^({self.sum()})"
        else:
            out = f"({base})^({self.sum()})"
        self.take("}")
        return out

    def group(self, opener: str, closer: str) -> str:
        self.take(opener)
        inner = self.sum()
        self.take(closer)
        return inner

    def call_argument(self) -> str:
        opener = self.peek()
        assert opener in _CALL_OPEN, f"expected a call's parenthesis, got {opener!r}"
        return self.group(opener, _CALL_OPEN[opener])

    def is_call(self) -> bool:
        """A parenthesis written directly against the name: a call, g(u), not g*(u)."""
        return self.peek() in _CALL_OPEN and not self.tokens[self.i][3]

    def atom(self) -> str:
        start = self.tokens[self.i][1] if self.i < len(self.tokens) else len(self.text)
        token = self.take()
        if token[0].isdigit():
            return token
        if token == r"\frac":
            numer = self.group("{", "}")
            return f"(({numer})/({self.group('{', '}')}))"
        if token == r"\sqrt":
            return f"sqrt({self.group('{', '}')})"
        if token == r"\left(":
            self.i -= 1
            return "(" + self.group(r"\left(", r"\right)") + ")"
        if token == r"\left|":
            self.i -= 1
            return "abs(" + self.group(r"\left|", r"\right|") + ")"
        if token == r"\left\lVert":
            inner = self.sum()
            self.take(r"\right\rVert")
            self.take("_")
            self.take("{")
            sub = self.take()
            if sub == "1" and self.peek() == ",":
                self.take(",")
                self.take("1")
            self.take("}")
            return f"{'norm1' if sub == '1' else 'norm2'}({inner})"
        if token in (r"\mathbf{0}", r"\mathbf{1}"):
            return f"vector({token[-2]})"
        if token == r"\nabla":
            prefix = "∇"
            if self.peek() == "^":
                self.take("^")
                self.take("2")
                prefix = "∇²"
            start = self.tokens[self.i][1]
            name = self.name(self.take(), start)
            return f"{prefix}{name}({self.call_argument()})"
        if token == r"\log" and self.peek() == r"\det":
            self.take()
            return f"logdet({self.call_argument()})"
        if token in _FUNCTIONS and (self.is_call() or token != r"\sigma"):
            axis = ""
            if self.peek() == "_":  # an axis form: \operatorname{sum}_{2}(X)
                self.take("_")
                self.take("{")
                axis = ", " + self.take()
                self.take("}")
            return f"{_FUNCTIONS[token]}({self.call_argument()}{axis})"
        if token == "I" and "I" not in self.names:
            return "eye"
        name = self.name(token, start)
        if self.is_call():
            return f"{name}({self.call_argument()})"  # g(u), not g*(u)
        return name

    def name(self, token: str, start: int) -> str:
        """A name with its subscript, ``W_{\\mathit{out}}``, looked up as printed."""
        assert token[0].isalpha() or token.startswith("\\"), token
        end = self.tokens[self.i - 1][2]
        if self.peek() == "_":
            self.take("_")
            self.take("{")
            depth = 1
            while depth:
                t = self.take()
                depth += {"{": 1, "}": -1}.get(t, 0)
            end = self.tokens[self.i - 1][2]
        printed = self.text[start:end]
        assert printed in self.names, f"{printed!r} is not a printed name"
        return self.names[printed]


READ_BACK = [t for t, _ in CASES if t not in NOT_READ_BACK]


@pytest.mark.parametrize("text", READ_BACK)
def test_latex_reads_back_to_the_same_values(text):
    p = parse_typed(text, DECLS)
    names = {latex_name(n): n for n in [*p.variables, *p.functions]}
    back = LatexReader(latex(p.expr), names).read()
    q = parse_typed(back, DECLS)
    rng = np.random.default_rng(7)
    for point in draw_points(p.expr, p.variables, p.functions, rng, 2):
        expected = Evaluator(point.values, p.variables)(p.expr)
        got = Evaluator(point.values, q.variables)(q.expr)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=back)


def test_reader_tells_a_call_from_a_product():
    # g(u) is g applied to u; a \left(b + c\right) is a times (b + c)
    names = {"g": "g", "a": "a", "b": "b", "c": "c", "u": "u"}
    assert LatexReader(r"g(u)", names).read() == "g(u)"
    assert LatexReader(r"g\mathopen{}\left(u\right)\mathclose{}", names).read() == "g(u)"
    assert LatexReader(r"a \left(b + c\right)", names).read() == "(a)*(((b)+(c)))"
