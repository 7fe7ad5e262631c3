"""JAX variants of the kernels whose NumPy source (:mod:`matcalc.kernels`) cannot run
under ``jax.jit``; every other kernel's NumPy source is used with ``np`` spelled ``_jnp``.

The code generator copies these functions' source into generated modules, where
``_jax`` and ``_jnp`` are imported; this module itself never imports JAX.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import jax as _jax
    import jax.numpy as _jnp


def logdet(a, axis=0):
    """log(det(a)); NaN where det(a) <= 0 (a select, not a Python branch)."""
    sign, value = _jnp.linalg.slogdet(a)
    return _jnp.where(sign > 0, value, _jnp.nan).astype(a.dtype).reshape(1, 1)


def erf(a):
    return _jax.lax.erf(a)


def sigmoid(a):
    return _jax.nn.sigmoid(a)
