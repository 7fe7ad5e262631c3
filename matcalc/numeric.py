"""Numbers: evaluating expressions with NumPy, drawing test points, checking derivatives.

Values follow SPEC §5: a scalar is a float, a vector a 1-D array, a matrix a 2-D array,
an abstract function ``g`` a callable (with optional ``"∇g"`` and ``"∇²g"`` entries for
its gradient and Hessian; without them they are taken by central differences).
Internally every value is a 2-D array, so that vectors are columns.

The checker compares a derivative with central finite differences of the function
itself, at random points inside the domain: sizes are distinct for distinct symbolic
dimensions (no accidental square matrices), matrices under ``inv/det/logdet`` are
well-conditioned with positive determinant, symmetric variables are positive definite,
arguments of ``log``/``sqrt`` are positive, and points near a kink of ``abs``, ``relu``,
``sign`` or ``norm1`` are drawn again.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np

from . import expr as E
from .errors import EvaluationError, LimitError, MatcalcError
from .kernels import CONSTANTS  # noqa: F401  (the values of the named constants)
from .kernels import adjugate_matrix
from .limits import LIMITS

FD_STEP = 1e-6
TOLERANCE = 1e-5
#: second differences of the function (step 1e-4) are good to about 1e-6
SECOND_ORDER_TOLERANCE = 1e-4


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------

def _float(v) -> float:
    try:
        return float(v)
    except OverflowError:
        raise EvaluationError(f"the number {E.number_text(abs(v))} is too large for "
                              "floating point") from None


def to_user(a: np.ndarray, shape) -> object:
    """Internal 2-D value -> what users see: float, 1-D vector or 2-D matrix."""
    if E.is_scalar_shape(shape):
        return float(a.reshape(-1)[0])
    if shape[1] == 1:
        return a[:, 0].copy()
    return a


def from_user(name: str, v, shape) -> np.ndarray:
    """A user value -> internal 2-D array, checked against the variable's kind."""
    if callable(v):
        raise EvaluationError(f"{name} is a variable; its value must be a number or array")
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise EvaluationError(f"the value of {name} is not numeric") from None
    if E.is_scalar_shape(shape):
        if a.size != 1:
            raise EvaluationError(f"{name} is a scalar, but its value has shape {a.shape}")
        return a.reshape(1, 1)
    if shape[1] == 1:
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            hint = (f" ({name} was read as a vector because it is added to one or "
                    f"transposed; declare {name}=scalar to give a number)"
                    if "a" <= name[0] <= "g" else "")
            raise EvaluationError(f"{name} is a vector: give a 1-D array, not shape "
                                  f"{a.shape}{hint}")
        return a.reshape(-1, 1)
    if a.ndim != 2:
        raise EvaluationError(f"{name} is a matrix: give a 2-D array, not shape {a.shape}")
    return a


