"""A naive evaluator, independent of the plans: every node formed as it is written
(products left to right, ``inv`` inverted, ``diag`` and the commutation matrix built,
all-ones matrices filled), so that the plans' reorderings, scalings, solves and
broadcasts can be checked against it."""
from __future__ import annotations

import numpy as np

from matcalc import expr as E
from matcalc.kernels import CONSTANTS, KERNELS, commutation
from matcalc.nodes import postorder


def naive(e: E.Expr, values: dict, sizes: dict) -> np.ndarray:
    """The 2-D value of ``e`` (values as the API takes them; sizes of the dims)."""
    memo: dict = {}

    def size(d) -> int:
        out = 1
        for f in E.dim_factors(d):
            out *= f if isinstance(f, int) else sizes[f]
        return out

    for n in postorder(e, lambda n: True):        # children before parents
        c = [memo[k] for k in n.children()]
        if isinstance(n, E.Var):
            v = np.asarray(values[n.name], dtype=float)
            out = v.reshape(1, 1) if n.is_scalar else v.reshape(-1, 1) if n.shape[1] == 1 else v
        elif isinstance(n, E.Num):
            out = np.array([[float(n.value)]])
        elif isinstance(n, E.Fill):
            out = np.full((size(n.shape[0]), size(n.shape[1])), float(n.value))
        elif isinstance(n, E.Eye):
            out = np.eye(size(n.shape[0]))
        elif isinstance(n, E.Size):
            out = np.array([[float(size(n.dim))]])
        elif isinstance(n, E.Constant):
            out = np.array([[CONSTANTS[n.name]]])
        elif isinstance(n, E.Add):
            out = sum(c[1:], c[0])
        elif isinstance(n, E.Mul):
            k = len(n.scalars)
            out = np.array([[float(n.coef)]])
            for s in c[:k]:
                out = out * s
            for f in c[k:]:
                out = f * out[0, 0] if out.shape == (1, 1) and f.shape != (1, 1) else out @ f
        elif isinstance(n, E.Hadamard):
            out = c[0]
            for f in c[1:]:
                out = out * f
        elif isinstance(n, (E.Pow, E.ElemPow)):
            out = c[0] ** c[1][0, 0]
        elif isinstance(n, E.MatPow):
            out = np.linalg.matrix_power(c[0], n.k)
        elif isinstance(n, E.Transpose):
            out = c[0].T
        elif isinstance(n, E.Call):
            kernel = KERNELS[n.spec.kernel]
            out = kernel(c[0]) if n.spec.elementwise else kernel(c[0], n.axis)
        elif isinstance(n, E.Kron):
            out = np.kron(c[0], c[1])
        elif isinstance(n, E.Vec):
            out = c[0].reshape(-1, 1, order="F")
        elif isinstance(n, E.Commutation):
            out = commutation(size(n.m), size(n.n))
        elif isinstance(n, E.Abstract):
            f = values[E.Abstract.PREFIX[n.order] + n.name]
            u = c[0]
            if n.elementwise:
                out = np.asarray(f(u), dtype=float)
            else:
                arg = u[0, 0] if n.arg.is_scalar else u[:, 0] if n.arg.shape[1] == 1 else u
                out = np.asarray(f(arg), dtype=float).reshape(size(n.shape[0]),
                                                              size(n.shape[1]))
        else:  # pragma: no cover
            raise TypeError(type(n).__name__)
        memo[n] = out
    return memo[e]
