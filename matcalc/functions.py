"""The built-in functions: one registry entry per function.

Adding a function means adding one entry here.  An entry says everything the rest of
matcalc needs to know about the function:

* ``shape``: its shape rule, one of ``SHAPE_RULES`` (the typer implements each once);
* ``build``: its canonical constructor with the identities applied at construction
  (``tr(A') -> tr(A)``, ``sum(softmax(u)) -> 1``);
* ``derivative`` (element-wise functions: ``f'(u)`` from ``u`` and ``f(u)``) or
  ``adjoint`` and ``jvp`` (others: the adjoint of the argument from the node and its
  adjoint ``G``, so that ``G : d f(u) = adjoint : du``, and the differential ``d f(u)``
  from ``du``), with ``identity``, the rule shown in the steps;
* ``kernel``: the name of its NumPy kernel in :mod:`matcalc.kernels`, shared by
  ``evaluate`` and the generated code;
* ``latex``: its LaTeX command (``\\tanh``, ``\\operatorname{tr}``) or printer;
* ``domain``: what the checker keeps its argument to (``positive``, ``kink``, ...);
* ``sympy``: the SymPy name of an element-wise function (the derivative table is
  tested against SymPy).

A test asserts that every entry is complete and appears in every printer and backend.
"""
from __future__ import annotations

from fractions import Fraction
from collections.abc import Callable

from .algebra import (ONE, ZERO, _parts, add, broadcast, call, elem_power, eye, fill,
                      hadamard, is_nonnegative, is_zero, make_mul, mul, neg, num, power,
                      scale, size, transpose)
from .dims import SCALAR, dim_mul, is_scalar_shape, shape_text
from .errors import NotDifferentiableError, ShapeError
from .nodes import (FUNCTIONS, Abstract, Add, Call, Constant, Eye, Expr, Fill, Hadamard,
                    MatPow, Mul, Num, Size, Transpose)

#: the shape rules a function can have (see matcalc.parse for how each is inferred)
SHAPE_RULES = (
    "elementwise",     # same shape as the argument
    "same",            # same shape as the argument, from all its entries (not entry-wise)
    "reduce",          # any shape -> scalar (axis forms: 1×n column-wise, m×1 row-wise)
    "square_scalar",   # square matrix -> scalar
    "square",          # square matrix -> same shape
    "diag",            # vector -> diagonal matrix, square matrix -> its diagonal
    "vector_map",      # column vector -> same shape (axis forms on matrices)
    "vector_reduce",   # column vector -> scalar (axis forms on matrices)
)

#: domain tags the checker knows (numeric.domain_of)
DOMAINS = ("", "positive", "above_minus_one", "unit_interval", "kink", "extreme",
           "nonzero", "matrix", "positive_determinant")


class Function:
    """One built-in function (see the module docstring).

    ``jvp`` is the differential ``d f(u)`` from the node and ``du`` (shown in the steps;
    element-wise functions have ``f'(u) .* du``), checked against ``adjoint`` by a test;
    ``applied`` says the LaTeX is ``command(argument)`` (not ``|u|``); ``nonnegative``
    that its values are never negative (``relu(u) = u`` for such a u); ``display`` is the
    name it prints as when the registry key differs, and ``expand`` a user-defined
    function's body entry by entry (``u -> f(u)``).
    """

    __slots__ = ("name", "shape", "build", "kernel", "latex", "identity", "derivative",
                 "adjoint", "jvp", "axes", "domain", "sympy", "applied", "nonnegative",
                 "display", "expand")

    def __init__(self, name: str, shape: str, build: Callable, kernel: str, latex: str,
                 identity: str, derivative: Callable | None = None,
                 adjoint: Callable | None = None, jvp: Callable | None = None,
                 axes: bool = False, domain: str = "", sympy: str | None = None,
                 applied: bool = True, nonnegative: bool = False,
                 display: str | None = None, expand: Callable | None = None):
        self.name, self.shape, self.build, self.kernel = name, shape, build, kernel
        self.latex, self.identity, self.derivative = latex, identity, derivative
        self.adjoint, self.jvp, self.axes, self.domain = adjoint, jvp, axes, domain
        self.sympy, self.applied, self.nonnegative = sympy, applied, nonnegative
        self.display, self.expand = display, expand

    def __repr__(self) -> str:
        return f"<Function {self.name} ({self.shape})>"

    @property
    def printed(self) -> str:
        return self.display or self.name

    @property
    def elementwise(self) -> bool:
        return self.shape == "elementwise"