class Evaluator:
    """Evaluates expressions at one point (values bound once, dims bound from them)."""

    def __init__(self, values: dict, variables: dict[str, E.Var] | None = None,
                 sizes: dict[str, int] | None = None):
        self.values = dict(values)
        self.variables = dict(variables or {})
        self.dims: dict[str, int] = dict(sizes or {})
        self.arrays: dict[str, np.ndarray] = {}
        self.memo: dict = {}

    def bind(self, var: E.Var) -> np.ndarray:
        if var.name in self.arrays:
            return self.arrays[var.name]
        if var.name not in self.values:
            raise EvaluationError(f"no value given for {var.name}")
        a = from_user(var.name, self.values[var.name], var.shape)
        for d, size in zip(var.shape, a.shape):
            self._bind_dim(d, size, var.name)
        if var.symmetric and not np.allclose(a, a.T, rtol=1e-10, atol=1e-12):
            raise EvaluationError(f"{var.name} is declared symmetric, but its value is not")
        self.arrays[var.name] = a
        return a

    def _bind_dim(self, d, size: int, name: str) -> None:
        if isinstance(d, int):
            if d != size:
                raise EvaluationError(f"{name} has size {size} where {d} is required")
            return
        known = self.dims.get(d)
        if known is None:
            self.dims[d] = size
        elif known != size:
            raise EvaluationError(f"dimension {d} is {known} elsewhere but {size} in {name}")

    def size(self, d) -> int:
        if isinstance(d, int):
            return d
        if "*" in d:
            return math.prod(self.size(f) for f in E.dim_factors(d))
        if d not in self.dims:
            for v in self.variables.values():
                if d in v.shape and v.name in self.values:
                    self.bind(v)
        if d not in self.dims:
            raise EvaluationError(f"the size {d} cannot be determined from the values given")
        return self.dims[d]

    def __call__(self, e: E.Expr) -> np.ndarray:
        """The value of ``e`` (2-D), computed by the plan that the generated code
        follows (:mod:`matcalc.codegen.plan`) with the same NumPy operations."""
        from .codegen.numpy import execute
        from .codegen.plan import build_plan
        from .userfunctions import expand
        if e in self.memo:
            return self.memo[e]
        root = e
        prepared = _PREPARED.get(root)
        if prepared is None:
            if len(_PREPARED) > PREPARED_SIZE:
                _PREPARED.clear()
            e = expand(e)  # user-defined functions: their bodies
            prepared = _PREPARED[root] = (e, [n for n in E.postorder(e, lambda n: True)
                                              if adjugate_form(n) is not None])
        e, adjugates = prepared
        self._adjugates(adjugates)
        plan = build_plan((e,))
        # bind every variable first so that sizes are known before constants need them
        for var in plan.variables:
            self.bind(var)
        with np.errstate(all="ignore"):
            (out,) = execute(plan, self, self.memo)
        out = np.asarray(out, dtype=float)
        if not out.flags.writeable:          # a broadcast view
            out = out.copy()
        self.memo[e] = self.memo[root] = out
        return out

    def _adjugates(self, products: list) -> None:
        """det(A)*inv(A) is the adjugate of A, which exists where A is singular (the
        gradient det(X)*inv(X)' of det(X) at a singular X): such ``products`` (children
        first) are computed here, from the adjugate, before the plan runs (it takes them
        from the memo)."""
        for n in products:
            if n in self.memo:
                continue
            det, i = adjugate_form(n)
            value = np.array([[_float(n.coef)]])
            for f in n.scalars:
                if f is not det:
                    value = value * self(f)[0, 0]
            factors = []
            for j, f in enumerate(n.chain):
                if j == i:
                    adj = adjugate_matrix(self(det.arg))
                    factors.append(adj.T if isinstance(f, E.Transpose) else adj)
                else:
                    factors.append(self(f))
            product = factors[0] if len(factors) == 1 else np.linalg.multi_dot(factors)
            self.memo[n] = value[0, 0] * product

    # what the plan's executor asks of its environment
    def param(self, var: E.Var) -> np.ndarray:
        return self.bind(var)

    def abstract(self, n: E.Abstract, u: np.ndarray) -> np.ndarray:
        return self._abstract(n, np.asarray(u, dtype=float))

    def singular(self, what: str) -> EvaluationError:
        return EvaluationError(f"{what} is singular at this point")

    def _abstract(self, n: E.Abstract, u: np.ndarray) -> np.ndarray:
        if n.elementwise:
            return self._elementwise_abstract(n, u)
        f = self.values.get(n.name)
        key = E.Abstract.PREFIX[n.order] + n.name
        given = self.values.get(key)
        shape = n.arg.shape
        if given is None and not callable(f):
            raise EvaluationError(f"no function given for {n.name}: bind {n.name!r} to a "
                                  "callable in the values")
        user_u = to_user(u, shape)
        if given is not None:
            if not callable(given):
                raise EvaluationError(f"{key} must be a callable")
            out = np.asarray(given(user_u), dtype=float)
        elif n.order == 0:
            out = np.asarray(f(user_u), dtype=float)
        elif n.order == 1:
            out = numeric_gradient(lambda v: float(f(to_user(v, shape))), u)
        else:
            grad = self.values.get("∇" + n.name)
            if grad is not None:
                g1 = lambda v: from_user("∇" + n.name, grad(to_user(v, shape)), shape)
            else:
                g1 = lambda v: numeric_gradient(lambda w: float(f(to_user(w, shape))), v)
            out = numeric_jacobian(g1, u)
        target = (u.shape[0], u.shape[0]) if n.order == 2 else (1, 1) if n.order == 0 \
            else u.shape
        try:
            return out.reshape(target)
        except ValueError:
            raise EvaluationError(f"{key}(...) returned shape {out.shape}; "
                                  f"expected {target}") from None


    def _elementwise_abstract(self, n: E.Abstract, u: np.ndarray) -> np.ndarray:
        """``s(u)``, ``∇s(u)``, ``∇²s(u)`` of a function applied entry by entry: the
        callable (or its given derivatives) on the array, else central differences."""
        key = E.Abstract.PREFIX[n.order] + n.name
        for order in range(n.order, -1, -1):
            f = self.values.get(E.Abstract.PREFIX[order] + n.name)
            if f is not None:
                break
        if f is None:
            raise EvaluationError(f"no function given for {n.name}: bind {n.name!r} to a "
                                  "callable applied entry by entry (like numpy.tanh)")
        if not callable(f):
            raise EvaluationError(f"{E.Abstract.PREFIX[order] + n.name} must be a callable")

        def apply(v):
            out = np.asarray(f(v), dtype=float)
            if out.shape != v.shape:
                raise EvaluationError(f"{key}(...) returned shape {out.shape}; an "
                                      f"element-wise function keeps the shape {v.shape}")
            return out

        h = 1e-4 * np.maximum(1.0, np.abs(u))
        if n.order - order == 0:
            return apply(u)
        if n.order - order == 1:
            return (apply(u + h) - apply(u - h)) / (2 * h)
        return (apply(u + h) - 2 * apply(u) + apply(u - h)) / (h * h)


