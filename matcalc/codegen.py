"""Generated NumPy code: a Python function returning a value and its derivative.

The code is printed from the expression trees, one line per distinct subexpression
(so common subexpressions are computed once), in the same two-dimensional convention
as :mod:`matcalc.numeric` (vectors are columns).  A diagonal matrix in a product is
applied as a scaling, so ``X'*diag(v)*X`` costs one matrix product.

Only names from the expression trees reach the code, and they are names of the input
language (``[A-Za-z][A-Za-z0-9_]*``); a name that is a Python keyword or builtin gets a
trailing underscore.  Everything the generator introduces starts with an underscore, so
it cannot collide with a user's name.  No user text is ever evaluated.
"""
from __future__ import annotations

import builtins
import keyword

import inspect
import re

import numpy as np

from . import expr as E
from . import kernels as K
from .errors import EvaluationError
from .kernels import KERNELS
from .numeric import CONSTANTS, is_diagonal_factor, operands


def kernel_source(names: set[str]) -> str:
    """The source of the kernels used, renamed ``_k_<name>``, with what they call."""
    out: list[str] = []
    done: set[str] = set()
    pending = sorted(names)
    while pending:
        name = pending.pop(0)
        if name in done:
            continue
        done.add(name)
        fn = KERNELS.get(name) or getattr(K, name)
        src = inspect.getsource(fn)
        src = re.sub(r"^def \w+", f"def _k_{name}", src, count=1)
        for helper in ("_numpy_axis", "_ERF"):
            if helper in src and helper not in done:
                done.add(helper)
                out.append(inspect.getsource(getattr(K, helper)) if helper != "_ERF"
                           else "_ERF = np.frompyfunc(math.erf, 1, 1)\n")
        out.append(src)
    # the generated module names its imports _np and _math, apart from any user name
    return re.sub(r"\b(np|math)\.", r"_\1.", "\n\n".join(out))

HELPERS = '''\
def _column(a):
    a = _np.asarray(a, dtype=float)
    return a.reshape(-1, 1) if a.ndim <= 1 else a


def _user(a, shape):
    """2-D value -> float, 1-D vector or 2-D matrix, as the API returns."""
    if shape == (1, 1):
        return float(a[0, 0])
    if shape[1] == 1:
        return a[:, 0]
    return a


def _user_derivative(j, f_shape, x_shape):
    """∂vec(F)/∂vec(X)' -> array of shape shape(F) + shape(X)."""
    (p, q), (m, n) = f_shape, x_shape
    full = j.reshape(q, p, n, m).transpose(1, 0, 3, 2)

    def user(r, c):
        return () if r == c == 1 else (r * c,) if 1 in (r, c) else (r, c)

    return full.reshape(user(p, q) + user(m, n))
'''


def python_name(name: str, taken: set[str] = frozenset()) -> str:
    """A user's name as a safe Python identifier: ``lambda -> lambda_``."""
    out = name
    while keyword.iskeyword(out) or keyword.issoftkeyword(out) or hasattr(builtins, out) \
            or out in taken:
        out += "_"
    if not out.isidentifier() or out.startswith("_"):
        raise ValueError(f"{name!r} is not a name of the language")  # grammar forbids it
    return out


class _Printer:
    """Assigns each distinct subexpression a temporary and prints its NumPy line."""

    def __init__(self, names: dict[str, str], dims: dict[str, str], functions: dict):
        self.names = names          # variable -> parameter
        self.dims = dims            # dimension name -> code for its size
        self.functions = functions  # (order, name) -> parameter
        self.temps: dict[E.Expr, str] = {}
        self.lines: list[str] = []
        self.kernels: set[str] = set()

    def kernel_call(self, n: E.Call, arg: str) -> str:
        """The shared kernel of a function (matcalc.kernels): a NumPy ufunc by name, or
        the kernel's own source, copied into the generated module."""
        kernel = KERNELS[n.spec.kernel]
        if isinstance(kernel, np.ufunc):
            return f"_np.{kernel.__name__}({arg})"
        self.kernels.add(n.spec.kernel)
        return f"_k_{n.spec.kernel}({arg})" if n.spec.elementwise \
            else f"_k_{n.spec.kernel}({arg}, {n.axis})"

    def size(self, d) -> str:
        for f in E.dim_factors(d):
            if isinstance(f, str) and f not in self.dims:
                raise EvaluationError(f"cannot generate code: no variable has the size {f}")
        return " * ".join(str(f) if isinstance(f, int) else self.dims[f]
                          for f in E.dim_factors(d))

    def emit(self, e: E.Expr) -> str:
        """The temporary holding ``e`` (emitting the lines that compute it)."""
        stack = [(e, False)]
        while stack:
            n, done = stack.pop()
            if n in self.temps:
                continue
            kids = operands(n)
            if not done:
                stack.append((n, True))
                stack.extend((c, False) for c in kids if c not in self.temps)
                continue
            code = self.line(n, [self.temps[c] for c in kids])
            if isinstance(n, E.Var):
                self.temps[n] = code
            else:
                name = f"_t{len(self.lines) + 1}"
                self.lines.append(f"    {name} = {code}")
                self.temps[n] = name
        return self.temps[e]

    def line(self, n: E.Expr, a: list[str]) -> str:
        if isinstance(n, E.Var):
            return self.names[n.name]
        if isinstance(n, E.Num):
            return f"_np.array([[{float(n.value)!r}]])"
        if isinstance(n, E.Fill):
            return f"_np.full(({self.size(n.shape[0])}, {self.size(n.shape[1])}), " \
                   f"{float(n.value)!r})"
        if isinstance(n, E.Eye):
            return f"_np.eye({self.size(n.shape[0])})"
        if isinstance(n, E.Add):
            return " + ".join(a)
        if isinstance(n, E.Mul):
            k = len(n.scalars)
            factors = [repr(float(n.coef))] if n.coef != 1 else []
            factors += a[:k]
            if n.chain:
                factors.append(_chain_code(n.chain, a[k:]))
            return " * ".join(factors) if factors else "_np.array([[1.0]])"
        if isinstance(n, E.Hadamard):
            return " * ".join(a)
        if isinstance(n, (E.Pow, E.ElemPow)):
            return f"{a[0]} ** {a[1]}"
        if isinstance(n, E.MatPow):
            return f"_np.linalg.matrix_power({a[0]}, {n.k})"
        if isinstance(n, E.Transpose):
            return f"{a[0]}.T"
        if isinstance(n, E.Call):
            return self.kernel_call(n, a[0])
        if isinstance(n, E.Size):
            return f"_np.array([[float({self.size(n.dim)})]])"
        if isinstance(n, E.Constant):
            return f"_np.array([[{CONSTANTS[n.name]!r}]])"
        if isinstance(n, E.Abstract):
            f = self.functions[(n.order, n.name)]
            shape = (n.arg.shape[0], n.arg.shape[0]) if n.order == 2 else \
                n.arg.shape if n.order == 1 else (1, 1)
            arg_shape = f"({self.size(n.arg.shape[0])}, {self.size(n.arg.shape[1])})"
            return (f"_np.asarray({f}(_user({a[0]}, {arg_shape})), dtype=float)"
                    f".reshape({self.size(shape[0])}, {self.size(shape[1])})")
        if isinstance(n, E.Kron):
            return f"_np.kron({a[0]}, {a[1]})"
        if isinstance(n, E.Vec):
            return f"{a[0]}.reshape(-1, 1, order='F')"
        if isinstance(n, E.Commutation):
            self.kernels.add("commutation")
            return f"_k_commutation({self.size(n.m)}, {self.size(n.n)})"
        raise TypeError(f"no NumPy code for {type(n).__name__}")  # pragma: no cover


