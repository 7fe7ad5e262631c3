"""NumPy kernels of the built-in functions: the one place where their numbers are made.

``evaluate``, the checker and the generated NumPy code all use these functions (the
code generator copies their source into the generated module).  Every kernel takes
2-D arrays (vectors are columns, scalars 1×1) and returns a 2-D array; reductions take
the axis of the language (0: all entries, 1: down each column, 2: along each row).
Each kernel is self-contained, using only ``np`` and ``math``.
"""
from __future__ import annotations

import math

import numpy as np


def sigmoid(a):
    """1/(1+exp(-a)), without overflow for large |a|."""
    return np.exp(-np.logaddexp(0.0, -a))


def softplus(a):
    """log(1+exp(a)), without overflow."""
    return np.logaddexp(0.0, a)


def relu(a):
    return np.maximum(a, 0.0)


_ERF = np.frompyfunc(math.erf, 1, 1)


def erf(a):
    """The error function, entry by entry (math.erf: exact to the last bit)."""
    return _ERF(a).astype(np.asarray(a).dtype if np.asarray(a).dtype.kind == "f" else float)


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
    """K with K @ vec(A) = vec(A.T) for an m×n A (vec stacks columns): a permutation."""
    k = np.zeros((m * n, m * n), dtype=dtype)
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    k[(j + i * n).reshape(-1), (i + j * m).reshape(-1)] = 1.0  # vec(A')[j+i*n] = A[i,j]
    return k


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
    "mean": None, "max": max_, "min": min_, "norm1": norm1, "norm2": norm2,
    "softmax": softmax, "logsumexp": logsumexp,
}