#: an expression to evaluate -> (it with user-defined functions expanded, its adjugate
#: products): a pure function of the expression, kept so that a check's many
#: evaluations of one expression prepare it once
_PREPARED: dict = {}
PREPARED_SIZE = 10_000


def adjugate_form(n: E.Expr):
    """``(det(A), position of inv(A) in the chain)`` when the product ``n`` holds both
    (det(A)*inv(A) is the adjugate of A), else None."""
    if not isinstance(n, E.Mul):
        return None
    for s in n.scalars:
        if isinstance(s, E.Call) and s.fn == "det":
            for i, f in enumerate(n.chain):
                inner = f.arg if isinstance(f, E.Transpose) else f
                if isinstance(inner, E.Call) and inner.fn == "inv" and inner.arg == s.arg:
                    return s, i
    return None


def evaluate(e: E.Expr, values: dict, variables: dict | None = None):
    """Value of ``e`` at ``values``: float, 1-D or 2-D array.

    >>> from matcalc import parse
    >>> float(evaluate(parse("x'*x"), {"x": [1.0, 2.0]}))
    5.0
    """
    try:
        return to_user(Evaluator(values, variables)(e), e.shape)
    except MatcalcError:
        raise
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise EvaluationError(f"evaluation failed: {exc}") from None


def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                     h: float = FD_STEP) -> np.ndarray:
    """Central differences of a scalar function of an array, entry by entry."""
    g = np.zeros_like(x, dtype=float)
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x, dtype=float)
        step[idx] = h
        g[idx] = (f(x + step) - f(x - step)) / (2 * h)
    return g


def numeric_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                     h: float = FD_STEP) -> np.ndarray:
    """Central differences of an array function: entry (i, j) = ∂f_i/∂x_j (flattened)."""
    cols = []
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x, dtype=float)
        step[idx] = h
        cols.append(((f(x + step) - f(x - step)) / (2 * h)).reshape(-1))
    return np.array(cols).T


# ---------------------------------------------------------------------------
# test points
# ---------------------------------------------------------------------------

@dataclass
class Domain:
    """What the points of an expression must satisfy, read off the expression."""
    positive: set = field(default_factory=set)      # variables under log, sqrt, ^0.5, 1/x
    conditioned: set = field(default_factory=set)   # square variables under inv/det/logdet
    kinks: list = field(default_factory=list)       # arguments of abs, sign, relu, norm1
    positive_args: list = field(default_factory=list)
    matrix_args: list = field(default_factory=list)  # arguments of inv, det, logdet
    logdet_args: list = field(default_factory=list)
    nonzero_args: list = field(default_factory=list)  # arguments of norm2
    unit_args: list = field(default_factory=list)     # arguments of arcsin, arccos
    extreme_args: list = field(default_factory=list)  # max(X), min(X): no near ties