def register(entry: Function) -> Function:
    assert entry.shape in SHAPE_RULES and entry.domain in DOMAINS, entry
    entry.nonnegative = entry.name in NONNEGATIVE
    FUNCTIONS[entry.name] = entry
    return entry


# ---------------------------------------------------------------------------
# element-wise functions
# ---------------------------------------------------------------------------

def _recip(u: Expr) -> Expr:
    return elem_power(u, num(-1))


def _one_minus_square(u: Expr) -> Expr:
    return add(ONE, neg(elem_power(u, num(2))))


#: f(0) = 0: the odd functions and the kinks fold at an exact zero
_ZERO_AT_ZERO = {"abs", "sign", "relu", "sin", "tan", "arcsin", "arctan", "sinh", "tanh",
                 "sqrt", "log1p", "expm1", "erf"}
#: idempotent: f(f(u)) = f(u)
_IDEMPOTENT = {"abs", "sign", "relu"}


#: functions whose values are never negative (the entries' ``nonnegative``)
NONNEGATIVE = {"abs", "relu", "exp", "sqrt", "sigmoid", "softplus", "softmax", "norm1",
               "norm2", "cosh"}


def _one_plus_exp(a: Expr) -> Expr | None:
    """``u`` when ``a`` is ``1 + exp(u)`` (the 1 broadcast as needed), else None."""
    from .nodes import Add
    if isinstance(a, Add) and len(a.terms) == 2:
        one, other = a.terms
        if isinstance(other, (Num, Fill)):
            one, other = other, one
        if isinstance(one, (Num, Fill)) and one.value == 1 and isinstance(other, Call) \
                and other.fn == "exp":
            return other.arg
    return None


def _elementwise_builder(fn: str):
    def build(arg: Expr, axis: int = 0) -> Expr:
        if isinstance(arg, Transpose):
            return transpose(build(arg.arg))  # f(A') -> f(A)'
        if isinstance(arg, Num) and fn in ("abs", "sign", "relu"):
            v = arg.value
            return num({"abs": abs(v), "sign": (v > 0) - (v < 0), "relu": max(v, 0 * v)}[fn])
        if isinstance(arg, Call) and arg.fn == fn and fn in _IDEMPOTENT:
            return arg  # abs(abs(u)) -> abs(u)
        if fn in ("relu", "abs") and is_nonnegative(arg):
            return arg  # relu(u) = abs(u) = u where u >= 0
        if fn == "log":
            u = _one_plus_exp(arg)
            if u is not None:
                return call("softplus", u)  # log(1 + exp(u)) -> softplus(u)
        if is_zero(arg) and fn in _ZERO_AT_ZERO:
            return arg  # f(0) = 0
        return Call(fn, arg, arg.shape)
    return build


def elementwise(name: str, derivative, identity: str, kernel: str | None = None,
                latex: str | None = None, domain: str = "", sympy: str | None = None,
                applied: bool = True) -> Function:
    return register(Function(
        name=name, shape="elementwise", build=_elementwise_builder(name),
        kernel=kernel or name, latex=latex if latex is not None else "\\" + name,
        identity=identity, derivative=derivative, domain=domain,
        sympy=sympy or name, applied=applied))


def _sqrt_pi() -> Expr:
    return call("sqrt", Constant("pi"))


elementwise("exp", lambda u, f: f, "exp' = exp")
elementwise("log", lambda u, f: _recip(u), "log'(u) = 1/u", domain="positive")
elementwise("log1p", lambda u, f: _recip(add(ONE, u)), "log1p'(u) = 1/(1+u)",
            latex=r"\operatorname{log1p}", domain="above_minus_one")
