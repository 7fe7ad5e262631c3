"""The JAX backend: generated code that runs as it is and under ``jax.jit``.

Shapes are static under ``jit``, so the argument checks run while tracing; checks of
values (a symmetric argument, a singular matrix) run when the arguments are concrete
arrays and are skipped under ``jit``, where a singular matrix gives ``inf``/``nan``
instead of an error.  A missing derivative of a user's function (``g_grad``,
``g_hess``) is taken by JAX's automatic differentiation of ``g``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import jax_kernels
from .numpy import _unvec
from .printer import Printer, Problem
from .runtime import _singular_error, _symmetry_error

if TYPE_CHECKING:  # pragma: no cover
    import jax as _jax
    import jax.numpy as _jnp
    import numpy as _np


# helpers copied into generated JAX modules ---------------------------------------------

def _float_dtype(*values):
    """The common float dtype of the array arguments (float64 only with jax_enable_x64).
    Python numbers and lists take the arrays' dtype; with no float array, JAX's float."""
    dtypes = [v.dtype for v in values if hasattr(v, "dtype")]
    dtype = _np.result_type(*dtypes) if dtypes else _np.dtype(float)
    if dtype.kind != "f":
        dtype = _np.dtype(float)
    return _jax.dtypes.canonicalize_dtype(dtype)


def _concrete(a):
    """A value known now (not a tracer inside jax.jit)."""
    return not isinstance(a, _jax.core.Tracer)


def _symmetric(name, a):
    """Check that an argument declared symmetric is (when its value is known)."""
    if _concrete(a) and a.size:
        scale = float(_jnp.max(_jnp.abs(a)))
        gap = float(_jnp.max(_jnp.abs(a - a.T)))
        tolerance = max(1e-7, 64 * float(_jnp.finfo(a.dtype).eps))
        if gap > tolerance * scale:
            raise _symmetry_error(name, gap, scale, tolerance)


def _finite(out, what):
    """A solve gives inf/nan for a singular matrix: an error when the value is known."""
    if _concrete(out) and not bool(_jnp.all(_jnp.isfinite(out))):
        raise _singular_error(what)
    return out


def _solve(a, b, what):
    """inv(a) @ b, by solving."""
    return _finite(_jnp.linalg.solve(a, b), what)


def _inv(a, what):
    return _finite(_jnp.linalg.inv(a), what)


def _elementwise_derivative(f):
    """The entry-wise derivative of an element-wise function (forward mode)."""
    return lambda u: _jax.jvp(f, (u,), (_jnp.ones_like(u),))[1]


class JaxPrinter(Printer):
    backend = "jax"
    xp = "_jnp"
    autodiff = ("_jax.grad", "_jax.hessian")
    imports = ("import jax as _jax", "import jax.numpy as _jnp", "import numpy as _np")
    asarray = "_jnp.asarray({a}, dtype=_dt)"
    kernel_variants = jax_kernels
    runtime_helpers = {"_float_dtype": _float_dtype, "_concrete": _concrete,
                       "_symmetric": _symmetric, "_finite": _finite, "_solve": _solve,
                       "_inv": _inv, "_unvec": _unvec,
                       "_elementwise_derivative": _elementwise_derivative}

    def translate_numpy(self, src: str) -> str:
        return super().translate_numpy(src).replace("_np.", "_jnp.")

    def op_matmul(self, step, a):
        # XLA on CPU copies A.T before A.T @ v (ten times the product at n = 2000);
        # (v.T @ A).T is the same column, computed as a row times A, without the copy
        steps = self.problem.plan.steps
        left, right = steps[step.inputs[0]], steps[step.inputs[1]]
        if left.op == "transpose" and a[0].endswith(".T") and right.cols == 1 \
                and left.cols != 1:
            return f"({a[1]}.T @ {a[0][:-2]}).T"
        return super().op_matmul(step, a)

    def copy(self, code: str) -> str:
        return code                                  # JAX arrays are immutable

    def backend_note(self) -> str:
        return ("Works under jax.jit (pass user functions with functools.partial). Arrays "
                "keep their float dtype (float64 needs jax_enable_x64). Under jit, a "
                "singular matrix gives inf/nan and symmetry is not checked.")


def jax_code(result, function_name: str = "f", check: bool = False) -> str:
    r"""Source of a JAX module with ``function_name(...)`` (``jax.jit``-compatible).

    >>> import matcalc
    >>> print(jax_code(matcalc.diff("sum(exp(A*x))", "x")).split("_sizes)\n")[-1])
        _t1 = A @ x
        _t2 = _jnp.exp(_t1)
        _t3 = _k_sum(_t2, 0)
        _t4 = (_t2.T @ A).T
        return _t3[0, 0], _t4[:, 0]
    <BLANKLINE>
    """
    return JaxPrinter(Problem(result), function_name, check).module()
