"""The public API: ``diff``/``gradient``, ``jacobian``, ``hessian`` and their results.

Every entry point turns any failure on user input into a :class:`MatcalcError`
subclass; no other exception type escapes for any input string.
"""
from __future__ import annotations

import functools
import re
import sys
import warnings
from numbers import Integral

from . import expr as E
from .calculus import check_result_size, gradients, jacobian_expr
from .errors import (EvaluationError, InternalError, LimitError, MatcalcError, ParseError,
                     ShapeError)
from .parse import declaration_of, parse_typed
from .simplify import simplify


def guarded(fn):
    """Let only ``MatcalcError`` out: a deep input or an engine bug becomes one too."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MatcalcError:
            raise
        except TypeError as exc:
            import inspect  # only now: it costs a CLI start-up a tenth
            try:
                inspect.signature(fn).bind(*args, **kwargs)
            except TypeError as wrong:  # a wrong call is the caller's TypeError
                raise TypeError(f"{fn.__name__}() {wrong}") from None
            raise InternalError(f"internal error (TypeError: {exc}); please report this "
                                "input") from exc
        except RecursionError:
            raise LimitError("the expression is too deeply nested to process; see "
                             "matcalc.LIMITS.max_depth") from None
        except MemoryError:
            raise LimitError("the result is too large to build in memory") from None
        except Exception as exc:  # an engine bug: never a traceback for the user
            raise InternalError(f"internal error ({type(exc).__name__}: {exc}); please "
                                "report this input") from exc
    return wrapper


class ZeroDerivativeWarning(UserWarning):
    """The variable does not occur in the expression: its derivative is zero."""


def kind_of(e: E.Expr) -> str:
    """``scalar``, ``vector``, ``matrix`` or ``symmetric``: the kind of a variable."""
    if getattr(e, "symmetric", False):
        return "symmetric"
    if e.is_scalar:
        return "scalar"
    return "vector" if e.shape[1] == 1 else "matrix"


class GeneratedCode:
    """The code generators of a :class:`Result` and of :class:`Results` (SPEC §4):
    one self-contained function returning the value and the derivative(s)."""

    @guarded
    def numpy_code(self, function_name: str = "f", check: bool = False) -> str:
        """Source of a NumPy module whose ``function_name(...)`` returns the value and
        the derivative(s), checking its arguments; with ``check``, also
        ``check_<function_name>(...)``, which compares them with finite differences."""
        from .codegen import generate
        return generate(self, "numpy", function_name, check)

    @guarded
    def jax_code(self, function_name: str = "f", check: bool = False) -> str:
        """Source of the same function for JAX (``jax.jit``-compatible)."""
        from .codegen import generate
        return generate(self, "jax", function_name, check)

    @guarded
    def torch_code(self, function_name: str = "f", check: bool = False) -> str:
        """Source of the same function for PyTorch (plain tensors, any device)."""
        from .codegen import generate
        return generate(self, "torch", function_name, check)

    @guarded
    def function(self, backend: str = "numpy", function_name: str = "f"):
        """The generated function itself (``backend``: numpy, jax or torch), compiled
        from matcalc's own generated source; it returns the value and the derivative(s).

        >>> import numpy as np, matcalc
        >>> f = matcalc.diff("x'*A*x", "x").function()
        >>> f(np.eye(2), np.array([1.0, 2.0]))[1]
        array([2., 4.])
        """
        from .codegen import build_function
        return build_function(self, backend, function_name)

    build_function = function


class Result(GeneratedCode):
    """A derivative with everything known about it.

    ``expr`` is the derivative as an expression (``str(r.expr)`` is flat and parses
    back); ``str(r)`` is the human form, with repeated pieces named once; ``steps`` the
    derivation; ``latex()`` the LaTeX; ``evaluate`` and ``check`` give numbers;
    ``differentiated`` is the expression that was differentiated, ``variable`` the
    variable; ``function(backend)`` the generated function.
    """

    def __init__(self, kind: str, input: str, wrt: str, vars: dict, function: E.Expr,
                 variable: E.Var, expr: E.Expr, variables: dict, functions: dict,
                 gradient: E.Expr | None = None, second: E.Var | None = None,
                 human=None, definitions: dict | None = None, where: dict | None = None):
        self.kind = kind
        self.input = input
        self.wrt = wrt
        self.vars = dict(vars or {})
        self.differentiated = function
        self.variable = variable
        self.expr = expr
        self.variables = dict(variables)
        self.functions = dict(functions)
        self.gradient = gradient  # for a Hessian: the gradient it differentiates
        self.second = second      # for a mixed Hessian: the second variable
        self._human = human
        self._derivation = None
        self.definitions = dict(definitions or {})  # user-defined functions, name -> body
        self.where = dict(where or {})  # the input's where-names, name -> Expr

    # pickling: the lazily computed parts are left out and recomputed on demand
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_derivation"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    # the human form ---------------------------------------------------------
    @property
    def human(self):
        """The :class:`matcalc.human.HumanForm` that prints this result."""
        if self._human is None:
            self._human = human_form([self])
        return self._human

    def __str__(self) -> str:
        return self.human.text(self.expr)

    def __repr__(self) -> str:
        return f"<matcalc.Result {self.lhs()} = {self}>"

    def lhs(self, latex: bool = False) -> str:
        """The left side: ``∂L/∂W``, ``∂F/∂x``, ``∂²L/∂x∂x'`` (LaTeX with ``latex``)."""
        from .printing import latex_name
        x = latex_name(self.wrt) if latex else self.wrt
        y = latex_name(self.second.name if self.second is not None else self.wrt) if latex \
            else (self.second.name if self.second is not None else self.wrt)
        matrix_x = not self.variable.is_scalar and self.variable.shape[1] != 1
        if self.kind == "gradient":
            return rf"\frac{{\partial L}}{{\partial {x}}}" if latex else f"∂L/∂{x}"
        if self.kind == "jacobian":
            if matrix_x or self.differentiated.shape[1] != 1:
                return (r"\frac{\partial \operatorname{vec} F}{\partial (\operatorname{vec} "
                        + x + r")^\top}") if latex else f"∂vec(F)/∂vec({x})'"
            return rf"\frac{{\partial F}}{{\partial {x}}}" if latex else f"∂F/∂{x}"
        if latex:
            return rf"\frac{{\partial^2 L}}{{\partial {x}\, \partial {y}^\top}}"
        return f"∂²L/∂{x}∂{y}'"

    def latex(self, steps: bool = False, lhs: bool = True, standalone: bool = False) -> str:
        """The derivative in LaTeX (human form, with its left side ``\\frac{\\partial L}
        {\\partial W} =``); with ``steps``, the derivation as an ``aligned`` block; with
        ``standalone``, a complete document (``article`` and ``amsmath``)."""
        from .printing import latex_document
        from .steps import latex_steps
        body = latex_steps(self.derivation) if steps else self.human.latex(
            self.expr, lhs=f"{self.lhs(latex=True)} = " if lhs else "")
        return latex_document(body) if standalone else body

    # the derivation -----------------------------------------------------------
    @property
    def derivation(self) -> list:
        """The steps as :class:`matcalc.steps.Step` objects (text and LaTeX)."""
        if self._derivation is None:
            self._derivation = guarded(self._derive)()
        return self._derivation

    def _derive(self) -> list:
        from .steps import Step, gradient_steps, jacobian_steps
        if self.kind == "gradient":
            return gradient_steps(self.differentiated, [self.variable], [self.expr], simplify)
        if self.kind == "jacobian":
            out = jacobian_steps(self.differentiated, self.variable, self.expr, simplify)
            out[-1] = self._last_step()  # labelled as the result is: ∂vec(F)/∂vec(X)'
            return out
        out = gradient_steps(self.differentiated, [self.variable], [self.gradient], simplify)
        by = self.second if self.second is not None else self.variable
        hessian = jacobian_steps(self.gradient, by, self.expr, simplify, lhs="G")
        out.append(Step("G", "∂L/∂" + self.variable.name, lhs_latex="G",
                        rhs_latex=rf"\frac{{\partial L}}{{\partial "
                                  rf"{_latex_name(self.variable.name)}}}"))
        out.extend(hessian[:-1])
        out.append(self._last_step())
        return out

    def _last_step(self):
        from .steps import Step
        return Step(self.lhs(), str(self), lhs_latex=self.lhs(latex=True),
                    rhs_latex=self.human.latex(self.expr))

    @property
    def steps(self) -> list[str]:
        """The derivation, one line per step, each with the identity it used."""
        return [str(s) for s in self.derivation]

    # numbers ------------------------------------------------------------------
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
        by = self.second if self.second is not None else self.variable
        x_shape = ev.bind(by).shape
        return user_array(j, f_shape, x_shape)

    @guarded
    def check(self, points: int = 3, seed: int | None = 0):
        """Compare with central finite differences at random points in the domain."""
        from .numeric import check_derivative
        if not isinstance(points, Integral) or isinstance(points, bool) or points < 1:
            raise EvaluationError(f"points must be a positive whole number, not {points!r}")
        if seed is not None and (not isinstance(seed, Integral) or isinstance(seed, bool)):
            raise EvaluationError(f"seed must be a whole number or None, not {seed!r}")
        return check_derivative(self.kind, self.differentiated, self.expr, self.variable,
                                self.variables, self.functions, points=points, seed=seed,
                                gradient=self.gradient, second=self.second)

    @property
    def function_shape(self) -> tuple:
        """Shape of what was differentiated: the gradient for a Hessian."""
        return self.variable.shape if self.kind == "hessian" else self.differentiated.shape

    # output -------------------------------------------------------------------
    def to_json(self, check=None) -> dict:
        """The result as JSON (the shape of ``--format json``)."""
        return {
            "input": self.input,
            "wrt": self.wrt if self.second is None else [self.wrt, self.second.name],
            "kind": self.kind,
            "vars": dict(self.vars),
            **({"functions": dict(self.definitions)} if self.definitions else {}),
            "result": {"text": str(self), "flat": str(self.expr),
                       "latex": self.latex(), "lhs": self.lhs()},
            "steps": self.steps,
            "steps_latex": [s.latex() for s in self.derivation],
            "check": None if check is None else check.to_json(),
        }

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex()}\n$$"

    def _repr_markdown_(self) -> str:
        return (f"$$\n{self.latex()}\n$$\n\n<details><summary>steps</summary>\n\n"
                f"$$\n{self.latex(steps=True)}\n$$\n\n</details>\n")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": f"{self.lhs()} = {self}", "text/latex": self._repr_latex_(),
                "text/markdown": self._repr_markdown_()}