elementwise("expm1", lambda u, f: call("exp", u), "expm1'(u) = exp(u)",
            latex=r"\operatorname{expm1}")
elementwise("sin", lambda u, f: call("cos", u), "sin' = cos")
elementwise("cos", lambda u, f: neg(call("sin", u)), "cos' = -sin")
elementwise("tan", lambda u, f: add(ONE, elem_power(f, num(2))), "tan' = 1 + tan^2")
elementwise("arcsin", lambda u, f: elem_power(_one_minus_square(u), num(Fraction(-1, 2))),
            "arcsin'(u) = 1/sqrt(1-u^2)", domain="unit_interval", sympy="asin")
elementwise("arccos", lambda u, f: neg(elem_power(_one_minus_square(u), num(Fraction(-1, 2)))),
            "arccos'(u) = -1/sqrt(1-u^2)", domain="unit_interval", sympy="acos")
elementwise("arctan", lambda u, f: _recip(add(ONE, elem_power(u, num(2)))),
            "arctan'(u) = 1/(1+u^2)", sympy="atan")
elementwise("sinh", lambda u, f: call("cosh", u), "sinh' = cosh")
elementwise("cosh", lambda u, f: call("sinh", u), "cosh' = sinh")
elementwise("tanh", lambda u, f: _one_minus_square(f), "tanh' = 1 - tanh^2")
elementwise("abs", lambda u, f: call("sign", u), "|u|' = sign(u), u != 0", latex="",
            domain="kink", sympy="Abs", applied=False)
elementwise("sign", lambda u, f: fill(0, u.shape), "sign' = 0, u != 0",
            latex=r"\operatorname{sign}", domain="kink")
elementwise("sqrt", lambda u, f: scale(Fraction(1, 2), _recip(f)), "sqrt'(u) = 1/(2*sqrt(u))",
            latex="", domain="positive", applied=False)
elementwise("relu", lambda u, f: call("sign", f), "relu'(u) = step(u), u != 0",
            latex=r"\operatorname{relu}", domain="kink", sympy="relu")
elementwise("sigmoid", lambda u, f: hadamard(f, add(ONE, neg(f))), "sigmoid' = s.*(1-s)",
            latex=r"\sigma", sympy="sigmoid")
elementwise("softplus", lambda u, f: call("sigmoid", u), "softplus' = sigmoid",
            latex=r"\operatorname{softplus}", sympy="softplus")
elementwise("erf", lambda u, f: mul(num(2), power(_sqrt_pi(), num(-1)),
                                    call("exp", neg(elem_power(u, num(2))))),
            "erf'(u) = 2/sqrt(pi)*exp(-u^2)", latex=r"\operatorname{erf}")


# ---------------------------------------------------------------------------
# functions of matrices and vectors
# ---------------------------------------------------------------------------

def matrix_function(name: str, shape: str, build, adjoint, jvp, identity: str, latex: str,
                    kernel: str | None = None, axes: bool = False, domain: str = "",
                    applied: bool = True) -> Function:
    return register(Function(
        name=name, shape=shape, build=build, kernel=kernel or name, latex=latex,
        identity=identity, adjoint=adjoint, jvp=jvp, axes=axes, domain=domain,
        applied=applied))


def _square(fn: str, a: Expr) -> None:
    if a.shape[0] != a.shape[1]:
        raise ShapeError(f"{fn} needs a square matrix, not {a} ({shape_text(a.shape)})")


def _unit(a: Expr) -> Expr:
    return make_mul(Fraction(1), (), [a])


