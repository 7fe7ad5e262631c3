"""The NumPy backend: the printer of generated NumPy code, and the executor of plans
that :class:`matcalc.numeric.Evaluator` uses.

Both spell each operation of a plan the same way (``a @ b``, ``np.linalg.solve``, the
kernels of :mod:`matcalc.kernels`), side by side in this module, so ``evaluate`` and the
generated code compute the same numbers the same way.

>>> import matcalc
>>> code = numpy_code(matcalc.diff("x'*A*x", "x"))
>>> print(code[code.index("    _t1"):])
    _t1 = A @ x
    _t2 = x.T @ _t1
    _t3 = A + A.T
    _t4 = _t3 @ x
    return _t2[0, 0], _t4[:, 0]
<BLANKLINE>
"""
from __future__ import annotations

import numpy as _np

from .. import kernels as _kernels
from ..kernels import CONSTANTS, KERNELS
from .printer import Printer, Problem
from .runtime import _singular_error, _symmetry_error


# helpers copied into generated NumPy modules --------------------------------------------

def _float_dtype(*values):
    """The common float dtype of the array arguments: float32 arrays give float32.
    Python numbers and lists take the arrays' dtype; with no float array, float64."""
    dtypes = [v.dtype for v in values if isinstance(v, (_np.ndarray, _np.generic))]
    dtype = _np.result_type(*dtypes) if dtypes else _np.dtype(_np.float64)
    return dtype if dtype.kind == "f" else _np.dtype(_np.float64)


def _symmetric(name, a):
    """Check that an argument declared symmetric is, within a tolerance."""
    if a.size:
        scale = float(_np.max(_np.abs(a)))
        gap = float(_np.max(_np.abs(a - a.T)))
        tolerance = max(1e-7, 64 * float(_np.finfo(a.dtype).eps))
        if gap > tolerance * scale:
            raise _symmetry_error(name, gap, scale, tolerance)


def _solve(a, b, what):
    """inv(a) @ b, by solving."""
    try:
        return _np.linalg.solve(a, b)
    except _np.linalg.LinAlgError:
        raise _singular_error(what) from None


def _inv(a, what):
    try:
        return _np.linalg.inv(a)
    except _np.linalg.LinAlgError:
        raise _singular_error(what) from None


def _unvec(j, sizes, shape):
    """∂vec(F)/∂vec(X)' (vec stacks columns) as an array of shape shape(F) + shape(X):
    entry [i, j, k, l] = ∂F[i, j]/∂X[k, l]."""
    p, q, m, n = sizes
    return j.reshape(q, p, n, m).transpose(1, 0, 3, 2).reshape(shape)


class NumpyPrinter(Printer):
    backend = "numpy"
    xp = "_np"
    imports = ("import numpy as _np",)
    runtime_helpers = {"_float_dtype": _float_dtype, "_symmetric": _symmetric,
                       "_solve": _solve, "_inv": _inv, "_unvec": _unvec}


def numpy_code(result, function_name: str = "f", check: bool = False) -> str:
    """Source of a NumPy module with ``function_name(...)`` returning the value and the
    derivative(s) (and, with ``check``, ``check_<function_name>``)."""
    return NumpyPrinter(Problem(result), function_name, check).module()


# the executor: the same operations, run -------------------------------------------------

def execute(plan, env, memo: dict) -> list:
    """Run ``plan`` with NumPy; returns the outputs.  ``env`` gives the values of the
    variables (``param(var)``), sizes (``size(d)``), the user's functions
    (``abstract(node, u)``) and the error for a singular matrix (``singular(what)``);
    ``memo`` holds node values from earlier runs and receives the new ones."""
    steps = plan.steps
    # only full-shaped values are remembered and reused: a constant such as
    # arccos(matrix(0)) is a weak number in one plan and a whole matrix in another
    if any(s.node in memo for s in plan.remembered):
        live = plan.live(lambda s: s.full and s.node is not None and s.node in memo)
    else:
        live = plan.needed
    values: dict = {}
    for i, step in enumerate(steps):
        if not live[i]:
            continue
        node = step.node
        if node is not None and step.full and node in memo:
            values[i] = memo[node]
            continue
        out = run(step, [values[j] for j in step.inputs], env, steps)
        values[i] = out
        if node is not None and step.full:
            memo[node] = out
    return [values[s] for s in plan.outputs]


def run(step, a: list, env, steps):
    """One step (``steps`` for the inputs' own steps: a weak number becomes an array)."""
    op, params = step.op, step.params
    if op == "param":
        return env.param(params[1])
    # numbers as NumPy floats: an overflow is inf, as in arrays, not a Python error
    if op == "literal":
        return _np.float64(params[0])
    if op == "constant":
        return _np.float64(CONSTANTS[params[0]])
    if op == "size":
        return _np.float64(env.size(params[0]))
    if op == "eye":
        return _np.eye(env.size(params[0]))
    if op == "add":
        out = -a[0] if params[0] < 0 else a[0]
        for sign, v in zip(params[1:], a[1:]):
            out = out - v if sign < 0 else out + v
        return out
    if op == "mul":
        number, divide = params
        out = None
        for v, below in zip(a, divide):
            out = (1.0 / v if below else v) if out is None else (out / v if below else out * v)
        return out if number == 1.0 else number * out
    if op == "power":
        return a[0] ** a[1]
    if op == "matmul":
        return a[0] @ a[1]
    if op == "multi_dot":
        return _np.linalg.multi_dot(a)
    if op == "transpose":
        return a[0].T
    if op in ("solve", "inv"):
        try:
            return _np.linalg.solve(a[0], a[1]) if op == "solve" else _np.linalg.inv(a[0])
        except _np.linalg.LinAlgError:
            raise env.singular(params[0]) from None
    if op == "call":
        name, axis, elementwise = params
        kernel = KERNELS[name]
        try:
            return kernel(a[0]) if elementwise else kernel(a[0], axis)
        except _np.linalg.LinAlgError:
            raise env.singular(str(steps[step.inputs[0]].node or "a matrix")) from None
    if op == "abstract":
        return env.abstract(params[4], a[0])
    if op == "kron":
        return _np.kron(a[0], a[1])
    if op == "vec":
        return a[0].T.reshape(-1, 1)
    if op == "commute":
        return _kernels.commute(a[0], env.size(params[0]), env.size(params[1]))
    if op == "commutation":
        return _kernels.commutation(env.size(params[0]), env.size(params[1]))
    if op == "matrix_power":
        return _np.linalg.matrix_power(a[0], params[0])
    if op == "broadcast":
        shape = (env.size(params[0]), env.size(params[1]))
        if steps[step.inputs[0]].weak:
            return _np.full(shape, a[0])
        return _np.broadcast_to(a[0], shape)
    raise TypeError(f"no NumPy operation {op}")  # pragma: no cover