def _latex_name(name: str) -> str:
    from .printing import latex_name
    return latex_name(name)


def human_form(results: list[Result]):
    """The human form of ``results``: the names the user gave or declared are not
    taken for other pieces, and a piece the input named with ``where`` keeps its name."""
    from .human import HumanForm, taken_names
    r = results[0]
    user = set(r.vars) | set(r.variables) | set(r.functions) | set(r.definitions)
    roots = [x.expr for x in results]
    taken = taken_names(*roots, also=user)
    return HumanForm.of(roots, taken, preferred={e: name for name, e in r.where.items()})


class Results(GeneratedCode):
    """The gradients of one expression with respect to several variables, computed in
    one reverse sweep and printed with their shared pieces named once; the generated
    code returns the value and every gradient, in the order given."""

    def __init__(self, results: list[Result]):
        self.results = list(results)
        self.human = human_form(self.results)
        for r in self.results:
            r._human = self.human
        self._derivation = None

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):
        return iter(self.results)

    def __getitem__(self, key):
        if isinstance(key, str):
            for r in self.results:
                if r.wrt == key:
                    return r
            raise KeyError(key)
        return self.results[key]

    @property
    def wrt(self) -> list[str]:
        return [r.wrt for r in self.results]

    def __str__(self) -> str:
        bodies, definitions = self.human.lines([r.expr for r in self.results])
        lines = [f"{r.lhs()} = {body}" for r, body in zip(self.results, bodies)]
        if definitions:
            lines.append(f"  where {definitions}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<matcalc.Results {', '.join(self.wrt)}>"

    def latex(self, steps: bool = False, standalone: bool = False) -> str:
        """All gradients, one per line, and the shared ``where`` definitions."""
        from .printing import latex_document
        from .steps import latex_steps
        if steps:
            body = latex_steps(self.derivation)
        else:
            bodies, definitions = self.human.latex_lines([r.expr for r in self.results])
            lines = [rf"{r.lhs(latex=True)} &= {body}" for r, body in zip(self.results, bodies)]
            if definitions:
                lines.append(r"\text{where}\quad")
                lines += [rf"{n} &= {d}" for n, d in definitions]
            body = "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
        return latex_document(body) if standalone else body

    @property
    def derivation(self) -> list:
        if self._derivation is None:
            from .steps import gradient_steps
            first = self.results[0]
            self._derivation = guarded(gradient_steps)(
                first.differentiated, [r.variable for r in self.results],
                [r.expr for r in self.results], simplify)
        return self._derivation

    @property
    def steps(self) -> list[str]:
        return [str(s) for s in self.derivation]

    @guarded
    def check(self, points: int = 3, seed: int | None = 0):
        """Every gradient against finite differences: one report per variable."""
        from .numeric import CheckReports
        return CheckReports({r.wrt: r.check(points, seed) for r in self.results})

    @guarded
    def evaluate(self, values: dict) -> dict:
        return {r.wrt: r.evaluate(values) for r in self.results}

    def to_json(self, check=None) -> dict:
        first = self.results[0]
        return {
            "input": first.input,
            "wrt": self.wrt,
            "kind": first.kind,
            "vars": dict(first.vars),
            "result": {"text": str(self), "latex": self.latex()},
            "results": [{"wrt": r.wrt, "lhs": r.lhs(), "text": str(r), "flat": str(r.expr),
                         "latex": r.latex()} for r in self.results],
            "steps": self.steps,
            "steps_latex": [s.latex() for s in self.derivation],
            "check": None if check is None else check.to_json(),
        }

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex()}\n$$"

    def _repr_markdown_(self) -> str:
        return (f"$$\n{self.latex()}\n$$\n\n<details><summary>steps</summary>\n\n"
                f"$$\n{self.latex(steps=True)}\n$$\n\n</details>\n")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": str(self), "text/latex": self._repr_latex_(),
                "text/markdown": self._repr_markdown_()}