def _trace(a: Expr, axis: int = 0) -> Expr:
    _square("tr", a)
    if a.is_scalar:
        return a
    if isinstance(a, Transpose):
        return _trace(a.arg)  # tr(A') -> tr(A)
    if isinstance(a, Mul):
        rest = make_mul(Fraction(1), (), a.chain)
        inner = _trace(rest) if rest != a else None
        if inner is None:
            n = len(a.chain)
            for i in range(1, n):  # cyclic: tr(A*b*c') -> c'*A*b
                if a.chain[i].shape[0] == 1:
                    return make_mul(Fraction(1), (), a.chain[i:] + a.chain[:i])
            return Call("tr", a, SCALAR)
        return make_mul(a.coef, a.scalars, [inner])
    if isinstance(a, Call) and a.fn == "diag":
        return call("sum", a.arg)  # tr(diag(v)) -> sum(v)
    if isinstance(a, Eye):
        return size(a.shape[0])  # tr(eye(n)) -> n
    return Call("tr", a, SCALAR)


matrix_function(
    "tr", "square_scalar", _trace,
    lambda n, g: mul(g, eye(n.arg.shape[0])),                 # g : tr(dA) = g*eye : dA
    lambda n, du: call("tr", du),
    "g : tr(dX) = g*eye : dX", r"\operatorname{tr}")


def _det(a: Expr, axis: int = 0) -> Expr:
    _square("det", a)
    if a.is_scalar:
        return a
    if isinstance(a, Transpose):
        return _det(a.arg)
    if isinstance(a, Eye):
        return ONE
    c = _scaled_identity(a)
    if c is not None:
        return num(c ** a.shape[0])  # det(c*eye(3)) = c^3
    return Call("det", a, SCALAR)


def _scaled_identity(a: Expr):
    """``c`` when ``a`` is ``c*eye(n)`` with a number ``c`` and a known size n."""
    if isinstance(a, Mul) and not a.scalars and len(a.chain) == 1 \
            and isinstance(a.chain[0], Eye) and isinstance(a.shape[0], int):
        return a.coef
    return None


matrix_function(
    "det", "square_scalar", _det,
    lambda n, g: mul(mul(g, n), transpose(call("inv", n.arg))),  # d det(A) = det(A)*inv(A)' : dA
    lambda n, du: mul(n, call("tr", mul(call("inv", n.arg), du))),
    "d det(X) = det(X)*inv(X)' : dX", r"\det", domain="matrix")


def _logdet(a: Expr, axis: int = 0) -> Expr:
    _square("logdet", a)
    if a.is_scalar:
        return call("log", a)
    if isinstance(a, Transpose):
        return _logdet(a.arg)
    if isinstance(a, Eye):
        return ZERO
    c = _scaled_identity(a)
    if c is not None and c > 0:
        return mul(num(a.shape[0]), call("log", num(c)))  # logdet(c*eye(3)) = 3*log(c)
    return Call("logdet", a, SCALAR)


matrix_function(
    "logdet", "square_scalar", _logdet,
    lambda n, g: mul(g, transpose(call("inv", n.arg))),       # d logdet(A) = inv(A)' : dA
    lambda n, du: call("tr", mul(call("inv", n.arg), du)),
    "d logdet(X) = inv(X)' : dX", r"\log\det", domain="positive_determinant")


def _inv(a: Expr, axis: int = 0) -> Expr:
    _square("inv", a)
    if a.is_scalar:
        return power(a, Num(Fraction(-1)))
    if isinstance(a, Eye):
        return a
    if isinstance(a, Call) and a.fn == "inv":
        return a.arg
    if isinstance(a, Transpose):
        return transpose(_inv(a.arg))
    if isinstance(a, MatPow):
        from .algebra import matrix_power
        return matrix_power(_inv(a.base), a.k)
    if isinstance(a, Mul) and (a.coef != 1 or a.scalars):
        # inv(c*A) -> c^-1*inv(A)
        c, s, ch = _parts(a)
        return make_mul(1 / Fraction(c) if not isinstance(c, float) else 1 / c,
                        [power(x, Num(Fraction(-1))) for x in s],
                        [_inv(make_mul(Fraction(1), (), ch))])
    return Call("inv", a, a.shape)


