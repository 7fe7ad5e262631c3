"""Hypothesis strategies: random well-typed expressions of the input language.

An expression is generated type-directed: ``Generator.expr(shape)`` picks a production that
yields that shape and asks for sub-expressions of the shapes it needs (``A*B`` of shape
n×k asks for n×j and j×k, ``tr(.)`` of a scalar asks for a square matrix, ...), so every
generated expression is well typed by construction.  Domains stay valid by construction
as well: the arguments of ``log``, ``sqrt``, fractional and negative powers and ``./``
denominators are positive forms (``exp(tanh(u))``, ``1 + u.^2``, ``2 + sin(u)``, ...),
the arguments of ``inv``, ``det`` and ``logdet`` are symmetric positive definite forms
(``eye + tanh(M)*tanh(M)'``, a symmetric ``S`` which the checker draws positive definite,
or a plain square variable which the checker draws well conditioned), and the arguments
of ``arcsin``, ``arccos`` and ``tan`` are bounded (``0.5*tanh(u)``), and the argument of
``log1p`` is above -1.

Besides the operators and functions of SPEC §1 the generator writes broadcasting (a
column vector or a row vector with a matrix: ``W*X + b``, ``X .* b``, ``X ./ b``), the
axis forms ``sum(X,d)``, ``mean(X,d)``, ``logsumexp(X,d)``, ``softmax(X,d)`` (and
attention, ``softmax(A*B', 2)*C``), ``max``/``min`` of one argument and of two,
the constant ``pi``, ``where`` definitions (``EXPR where u = ..., V = ...``, the names
used once or more) and the declared functions ``phi=function`` and ``s=elementwise``
(``s(u)``, ``∇s(u)``, ``∇²s(u)``).

The generator builds a small syntax tree of tuples, not engine objects, so that it can be
printed two ways (minimal parentheses and full parentheses, optionally spaced) and
evaluated with NumPy by :func:`evaluate_tree`, independently of the engine.  Nothing is
ever evaluated as Python code.

Trees are tuples whose first item is the node kind:

``("var", name)``, ``("num", text)``, ``("neg", u)``, ``("pos", u)``, ``("t", u)``,
``("bin", op, left, right)``, ``("call", fn, u)``, ``("grad", fn, u)``,
``("hess", fn, u)``, ``("const", "vector"|"matrix", c, shape)``, ``("eye", d)``,
``("axis", fn, u, d)`` (``sum(u, d)``), ``("call2", "max"|"min", u, v)``,
``("where", body, ((name, tree), ...))`` (only at the top) and ``("def", name)``, a use
of a defined name.  A broadcasting ``("bin", op, left, right, "column"|"row")`` carries
which vector broadcasts (for the coverage statistics only).  ``("num", "pi")`` is pi.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

N, M = "N", "M"          # the two dimension slots; declarations give them real sizes
SCALAR = (1, 1)
SHAPES = [SCALAR, (N, 1), (M, 1), (1, N), (1, M), (N, M), (M, N), (N, N), (M, M)]

#: the variables a generated expression may use: name -> (kind, shape in slots)
VARIABLES = {
    "a": ("scalar", SCALAR), "b": ("scalar", SCALAR), "c": ("scalar", SCALAR),
    "x": ("vector", (N, 1)), "z": ("vector", (N, 1)), "y": ("vector", (M, 1)),
    "A": ("matrix", (N, M)), "B": ("matrix", (M, N)), "X": ("matrix", (N, N)),
    "Y": ("matrix", (M, M)), "S": ("symmetric", (N, N)),
}

#: what the two dimension slots are called or sized in a declaration
DIMENSION_CHOICES = [("n", "m"), ("n", "m"), ("n", "m"), ("p", "q"), ("m", "n"),
                     ("n", 3), (2, "m"), (2, 3), (3, 3)]

ELEMENTWISE = ("exp", "log", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh",
               "cosh", "tanh", "abs", "sign", "sqrt", "relu", "sigmoid", "softplus",
               "log1p", "expm1", "erf")
MATRIX_FUNCTIONS = ("tr", "det", "logdet", "inv", "diag", "sum", "mean", "max", "min",
                    "norm1", "norm2", "softmax", "logsumexp")
#: functions with an axis form f(X, 1), f(X, 2)
AXIS_FUNCTIONS = ("sum", "mean", "logsumexp", "softmax")
OPERATORS = ("+", "-", "*", "/", ".*", "./", "^", ".^")
BOUNDED = ("tanh", "sin", "cos", "sigmoid", "arctan", "erf")
POSITIVE_NUMBERS = ("2", "0.5", "3", ".5", "1.5", "1", "1e-1", "2.5e0", "pi")
NUMBERS = POSITIVE_NUMBERS + ("0",)

#: the declared abstract functions: a scalar-valued one (applied to one argument shape
#: per expression, since the checker makes one test function per name) and an
#: element-wise one
DECLARED_FUNCTION, DECLARED_ELEMENTWISE = "phi", "s"
#: names that where-definitions take; none is a variable, function, size or reserved name
DEFINITION_NAMES = ("u", "v", "w", "h", "k", "t", "r", "U", "V", "H", "K", "T", "h1",
                    "act", "z2", "Q1")

LEAVES = {
    SCALAR: [("var", "a"), ("var", "b"), ("var", "c")],
    (N, 1): [("var", "x"), ("var", "z")],
    (M, 1): [("var", "y")],
    (1, N): [("t", ("var", "x")), ("t", ("var", "z"))],
    (1, M): [("t", ("var", "y"))],
    (N, M): [("var", "A")],
    (M, N): [("var", "B")],
    (N, N): [("var", "X"), ("var", "S")],
    (M, M): [("var", "Y")],
}


def function_name(shape) -> str:
    """One abstract function per argument shape (the checker needs one shape per name)."""
    return "g" + "".join(str(d).lower() for d in shape)


def is_abstract(name: str) -> bool:
    """Is ``name`` (of a call, ∇ or ∇² node) an abstract function?"""
    return name not in NUMPY_FUNCTIONS


def is_square(shape) -> bool:
    return shape[0] == shape[1] and shape[0] != 1


def is_column(shape) -> bool:
    return shape[1] == 1 and shape[0] != 1


# ---------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------

@dataclass
class Budget:
    """Caps the number of nodes so that deep trees stay small enough to check quickly."""
    nodes: int
    used: int = 0

    def spend(self) -> bool:
        self.used += 1
        return self.used <= self.nodes


class Generator:
    """Type-directed productions; every method returns a tree of the requested shape."""

    LEAF_PERCENT = 15

    def __init__(self, draw, budget: Budget):
        self.draw = draw
        self.budget = budget
        self.phi_shape = None          # phi's argument shape, fixed by its first use
        self.definitions: dict = {}    # shape -> the where-defined names of that shape

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def chance(self, percent: int) -> bool:
        return self.draw(st.integers(0, 99)) < percent

    def leaf(self, shape):
        if shape == SCALAR and self.chance(20):
            return ("num", self.pick(NUMBERS))
        return self.pick(LEAVES[shape])

    def leaf_or_definition(self, shape):
        """A leaf, or (more often, when there is one) a where-defined name of the shape."""
        defined = self.definitions.get(shape)
        if defined and self.chance(60):
            return ("def", self.pick(defined))
        return self.leaf(shape)

    # the main production ---------------------------------------------------
    def expr(self, shape, depth: int, root: bool = False):
        if depth <= 0 or not self.budget.spend() or (
                not root and self.chance(self.LEAF_PERCENT)):
            return self.leaf_or_definition(shape)
        d = depth - 1
        productions = self.productions(shape)
        name = self.pick(productions)
        return getattr(self, "p_" + name)(shape, d)

    def productions(self, shape):
        out = ["add", "sub", "hadamard", "divide_elementwise", "scale", "divide", "neg",
               "transpose", "elementwise", "elementwise", "elementwise", "elem_power",
               "matmul", "matmul"]
        out += ["extreme_pair", "elementwise_derivative"]
        if shape != SCALAR:
            out += ["broadcast", "constant", "softmax_axis"]
        if shape == SCALAR:
            out += ["trace", "det", "logdet", "reduce", "reduce", "reduce", "logsumexp",
                    "abstract", "abstract", "power", "power", "scalar_matrix_function",
                    "extreme", "extreme", "axis_to_scalar", "declared_function"]
        if shape[0] != 1 and shape[1] != 1:
            out += ["broadcast_vector", "broadcast_vector", "broadcast_vector"]
        if shape[0] != 1:
            out += ["attention"]
        if (shape[0] == 1) != (shape[1] == 1):
            out += ["axis_reduce", "axis_reduce"]
        if is_column(shape):
            out += ["softmax", "diag_of_matrix", "gradient_call"]
        if is_square(shape):
            out += ["inverse", "diag_of_vector", "matrix_power", "eye_plus"]
        if shape[0] != 1 and shape[1] != 1 and not is_square(shape):
            out += ["rare_matrix_gradient"]
        if is_square(shape):
            out += ["rare_hessian"]
        return out

    # general productions ---------------------------------------------------
    def p_add(self, shape, d):
        return ("bin", "+", self.expr(shape, d), self.expr(shape, d))

    def p_sub(self, shape, d):
        return ("bin", "-", self.expr(shape, d), self.expr(shape, d))

    def p_hadamard(self, shape, d):
        if shape != SCALAR and self.chance(25):
            return ("bin", ".*", self.expr(SCALAR, d), self.expr(shape, d))
        return ("bin", ".*", self.expr(shape, d), self.expr(shape, d))

    def p_divide_elementwise(self, shape, d):
        if shape != SCALAR and self.chance(20):
            return ("bin", "./", self.expr(SCALAR, d), self.positive(shape, d))
        if shape != SCALAR and self.chance(20):
            return ("bin", "./", self.expr(shape, d), self.positive(SCALAR, d))
        return ("bin", "./", self.expr(shape, d), self.positive(shape, d))

    def p_scale(self, shape, d):
        if self.chance(50):
            return ("bin", "*", self.expr(SCALAR, d), self.expr(shape, d))
        return ("bin", "*", self.expr(shape, d), self.expr(SCALAR, d))

    def p_divide(self, shape, d):
        if self.chance(30):
            return ("bin", "/", self.expr(shape, d), ("num", self.pick(POSITIVE_NUMBERS)))
        return ("bin", "/", self.expr(shape, d), self.positive(SCALAR, d))

    def p_neg(self, shape, d):
        if self.chance(15):
            return ("pos", self.expr(shape, d))
        return ("neg", self.expr(shape, d))

    def p_transpose(self, shape, d):
        return ("t", self.expr((shape[1], shape[0]), d))

    def p_elementwise(self, shape, d):
        fn = self.pick(ELEMENTWISE + (DECLARED_ELEMENTWISE,))
        if fn in ("log", "sqrt"):
            arg = self.positive(shape, d)
        elif fn in ("arcsin", "arccos", "tan"):
            arg = ("bin", "*", ("num", "0.5"), self.bounded(shape, d))
        elif fn == "log1p":
            # entries above -1: positive, or in [-0.8, 0.8]
            arg = self.positive(shape, d) if self.chance(50) else (
                "bin", "*", ("num", "0.5"), self.bounded(shape, d))
        elif fn in ("exp", "sinh", "cosh", "expm1"):
            arg = self.bounded(shape, d) if self.chance(70) else self.leaf(shape)
        else:
            arg = self.expr(shape, d)
        return ("call", fn, arg)

    def p_elem_power(self, shape, d):
        kind = self.pick(["integer", "integer", "fraction", "negative", "symbolic"])
        if kind == "integer":
            return ("bin", ".^", self.expr(shape, d), ("num", self.pick(["2", "3", "1"])))
        base = self.positive(shape, d)
        if kind == "fraction":
            exponent = self.pick([("num", "0.5"), ("num", "1.5"),
                                  ("bin", "/", ("num", "1"), ("num", "3"))])
        elif kind == "negative":
            exponent = self.pick([("neg", ("num", "1")), ("neg", ("num", "0.5")),
                                  ("neg", ("num", "2"))])
        else:
            exponent = self.small_scalar(d)
        return ("bin", ".^", base, exponent)

    def p_elementwise_derivative(self, shape, d):
        """``∇s(u)`` and, rarely (its derivative needs third ones), ``∇²s(u)``."""
        if self.chance(50):
            return self.p_elementwise(shape, d)
        kind = "hess" if self.chance(20) else "grad"
        return (kind, DECLARED_ELEMENTWISE, self.expr(shape, d))

    def p_extreme_pair(self, shape, d):
        """``max(u, v)``, ``min(u, v)`` (sugar for ``u + relu(v - u)``), sometimes of a
        scalar and an array."""
        fn = self.pick(["max", "min"])
        if shape != SCALAR and self.chance(25):
            other = ("num", "0") if self.chance(50) else self.expr(SCALAR, d)
            if self.chance(50):
                return ("call2", fn, self.expr(shape, d), other)
            return ("call2", fn, other, self.expr(shape, d))
        return ("call2", fn, self.expr(shape, d), self.expr(shape, d))

    def p_softmax_axis(self, shape, d):
        return ("axis", "softmax", self.expr(shape, d), self.pick([1, 2]))

    def p_axis_reduce(self, shape, d):
        """``sum(X, 1)`` (a row), ``sum(X, 2)`` (a column), likewise mean and logsumexp;
        now and then of a vector along its length-one axis."""
        fn = self.pick(["sum", "mean", "logsumexp"])
        inner = self.pick([N, M, N, M, 1])
        if is_column(shape):
            return ("axis", fn, self.expr((shape[0], inner), d), 2)
        return ("axis", fn, self.expr((inner, shape[1]), d), 1)

    def p_axis_to_scalar(self, shape, d):
        """``sum(x, 1)`` of a column, ``mean(x', 2)`` of a row: a scalar."""
        fn = self.pick(["sum", "mean", "logsumexp"])
        dim = self.pick([N, M])
        if self.chance(50):
            return ("axis", fn, self.expr((dim, 1), d), 1)
        return ("axis", fn, self.expr((1, dim), d), 2)

    def p_attention(self, shape, d):
        """``softmax(P*Q', 2)*V``, sometimes with the scores scaled ``/sqrt(c)``."""
        k, j = self.pick([N, M]), self.pick([N, M])
        scores = ("bin", "*", self.expr((shape[0], k), d), ("t", self.expr((j, k), d)))
        if self.chance(30):
            scores = ("bin", "/", scores, ("call", "sqrt", ("num", self.pick(["2", "3"]))))
        return ("bin", "*", ("axis", "softmax", scores, 2), self.expr((j, shape[1]), d),
                "attention")

    def p_broadcast_vector(self, shape, d):
        """A column vector across a matrix's columns or a row vector down its rows, with
        ``+ - .* ./``: ``W*X + b``, ``X .* b``, ``X ./ b`` (b positive), ``b ./ X``."""
        r, c = shape
        which = self.pick(["column", "row"])
        vshape = (r, 1) if which == "column" else (1, c)
        op = self.pick(["+", "-", ".*", "./", "+", ".*"])
        if op == "./":
            if self.chance(25):
                return ("bin", "./", self.expr(vshape, d), self.positive(shape, d), which)
            return ("bin", "./", self.expr(shape, d), self.positive(vshape, d), which)
        if self.chance(30):
            inner = self.pick([N, M])
            matrix = ("bin", "*", self.expr((r, inner), d), self.expr((inner, c), d))
        else:
            matrix = self.expr(shape, d)
        vector = self.expr(vshape, d)
        if self.chance(70):
            return ("bin", op, matrix, vector, which)
        return ("bin", op, vector, matrix, which)

    def p_matmul(self, shape, d):
        r, c = shape
        inner = self.pick([N, M, 1] if (r, c) != SCALAR else [N, M])
        return ("bin", "*", self.expr((r, inner), d), self.expr((inner, c), d))

    def p_broadcast(self, shape, d):
        op = self.pick(["+", "-"])
        if self.chance(50):
            return ("bin", op, self.expr(SCALAR, d), self.expr(shape, d))
        return ("bin", op, self.expr(shape, d), self.expr(SCALAR, d))

    def p_constant(self, shape, d):
        op = self.pick(["+", "-", ".*", "./"])
        const = self.constant(shape, d, positive=op == "./")
        if op == "./":
            return ("bin", "./", self.expr(shape, d), const)
        if self.chance(50):
            return ("bin", op, const, self.expr(shape, d))
        return ("bin", op, self.expr(shape, d), const)

    # scalar-valued productions ----------------------------------------------
    def p_trace(self, shape, d):
        return ("call", "tr", self.expr(self.pick([(N, N), (M, M)]), d))

    def p_det(self, shape, d):
        dim = self.pick([N, M])
        if self.chance(40):
            # a general matrix near the identity: the spectral radius of 0.25*tanh(M)
            # is below 1 for the sizes the checker uses (2 and 3)
            near = ("bin", "*", ("num", "0.25"), ("call", "tanh", self.expr((dim, dim), d)))
            return ("call", "det", ("bin", "+", ("eye", dim), near))
        return ("call", "det", self.spd(dim, d))

    def p_logdet(self, shape, d):
        return ("call", "logdet", self.spd(self.pick([N, M]), d))

    def p_reduce(self, shape, d):
        fn = self.pick(["sum", "norm1", "norm2", "mean"])
        return ("call", fn, self.expr(self.pick(SHAPES), d))

    def p_logsumexp(self, shape, d):
        return ("call", "logsumexp", self.expr(self.pick([(N, 1), (M, 1)]), d))

    def p_abstract(self, shape, d):
        arg_shape = self.pick(SHAPES)
        return ("call", function_name(arg_shape), self.expr(arg_shape, d))

    def phi_fits(self, shape) -> bool:
        """May phi take an argument of this shape (one shape per expression)?  The first
        non-scalar shape asked about becomes phi's."""
        if self.phi_shape is None and shape != SCALAR:
            self.phi_shape = shape
        return self.phi_shape == shape

    def p_declared_function(self, shape, d):
        """``phi(u)``, phi declared ``function``, of a vector or matrix."""
        if self.phi_shape is None:
            # columns more often: they admit ∇²phi(u) too
            self.phi_shape = self.pick([s for s in SHAPES if s != SCALAR]
                                       + [(N, 1), (M, 1), (N, 1)])
        return ("call", DECLARED_FUNCTION, self.expr(self.phi_shape, d))

    def p_extreme(self, shape, d):
        """``max(u)``, ``min(u)`` over all entries (the checker avoids near ties)."""
        return ("call", self.pick(["max", "min"]), self.expr(self.pick(SHAPES), d))

    def p_power(self, shape, d):
        kind = self.pick(["integer", "fraction", "negative", "symbolic", "number_base"])
        if kind == "integer":
            return ("bin", "^", self.expr(SCALAR, d), ("num", self.pick(["2", "3"])))
        if kind == "number_base":
            return ("bin", "^", ("num", self.pick(["2", "0.5"])), self.small_scalar(d))
        base = self.positive(SCALAR, d)
        if kind == "fraction":
            exponent = self.pick([("num", "0.5"), ("num", "1.5"),
                                  ("bin", "/", ("num", "2"), ("num", "3"))])
        elif kind == "negative":
            exponent = self.pick([("neg", ("num", "1")), ("neg", ("num", "2")),
                                  ("neg", ("num", "0.5"))])
        else:
            exponent = self.small_scalar(d)
        return ("bin", "^", base, exponent)

    def p_scalar_matrix_function(self, shape, d):
        # tr, det, diag, inv and logdet of a scalar are allowed and act on the number
        fn = self.pick(["tr", "det", "diag", "inv", "logdet", "grad", "hess"])
        if fn == "inv" or fn == "logdet":
            return ("call", fn, self.positive(SCALAR, d))
        if fn in ("grad", "hess"):
            return (fn, function_name(SCALAR), self.expr(SCALAR, d))
        return ("call", fn, self.expr(SCALAR, d))

    # vector-valued productions ----------------------------------------------
    def p_softmax(self, shape, d):
        return ("call", "softmax", self.expr(shape, d))

    def p_diag_of_matrix(self, shape, d):
        return ("call", "diag", self.expr((shape[0], shape[0]), d))

    def p_gradient_call(self, shape, d):
        if self.chance(40) and self.phi_fits(shape):
            return ("grad", DECLARED_FUNCTION, self.expr(shape, d))
        return ("grad", function_name(shape), self.expr(shape, d))

    # square-matrix productions ----------------------------------------------
    def p_inverse(self, shape, d):
        return ("call", "inv", self.spd(shape[0], d))

    def p_diag_of_vector(self, shape, d):
        return ("call", "diag", self.expr((shape[0], 1), d))

    def p_matrix_power(self, shape, d):
        if self.chance(30):
            k = self.pick(["1", "2"])
            return ("bin", "^", self.spd(shape[0], d), ("neg", ("num", k)))
        k = self.pick(["2", "3", "2", "3", "1", "0"])
        base = self.expr(shape, min(d, 3))
        return ("bin", "^", base, ("num", k))

    def p_eye_plus(self, shape, d):
        return ("bin", self.pick(["+", "-"]), ("eye", shape[0]), self.expr(shape, d))

    def p_rare_matrix_gradient(self, shape, d):
        # ∇g of a matrix argument: differentiating it is refused (a 4-way tensor)
        if self.chance(85):
            return self.p_add(shape, d)
        name = DECLARED_FUNCTION if self.chance(30) and self.phi_fits(shape) else \
            function_name(shape)
        return ("grad", name, self.expr(shape, d))

    def p_rare_hessian(self, shape, d):
        # ∇²g(u): differentiating it needs third derivatives, which are refused
        if self.chance(30):
            return self.p_sub(shape, d)
        arg = (shape[0], 1)
        name = DECLARED_FUNCTION if self.chance(50) and self.phi_fits(arg) else \
            function_name(arg)
        return ("hess", name, self.expr(arg, d))

    # domain-keeping wrappers -------------------------------------------------
    def bounded(self, shape, d):
        """Entries in [-1.6, 1.6]."""
        fn = self.pick(BOUNDED)
        inner = ("call", fn, self.expr(shape, max(d - 1, 0)))
        if self.chance(20):
            return ("bin", "*", ("num", "0.5"), inner)
        return inner

    def positive(self, shape, d):
        """Entries positive and away from zero (so log, sqrt, ./ and ^-1 are defined)."""
        e = max(d - 1, 0)
        kind = self.pick(["exp_bounded", "one_plus_square", "two_plus_sin", "one_plus_sigmoid",
                          "cosh_bounded", "one_plus_abs", "half_plus_softplus", "exp_leaf",
                          "constant"])
        square = ".^" if shape != SCALAR else "^"
        if kind == "exp_bounded":
            return ("call", "exp", self.bounded(shape, e))
        if kind == "one_plus_square":
            return ("bin", "+", ("num", "1"), ("bin", square, self.expr(shape, e), ("num", "2")))
        if kind == "two_plus_sin":
            return ("bin", "+", ("num", "2"), ("call", "sin", self.expr(shape, e)))
        if kind == "one_plus_sigmoid":
            return ("bin", "+", ("call", "sigmoid", self.expr(shape, e)), ("num", "1"))
        if kind == "cosh_bounded":
            return ("call", "cosh", self.bounded(shape, e))
        if kind == "one_plus_abs":
            return ("bin", "+", ("num", "1"), ("call", "abs", self.expr(shape, e)))
        if kind == "half_plus_softplus":
            return ("bin", "+", ("num", "0.5"), ("call", "softplus", self.expr(shape, e)))
        if kind == "exp_leaf":
            return ("call", "exp", self.leaf(shape))
        if shape == SCALAR:
            return ("num", self.pick(POSITIVE_NUMBERS))
        return ("bin", "+", self.constant(shape, e, positive=True),
                ("call", "exp", self.bounded(shape, e)))

    def constant(self, shape, d, positive: bool = False):
        """``vector(c)``, ``vector(c)'``, ``matrix(c)`` or ``eye`` of the given shape."""
        if positive or self.chance(70):
            c = ("num", self.pick(POSITIVE_NUMBERS if positive else NUMBERS))
        else:
            c = self.expr(SCALAR, min(d, 1))
        r, col = shape
        if col == 1:
            return ("const", "vector", c, shape)
        if r == 1:
            return ("t", ("const", "vector", c, (col, 1)))
        if is_square(shape) and not positive and self.chance(30):
            return ("eye", r)
        return ("const", "matrix", c, shape)

    def small_scalar(self, d):
        """A scalar exponent of moderate size."""
        kind = self.pick(["leaf", "bounded", "number"])
        if kind == "leaf":
            return self.pick(LEAVES[SCALAR])
        if kind == "number":
            return ("num", self.pick(["2", "0.5", "3"]))
        return self.bounded(SCALAR, d)

    def spd(self, dim, d):
        """A symmetric positive definite, well-conditioned dim×dim matrix."""
        options = ["eye_plus_gram", "eye_plus_gram", "scaled", "inverse", "diag"]
        if dim == N:
            options += ["S", "S", "S_plus_gram", "X"]
        else:
            options += ["Y"]
        kind = self.pick(options)
        e = max(d - 1, 0)
        if kind in ("S", "X", "Y"):
            return ("var", kind)
        if kind in ("eye_plus_gram", "S_plus_gram"):
            inner = self.pick([N, M, 1])
            t = ("call", "tanh", self.expr((dim, inner), e))
            if inner == 1 and self.chance(50):
                gram = ("bin", "*", t, ("t", t))
            elif self.chance(50):
                gram = ("bin", "*", t, ("t", t))
            else:
                t = ("call", "tanh", self.expr((inner, dim), e))
                gram = ("bin", "*", ("t", t), t)
            base = ("eye", dim) if kind == "eye_plus_gram" else ("var", "S")
            return ("bin", "+", base, gram)
        if kind == "scaled":
            return ("bin", "*", self.positive_bounded(e), self.spd(dim, e))
        if kind == "inverse":
            return ("call", "inv", self.spd(dim, e))
        return ("call", "diag", self.positive_bounded_vector(dim, e))

    def positive_bounded(self, d):
        """A positive scalar in [0.2, 5]."""
        if self.chance(30):
            return ("num", self.pick(["2", "0.5", "3"]))
        return ("call", "exp", self.bounded(SCALAR, d))

    def positive_bounded_vector(self, dim, d):
        if self.chance(50):
            return ("call", "exp", self.bounded((dim, 1), d))
        return ("bin", "+", ("num", "2"), ("call", "sin", self.expr((dim, 1), d)))


# ---------------------------------------------------------------------------
# printing: minimal and full parentheses
# ---------------------------------------------------------------------------

P_SUM, P_PRODUCT, P_UNARY, P_POWER, P_POSTFIX, P_ATOM = range(1, 7)


def precedence(t) -> int:
    kind = t[0]
    if kind == "bin":
        return {"+": P_SUM, "-": P_SUM, "^": P_POWER, ".^": P_POWER}.get(t[1], P_PRODUCT)
    if kind in ("neg", "pos"):
        return P_UNARY
    if kind == "t":
        return P_POSTFIX
    return P_ATOM


def _exponent_ok(t) -> bool:
    # grammar: exponent: power | MINUS exponent | PLUS exponent
    if t[0] in ("neg", "pos"):
        return _exponent_ok(t[1])
    return precedence(t) >= P_POWER


def to_text(t, full: bool = False, spaced: bool = False) -> str:
    """The tree as input text, with as few parentheses as the grammar needs (or all)."""
    if t[0] == "where":
        eq, comma = (" = ", ", ") if spaced else ("=", ",")
        definitions = comma.join(f"{name}{eq}{to_text(sub, full, spaced)}"
                                 for name, sub in t[2])
        return f"{to_text(t[1], full, spaced)} where {definitions}"

    def wrap(child, minimum: int) -> str:
        s = go(child)
        need = precedence(child) < minimum or (full and precedence(child) < P_ATOM)
        return f"({s})" if need else s

    def go(t) -> str:
        kind = t[0]
        if kind == "var":
            return t[1]
        if kind == "num":
            return t[1]
        if kind == "eye":
            return "eye"
        if kind == "def":
            return t[1]
        if kind == "axis":
            return f"{t[1]}({go(t[2])},{' ' if spaced else ''}{t[3]})"
        if kind == "call2":
            return f"{t[1]}({go(t[2])},{' ' if spaced else ''}{go(t[3])})"
        if kind == "const":
            return f"{t[1]}({go(t[2])})"
        if kind == "call":
            return f"{t[1]}({go(t[2])})"
        if kind == "grad":
            return f"∇{t[1]}({go(t[2])})"
        if kind == "hess":
            return f"∇²{t[1]}({go(t[2])})"
        if kind == "t":
            return wrap(t[1], P_POSTFIX) + "'"
        if kind in ("neg", "pos"):
            sign = "-" if kind == "neg" else "+"
            return sign + wrap(t[1], P_UNARY)
        op, left, right = t[1], t[2], t[3]
        sep = " " if spaced else ""
        if op in ("+", "-"):
            return f"{wrap(left, P_SUM)}{sep}{op}{sep}{wrap(right, P_PRODUCT)}"
        if op in ("*", "/", ".*", "./"):
            return f"{wrap(left, P_PRODUCT)}{sep}{op}{sep}{wrap(right, P_UNARY)}"
        base = wrap(left, P_POSTFIX)
        exponent = go(right)
        if not _exponent_ok(right) or (full and precedence(right) < P_ATOM):
            exponent = f"({exponent})"
        return f"{base}{op}{exponent}"

    return go(t)


# ---------------------------------------------------------------------------
# facts about trees
# ---------------------------------------------------------------------------

def children(t):
    kind = t[0]
    if kind in ("neg", "pos", "t"):
        return (t[1],)
    if kind in ("call", "grad", "hess", "axis"):
        return (t[2],)
    if kind in ("bin", "call2"):
        return (t[2], t[3])
    if kind == "where":
        return (t[1],) + tuple(sub for _, sub in t[2])
    if kind == "const":
        return (t[2],)
    return ()


def depth(t) -> int:
    """Nesting depth of the tree (a leaf has depth 1), computed without recursion."""
    best = 0
    stack = [(t, 1)]
    while stack:
        node, level = stack.pop()
        best = max(best, level)
        stack.extend((c, level + 1) for c in children(node))
    return best


def nodes(t):
    stack = [t]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(children(node))


def used_variables(t) -> list[str]:
    return sorted({n[1] for n in nodes(t) if n[0] == "var"})


def definition_uses(t) -> Counter:
    """How often each where-defined name is used (in the body and later definitions)."""
    return Counter(n[1] for n in nodes(t) if n[0] == "def")


def inline(t):
    """The tree with its where-definitions substituted: ``g(u) where u = W*x`` is
    ``g(W*x)`` (SPEC §1)."""
    if t[0] != "where":
        return t
    defined: dict = {}

    def substitute(n):
        kind = n[0]
        if kind == "def":
            return defined[n[1]]
        if kind in ("neg", "pos", "t"):
            return (kind, substitute(n[1]))
        if kind in ("call", "grad", "hess", "axis", "const"):
            return n[:2] + (substitute(n[2]),) + n[3:]
        if kind in ("bin", "call2"):
            return n[:2] + (substitute(n[2]), substitute(n[3])) + n[4:]
        return n

    for name, sub in t[2]:
        defined[name] = substitute(sub)
    return substitute(t[1])


def abstract_feature(prefix: str, name: str) -> str:
    """``g(u)``, ``∇phi(u)``, ``∇²s(u)``: an abstract function feature."""
    if name not in (DECLARED_FUNCTION, DECLARED_ELEMENTWISE):
        name = "g"
    return f"{prefix}{name}(u)"


def features(t) -> set[str]:
    """Operators and functions a tree uses (for coverage statistics)."""
    out = set()
    for n in nodes(t):
        kind = n[0]
        if kind == "bin":
            out.add(n[1])
            if len(n) > 4:
                out.add({"column": "column broadcast", "row": "row broadcast",
                         "attention": "attention"}[n[4]])
        elif kind == "neg":
            out.add("unary -")
        elif kind == "pos":
            out.add("unary +")
        elif kind == "t":
            out.add("'")
        elif kind == "call":
            out.add(n[1] if not is_abstract(n[1]) else abstract_feature("", n[1]))
        elif kind == "grad":
            out.add(abstract_feature("∇", n[1]))
        elif kind == "hess":
            out.add(abstract_feature("∇²", n[1]))
        elif kind == "const":
            out.add(f"{n[1]}(c)")
        elif kind == "eye":
            out.add("eye")
        elif kind == "num" and n[1] == "pi":
            out.add("pi")
        elif kind == "axis":
            out.add(f"{n[1]}(X,{n[3]})")
        elif kind == "call2":
            out.add(f"{n[1]}(A,B)")
        elif kind == "where":
            out.add("where")
            if len(n[2]) > 1:
                out.add("where, several definitions")
            if any(k > 1 for k in definition_uses(n).values()):
                out.add("where, a name used twice")
    return out


ALL_FEATURES = (set(OPERATORS) | {"unary -", "unary +", "'"} | set(ELEMENTWISE)
                | set(MATRIX_FUNCTIONS) | {"g(u)", "∇g(u)", "∇²g(u)", "vector(c)",
                                           "matrix(c)", "eye"}
                | {"column broadcast", "row broadcast", "attention", "pi", "max(A,B)",
                   "min(A,B)", "where", "where, several definitions",
                   "where, a name used twice", "phi(u)", "∇phi(u)", "∇²phi(u)", "s(u)",
                   "∇s(u)", "∇²s(u)"}
                | {f"{fn}(X,{d})" for fn in AXIS_FUNCTIONS for d in (1, 2)})


# ---------------------------------------------------------------------------
# the case: text, declarations and sizes
# ---------------------------------------------------------------------------

@dataclass
class Case:
    """A generated expression with everything needed to use and check it."""
    tree: tuple
    text: str                       # as generated (minimal or full parentheses)
    minimal: str                    # minimal parentheses, unspaced
    full: str                       # every compound operand parenthesised
    vars: dict                      # declarations, e.g. {"A": "matrix(n,m)"}
    slots: dict                     # slot -> declared size (a name or an integer)
    sizes: dict = field(default_factory=dict)   # slot -> integer, for evaluate_tree
    inlined: str = ""               # where-definitions substituted, minimal parentheses

    @property
    def variables(self) -> list[str]:
        return [name for name, kind in self.vars.items() if kind not in FUNCTION_KINDS]

    @property
    def functions(self) -> dict:
        """The declared abstract functions: name -> "function" | "elementwise"."""
        return {name: kind for name, kind in self.vars.items() if kind in FUNCTION_KINDS}

    def __repr__(self) -> str:  # what hypothesis shows for a falsifying example
        return f"Case(text={self.text!r}, vars={self.vars!r})"


FUNCTION_KINDS = ("function", "elementwise")


def declaration(kind: str, shape, slots: dict) -> str:
    if kind == "scalar":
        return "scalar"
    if kind in ("vector", "symmetric"):
        return f"{kind}({slots[shape[0]]})"
    return f"matrix({slots[shape[0]]},{slots[shape[1]]})"


def case_from_tree(tree, slot_names=("n", "m"), full: bool = False,
                   spaced: bool = False) -> Case:
    """The case of a tree: its text, the declarations of its variables and sizes."""
    slots = {N: slot_names[0], M: slot_names[1]}
    names = used_variables(tree)
    vars = {name: declaration(VARIABLES[name][0], VARIABLES[name][1], slots)
            for name in names}
    # abstract functions with names longer than one letter are declared, and so is the
    # element-wise s (SPEC §1)
    vars.update({n[1]: "elementwise" if n[1] == DECLARED_ELEMENTWISE else "function"
                 for n in nodes(tree) if n[0] in ("call", "grad", "hess")
                 and is_abstract(n[1]) and (len(n[1]) > 1 or n[1] == DECLARED_ELEMENTWISE)})
    # sizes for evaluate_tree: declared integers as they are, symbolic slots 2 and 3
    sizes = {slot: size if isinstance(size, int) else default
             for (slot, size), default in zip(slots.items(), (2, 3))}
    return Case(tree, to_text(tree, full=full, spaced=spaced), to_text(tree),
                to_text(tree, full=True), vars, slots, sizes, to_text(inline(tree)))


def to_scalar(t, shape, gen: Generator):
    """A scalar made of ``t`` (a use of a defined name): ``u``, ``sum(U)``, ``u'*u``, ..."""
    if shape == SCALAR:
        return gen.pick([t, ("call", "sin", t), ("bin", "^", t, ("num", "2"))])
    options = [("call", "sum", t), ("call", "mean", t), ("call", "norm2", t)]
    if is_column(shape):
        options.append(("bin", "*", ("t", t), t))
    elif shape[0] == 1:
        options.append(("bin", "*", t, ("t", t)))
    elif is_square(shape):
        options.append(("call", "tr", t))
    return gen.pick(options)


def with_definitions(gen: Generator, depth_limit: int):
    """``EXPR where u = ..., V = ...``: one to three definitions (later ones may use
    earlier ones), each used at least once, some twice or more."""
    count = gen.pick([1, 1, 1, 2, 2, 3])
    names = gen.draw(st.permutations(DEFINITION_NAMES))[:count]
    definitions = []
    for name in names:
        shape = gen.pick(SHAPES)
        sub = gen.expr(shape, gen.pick([1, 2, 3, 3]), root=gen.chance(85))
        definitions.append((name, sub))
        gen.definitions.setdefault(shape, []).append(name)
    body = gen.expr(SCALAR, depth_limit, root=True)
    shapes = {name: shape for shape, names in gen.definitions.items() for name in names}
    for name, _ in definitions:
        uses = definition_uses(("where", body, tuple(definitions)))[name]
        if uses == 0 or (uses == 1 and gen.chance(30)):
            term = to_scalar(("def", name), shapes[name], gen)
            body = ("bin", gen.pick(["+", "-"]), body, term)
    return ("where", body, tuple(definitions))


@st.composite
def cases(draw, max_depth: int = 7, max_nodes: int = 60, where_percent: int = 25):
    """A random well-typed scalar expression with its declarations; ``where_percent``
    of them written with where-definitions."""
    slot_names = draw(st.sampled_from(DIMENSION_CHOICES))
    depth_limit = draw(st.integers(3, max_depth))
    gen = Generator(draw, Budget(max_nodes))
    if gen.chance(where_percent):
        tree = with_definitions(gen, depth_limit)
        if not used_variables(tree):
            tree = ("where", ("bin", "+", tree[1], gen.pick(LEAVES[SCALAR])), tree[2])
    else:
        tree = gen.expr(SCALAR, depth_limit, root=True)
        if not used_variables(tree):
            tree = ("bin", "+", tree, gen.pick(LEAVES[SCALAR]))
    spaced = draw(st.booleans())
    full = draw(st.sampled_from([False, False, True]))
    return case_from_tree(tree, slot_names, full=full, spaced=spaced)


# ---------------------------------------------------------------------------
# independent evaluation with NumPy (no engine code)
# ---------------------------------------------------------------------------

def abstract_g(u: np.ndarray) -> float:
    """The test function used for every abstract g: sum(sin(u)) + sum(u)^2/4."""
    u = np.asarray(u, dtype=float)
    return float(np.sin(u).sum() + 0.25 * u.sum() ** 2)


def abstract_grad(u):
    u = np.asarray(u, dtype=float)
    return np.cos(u) + 0.5 * u.sum()


def abstract_hessian(u):
    u = np.asarray(u, dtype=float)
    if u.ndim == 0:
        return -np.sin(u) + 0.5
    flat = u.reshape(-1)
    return np.diag(-np.sin(flat)) + 0.5


def elementwise_s(u):
    """The test function for the element-wise s: sin(t) + t^2/4, entry by entry."""
    u = np.asarray(u, dtype=float)
    return np.sin(u) + 0.25 * u * u


def elementwise_ds(u):
    u = np.asarray(u, dtype=float)
    return np.cos(u) + 0.5 * u


def elementwise_dds(u):
    u = np.asarray(u, dtype=float)
    return -np.sin(u) + 0.5


def _softmax(u, axis=None):
    z = np.exp(u - u.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _logsumexp(u, axis=None):
    top = u.max(axis=axis, keepdims=True)
    return top + np.log(np.exp(u - top).sum(axis=axis, keepdims=True))


_erf = np.vectorize(math.erf, otypes=[float])

#: f(X, d) of the axis forms, d = 1 (down the columns) or 2 (along the rows)
AXIS_NUMPY = {
    "sum": lambda u, axis: u.sum(axis=axis, keepdims=True),
    "mean": lambda u, axis: u.mean(axis=axis, keepdims=True),
    "logsumexp": _logsumexp,
    "softmax": _softmax,
}


NUMPY_FUNCTIONS = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "abs": np.abs, "sign": np.sign, "sqrt": np.sqrt,
    "relu": lambda u: np.maximum(u, 0.0), "sigmoid": lambda u: 1.0 / (1.0 + np.exp(-u)),
    "softplus": lambda u: np.log1p(np.exp(u)),
    "log1p": np.log1p, "expm1": np.expm1, "erf": _erf,
    "mean": lambda u: np.array([[u.mean()]]),
    "max": lambda u: np.array([[u.max()]]),
    "min": lambda u: np.array([[u.min()]]),
    "tr": lambda u: np.array([[np.trace(u)]]),
    "det": lambda u: np.array([[np.linalg.det(u)]]),
    "logdet": lambda u: np.array([[np.log(np.linalg.det(u))]]),
    "inv": np.linalg.inv,
    "diag": lambda u: np.diag(u[:, 0]) if u.shape[1] == 1 else np.diag(u)[:, None],
    "sum": lambda u: np.array([[u.sum()]]),
    "norm1": lambda u: np.array([[np.abs(u).sum()]]),
    "norm2": lambda u: np.array([[np.sqrt((u ** 2).sum())]]),
    "softmax": _softmax,
    "logsumexp": lambda u: _logsumexp(u).reshape(1, 1),
}


def draw_values(case: Case, rng: np.random.Generator) -> dict:
    """Values (2-D arrays) for the case's variables: square matrices near the identity,
    the symmetric S positive definite."""
    values = {}
    for name in case.variables:
        kind, shape = VARIABLES[name]
        r, c = (case.sizes.get(d, d) for d in shape)
        if kind == "symmetric":
            a = rng.normal(size=(r, r)) / np.sqrt(r)
            values[name] = a @ a.T / 2 + np.eye(r)
        elif r == c and r > 1:
            values[name] = np.eye(r) + 0.3 * rng.normal(size=(r, r)) / np.sqrt(r)
        else:
            values[name] = rng.normal(size=(r, c))
    return values


def user_values(case: Case, values: dict) -> dict:
    """The same values in the engine's user form, with the abstract test functions."""
    out = {}
    for name, v in values.items():
        shape = VARIABLES[name][1]
        if shape == SCALAR:
            out[name] = float(v[0, 0])
        elif shape[1] == 1:
            out[name] = v[:, 0].copy()
        else:
            out[name] = v.copy()
    for n in nodes(case.tree):
        if n[0] in ("call", "grad", "hess") and is_abstract(n[1]):
            if n[1] == DECLARED_ELEMENTWISE:
                tf = (elementwise_s, elementwise_ds, elementwise_dds)
            else:
                tf = (abstract_g, abstract_grad, abstract_hessian)
            out[n[1]], out["∇" + n[1]], out["∇²" + n[1]] = tf
    return out


def evaluate_tree(t, values: dict, sizes: dict) -> np.ndarray:
    """Value of a tree as a 2-D array, by a direct NumPy interpretation of the tree;
    where-definitions are evaluated in order and their names bound to the values."""
    if t[0] == "where":
        values = dict(values)
        for name, sub in t[2]:
            values[name] = evaluate_tree(sub, values, sizes)
        return evaluate_tree(t[1], values, sizes)

    def size(d):
        return sizes.get(d, d)

    with np.errstate(all="ignore"):
        memo: dict[int, np.ndarray] = {}
        stack = [(t, False)]
        while stack:
            node, done = stack.pop()
            if not done:
                stack.append((node, True))
                stack.extend((c, False) for c in children(node))
                continue
            args = [memo[id(c)] for c in children(node)]
            memo[id(node)] = _evaluate_node(node, args, values, size)
        return memo[id(t)]


def _evaluate_node(node, args, values, size) -> np.ndarray:
    kind = node[0]
    if kind in ("var", "def"):
        return values[node[1]]
    if kind == "num":
        return np.array([[np.pi if node[1] == "pi" else float(node[1])]])
    if kind == "axis":
        return AXIS_NUMPY[node[1]](args[0], axis=node[3] - 1)
    if kind == "call2":
        return (np.maximum if node[1] == "max" else np.minimum)(args[0], args[1])
    if kind == "eye":
        return np.eye(size(node[1]))
    if kind == "const":
        r, c = node[3]
        return np.full((size(r), size(c)), args[0][0, 0])
    if kind == "neg":
        return -args[0]
    if kind == "pos":
        return args[0]
    if kind == "t":
        return args[0].T
    if kind == "call":
        fn = NUMPY_FUNCTIONS.get(node[1])
        if fn is not None:
            return fn(args[0])
        if node[1] == DECLARED_ELEMENTWISE:
            return elementwise_s(args[0])
        return np.array([[abstract_g(args[0])]])
    if kind == "grad":
        if node[1] == DECLARED_ELEMENTWISE:
            return elementwise_ds(args[0])
        return abstract_grad(args[0])
    if kind == "hess":
        u = args[0]
        if node[1] == DECLARED_ELEMENTWISE:
            return elementwise_dds(u)
        if u.shape == (1, 1):
            return np.array([[float(abstract_hessian(u[0, 0]))]])
        return abstract_hessian(u)
    op = node[1]
    a, b = args
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        if a.shape == (1, 1) or b.shape == (1, 1):
            return a * b
        return a @ b
    if op in ("/", "./"):
        return a / b
    if op == ".*":
        return a * b
    if op == ".^":
        return np.power(a, b[0, 0])
    # ^: a power of a scalar, or an integer power of a square matrix
    if a.shape == (1, 1):
        return np.power(a, b[0, 0])
    return np.linalg.matrix_power(a, int(round(b[0, 0])))
