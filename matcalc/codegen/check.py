"""The optional ``check_<name>`` function of a generated module (``check=True``), in the
manner of matrixcalculus.org's export: the derivatives against central differences of
the generated function itself, along one random direction per variable.
"""
from __future__ import annotations

import numpy as _np

from .printer import source_of


def _check_derivatives(f, args, kind, wrt, second):
    """The largest relative difference between each derivative that ``f(**args)``
    returns and central differences of its value, along a random direction (seed 0).
    Differences are taken in float64 where the backend allows; expect about 1e-7 or less
    in float64 when the derivative is right."""
    rng = _np.random.default_rng(0)
    out = f(**args)
    dtype = _np.asarray(out[0]).dtype
    eps = float(_np.finfo(dtype if dtype.kind == "f" else float).eps)

    def direction(name, symmetric):
        x = _np.asarray(args[name], dtype=float)
        d = rng.standard_normal(x.shape)
        return x, (d + d.T) / 2 if symmetric else d

    def value(shifts):
        return _np.asarray(f(**{**args, **shifts})[0], dtype=float)

    worst = 0.0
    for k, (name, symmetric) in enumerate(wrt):
        x, d = direction(name, symmetric)
        derivative = _np.asarray(out[k + 1], dtype=float)
        if kind == "hessian":
            other, other_symmetric = second or (name, symmetric)
            y, e = (x, d) if other == name else direction(other, other_symmetric)
            h = eps ** 0.25 * max(1.0, float(_np.max(_np.abs(x))), float(_np.max(_np.abs(y))))

            def corner(sa, sb):
                shifts = {name: x + sa * h * d}
                shifts[other] = shifts.get(other, y) + sb * h * e
                return value(shifts)
            numeric = (corner(1, 1) - corner(1, -1) - corner(-1, 1) + corner(-1, -1)) / (
                4 * h * h)
            analytic = _np.sum(_np.tensordot(derivative, e, axes=e.ndim) * d)
        else:
            h = eps ** (1 / 3) * max(1.0, float(_np.max(_np.abs(x))))
            numeric = (value({name: x + h * d}) - value({name: x - h * d})) / (2 * h)
            analytic = _np.sum(derivative * d) if kind == "gradient" else \
                _np.tensordot(derivative, d, axes=d.ndim)
        gap = float(_np.max(_np.abs(analytic - numeric)))
        scale = max(1.0, float(_np.max(_np.abs(analytic))), float(_np.max(_np.abs(numeric))))
        worst = max(worst, gap / scale)
    return worst


def check_function(printer) -> str:
    """The source of ``check_<name>`` for a printer's problem (and its helper)."""
    p = printer.problem
    params = printer.signature()[len(f"def {printer.function_name}("):-2]
    names = [printer.names[v.name] for v in p.variables] + [
        param for _, param in sorted(printer.functions.items())]
    args = ", ".join(f"{n!r}: {n}" for n in names)
    wrt = tuple((printer.names[v.name], bool(v.symmetric)) for v in p.wrt)
    second = None if p.second is None else (printer.names[p.second.name],
                                            bool(p.second.symmetric))
    name = f"check_{printer.function_name}"
    return (source_of(_check_derivatives) + "\n\n"
            f"def {name}({params}):\n"
            f'    """The largest relative difference between the derivative(s) of '
            f'{printer.function_name} and\n'
            f"    central differences of its value along a random direction (about 1e-7 "
            f"or less\n    in float64 when they agree).\"\"\"\n"
            f"    return _check_derivatives({printer.function_name}, {{{args}}}, "
            f"{p.kind!r}, {wrt!r}, {second!r})\n")