def _adjoint_inv(n: Call, g: Expr) -> Expr:
    t = transpose(n)
    return neg(mul(mul(t, g), t))                             # d inv(A) = -inv(A)*dA*inv(A)


matrix_function("inv", "square", _inv, _adjoint_inv, lambda n, du: neg(mul(n, du, n)),
                "d inv(X) = -inv(X)*dX*inv(X)", "", domain="matrix", applied=False)


def _diag(a: Expr, axis: int = 0) -> Expr:
    if a.is_scalar:
        return a
    if isinstance(a, Mul) and (a.coef != 1 or a.scalars):
        c, s, ch = _parts(a)  # diag(c*v) -> c*diag(v)
        return make_mul(c, s, [_diag(make_mul(Fraction(1), (), ch))])
    if a.shape[1] == 1:
        if isinstance(a, Fill):
            return scale(a.value, Eye(a.shape[0]))
        return Call("diag", a, (a.shape[0], a.shape[0]))
    if a.shape[0] == 1:
        return _diag(transpose(a))
    _square("diag", a)
    if isinstance(a, Eye):
        return Fill(Fraction(1), (a.shape[0], 1))
    if isinstance(a, Transpose):
        return _diag(a.arg)
    if isinstance(a, Call) and a.fn == "diag" and a.arg.is_vector:
        return a.arg  # diag(diag(v)) -> v
    return Call("diag", a, (a.shape[0], 1))


matrix_function(
    "diag", "diag", _diag,
    lambda n, g: call("diag", g),     # G : diag(dv) = diag(G) : dv, g : diag(dA) = diag(g) : dA
    lambda n, du: call("diag", du),
    "G : diag(dv) = diag(G) : dv", r"\operatorname{diag}")


def count(shape, axis: int):
    """How many entries a reduction along ``axis`` adds up (0: all of them)."""
    if axis == 1:
        return shape[0]
    if axis == 2:
        return shape[1]
    return dim_mul(*shape)


def _row_ones(n) -> Expr:
    return fill(1, (1, n))


def _column_ones(m) -> Expr:
    return fill(1, (m, 1))


def _sum(a: Expr, axis: int = 0) -> Expr:
    rows, cols = a.shape
    if a.is_scalar:
        return a
    if axis == 1 and rows == 1 or axis == 2 and cols == 1:
        return a  # one entry per column (row): nothing to add
    if axis == 1 and cols == 1 or axis == 2 and rows == 1:
        axis = 0  # the column sums of a column vector are its sum
    if isinstance(a, Transpose):
        inner = _sum(a.arg, {0: 0, 1: 2, 2: 1}[axis])
        return transpose(inner)  # sum(A', 1) -> sum(A, 2)'
    if isinstance(a, Fill):
        return scale(a.value, mul(size(count(a.shape, axis)),
                                  fill(1, _reduced_shape(a.shape, axis))))
    if isinstance(a, Mul) and (a.coef != 1 or a.scalars):
        c, s, ch = _parts(a)
        return make_mul(c, s, [_sum(_unit(make_mul(Fraction(1), (), ch)), axis)])
    if isinstance(a, Add) and any(_spreads(t) for t in a.terms):
        # a sum with a broadcast term, such as x - mean(x): summed term by term it may
        # cancel (sum(x - mean(x)) = 0, the centred data of layer and batch norm), and
        # so may a sum with a multiple of one: mean(p - (p'*c)*c/n) = mean(p)
        spread = add(*[_sum(t, axis) for t in a.terms])
        if not (isinstance(spread, Add) and len(spread.terms) >= len(a.terms)):
            return spread
    if isinstance(a, Mul) and axis == 0 and len(a.chain) == 2 and a.chain[0].shape[1] == 1 \
            and (isinstance(a.chain[0], Fill) or isinstance(a.chain[1], Fill)):
        # sum(u*v') = sum(u)*sum(v): the sum of a constant's outer product is a multiple
        return mul(_sum(a.chain[0]), _sum(a.chain[1]))
    if isinstance(a, Mul) and len(a.chain) > 1 and axis:
        if axis == 2:   # sum(A*B, 2) = A*sum(B, 2): A*B*ones, right to left
            return mul(make_mul(Fraction(1), (), a.chain[:-1]), _sum(a.chain[-1], 2))
        return mul(_sum(a.chain[0], 1), make_mul(Fraction(1), (), a.chain[1:]))
    if isinstance(a, Call) and a.fn == "softmax" and (a.axis == axis or (
            axis == 0 and a.axis == 0)):
        return fill(1, _reduced_shape(a.shape, axis))  # softmax sums to 1
    if isinstance(a, Call) and a.fn in ("ismax", "ismin") and axis == 0:
        return ONE  # the weights of a tie share 1
    if axis == 0 and isinstance(a, Hadamard) and len(a.factors) == 2 and cols == 1:
        return mul(transpose(a.factors[0]), a.factors[1])  # sum(a.*b) -> a'*b
    return Call("sum", a, _reduced_shape(a.shape, axis), axis)


