"""The public API: ``diff``/``gradient`` and the :class:`Result` they return.

Every entry point turns any failure on user input into a :class:`MatcalcError`
subclass; no other exception type escapes for any input string.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from . import expr as E
from .calculus import Step, jacobian_expr, reverse_sweep
from .errors import (LimitError, MatcalcError, NotDifferentiableError, ParseError,
                     ShapeError)
from .parse import parse_typed
from .simplify import simplify


def guarded(fn):
    """Let only ``MatcalcError`` out: a deep input or an engine bug becomes one too."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MatcalcError:
            raise
        except RecursionError:
            raise LimitError("the expression is too deeply nested to process; see "
                             "matcalc.LIMITS.max_depth") from None
        except MemoryError:
            raise LimitError("the result is too large to build in memory") from None
        except Exception as exc:  # an engine bug: never a traceback for the user
            raise MatcalcError(f"internal error ({type(exc).__name__}: {exc}); please "
                               "report this input") from exc
    return wrapper


@dataclass
class Result:
    """A derivative with everything known about it.

    ``expr`` is the derivative as an expression (``str(r.expr)`` is flat and parses
    back); ``str(r)`` is the human form; ``steps`` the derivation; ``evaluate`` and
    ``check`` give numbers.
    """
    kind: str
    input: str
    wrt: str
    vars: dict
    function: E.Expr
    variable: E.Var
    expr: E.Expr
    steps: list = field(default_factory=list)
    variables: dict = field(default_factory=dict)
    functions: set = field(default_factory=set)
    gradient: E.Expr | None = None  # for a Hessian: the gradient it differentiates

    def __str__(self) -> str:
        return str(self.expr)

    def latex(self) -> str:
        """The derivative in LaTeX."""
        from .printing import latex
        return latex(self.expr)

    @guarded
    def evaluate(self, values: dict):
        """The derivative's value.

        A gradient has the variable's shape (a float for a scalar).  A Jacobian or a
        Hessian is an array of shape ``shape(F) + shape(X)`` (vectors 1-D, scalars 0-D)
        with entry ``∂F[i..]/∂X[k..]``: a Hessian w.r.t. an m×n matrix is (m,n,m,n).
        """
        from .numeric import Evaluator, evaluate, user_array
        if self.kind == "gradient":
            return evaluate(self.expr, values, self.variables)
        ev = Evaluator(values, self.variables)
        j = ev(self.expr)
        f_shape = tuple(ev.size(d) for d in self.function_shape)
        x_shape = ev.bind(self.variable).shape
        return user_array(j, f_shape, x_shape)

    @guarded
    def check(self, points: int = 3, seed: int | None = 0):
        """Compare with central finite differences at random points in the domain."""
        from .numeric import check_derivative
        return check_derivative(self.kind, self.function, self.expr, self.variable,
                                self.variables, self.functions, points=points, seed=seed,
                                gradient=self.gradient)

    @property
    def function_shape(self) -> tuple:
        """Shape of what was differentiated: the gradient for a Hessian."""
        return self.variable.shape if self.kind == "hessian" else self.function.shape

    @guarded
    def numpy_code(self, function_name: str = "f") -> str:
        """Python source of a NumPy function returning ``(value, derivative)``."""
        from .codegen import numpy_code
        return numpy_code(self, function_name)

    def to_json(self, check=None) -> dict:
        return {
            "input": self.input,
            "wrt": self.wrt,
            "kind": self.kind,
            "vars": dict(self.vars),
            "result": {"text": str(self.expr), "latex": self.latex()},
            "steps": [str(s) for s in self.steps],
            "check": None if check is None else check.to_json(),
        }


