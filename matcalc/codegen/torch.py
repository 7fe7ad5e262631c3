"""The PyTorch backend: generated code for plain tensors, on any device.

Arguments are converted with ``torch.as_tensor`` to the common float dtype and the
device of the tensor arguments (CPU without any); constants are created there too.  No
autograd is needed.  A missing derivative of a user's function (``g_grad``, ``g_hess``)
is taken by ``torch.func`` from ``g``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import torch_kernels
from .printer import Printer, Problem
from .runtime import _singular_error, _symmetry_error

if TYPE_CHECKING:  # pragma: no cover
    import torch as _torch


# helpers copied into generated PyTorch modules -----------------------------------------

def _float_dtype(*values):
    """The common float dtype and the device of the tensor (or array) arguments.
    Python numbers and lists take their dtype; with none, PyTorch's default dtype."""
    dtype, device = None, None
    for v in values:
        if isinstance(v, _torch.Tensor):
            device = v.device if device is None else device
        elif not hasattr(v, "dtype"):
            continue
        t = v.dtype if isinstance(v, _torch.Tensor) else _torch.as_tensor(v).dtype
        if t.is_floating_point:
            dtype = t if dtype is None else _torch.promote_types(dtype, t)
    return (dtype or _torch.get_default_dtype()), device


def _symmetric(name, a):
    """Check that an argument declared symmetric is, within a tolerance."""
    if a.numel():
        scale = float(a.abs().max())
        gap = float((a - a.T).abs().max())
        tolerance = max(1e-7, 64 * float(_torch.finfo(a.dtype).eps))
        if gap > tolerance * scale:
            raise _symmetry_error(name, gap, scale, tolerance)


def _solve(a, b, what):
    """inv(a) @ b, by solving."""
    try:
        return _torch.linalg.solve(a, b)
    except _torch.linalg.LinAlgError:
        raise _singular_error(what) from None


def _inv(a, what):
    try:
        return _torch.linalg.inv(a)
    except _torch.linalg.LinAlgError:
        raise _singular_error(what) from None


def _unvec(j, sizes, shape):
    """∂vec(F)/∂vec(X)' (vec stacks columns) as an array of shape shape(F) + shape(X):
    entry [i, j, k, l] = ∂F[i, j]/∂X[k, l]."""
    p, q, m, n = sizes
    return j.reshape(q, p, n, m).permute(1, 0, 3, 2).reshape(shape)


def _elementwise_derivative(f):
    """The entry-wise derivative of an element-wise function (forward mode)."""
    return lambda u: _torch.func.jvp(f, (u,), (_torch.ones_like(u),))[1]


class TorchPrinter(Printer):
    backend = "torch"
    xp = "_torch"
    autodiff = ("_torch.func.grad", "_torch.func.hessian")
    imports = ("import torch as _torch",)
    asarray = "_torch.as_tensor({a}, dtype=_dt, device=_dev)"
    kernel_variants = torch_kernels
    runtime_helpers = {"_float_dtype": _float_dtype, "_symmetric": _symmetric,
                       "_solve": _solve, "_inv": _inv, "_unvec": _unvec,
                       "_elementwise_derivative": _elementwise_derivative}

    def dtype_line(self, args):
        return f"_dt, _dev = {self.need('_float_dtype')}({', '.join(args)})"

    def translate_numpy(self, src):  # pragma: no cover - every kernel has a variant
        raise TypeError("a PyTorch kernel is missing from matcalc.codegen.torch_kernels")

    def op_eye(self, step, a):
        return f"_torch.eye({self.size(step.params[0])}, dtype=_dt, device=_dev)"

    def op_broadcast(self, step, a, weak=False):
        if weak:
            return f"_torch.full({self.shape(step.params)}, {a[0]}, dtype=_dt, device=_dev)"
        return f"{a[0]}.expand{self.shape(step.params)}"

    def op_kron(self, step, a):
        # torch.kron fails on some strided (transposed) inputs
        return f"_torch.kron({a[0]}.contiguous(), {a[1]}.contiguous())"

    def op_commutation(self, step, a):
        m, n = step.params
        return f"{self.kernel('commutation')}({self.size(m)}, {self.size(n)}, _dt, _dev)"

    def copy(self, code):
        return f"{code}.clone()"

    def backend_note(self):
        return ("Works with plain tensors (no autograd) on the arguments' device; keeps "
                "their float dtype (PyTorch's default dtype for lists and numbers).")


def torch_code(result, function_name: str = "f", check: bool = False) -> str:
    r"""Source of a PyTorch module with ``function_name(...)``.

    >>> import matcalc
    >>> print(torch_code(matcalc.diff("sum(exp(A*x))", "x")).split("_sizes)\n")[-1])
        _t1 = A @ x
        _t2 = _torch.exp(_t1)
        _t3 = _k_sum(_t2, 0)
        _t4 = A.T @ _t2
        return _t3[0, 0], _t4[:, 0]
    <BLANKLINE>
    """
    return TorchPrinter(Problem(result), function_name, check).module()