def _spreads(t: Expr, nested: bool = False) -> bool:
    """Is ``t`` a broadcast term (``-mean(x)*vector(1)``), or (one level down) a product
    with a sum that has one, like ``(p'*c)*c`` with ``c = x - mean(x)``?"""
    if not isinstance(t, Mul):
        return False
    return any(isinstance(f, Fill) or (not nested and isinstance(f, Add) and any(
        _spreads(u, True) for u in f.terms)) for f in t.chain)


def _reduced_shape(shape, axis: int):
    if axis == 1:
        return (1, shape[1])
    if axis == 2:
        return (shape[0], 1)
    return SCALAR


def _adjoint_sum(n: Call, g: Expr) -> Expr:
    return broadcast(g, n.arg.shape)                 # g : sum(dA) = g*ones : dA


matrix_function("sum", "reduce", _sum, _adjoint_sum, lambda n, du: call("sum", du, n.axis),
                "g : sum(dX) = g*ones : dX", r"\operatorname{sum}", axes=True)


def _mean(a: Expr, axis: int = 0) -> Expr:
    # mean(X, d) = sum(X, d)/n, with n the count as a number: dim(n)
    if a.is_scalar:
        return a
    n = count(a.shape, axis)
    if n == 1:
        return _sum(a, axis)
    return mul(_sum(a, axis), power(size(n), num(-1)))


matrix_function("mean", "reduce", _mean, None, None, "mean(X) = sum(X)/n",
                r"\operatorname{mean}", axes=True)


def _extreme(fn: str):
    def build(a: Expr, axis: int = 0) -> Expr:
        if a.is_scalar:
            return a
        if isinstance(a, Fill):
            return Num(a.value)
        if isinstance(a, Transpose):
            return build(a.arg)
        return Call(fn, a, SCALAR)
    return build


def _adjoint_extreme(n: Call, g: Expr) -> Expr:
    # d max(X) = ismax(X) : dX almost everywhere: the indicator of the largest entry.
    # ismax shares a tie equally (1/k at each of k entries, as JAX does), so that a tie
    # by construction (the pair X_ij = X_ji of a symmetric argument) is counted once
    return mul(g, call("is" + n.fn, n.arg))


matrix_function("max", "reduce", _extreme("max"), _adjoint_extreme,
                lambda n, du: call("sum", hadamard(_adjoint_extreme(n, ONE), du)),
                "d max(X) = ismax(X) : dX", r"\max", domain="extreme")
matrix_function("min", "reduce", _extreme("min"), _adjoint_extreme,
                lambda n, du: call("sum", hadamard(_adjoint_extreme(n, ONE), du)),
                "d min(X) = ismin(X) : dX", r"\min", domain="extreme")


def _indicator(fn: str):
    def build(a: Expr, axis: int = 0) -> Expr:
        if a.is_scalar:
            return ONE  # a single entry is its own maximum
        if isinstance(a, Transpose):
            return transpose(build(a.arg))  # ismax(A') = ismax(A)'
        return Call(fn, a, a.shape)
    return build