def _check_wrt(wrt) -> str:
    if not isinstance(wrt, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", wrt):
        raise ParseError(f"the variable to differentiate by must be a name, not {wrt!r}")
    return wrt


def _check_size(e: E.Expr) -> None:
    from .calculus import check_result_size
    check_result_size(e)


def _located(fn):
    """Errors raised while differentiating point at the whole input (SPEC §5)."""
    @functools.wraps(fn)
    def wrapper(expression, *args, **kwargs):
        try:
            return fn(expression, *args, **kwargs)
        except MatcalcError as exc:
            if exc.text is not None or not isinstance(expression, str) or not expression:
                raise
            raise type(exc)(exc.message, expression, (0, len(expression))) from None
    return wrapper


def _scalar_problem(expression: str, wrt: str, vars: dict | None, what: str):
    """Parse a scalar expression and its variable, or say why it is not one."""
    wrt = _check_wrt(wrt)
    parsed = parse_typed(expression, vars, wrt=(wrt,))
    f = parsed.expr
    if not f.is_scalar:
        raise ShapeError(f"the {what} needs a scalar expression, but {expression} is "
                         f"{E.shape_text(f.shape)}; use jacobian for vector-valued "
                         "expressions", expression, (0, len(expression)))
    return parsed, f, parsed.variables[wrt]


@guarded
@_located
def gradient(expression: str, wrt: str, vars: dict | None = None) -> Result:
    """The gradient of a scalar expression, shaped like the variable.

    >>> str(gradient("g(W*x+b)", "W"))
    "∇g(W*x+b)*x'"
    >>> str(gradient("x'*S*x", "x", vars={"S": "symmetric"}))
    '2*S*x'
    """
    parsed, f, var = _scalar_problem(expression, wrt, vars, "gradient")
    steps: list = []
    g = reverse_sweep(f, var, steps=steps, simplify=simplify)
    _check_size(g)
    steps.append(Step(f"∂L/∂{wrt} = {g}"))
    return Result("gradient", expression, wrt, dict(vars or {}), f, var, g,
                  [str(s) for s in steps], parsed.variables, parsed.functions)


diff = gradient


@guarded
@_located
def jacobian(expression: str, wrt: str, vars: dict | None = None) -> Result:
    """The Jacobian ``∂F/∂x`` (m×n, entry (i,j) = ∂F_i/∂x_j); for matrix-valued F or a
    matrix X, the vec form ``∂vec(F)/∂vec(X)'`` written with ``kron``.

    >>> str(jacobian("tanh(W*x+b)", "x"))
    'W - diag(tanh(W*x+b).^2)*W'
    >>> str(jacobian("A*X*B", "X"))
    "kron(B', A)"
    """
    wrt = _check_wrt(wrt)
    parsed = parse_typed(expression, vars, wrt=(wrt,))
    var = parsed.variables[wrt]
    steps: list = []
    j = jacobian_expr(parsed.expr, var, simplify, steps)
    _check_size(j)
    steps.append(Step(f"∂F/∂{wrt} = {j}"))
    return Result("jacobian", expression, wrt, dict(vars or {}), parsed.expr, var, j,
                  [str(s) for s in steps], parsed.variables, parsed.functions)


@guarded
@_located
def hessian(expression: str, wrt: str, vars: dict | None = None) -> Result:
    """The Hessian of a scalar expression: the Jacobian of its gradient, one symmetric
    matrix expression (vec form ``∂vec(G)/∂vec(X)'`` for a matrix X).

    >>> str(hessian("x'*A*x", "x"))
    "A + A'"
    """
    parsed, f, var = _scalar_problem(expression, wrt, vars, "Hessian")
    if var.symmetric:
        raise NotDifferentiableError(
            f"Hessians with respect to the symmetric matrix {wrt} are not supported; "
            f"declare {wrt} as a matrix")
    steps: list = []
    g = reverse_sweep(f, var, steps=steps, simplify=simplify, lhs="df")
    steps.append(Step(f"∇f = {g}"))
    h = jacobian_expr(g, var, simplify, steps, lhs_name="(∇f)")
    _check_size(h)
    steps.append(Step(f"d(∇f) = H d{wrt}  so  H = {h}"))
    return Result("hessian", expression, wrt, dict(vars or {}), f, var, h,
                  [str(s) for s in steps], parsed.variables, parsed.functions, gradient=g)


def kind_of(var: E.Expr) -> str:
    """``scalar``, ``vector``, ``matrix`` or ``symmetric``: the kind of a variable."""
    if getattr(var, "symmetric", False):
        return "symmetric"
    if var.is_scalar:
        return "scalar"
    return "vector" if var.shape[1] == 1 else "matrix"


@guarded
@_located
def inspect(expression: str, vars: dict | None = None) -> dict:
    """What an expression contains, as JSON: its shape and every variable's kind, shape
    and the declaration that pins it, and the abstract functions.

    >>> info = inspect("W*x + b")
    >>> info["variables"]["b"]
    {'kind': 'vector', 'shape': ['n', 1], 'declaration': 'vector(n)'}
    """
    parsed = parse_typed(expression, vars)
    variables = dict(sorted(parsed.variables.items()))
    out = {}
    for name, v in variables.items():
        out[name] = {"kind": kind_of(v), "shape": list(v.shape),
                     "declaration": _declaration_text(v)}
    return {"input": expression, "shape": list(parsed.expr.shape),
            "kind": kind_of(parsed.expr), "variables": out,
            "functions": sorted(parsed.functions)}


def _declaration_text(v: E.Var) -> str:
    r, c = v.shape
    if getattr(v, "symmetric", False):
        return f"symmetric({r})"
    if v.is_scalar:
        return "scalar"
    if c == 1:
        return f"vector({r})"
    return f"matrix({r},{c})"


@guarded
def parse(text: str, vars: dict | None = None, shape=None) -> E.Expr:
    """Parse text into a typed, canonical expression (see :func:`matcalc.parse.parse`).

    >>> str(parse("(A*B)'"))
    "B'*A'"
    """
    return parse_typed(text, vars, shape=shape).expr