def domain_of(e: E.Expr) -> Domain:
    d = Domain()
    for n in E.walk(e):
        if isinstance(n, E.Call):
            domain = n.spec.domain
            if domain == "kink":
                d.kinks.append(n.arg)
            elif domain == "extreme":
                d.extreme_args.append(n)
            elif domain == "nonzero" and E.free_vars(n.arg):
                d.nonzero_args.append(n.arg)
            elif domain in ("positive", "above_minus_one"):
                d.positive_args.append(n.arg if domain == "positive" else E.add(E.ONE, n.arg))
                d.positive.update(E.free_vars(n.arg))
            elif domain == "unit_interval":
                d.unit_args.append(n.arg)
            elif domain in ("matrix", "positive_determinant"):
                d.matrix_args.append(n.arg)
                d.conditioned.update(v.name for v in E.free_vars(n.arg).values()
                                     if v.shape[0] == v.shape[1])
                if domain == "positive_determinant":
                    d.logdet_args.append(n.arg)
        elif isinstance(n, (E.Pow, E.ElemPow)) and isinstance(n.exp, E.Num):
            v = n.exp.value
            if v < 0 or (not isinstance(v, float) and v.denominator != 1):
                d.positive_args.append(n.base)
                d.positive.update(E.free_vars(n.base))
            if v < 0:
                d.kinks.append(n.base)  # keep away from division by zero
    return d


def draw_value(var: E.Var, sizes: dict, rng: np.random.Generator, positive: bool,
               conditioned: bool):
    """A random value for ``var`` (user form)."""
    shape = tuple(sizes[d] if isinstance(d, str) else d for d in var.shape)
    if var.symmetric or (conditioned and shape[0] == shape[1] and shape[0] > 1):
        n = shape[0]
        a = rng.normal(size=(n, n)) / math.sqrt(n)
        if var.symmetric:
            m = a @ a.T / 2 + np.eye(n)  # symmetric positive definite
        else:
            m = np.eye(n) + 0.4 * a      # well-conditioned, det > 0 most of the time
        if positive:
            m = np.abs(m) + np.eye(n)
        return m
    if positive:
        a = rng.uniform(0.5, 1.5, size=shape)
    else:
        a = rng.normal(size=shape)
        a = np.where(np.abs(a) < 0.1, np.sign(a + 1e-300) * 0.1 + a, a)
    if E.is_scalar_shape(shape):
        return float(a.reshape(-1)[0])
    if var.shape[1] == 1:
        return a[:, 0]
    return a


def random_test_function(shape: tuple, rng: np.random.Generator) -> dict:
    """A smooth scalar function of an array with exact gradient and Hessian.

    g(u) = sum(a .* sin(u)) + (b:u)^2 / 2, so ∇g = a.*cos(u) + (b:u) b and
    ∇²g = diag(-a.*sin(u)) + b b' (for a vector u).
    """
    a = rng.uniform(0.5, 1.5, size=shape)
    b = rng.normal(size=shape) / max(1, int(np.prod(shape)))

    def g(u):
        u = np.asarray(u, dtype=float).reshape(shape)
        return float((a * np.sin(u)).sum() + 0.5 * (b * u).sum() ** 2)

    def grad(u):
        u = np.asarray(u, dtype=float).reshape(shape)
        return a * np.cos(u) + (b * u).sum() * b

    def hess(u):
        u = np.asarray(u, dtype=float).reshape(-1)
        return np.diag(-(a.reshape(-1)) * np.sin(u)) + np.outer(b.reshape(-1), b.reshape(-1))

    return {"g": g, "∇g": grad, "∇²g": hess}