def _zero_adjoint(n: Call, g: Expr) -> Expr:
    return fill(0, n.arg.shape)


# ismax(X): 1 at the entry where X is largest, 0 elsewhere; k tied entries get 1/k each.
# Piecewise constant: its derivative is 0 away from ties (which the checker avoids).
matrix_function("ismax", "same", _indicator("ismax"), _zero_adjoint,
                lambda n, du: fill(0, n.shape), "d ismax(X) = 0 (away from ties)",
                r"\operatorname{ismax}", domain="extreme")
matrix_function("ismin", "same", _indicator("ismin"), _zero_adjoint,
                lambda n, du: fill(0, n.shape), "d ismin(X) = 0 (away from ties)",
                r"\operatorname{ismin}", domain="extreme")


def _norm(fn: str):
    def build(a: Expr, axis: int = 0) -> Expr:
        if is_zero(a):
            return ZERO
        if a.is_scalar:
            return call("abs", a)
        n = count(a.shape, 0)
        if isinstance(a, Fill) and isinstance(n, int):
            # norm1(vector(c)) = n*|c|, norm2(vector(c)) = sqrt(n)*|c|
            return mul(num(abs(a.value)), num(n) if fn == "norm1" else call("sqrt", num(n)))
        if isinstance(a, Transpose):
            return build(a.arg)
        return Call(fn, a, SCALAR)
    return build


matrix_function(
    "norm1", "reduce", _norm("norm1"),
    lambda n, g: mul(g, call("sign", n.arg)),                 # d norm1(A) = sign(A) : dA
    lambda n, du: call("sum", hadamard(call("sign", n.arg), du)),
    "d norm1(X) = sign(X) : dX", "", domain="kink", applied=False)
matrix_function(
    "norm2", "reduce", _norm("norm2"),
    lambda n, g: mul(mul(g, n.arg), power(n, num(-1))),       # d norm2(A) = A/norm2(A) : dA
    lambda n, du: mul(call("sum", hadamard(n.arg, du)), power(n, num(-1))),
    "d norm2(X) = X/norm2(X) : dX", "", domain="nonzero", applied=False)


def _vector_axis(fn: str, a: Expr, axis: int) -> tuple[Expr, int] | Expr:
    """The canonical (argument, axis) of a softmax or logsumexp: a column vector takes
    axis 0, a row vector is transposed to one, and ``f(X', 1) = f(X, 2)'``."""
    rows, cols = a.shape
    if cols == 1 and axis in (0, 1):
        return a, 0
    if rows == 1 and axis == 2:
        return transpose(a), 0
    if axis == 0:
        raise ShapeError(f"{fn} needs a column vector, not {a} ({shape_text(a.shape)}); "
                         f"for a matrix give the axis: {fn}(X, 1) or {fn}(X, 2)")
    return a, axis


def _softmax(a: Expr, axis: int = 0) -> Expr:
    rows, cols = a.shape
    if a.is_scalar or (axis == 2 and cols == 1) or (axis == 1 and rows == 1):
        return fill(1, a.shape)  # one entry per group: it is its own whole
    if isinstance(a, Transpose) and axis:
        return transpose(_softmax(a.arg, 3 - axis))
    row = rows == 1 and axis == 2
    arg, axis = _vector_axis("softmax", a, axis)
    n = count(arg.shape, axis)
    if isinstance(arg, Fill) and isinstance(n, int):
        out = fill(Fraction(1, n), arg.shape)  # softmax(vector(c)) = vector(1/n)
    else:
        out = Call("softmax", arg, arg.shape, axis)
    return transpose(out) if row else out


def _adjoint_softmax(n: Call, g: Expr) -> Expr:
    s = n
    if n.axis == 0:      # d s = (diag(s) - s*s') dz
        return add(hadamard(s, g), neg(mul(s, mul(transpose(s), g))))
    # each column (row) is a softmax: S.*(G - sum(S.*G, d)) with the sums broadcast
    return hadamard(s, add(g, neg(broadcast(call("sum", hadamard(s, g), n.axis), s.shape))))


