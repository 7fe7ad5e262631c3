"""The expression layer in one namespace: nodes, canonical constructors, functions.

The pieces live in their own modules, each importing only the ones before it:

    dims -> nodes -> textform -> algebra -> functions

* :mod:`matcalc.dims`: dimensions and shapes;
* :mod:`matcalc.nodes`: the immutable, interned node classes;
* :mod:`matcalc.textform`: the text form and the measures read off it (cost, order);
* :mod:`matcalc.algebra`: canonical constructors (``add``, ``mul``, ``transpose``, ...);
* :mod:`matcalc.functions`: the registry of built-in functions (``call``).

This module re-exports them, so that the engine can write ``E.add``, ``E.Var``.
"""
from __future__ import annotations

from .dims import (SCALAR, Dim, Shape, dim_factors, dim_mul, dim_text,  # noqa: F401
                   is_scalar_shape, shape_text)
from .nodes import (NODE_TYPES, P_ATOM, P_POSTFIX, P_POWER, P_PRODUCT, P_SUM,  # noqa: F401
                    P_UNARY, P_WHERE, Abstract, Add, Call, Commutation, Constant, ElemPow,
                    Expr, Eye, Fill, FUNCTIONS, Hadamard, Kron, MatPow, Mul, NodeBudget, Num, Number,
                    Pow, Size, Transpose, Var, Vec, free_vars, number_text, postorder, walk)
from .textform import TOKEN_RE, cost, order_key, token_count  # noqa: F401
from .algebra import (ONE, ZERO, add, broadcast, call, commutation, elem_power, eye,  # noqa: F401
                      fill, hadamard, is_one, is_symmetric, is_zero, kron, make_mul,
                      matrix_power, mul, neg, num, ones, power, product, scale, size, split_coef, sub,
                      transpose, vec, zeros, _parts)
from .functions import (CONSTANTS, abstract, count, elementwise_names,  # noqa: F401
                        matrix_function_names, reserved)

#: element-wise functions of the language (SPEC section 1)
ELEMENTWISE = elementwise_names()
#: functions of matrices and vectors (SPEC section 1)
MATRIX_FUNCTIONS = matrix_function_names()
#: names that cannot be variables or abstract functions
RESERVED = reserved()