def _chain_code(chain: tuple, names: list[str]) -> str:
    """``A @ B``, with diag(v) applied as a row or column scaling by v."""
    code = None
    pending = None
    for f, name in zip(chain, names):
        if is_diagonal_factor(f):
            if code is None:
                pending = name if pending is None else f"{pending} * {name}"
            else:
                code = f"({code} * {name}.T)"
            continue
        operand = name if pending is None else f"({pending} * {name})"
        pending = None
        code = operand if code is None else f"({code} @ {operand})"
    if code is None:
        return f"_np.diag({pending}[:, 0])"
    if pending is not None:
        code = f"({code} * {pending}.T)"
    return code


def numpy_code(result, function_name: str = "f") -> str:
    """Python source of ``function_name(...)`` returning ``(value, derivative)``.

    >>> import matcalc
    >>> print(numpy_code(matcalc.diff("x'*A*x", "x")).splitlines()[-1])
        return _user(_t2, (1, 1)), _user(_t5, (_dim_n, 1))
    """
    variables = sorted(E.free_vars(result.function).items())
    if result.variable.name not in dict(variables):
        variables.append((result.variable.name, result.variable))
        variables.sort()
    taken: set[str] = {function_name}
    names = {}
    for name, _ in variables:
        names[name] = python_name(name, taken)
        taken.add(names[name])
    functions = {}
    abstract = sorted({(n.order, n.name) for e in (result.function, result.expr)
                       for n in E.walk(e) if isinstance(n, E.Abstract)})
    for order, fname in sorted({(0, f) for _, f in abstract} | set(abstract)):
        base = fname if order == 0 else f"{fname}_{'grad' if order == 1 else 'hess'}"
        functions[(order, fname)] = python_name(base, taken)
        taken.add(functions[(order, fname)])
    dims: dict[str, str] = {}
    lines = []
    for name, var in variables:
        p = names[name]
        lines.append(f"    {p} = _column({p})")
        for axis, d in enumerate(var.shape):
            for factor in E.dim_factors(d):
                if isinstance(factor, str) and factor not in dims and "*" not in str(d):
                    dims[factor] = f"_dim_{factor}"
                    lines.append(f"    _dim_{factor} = {p}.shape[{axis}]")
    printer = _Printer(names, dims, functions)
    value = printer.emit(result.function)
    derivative = printer.emit(result.expr)
    f_shape = result.function.shape if result.kind != "hessian" else result.variable.shape

    def shape_code(shape) -> str:
        return f"({printer.size(shape[0])}, {printer.size(shape[1])})"

    if result.kind == "gradient":
        ret = f"_user({derivative}, {shape_code(result.variable.shape)})"
    else:
        ret = (f"_user_derivative({derivative}, {shape_code(f_shape)}, "
               f"{shape_code(result.variable.shape)})")
    params = [names[n] for n, _ in variables] + [functions[k] for k in sorted(functions)]
    what = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian"}[result.kind]
    doc = (f'    """Value of {result.function.text()} and its {what} with respect to '
           f'{result.variable.name}: {result.expr.text()} (generated by matcalc)."""')
    body = [f"def {function_name}({', '.join(params)}):", doc.replace("\\", "\\\\")]
    body += lines + printer.lines
    body.append(f"    return _user({value}, {shape_code(result.function.shape)}), {ret}")
    kernels = kernel_source(printer.kernels)
    head = ("import math as _math\n" if "_math." in kernels else "") + \
        "import numpy as _np\n\n\n"
    return head + (kernels + "\n\n" if kernels else "") + HELPERS + "\n\n" + \
        "\n".join(body) + "\n"
