"""A bridge to SymPy, for what SymPy is good at: the scalar layer.

``to_sympy(e)`` writes a matcalc expression as a SymPy (matrix) expression, and
``from_sympy(m)`` reads one back, for the part of the language both share: sums,
products, transposes, inverses, traces, determinants, element-wise functions and
powers, Kronecker products, the identity and constant matrices.  Symbolic sizes become
positive integer symbols.  What has no SymPy counterpart (softmax, logsumexp, the norms'
kinks, abstract functions of matrices, vec, the commutation matrix) raises a
``NotDifferentiableError`` that names it.

SymPy is imported here only, when first used, so that the command line does not pay for
it.  No text is ever given to SymPy's parser: expressions are built node by node.
"""
from __future__ import annotations

from fractions import Fraction

from . import expr as E
from .errors import MatcalcError

#: element-wise functions of the language and their SymPy names
SYMPY_FUNCTIONS = {
    "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "abs": "Abs", "sign": "sign", "sqrt": "sqrt", "erf": "erf",
}


class NoSympyForm(MatcalcError):
    """The expression uses something that SymPy's matrix expressions cannot write."""


def _sp():
    import sympy
    return sympy


def _dim(d, symbols: dict):
    sp = _sp()
    out = 1
    for f in E.dim_factors(d):
        if isinstance(f, int):
            out = out * f
        else:
            if f not in symbols:
                symbols[f] = sp.Symbol(f, integer=True, positive=True)
            out = out * symbols[f]
    return out


def _elementwise(fn: str, arg):
    """``f(arg)`` entry by entry: a plain SymPy function of a scalar, or an
    ElementwiseApplyFunction of a matrix."""
    sp = _sp()
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
    t = sp.Dummy("t")
    scalar_forms = {
        "relu": lambda u: sp.Max(0, u), "sigmoid": lambda u: 1 / (1 + sp.exp(-u)),
        "softplus": lambda u: sp.log(1 + sp.exp(u)), "log1p": lambda u: sp.log(1 + u),
        "expm1": lambda u: sp.exp(u) - 1,
    }
    f = scalar_forms.get(fn) or getattr(sp, SYMPY_FUNCTIONS[fn])
    if not getattr(arg, "is_Matrix", False):
        return f(arg)
    return ElementwiseApplyFunction(sp.Lambda(t, f(t)), arg)


def to_sympy(e: E.Expr, symbols: dict | None = None):
    """The SymPy form of ``e`` (a matrix expression, or a scalar expression).

    >>> from matcalc import parse
    >>> print(to_sympy(parse("tr(A*X*B)")))
    Trace(A*X*B)
    """
    sp = _sp()
    symbols = {} if symbols is None else symbols
    memo: dict = {}
    for n in E.postorder(e, lambda n: n not in memo):
        out = _to_sympy(n, [memo[c] for c in n.children()], symbols, sp)
        if n.is_scalar and getattr(out, "is_Matrix", False):
            # x'*S*x is a number, not a 1×1 matrix, in SymPy's algebra: its trace
            out = sp.Trace(out)
        memo[n] = out
    return memo[e]


def _is_matrix(n: E.Expr) -> bool:
    return not n.is_scalar


