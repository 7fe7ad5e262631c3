"""Dimensions and shapes.

A dimension is an ``int`` (a known size) or a ``str``: a symbolic size such as ``"n"``,
or a product of sizes such as ``"m*n"`` (the rows of a Kronecker product or a vec).
A shape is the pair ``(rows, cols)``; scalars are ``(1, 1)``.
"""
from __future__ import annotations

Dim = int | str
Shape = tuple  # (rows, cols) of Dims
SCALAR: Shape = (1, 1)


def dim_text(d: Dim) -> str:
    return str(d)


def dim_factors(d: Dim) -> list:
    """``"m*n" -> ["m", "n"]``, ``6 -> [6]``: the factors of a (product) dimension."""
    if isinstance(d, int):
        return [d]
    return [int(f) if f.isdigit() else f for f in d.split("*")]


def dim_mul(*dims: Dim) -> Dim:
    """The product of dimensions, canonical: ``dim_mul("n", "m", 1) == "m*n"``."""
    number = 1
    names: list[str] = []
    for d in dims:
        for f in dim_factors(d):
            if isinstance(f, int):
                number *= f
            else:
                names.append(f)
    if not names:
        return number
    names.sort()
    return "*".join(([str(number)] if number != 1 else []) + names)


def shape_text(shape: Shape) -> str:
    """``(n, 1)`` -> ``'n×1'``."""
    return f"{dim_text(shape[0])}×{dim_text(shape[1])}"


def is_scalar_shape(shape: Shape) -> bool:
    return shape[0] == 1 and shape[1] == 1