def _jvp_softmax(n: Call, du: Expr) -> Expr:
    s = n
    if n.axis == 0:      # d s = s.*dz - s*(s'*dz)
        return add(hadamard(s, du), neg(mul(s, mul(transpose(s), du))))
    return hadamard(s, add(du, neg(broadcast(call("sum", hadamard(s, du), n.axis), s.shape))))


matrix_function("softmax", "vector_map", _softmax, _adjoint_softmax, _jvp_softmax,
                "d softmax(z) = (diag(s) - s*s')*dz", r"\operatorname{softmax}", axes=True)


def _logsumexp(a: Expr, axis: int = 0) -> Expr:
    rows, cols = a.shape
    if a.is_scalar or (axis == 2 and cols == 1) or (axis == 1 and rows == 1):
        return a
    if isinstance(a, Transpose) and axis:
        return transpose(_logsumexp(a.arg, 3 - axis))
    arg, axis = _vector_axis("logsumexp", a, axis)
    shape, n = _reduced_shape(arg.shape, axis), count(arg.shape, axis)
    if isinstance(arg, Fill) and isinstance(n, int):
        # logsumexp(vector(c)) = c + log(n)
        return mul(add(num(arg.value), call("log", num(n))), fill(1, shape))
    return Call("logsumexp", arg, shape, axis)


def _adjoint_logsumexp(n: Call, g: Expr) -> Expr:
    # d logsumexp(z) = softmax(z) : dz, column by column (row by row) for the axis forms
    return hadamard(call("softmax", n.arg, n.axis), broadcast(g, n.arg.shape))


matrix_function("logsumexp", "vector_reduce", _logsumexp, _adjoint_logsumexp,
                lambda n, du: call("sum", hadamard(call("softmax", n.arg, n.axis), du), n.axis),
                "d logsumexp(z) = softmax(z) : dz", r"\operatorname{logsumexp}", axes=True)


# ---------------------------------------------------------------------------
# abstract functions
# ---------------------------------------------------------------------------

def abstract(name: str, order: int, arg: Expr, elementwise: bool = False) -> Expr:
    """``g(u)`` (order 0), ``∇g(u)`` (1) or ``∇²g(u)`` (2) of an unknown smooth
    scalar-valued g; with ``elementwise``, of an unknown function applied entry by entry
    (all orders have the shape of ``u``)."""
    if elementwise:
        if isinstance(arg, Transpose):
            return transpose(abstract(name, order, arg.arg, True))
        return Abstract(name, order, arg, arg.shape, True)
    if order == 0:
        shape = SCALAR
    elif order == 1:
        shape = arg.shape
    else:
        if arg.shape[1] != 1:
            raise NotDifferentiableError(
                f"∇²{name}({arg}) of a matrix argument is a 4-way tensor with no matrix form")
        shape = (arg.shape[0], arg.shape[0])
    return Abstract(name, order, arg, shape)


#: names of the language that are not variables
CONSTANTS = ("pi",)
VEC_FUNCTIONS = ("kron", "vec", "commutation")
SIZE_FUNCTIONS = ("eye", "dim")
#: the ASCII spellings of ∇ and ∇² (nabla g(u), nabla2 g(u)) and the definition keyword
KEYWORDS = ("nabla", "nabla2", "where")
FILL_FUNCTIONS = ("vector", "matrix")


def reserved() -> frozenset:
    """Every name with a meaning of its own: functions, constants, constructors."""
    return frozenset(FUNCTIONS) | frozenset(CONSTANTS + VEC_FUNCTIONS + SIZE_FUNCTIONS
                                            + FILL_FUNCTIONS + KEYWORDS)


def elementwise_names() -> tuple:
    return tuple(n for n, f in FUNCTIONS.items() if f.elementwise)


def matrix_function_names() -> tuple:
    return tuple(n for n, f in FUNCTIONS.items() if not f.elementwise)
