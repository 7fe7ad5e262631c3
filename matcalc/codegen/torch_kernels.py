"""PyTorch kernels: the functions of :mod:`matcalc.kernels`, written for tensors.

The code generator copies the source of the kernels a function uses into generated
modules, where ``_torch`` is imported; this module itself never imports PyTorch.  Each
kernel computes what its NumPy namesake computes (a test compares them on every
function of the registry) and keeps its argument's dtype and device.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch as _torch


def sigmoid(a):
    return _torch.sigmoid(a)


def softplus(a):
    """log(1+exp(a)), without overflow."""
    return _torch.logaddexp(a, _torch.zeros_like(a))


def relu(a):
    return _torch.relu(a)


def erf(a):
    return _torch.erf(a)


def sum_(a, axis=0):
    if axis == 0:
        return a.sum().reshape(1, 1)
    return a.sum(dim=axis - 1, keepdim=True)


def max_(a, axis=0):
    return a.max().reshape(1, 1)


def min_(a, axis=0):
    return a.min().reshape(1, 1)


def ismax(a, axis=0):
    """1 where a attains its maximum, 0 elsewhere; k tied entries get 1/k each."""
    hit = (a == a.max()).to(a.dtype)
    return hit / hit.sum()


def ismin(a, axis=0):
    """1 where a attains its minimum, 0 elsewhere; k tied entries get 1/k each."""
    hit = (a == a.min()).to(a.dtype)
    return hit / hit.sum()


def softmax(a, axis=0):
    """exp(a)/sum(exp(a)) over all entries (a vector) or along an axis, stably."""
    if axis == 0:
        return _torch.softmax(a.reshape(-1), 0).reshape(a.shape)
    return _torch.softmax(a, axis - 1)


def logsumexp(a, axis=0):
    if axis == 0:
        return _torch.logsumexp(a.reshape(-1), 0).reshape(1, 1)
    return _torch.logsumexp(a, axis - 1, keepdim=True)


def trace(a, axis=0):
    return _torch.trace(a).reshape(1, 1)


def det(a, axis=0):
    return _torch.linalg.det(a).reshape(1, 1)


def logdet(a, axis=0):
    """log(det(a)); NaN where det(a) <= 0."""
    sign, value = _torch.linalg.slogdet(a)
    return _torch.where(sign > 0, value, _torch.full_like(value, float("nan"))).reshape(1, 1)


def inv(a, axis=0):
    return _torch.linalg.inv(a)


def diag(a, axis=0):
    """The diagonal matrix of a vector, or the diagonal of a square matrix as a column."""
    return _torch.diag(a[:, 0]) if a.shape[1] == 1 else _torch.diagonal(a).reshape(-1, 1)


def norm1(a, axis=0):
    return a.abs().sum().reshape(1, 1)


def norm2(a, axis=0):
    return _torch.sqrt((a * a).sum()).reshape(1, 1)


def commutation(m, n, dtype=None, device=None):
    """K with K @ vec(A) = vec(A.T) for an m×n A: the rows of the identity, permuted."""
    index = _torch.arange(m * n, device=device).reshape(n, m).T.reshape(-1)
    return _torch.eye(m * n, dtype=dtype, device=device)[index]


def commute(v, m, n):
    """K(m,n) @ v without forming K: vec(A') from vec(A), for each column of v."""
    cols = v.shape[1]
    return v.reshape(n, m, cols).permute(1, 0, 2).reshape(m * n, cols)