def random_elementwise_function(rng: np.random.Generator) -> tuple:
    """A smooth function of one number, applied entry by entry, with its exact first and
    second derivatives: s(t) = a*sin(t) + b*t^2/2 + c*t."""
    a, b, c = rng.uniform(0.5, 1.5), rng.uniform(-0.5, 0.5), rng.normal()

    def s(u):
        u = np.asarray(u, dtype=float)
        return a * np.sin(u) + 0.5 * b * u * u + c * u

    def ds(u):
        u = np.asarray(u, dtype=float)
        return a * np.cos(u) + b * u + c

    def dds(u):
        u = np.asarray(u, dtype=float)
        return -a * np.sin(u) + b

    return s, ds, dds


def dims_of(*exprs: E.Expr) -> list[str]:
    """The symbolic dimensions (factors of products too) of the expressions."""
    out = set()
    for e in exprs:
        for n in E.walk(e):
            for d in n.shape:
                out.update(f for f in E.dim_factors(d) if isinstance(f, str))
            if isinstance(n, E.Commutation):
                out.update(f for d in (n.m, n.n) for f in E.dim_factors(d)
                           if isinstance(f, str))
    return sorted(out)


def size_assignments(dims: list[str], rng: np.random.Generator, count: int = 4):
    """Distinct sizes for distinct dimensions: ascending, descending, then shuffled."""
    base = list(range(2, 2 + len(dims)))
    yield dict(zip(dims, base))
    if len(dims) > 1:
        yield dict(zip(dims, reversed(base)))
        for _ in range(count - 2):
            perm = list(rng.permutation(base))
            yield dict(zip(dims, (int(p) for p in perm)))


@dataclass
class Point:
    values: dict
    sizes: dict


