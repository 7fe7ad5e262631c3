"""NumPy kernels of the built-in functions: the one place where their numbers are made.

``evaluate``, the checker and the generated code all use these functions: the code
generators copy the source of the kernels a function uses into the generated module,
with ``np`` spelled ``_jnp`` for JAX (a kernel that cannot run under ``jax.jit`` has a
variant in :mod:`matcalc.codegen.jax_kernels`; PyTorch has its own in
:mod:`matcalc.codegen.torch_kernels`).  Every kernel takes 2-D arrays (vectors are
columns, scalars 1×1) and returns a 2-D array; reductions take the axis of the language
(0: all entries, 1: down each column, 2: along each row).  Each kernel is
self-contained, using only ``np``, ``math`` and the helpers here whose names start with
an underscore, and none loops over entries in Python.
"""
from __future__ import annotations

import math

import numpy as np


def sigmoid(a):
    """1/(1+exp(-a)): accurate for all a (for a << 0, 1/(1 + huge) is exp(a) to the last
    bits), and exp(-a) = inf far below gives the limit 0 without a warning."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-a))


def softplus(a):
    """log(1+exp(a)), without overflow."""
    return np.logaddexp(0.0, a)


def relu(a):
    return np.maximum(a, 0.0)


#: the values of the language's named constants
CONSTANTS = {"pi": math.pi}


def erf(a):
    """The error function, entry by entry, to a few units in the last place: the series
    erf(x) = 2/sqrt(pi)*exp(-x^2)*sum 2^n x^(2n+1)/(1*3*...*(2n+1)) (Abramowitz and
    Stegun 7.1.6, all terms positive) below |x| = 2.5, and the continued fraction of
    erfc (A&S 7.1.14) above; 40 and 32 terms are enough for float64."""
    x = np.abs(a)
    small = np.minimum(x, 2.5)
    term = small
    total = small
    twice_square = 2.0 * small * small
    for n in range(1, 40):
        term = term * twice_square / (2 * n + 1)
        total = total + term
    series = 2.0 / math.sqrt(math.pi) * np.exp(-small * small) * total
    big = np.maximum(x, 2.5)
    fraction = big
    for k in range(32, 0, -1):
        fraction = big + 0.5 * k / fraction
    tail = 1.0 - np.exp(-big * big) / (math.sqrt(math.pi) * fraction)
    return np.sign(a) * np.where(x < 2.5, series, tail)


def _numpy_axis(axis):
    return None if axis == 0 else axis - 1


def sum_(a, axis=0):
    if axis == 0:
        return np.sum(a).reshape(1, 1)
    return np.sum(a, axis=axis - 1, keepdims=True)


def max_(a, axis=0):
    return np.max(a).reshape(1, 1)


def min_(a, axis=0):
    return np.min(a).reshape(1, 1)


def ismax(a, axis=0):
    """1 where a attains its maximum, 0 elsewhere; k tied entries get 1/k each."""
    hit = (a == np.max(a)).astype(a.dtype)
    return hit / np.sum(hit)


def ismin(a, axis=0):
    """1 where a attains its minimum, 0 elsewhere; k tied entries get 1/k each."""
    hit = (a == np.min(a)).astype(a.dtype)
    return hit / np.sum(hit)


def softmax(a, axis=0):
    """exp(a)/sum(exp(a)) over all entries (a vector) or along an axis, stably."""
    ax = _numpy_axis(axis)
    z = np.exp(a - np.max(a, axis=ax, keepdims=True))
    return z / np.sum(z, axis=ax, keepdims=True)


def logsumexp(a, axis=0):
    """log(sum(exp(a))) over all entries or along an axis, stably."""
    ax = _numpy_axis(axis)
    m = np.max(a, axis=ax, keepdims=True)
    out = m + np.log(np.sum(np.exp(a - m), axis=ax, keepdims=True))
    return out.reshape(1, 1) if axis == 0 else out


def trace(a, axis=0):
    return np.trace(a).reshape(1, 1)


def det(a, axis=0):
    return np.linalg.det(a).reshape(1, 1)


def logdet(a, axis=0):
    """log(det(a)); NaN where det(a) <= 0."""
    sign, value = np.linalg.slogdet(a)
    return np.asarray(value if sign > 0 else np.nan, dtype=a.dtype).reshape(1, 1)


def adjugate_matrix(a):
    """adj(A) = det(A)*inv(A), also where A is singular: from the SVD A = U*S*V',
    adj(A) = det(U*V') * V*adj(S)*U' with adj(S)_ii the product of the other s_j."""
    u, s, vt = np.linalg.svd(a)
    n = s.shape[0]
    others = np.array([np.prod(np.delete(s, i)) for i in range(n)]) if n > 1 else np.ones(1)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return sign * (vt.T * others) @ u.T


def inv(a, axis=0):
    return np.linalg.inv(a)


def diag(a, axis=0):
    """The diagonal matrix of a vector, or the diagonal of a square matrix as a column."""
    return np.diag(a[:, 0]) if a.shape[1] == 1 else np.diag(a).reshape(-1, 1)


def norm1(a, axis=0):
    return np.abs(a).sum().reshape(1, 1)


def norm2(a, axis=0):
    return np.sqrt((a * a).sum()).reshape(1, 1)


def commutation(m, n, dtype=float):
    """K with K @ vec(A) = vec(A.T) for an m×n A (vec stacks columns): the rows of the
    identity, permuted (vec(A')[j+i*n] = A[i,j] = vec(A)[i+j*m])."""
    return np.eye(m * n, dtype=dtype)[np.arange(m * n).reshape(n, m).T.reshape(-1)]


def commute(v, m, n):
    """K(m,n) @ v without forming K: vec(A') from vec(A), for each column of v."""
    cols = v.shape[1]
    return v.reshape(n, m, cols).transpose(1, 0, 2).reshape(m * n, cols)


#: the kernel of each name in the function registry (matcalc.functions)
KERNELS = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "abs": np.abs,
    "sign": np.sign, "sqrt": np.sqrt, "relu": relu, "sigmoid": sigmoid,
    "softplus": softplus, "erf": erf,
    "tr": trace, "det": det, "logdet": logdet, "inv": inv, "diag": diag, "sum": sum_,
    "mean": None, "max": max_, "min": min_, "ismax": ismax, "ismin": ismin, "norm1": norm1, "norm2": norm2,
    "softmax": softmax, "logsumexp": logsumexp,
}