def _check_wrt(wrt) -> str:
    if not isinstance(wrt, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", wrt):
        raise ParseError(f"the variable to differentiate by must be a name, not {wrt!r}")
    return wrt


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


def _warn_absent(parsed, names) -> None:
    for name in names:
        if name not in parsed.written:
            warnings.warn(f"{name} does not occur in {parsed.text}: its derivative is zero",
                          ZeroDerivativeWarning, stacklevel=4)


def _default_scalars_hint(parsed, vars: dict | None) -> str:
    """A hint when undeclared names were read as scalars by their first letter (the
    usual reason why ``a'*X*b`` is not a scalar: b was meant to be a vector)."""
    names = sorted(n for n in parsed.written if n not in (vars or {})
                   and parsed.variables[n].is_scalar)
    if not names:
        return ""
    listed = ", ".join(names)
    python = ", ".join(f"'{n}': 'vector'" for n in names)
    cli = " ".join(f"--let {n}=vector" for n in names)
    return (f"; {listed} {'is' if len(names) == 1 else 'are'} read as a scalar by "
            f"the first letter: declare a vector as one (vars={{{python}}}, or {cli})")


def _scalar_problem(expression: str, wrt: list[str], vars: dict | None, what: str,
                    functions: dict | None = None):
    """Parse a scalar expression and its variables, or say why it is not one."""
    names = [_check_wrt(w) for w in wrt]
    if len(set(names)) != len(names):
        raise ParseError(f"a variable is given twice in {names}")
    parsed = parse_typed(expression, vars, wrt=tuple(names), functions=functions)
    f = parsed.expr
    if not f.is_scalar:
        raise ShapeError(f"the {what} needs a scalar expression, but {expression} is "
                         f"{E.shape_text(f.shape)}; use jacobian for vector-valued "
                         f"expressions{_default_scalars_hint(parsed, vars)}",
                         expression, (0, len(expression)))
    _warn_absent(parsed, names)
    return parsed, f, [parsed.variables[n] for n in names]


@guarded
@_located
def gradient(expression: str, wrt, vars: dict | None = None, functions: dict | None = None):
    """The gradient of a scalar expression, shaped like the variable; with a list of
    variables, every gradient from one reverse sweep (a :class:`Results`).

    >>> str(gradient("g(W*x+b)", "W"))
    "∇g(W*x+b)*x'"
    >>> str(gradient("x'*S*x", "x", vars={"S": "symmetric"}))
    '2*S*x'
    >>> print(gradient("norm2(W2*tanh(W1*x+b1) - y)^2", ["W1", "W2"]))
    ∂L/∂W1 = 2*((1-h.^2).*(W2'*a))*x'
    ∂L/∂W2 = 2*a*h'
      where h = tanh(W1*x+b1), a = W2*h - y
    """
    several = isinstance(wrt, (list, tuple))
    names = list(wrt) if several else [wrt]  # anything else is refused as a name
    if several and not names:
        raise ParseError("give at least one variable to differentiate by")
    parsed, f, variables = _scalar_problem(expression, names, vars, "gradient", functions)
    results = [Result("gradient", expression, v.name, vars, f, v, g, parsed.variables,
                      parsed.functions, definitions=functions, where=parsed.definitions)
               for v, g in zip(variables, gradients(f, variables, simplify))]
    return Results(results) if several else results[0]


diff = gradient


@guarded
@_located
def jacobian(expression: str, wrt: str, vars: dict | None = None,
             functions: dict | None = None) -> Result:
    """The Jacobian ``∂F/∂x`` (m×n, entry (i,j) = ∂F_i/∂x_j); for matrix-valued F or a
    matrix X, the vec form ``∂vec(F)/∂vec(X)'`` written with ``kron``.

    >>> str(jacobian("tanh(W*x+b)", "x"))
    'diag(1-tanh(W*x+b).^2)*W'
    >>> str(jacobian("A*X*B", "X"))
    "kron(B', A)"
    """
    wrt = _check_wrt(wrt)
    parsed = parse_typed(expression, vars, wrt=(wrt,), functions=functions)
    _warn_absent(parsed, [wrt])
    var = parsed.variables[wrt]
    j = jacobian_expr(parsed.expr, var, simplify)
    check_result_size(j)
    return Result("jacobian", expression, wrt, vars, parsed.expr, var, j, parsed.variables,
                  parsed.functions, definitions=functions, where=parsed.definitions)


@guarded
@_located
def hessian(expression: str, wrt: str, wrt2: str | None = None,
            vars: dict | None = None, functions: dict | None = None) -> Result:
    """The Hessian of a scalar expression: the Jacobian of its gradient, one symmetric
    matrix expression (vec form ``∂vec(G)/∂vec(X)'`` for a matrix X).  With a second
    variable, the mixed block ``∂²f/∂x∂y'`` (entry (i,j) = ∂²f/∂x_i∂y_j).

    >>> str(hessian("x'*A*x", "x"))
    "A + A'"
    >>> str(hessian("x'*A*y", "x", "y"))
    'A'
    """
    if isinstance(wrt2, dict) and vars is None:
        wrt2, vars = None, wrt2  # hessian(expr, "x", {"A": ...})
    names = [wrt] if wrt2 is None else [wrt, wrt2]
    parsed, f, variables = _scalar_problem(expression, names, vars, "Hessian", functions)
    var = variables[0]
    by = variables[1] if wrt2 is not None else var
    (g,) = gradients(f, [var], simplify)
    h = jacobian_expr(g, by, simplify)
    check_result_size(h)
    return Result("hessian", expression, var.name, vars, f, var, h, parsed.variables,
                  parsed.functions, gradient=g, second=by if wrt2 is not None else None,
                  definitions=functions, where=parsed.definitions)


def clear_caches() -> None:
    """Forget what earlier derivatives left behind (the simplifier's memo, the transposes
    and the LaTeX printer's), so that a repeated derivative costs what a new one costs; the parse
    tables stay.  For benchmarks: results never depend on the caches."""
    from . import algebra, printing, simplify as simplifier
    simplifier._MEMO.clear()
    algebra._T_MEMO.clear()
    printing._PLAIN.memo.clear()
    numeric = sys.modules.get(__package__ + ".numeric")  # not imported (nor NumPy) for this
    if numeric is not None:
        numeric._PREPARED.clear()


@guarded
def to_sympy(e: E.Expr):
    """The SymPy matrix expression of ``e`` (see :mod:`matcalc.sympy_bridge`).

    >>> print(to_sympy(parse("x'*A*x")))
    Trace(x.T*A*x)
    """
    from .sympy_bridge import to_sympy as convert
    return convert(e)


@guarded
def from_sympy(m) -> E.Expr:
    """The matcalc expression of a SymPy (matrix) expression."""
    from .sympy_bridge import from_sympy as convert
    return convert(m)


@guarded
def parse(text: str, vars: dict | None = None, shape=None,
          functions: dict | None = None) -> E.Expr:
    """Parse text into a typed, canonical expression (see :func:`matcalc.parse.parse`).

    >>> str(parse("(A*B)'"))
    "B'*A'"
    """
    return parse_typed(text, vars, shape=shape, functions=functions).expr


@guarded
@_located
def inspect(expression: str, vars: dict | None = None, functions: dict | None = None) -> dict:
    """What an expression contains, as JSON: its shape and the kind, shape and pinning
    declaration of every variable it names (not of names only declared), and the
    abstract functions.

    >>> info = inspect("W*x + b")
    >>> info["variables"]["b"]
    {'kind': 'vector', 'shape': ['n', 1], 'declaration': 'vector(n)'}
    """
    parsed = parse_typed(expression, vars, functions=functions)
    out = {name: {"kind": kind_of(v), "shape": list(v.shape), "declaration": declaration_of(v)}
           for name, v in sorted(parsed.variables.items()) if name in parsed.written}
    return {"input": expression, "shape": list(parsed.expr.shape),
            "kind": kind_of(parsed.expr), "variables": out,
            "functions": dict(sorted(parsed.functions.items()))}