def valid_point(function: E.Expr, domain: Domain, ev: Evaluator) -> bool:
    """Is the function finite here, away from kinks, with well-conditioned matrices?"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = ev(function)
        except MatcalcError:
            return False
        if not np.all(np.isfinite(value)):
            return False
        for u in domain.kinks:
            a = np.abs(ev(u))
            # entries that are exactly zero are structural (the off-diagonal of
            # diag(x), B-B): they do not move, so they are no kink to cross; the
            # distance shrinks with the argument's scale, so that abs(1e-4*x) has points
            near = 1e-3 * min(1.0, float(np.max(a)) if a.size else 1.0)
            if np.any((a > 0) & (a < near)):
                return False
        for u in domain.unit_args:
            if np.max(np.abs(ev(u))) >= 1 - 1e-3:
                return False
        for m in domain.extreme_args:
            if near_tie(ev(m.arg), largest=m.fn in ("max", "ismax")):
                return False
        for u in domain.nonzero_args:
            if np.sqrt((ev(u) ** 2).sum()) < 1e-3:
                return False
        for u in domain.positive_args:
            if np.min(ev(u)) <= 1e-3:
                return False
        for m in domain.matrix_args:
            a = ev(m)
            if not np.all(np.isfinite(a)) or np.linalg.cond(a) > 1e6:
                return False
        for m in domain.logdet_args:
            if np.linalg.det(ev(m)) <= 0:
                return False
    return True


def near_tie(a: np.ndarray, largest: bool) -> bool:
    """Is the largest (smallest) entry of ``a`` within a step of another value?

    Entries exactly equal to the extreme are a tie by construction (the pair
    ``X_ij = X_ji`` of ``X + X'``, entries saturated to the same value): they stay
    equal when the variables move, so they are no kink to cross.  The distance shrinks
    with the spread of ``a`` below 1, so that ``max(1e-4*x)`` has points.
    """
    values = np.unique(a.reshape(-1))  # sorted, distinct
    if values.size < 2:
        return False
    gap = values[-1] - values[-2] if largest else values[1] - values[0]
    return gap < 1e-3 * min(1.0, max(values[-1] - values[0], 1e-12))


def draw_points(function: E.Expr, variables: dict[str, E.Var], functions: set,
                rng: np.random.Generator, count: int, extra_dims: list[str] = (),
                attempts: int = 40) -> list[Point]:
    """``count`` random points inside the domain of ``function``."""
    domain = domain_of(function)
    dims = sorted(set(dims_of(function, *variables.values())) | set(extra_dims))
    for v in variables.values():
        for d in v.shape:
            if isinstance(d, int) and d > LIMITS.max_check_size:
                raise LimitError(f"{v.name} is declared with size {d}; check() draws values "
                                 f"up to size {LIMITS.max_check_size}, the limit "
                                 "matcalc.LIMITS.max_check_size")
    points: list[Point] = []
    for sizes in size_assignments(dims, rng):
        points = []
        for attempt in range(attempts * count):
            everything_positive = attempt >= attempts // 2
            values = {}
            for name, var in variables.items():
                values[name] = draw_value(var, sizes, rng,
                                          everything_positive or name in domain.positive,
                                          name in domain.conditioned)
            for fname in functions:
                uses = [n for n in E.walk(function)
                        if isinstance(n, E.Abstract) and n.name == fname]
                if uses and uses[0].elementwise:
                    tf = random_elementwise_function(rng)
                    values[fname], values["∇" + fname], values["∇²" + fname] = tf
                    continue
                arg_shapes = {tuple(sizes.get(d, d) if isinstance(d, str) else d
                                    for d in n.arg.shape) for n in uses}
                if not arg_shapes:
                    continue  # the function simplified away: g(x)*0
                if len(arg_shapes) != 1:
                    raise EvaluationError(f"{fname} is applied to arguments of different "
                                          "shapes; the checker cannot make one test "
                                          "function for it")
                (shape,) = arg_shapes
                tf = random_test_function(shape, rng)
                values[fname] = tf["g"]
                values["∇" + fname] = tf["∇g"]
                values["∇²" + fname] = tf["∇²g"]
            ev = Evaluator(values, variables, sizes)
            if valid_point(function, domain, ev):
                points.append(Point(values, sizes))
                if len(points) == count:
                    return points
    raise EvaluationError("could not find points inside the domain of the expression to "
                          "check at; give values to evaluate() instead")


# ---------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------

@dataclass
class CheckReport:
    """Outcome of comparing a derivative with finite differences."""
    passed: bool
    worst_error: float
    sizes: dict
    points: int
    tolerance: float = TOLERANCE
    mismatches: list = field(default_factory=list)  # (what, analytic, numeric)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in sorted(self.sizes.items())) or "none"
        verdict = "passed" if self.passed else "FAILED"
        text = (f"check {verdict}: worst error {self.worst_error:.1e} (tolerance "
                f"{self.tolerance:.0e}) at {self.points} random points; sizes {sizes}")
        if self.passed and self.worst_error > self.tolerance:
            text += ("\n  (the larger errors are within the rounding noise of the difference "
                     "quotients: the function is much larger than its derivative)")
        if self.mismatches:
            rows = [f"  {what}: analytic {a:.10g}  numeric {n:.10g}"
                    for what, a, n in self.mismatches[:8]]
            text += "\n" + "\n".join(rows)
        return text

    def _repr_markdown_(self) -> str:
        mark = "✅" if self.passed else "❌"
        lines = str(self).splitlines()
        return f"{mark} {lines[0]}" + "".join(f"\n\n    {line.strip()}" for line in lines[1:])

    def to_json(self) -> dict:
        return {"passed": self.passed, "worst_error": self.worst_error,
                "tolerance": self.tolerance, "sizes": self.sizes, "points": self.points}


#: a variable with more entries than this is checked along as many random directions
MAX_DIRECTIONS = 32


def directions_of(var: E.Var, shape: tuple, rng: np.random.Generator) -> list:
    """The directions a check differentiates along: every basis direction of a small
    variable, and MAX_DIRECTIONS random ones of a large one (a wrong gradient differs
    from the right one along almost every direction, so this loses no power)."""
    if math.prod(shape) <= MAX_DIRECTIONS:
        return list(basis_directions(var, shape))
    out = []
    for k in range(MAX_DIRECTIONS):
        d = rng.standard_normal(shape)
        if var.symmetric:
            d = (d + d.T) / 2
        out.append((f" along random direction {k + 1}", d / np.abs(d).max()))
    return out


def basis_directions(var: E.Var, shape: tuple):
    """(label, direction) pairs spanning the variable's space (symmetric for symmetric)."""
    if var.symmetric:
        n = shape[0]
        for i in range(n):
            for j in range(i, n):
                d = np.zeros(shape)
                d[i, j] = d[j, i] = 1.0
                yield f"[{i},{j}]", d
        return
    for idx in np.ndindex(*shape):
        d = np.zeros(shape)
        d[idx] = 1.0
        yield "[" + ",".join(str(i) for i in idx) + "]", d


def error_measure(analytic: float, numeric: float) -> float:
    """Relative error, absolute below magnitude 1."""
    return abs(analytic - numeric) / max(1.0, abs(analytic), abs(numeric))


def rounding_noise(values: list, h: float) -> float:
    """An upper estimate of the rounding error of a difference quotient with step h."""
    size = max((float(np.max(np.abs(v))) for v in values), default=0.0)
    return 64 * np.finfo(float).eps * size / h


class _Tally:
    """Worst error and the mismatches, over all comparisons of one check."""

    def __init__(self, tolerance: float):
        self.tolerance = tolerance
        self.worst = 0.0
        self.mismatches: list = []

    def compare(self, what: str, analytic, estimates, tolerance: float | None = None) -> None:
        """``analytic`` against difference quotients: ``estimates`` yields pairs
        (quotient, its rounding noise), the first with the usual step and then smaller
        ones, drawn only while some entry mismatches (a fast oscillation such as
        sin(1e4*x) needs a finer step than the usual one)."""
        tol = self.tolerance if tolerance is None else tolerance
        analytic = np.atleast_1d(np.asarray(analytic, dtype=float)).reshape(-1)
        best = None
        for numeric, noise in estimates:
            numeric = np.atleast_1d(np.asarray(numeric, dtype=float)).reshape(-1)
            errs, bad = [], []
            for i, (a, n) in enumerate(zip(analytic, numeric)):
                err = error_measure(a, n)
                if not np.isfinite(err):
                    err = math.inf
                errs.append(err)
                # a mismatch is beyond the tolerance and beyond the difference quotient's
                # own rounding noise (about eps*|f|/h: it matters when |f| >> f')
                if not err <= tol + noise / max(1.0, abs(a), abs(n)):
                    bad.append((i, float(a), float(n)))
            if best is None or len(bad) < len(best[1]) or (
                    len(bad) == len(best[1]) and max(errs) < max(best[0])):
                best = (errs, bad)
            if not bad:
                break
        errs, bad = best
        # errors are reported relative to this comparison's own tolerance
        self.worst = max([self.worst] + [e * self.tolerance / tol for e in errs])
        for i, a, n in bad:
            entry = f"[{i}]" if analytic.size > 1 else ""
            self.mismatches.append((f"{what}{entry}", a, n))


def user_array(j: np.ndarray, f_shape: tuple, x_shape: tuple) -> np.ndarray:
    """A vec-form derivative ∂vec(F)/∂vec(X)' as an array of shape shape(F) + shape(X),
    with entry ∂F[i,j]/∂X[k,l] (vectors 1-D, scalars 0-D)."""
    (p, q), (m, n) = f_shape, x_shape
    full = j.reshape(q, p, n, m).transpose(1, 0, 3, 2)

    def user(r, c):
        return () if r == c == 1 else (r * c,) if 1 in (r, c) else (r, c)

    return full.reshape(user(p, q) + user(m, n))


def check_derivative(kind: str, function: E.Expr, derivative: E.Expr, var: E.Var,
                     variables: dict[str, E.Var], functions, points: int = 3,
                     seed: int | None = 0, tolerance: float = TOLERANCE,
                     gradient: E.Expr | None = None,
                     second: E.Var | None = None) -> CheckReport:
    """Compare a derivative with central differences at random points in the domain.

    * ``gradient``: ``G : E`` against the difference quotient of the function along
      every basis direction E of the variable (symmetric directions for a symmetric one);
    * ``jacobian``: ``J*vec(E)`` against the difference quotient of the function;
    * ``hessian``: ``H*vec(E)`` against the difference quotient of the symbolic gradient,
      and ``vec(E1)'*H*vec(E2)`` against second differences of the function itself, so
      that both layers are tested; with ``second``, E runs over the second variable's
      directions (the mixed block ∂²f/∂x∂y').
    """
    rng = np.random.default_rng(seed)
    variables = dict(variables)
    variables.setdefault(var.name, var)
    by = second if second is not None else var
    variables.setdefault(by.name, by)
    pts = draw_points(function, variables, functions, rng, points,
                      extra_dims=dims_of(derivative))
    tally = _Tally(tolerance)
    for p in pts:
        ev = Evaluator(p.values, variables, p.sizes)
        d = ev(derivative)
        x0, y0 = ev.bind(var), ev.bind(by)

        def at(expr: E.Expr, shifts: list) -> np.ndarray:
            vals = dict(p.values)
            moved = {}
            for v, delta in shifts:
                moved[v.name] = moved.get(v.name, ev.bind(v)) + delta
            for name, x in moved.items():
                vals[name] = to_user(x, variables[name].shape)
            return Evaluator(vals, variables, p.sizes)(expr)

        directions = directions_of(by, y0.shape, rng)
        scale = max(1.0, float(np.abs(y0).max()))
        h = FD_STEP * scale
        def quotients(inner: E.Expr, e: np.ndarray, column: bool):
            """Central differences of ``inner`` along ``e``: the usual step, then two
            finer ones (drawn only if the usual one mismatches)."""
            for step in (h, h / 16, h / 256):
                plus, minus = at(inner, [(by, step * e)]), at(inner, [(by, -step * e)])
                q = (plus - minus) / (2 * step)
                yield (q.reshape(-1, 1, order="F") if column else q.sum(),
                       rounding_noise([plus, minus], step))

        for label, e in directions:
            what = f"∂/∂{by.name}{label}"
            if kind == "gradient":
                tally.compare(what, (d * e).sum(), quotients(function, e, column=False))
                continue
            analytic = d @ e.reshape(-1, 1, order="F")
            inner = function if kind == "jacobian" else gradient
            layer = "" if kind == "jacobian" else "∇"
            tally.compare(f"{layer}{what}", analytic, quotients(inner, e, column=True))
        if kind == "hessian":
            h2 = 1e-4 * max(scale, float(np.abs(x0).max()))

            def second_differences(ea, eb):
                for step in (h2, h2 / 8):
                    corners = [at(function, [(var, sa * step * ea), (by, sb * step * eb)])
                               for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
                    value = (corners[0] - corners[1] - corners[2] + corners[3]) \
                        / (4 * step * step)
                    yield value, rounding_noise(corners, step * step)

            firsts, seconds = directions_of(var, x0.shape, rng), directions
            if len(firsts) * len(seconds) > MAX_DIRECTIONS ** 2 // 16:  # 8 × 8 at most
                firsts, seconds = firsts[:8], seconds[:8]
            for la, ea in firsts:
                for lb, eb in seconds:
                    analytic = ea.reshape(1, -1, order="F") @ d @ eb.reshape(-1, 1, order="F")
                    tally.compare(f"∂²/∂{var.name}{la}∂{by.name}{lb}", analytic,
                                  second_differences(ea, eb),
                                  tolerance=SECOND_ORDER_TOLERANCE)
    return CheckReport(not tally.mismatches, float(tally.worst), dict(pts[0].sizes),
                       len(pts), tolerance, tally.mismatches)


class CheckReports(dict):
    """The checks of several gradients, by variable; true when all passed."""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.values())

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return "\n".join(f"{name}: {report}" for name, report in self.items())

    def _repr_markdown_(self) -> str:
        return "\n\n".join(f"**{name}**: {report._repr_markdown_()}"
                             for name, report in self.items())

    def to_json(self) -> dict:
        return {"passed": self.passed, "by_variable": {k: v.to_json() for k, v in self.items()}}


def check_gradient(function: E.Expr, gradient: E.Expr, var: E.Var,
                   variables: dict[str, E.Var], functions: set, points: int = 3,
                   seed: int | None = 0, tolerance: float = TOLERANCE) -> CheckReport:
    """Compare ``gradient`` (of the scalar ``function`` w.r.t. ``var``) with central
    differences of ``function`` along every basis direction, at random points."""
    return check_derivative("gradient", function, gradient, var, variables, functions,
                            points, seed, tolerance)