def _to_sympy(n: E.Expr, a: list, symbols: dict, sp):
    if isinstance(n, E.Var):
        if n.is_scalar:
            return sp.Symbol(n.name, real=True)
        return sp.MatrixSymbol(n.name, _dim(n.shape[0], symbols), _dim(n.shape[1], symbols))
    if isinstance(n, E.Num):
        v = n.value
        return sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) \
            else sp.Float(v)
    if isinstance(n, E.Fill):
        rows, cols = _dim(n.shape[0], symbols), _dim(n.shape[1], symbols)
        if n.value == 0:
            return sp.ZeroMatrix(rows, cols)
        return _to_sympy(E.Num(n.value), [], symbols, sp) * sp.OneMatrix(rows, cols)
    if isinstance(n, E.Eye):
        return sp.Identity(_dim(n.shape[0], symbols))
    if isinstance(n, E.Size):
        return _dim(n.dim, symbols)
    if isinstance(n, E.Constant):
        return sp.pi
    if isinstance(n, E.Add):
        return sp.MatAdd(*a) if _is_matrix(n) else sp.Add(*a)
    if isinstance(n, E.Mul):
        coef = _to_sympy(E.Num(n.coef), [], symbols, sp)
        k = len(n.scalars)
        scalar = sp.Mul(coef, *a[:k])
        if not n.chain:
            return scalar
        chain = a[k:]
        product = chain[0] if len(chain) == 1 else sp.MatMul(*chain)
        return product if scalar == 1 else sp.MatMul(scalar, product)
    if isinstance(n, E.Hadamard):
        return sp.HadamardProduct(*a)
    if isinstance(n, E.Pow):
        return sp.Pow(a[0], a[1])
    if isinstance(n, E.MatPow):
        return sp.MatPow(a[0], n.k)
    if isinstance(n, E.ElemPow):
        return sp.HadamardPower(a[0], a[1])
    if isinstance(n, E.Transpose):
        return sp.Transpose(a[0])
    if isinstance(n, E.Kron):
        return sp.KroneckerProduct(*a)
    if isinstance(n, E.Call):
        return _call_to_sympy(n, a[0], symbols, sp)
    if isinstance(n, E.Abstract) and n.arg.is_scalar and not n.elementwise:
        g = sp.Function(n.name)
        t = sp.Dummy("t")
        return [g(a[0]), sp.diff(g(t), t).subs(t, a[0]),
                sp.diff(g(t), t, 2).subs(t, a[0])][n.order]
    raise NoSympyForm(f"{n} has no SymPy matrix expression")


def _call_to_sympy(n: E.Call, arg, symbols: dict, sp):
    fn = n.fn
    if n.spec.elementwise and (fn in SYMPY_FUNCTIONS or fn in (
            "relu", "sigmoid", "softplus", "log1p", "expm1")):
        return _elementwise(fn, arg)
    if n.axis == 0 and fn in ("tr", "det", "logdet", "inv", "sum", "norm2"):
        if n.arg.is_scalar:
            return {"tr": arg, "det": arg, "logdet": sp.log(arg), "inv": 1 / arg,
                    "sum": arg, "norm2": sp.Abs(arg)}[fn]
        rows, cols = (_dim(d, symbols) for d in n.arg.shape)
        if fn == "tr":
            return sp.Trace(arg)
        if fn == "det":
            return sp.Determinant(arg)
        if fn == "logdet":
            return sp.log(sp.Determinant(arg))
        if fn == "inv":
            return sp.Inverse(arg)
        if fn == "sum":
            return sp.MatMul(sp.OneMatrix(1, rows), arg, sp.OneMatrix(cols, 1))
        return sp.sqrt(sp.Trace(sp.MatMul(sp.Transpose(arg), arg)))
    if fn == "diag" and n.arg.shape[1] == 1:
        return sp.DiagMatrix(arg)
    if fn == "diag":
        return sp.DiagonalOf(arg)
    raise NoSympyForm(f"{fn}(...) has no SymPy matrix expression: {n}")


def from_sympy(m, vars: dict | None = None) -> E.Expr:
    """The matcalc form of a SymPy expression of the shared part of the languages.

    >>> import sympy
    >>> X = sympy.MatrixSymbol("X", 3, 3)
    >>> print(from_sympy(sympy.Trace(X.T * X)))
    tr(X'*X)
    """
    sp = _sp()
    memo: dict = {}

    def convert(node):
        stack = [(node, False)]
        while stack:
            t, ready = stack.pop()
            if t in memo:
                continue
            kids = _sympy_children(t, sp)
            if not ready:
                stack.append((t, True))
                stack.extend((k, False) for k in kids if k not in memo)
                continue
            memo[t] = _from_sympy(t, [memo[k] for k in kids], sp)
        return memo[node]

    return convert(m)


