"""Helpers of the generated code that are the same for every backend.

The code generators copy the source of the helpers a function uses into the generated
module (see :func:`matcalc.codegen.printer.helper_source`), so that the module never
imports matcalc.  They use only what NumPy arrays, JAX arrays and PyTorch tensors have in
common: ``.ndim``, ``.shape``, ``.reshape`` and arithmetic.  Each helper's name starts
with an underscore, like every name the generator introduces.

>>> import numpy as np
>>> sizes = {}
>>> _argument("W", np.zeros((3, 4)), "matrix", ("m", "n"), sizes).shape
(3, 4)
>>> sizes
{'m': (3, 'W'), 'n': (4, 'W')}
>>> _argument("x", np.zeros((5, 4)), "vector", ("n",), sizes)
Traceback (most recent call last):
...
matcalc.codegen.runtime._ShapeError: x must be a vector of length n (here n = 4 from W), got an array of shape (5, 4)
"""
from __future__ import annotations


class _ShapeError(ValueError):
    """An argument has the wrong number of dimensions or the wrong size."""


class _NotSymmetricError(ValueError):
    """An argument declared symmetric is not (within a tolerance)."""


class _SingularMatrixError(ValueError):
    """A matrix that the expression inverts is singular at this point."""


def _shape_text(shape):
    """``(4, 10)`` and ``(4,)``, as Python prints a tuple of ints."""
    return str(tuple(int(s) for s in shape))


def _wanted(name, kind, labels, sizes):
    """What an argument must be: ``a vector of length n (here n = 4 from W)``."""
    dims = [str(label) for label in labels]
    what = {"scalar": "a scalar (a number or a 0-d array)",
            "vector": f"a vector of length {dims[0] if dims else ''}",
            "matrix": f"a matrix of shape ({', '.join(dims)})"}[kind]
    if kind == "matrix" and len(dims) == 2 and dims[0] == dims[1]:
        what = "a square " + what[2:]
    bound = []
    for label in labels:
        if isinstance(label, str) and label in sizes and sizes[label][1] != name:
            text = f"{label} = {sizes[label][0]} from {sizes[label][1]}"
            if text not in bound:
                bound.append(text)
    return what + (f" (here {', '.join(bound)})" if bound else "")


def _argument(name, a, kind, labels, sizes):
    """``a`` as a 2-D array (a vector as a column, a scalar as 1×1), after checking its
    kind and its sizes against those bound by earlier arguments; binds new sizes."""
    shape = tuple(int(s) for s in a.shape)
    before = dict(sizes)
    if kind == "scalar":
        if a.ndim > 2 or len(a.reshape(-1)) != 1:
            raise _ShapeError(f"{name} must be {_wanted(name, kind, labels, before)}, got an "
                              f"array of shape {_shape_text(shape)}")
        return a.reshape(1, 1)
    if kind == "vector":
        good = a.ndim == 1 or (a.ndim == 2 and shape[1] == 1)
        got = shape[:1]
    else:
        good = a.ndim == 2
        got = shape
    for label, size in zip(labels, got if good else ()):
        known = label if isinstance(label, int) else sizes.get(label, (size, name))[0]
        if known != size:
            good = False
            break
        if isinstance(label, str) and label not in sizes:
            sizes[label] = (size, name)
    if not good:
        raise _ShapeError(f"{name} must be {_wanted(name, kind, labels, before)}, got an "
                          f"array of shape {_shape_text(shape)}")
    return a.reshape(-1, 1) if kind == "vector" else a


def _returned(name, out, shape):
    """What a user's function returned, as a 2-D array of ``shape``."""
    rows, cols = shape
    size = len(out.reshape(-1))
    if size != rows * cols or (out.ndim == 2 and tuple(out.shape) not in (
            (rows, cols), (rows * cols, 1))) or out.ndim > 2:
        want = "a scalar" if rows * cols == 1 else f"an array of {rows * cols} entries " \
            f"(shape ({rows},) or ({rows}, {cols}))" if cols == 1 else \
            f"an array of shape ({rows}, {cols})"
        raise _ShapeError(f"{name} must return {want}, but it returned shape "
                          f"{_shape_text(out.shape)}")
    return out.reshape(rows, cols)


def _elementwise_returned(name, out, u):
    """What an element-wise function returned: the shape of its argument."""
    if tuple(out.shape) != tuple(u.shape):
        raise _ShapeError(f"{name} is applied entry by entry, so it must keep the shape "
                          f"{_shape_text(u.shape)} of its argument, but it returned "
                          f"{_shape_text(out.shape)}")
    return out


def _symmetry_error(name, gap, scale, tolerance):
    return _NotSymmetricError(
        f"{name} is declared symmetric, but {name} - {name}.T has an entry of size "
        f"{gap:.3g} (the tolerance is {tolerance:.1g} times the largest entry, "
        f"{scale:.3g}); pass ({name} + {name}.T)/2 to use its symmetric part")


def _singular_error(what):
    return _SingularMatrixError(
        f"{what} is singular at this point, so its inverse does not exist")


def _user_function(name, f):
    """A callable argument, or a clear error when it is missing."""
    if not callable(f):
        raise TypeError(f"{name} must be a callable (it is {type(f).__name__})")
    return f


#: the helpers above that the generated code may call, and the names they use
HELPERS = ("_ShapeError", "_NotSymmetricError", "_SingularMatrixError", "_shape_text",
           "_wanted", "_argument", "_returned", "_elementwise_returned", "_symmetry_error",
           "_singular_error", "_user_function")