def _sympy_children(t, sp) -> tuple:
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
    if isinstance(t, ElementwiseApplyFunction):
        return (t.expr,)
    if isinstance(t, (sp.MatrixSymbol, sp.Symbol, sp.Number, sp.Identity, sp.ZeroMatrix,
                      sp.OneMatrix)) or t is sp.pi:
        return ()
    if isinstance(t, sp.MatPow):
        return (t.base,)
    return tuple(t.args)


def _size(d):
    if getattr(d, "is_Integer", False):
        return int(d)
    if getattr(d, "is_Symbol", False):
        return str(d)
    if getattr(d, "is_Mul", False):
        return E.dim_mul(*(_size(f) for f in d.args))
    if getattr(d, "is_Pow", False) and getattr(d.exp, "is_Integer", False) and d.exp > 0:
        return E.dim_mul(*([_size(d.base)] * int(d.exp)))  # n**2 -> n*n
    raise NoSympyForm(f"the size {d} is not a size of the language")


def _from_sympy(t, a: list, sp) -> E.Expr:
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
    if isinstance(t, sp.MatrixSymbol):
        return E.Var(str(t.name), (_size(t.shape[0]), _size(t.shape[1])))
    if isinstance(t, sp.Symbol):
        return E.Var(str(t.name), E.SCALAR)
    if t is sp.pi:
        return E.Constant("pi")
    if isinstance(t, sp.Rational):
        return E.Num(Fraction(int(t.p), int(t.q)))
    if isinstance(t, sp.Float):
        return E.Num(float(t))
    if isinstance(t, sp.Identity):
        return E.eye(_size(t.shape[0]))
    if isinstance(t, sp.ZeroMatrix):
        return E.zeros((_size(t.shape[0]), _size(t.shape[1])))
    if isinstance(t, sp.OneMatrix):
        return E.ones((_size(t.shape[0]), _size(t.shape[1])))
    if isinstance(t, (sp.MatAdd, sp.Add)):
        return E.add(*a)
    if isinstance(t, (sp.MatMul, sp.Mul)):
        return E.product(*a)
    if isinstance(t, sp.HadamardProduct):
        return E.hadamard(*a)
    if isinstance(t, sp.HadamardPower):
        return E.elem_power(*a)
    if isinstance(t, sp.MatPow):
        return E.matrix_power(a[0], int(t.exp))
    if isinstance(t, sp.Pow):
        return E.power(*a)
    if isinstance(t, sp.Transpose):
        return E.transpose(a[0])
    if isinstance(t, sp.Inverse):
        return E.call("inv", a[0])
    if isinstance(t, sp.Determinant):
        return E.call("det", a[0])
    if isinstance(t, sp.Trace):
        return E.call("tr", a[0])
    if isinstance(t, sp.KroneckerProduct):
        out = a[0]
        for x in a[1:]:
            out = E.kron(out, x)
        return out
    if isinstance(t, sp.DiagMatrix) or isinstance(t, sp.DiagonalOf):
        return E.call("diag", a[0])
    if isinstance(t, ElementwiseApplyFunction):
        name = _scalar_function_name(t.function, sp)
        return E.call(name, a[0])
    if isinstance(t, sp.Function) and len(a) == 1:
        name = _scalar_function_name(type(t), sp)
        return E.call(name, a[0])
    raise NoSympyForm(f"{t} has no matcalc form")


def _scalar_function_name(f, sp) -> str:
    """The language's name of a SymPy function (or of ``Lambda(t, f(t))``)."""
    if isinstance(f, sp.Lambda):
        body = f.expr
        if isinstance(body, sp.Function) and body.args == f.variables:
            f = type(body)
        else:
            raise NoSympyForm(f"the element-wise function {f} has no matcalc name")
    name = getattr(f, "__name__", str(f))
    reverse = {v: k for k, v in SYMPY_FUNCTIONS.items()}
    if name in reverse:
        return reverse[name]
    raise NoSympyForm(f"SymPy's {name} has no matcalc counterpart")
