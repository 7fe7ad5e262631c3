"""The printer that the backends share: a plan as one self-contained Python function.

A :class:`Printer` prints a module: the backend's import, the helpers and kernels the
function uses (their source, copied; nothing else), and the function, whose body checks
its arguments, computes the plan's steps one line each, and returns the value and the
derivative(s) in the layout of ``Result.evaluate``.  A backend (``numpy.py``, ``jax.py``,
``torch.py``) is a subclass that says how each operation is spelled, with one method per
operation, in the manner of SymPy's code printers.

Only names from the expression trees reach the code, and they are names of the input
language (``[A-Za-z][A-Za-z0-9_]*``): a name that is a Python keyword or builtin gets a
trailing underscore, and everything the generator introduces starts with an underscore,
so it cannot collide with a user's name.  Texts from the tree (the expression in the
docstring, a matrix named in an error message) are written as escaped literals.  No
user text is ever evaluated.
"""
from __future__ import annotations

import builtins
import functools
import inspect
import keyword
import re
import textwrap

from .. import expr as E
from ..dims import dim_factors
from ..errors import EvaluationError
from ..kernels import CONSTANTS, KERNELS
from . import runtime
from .plan import Plan, build_plan

#: the kernels module the NumPy source of kernels comes from
from .. import kernels as numpy_kernels


def python_name(name: str, taken=frozenset()) -> str:
    """A user's name as a safe Python identifier: ``lambda -> lambda_``.

    >>> python_name("lambda"), python_name("x"), python_name("sum")
    ('lambda_', 'x', 'sum_')
    """
    out = name
    while keyword.iskeyword(out) or keyword.issoftkeyword(out) or hasattr(builtins, out) \
            or out in taken:
        out += "_"
    if not out.isidentifier() or out.startswith("_"):
        raise ValueError(f"{name!r} is not a name of the language")  # grammar forbids it
    return out


@functools.lru_cache(maxsize=None)
def source_of(obj, rename: str | None = None) -> str:
    """The source of a function, optionally under another name, or of an error class
    (written from its name, base and docstring: ``inspect`` would parse its module)."""
    if isinstance(obj, type):
        return f'class {obj.__name__}({obj.__bases__[0].__name__}):\n    """{obj.__doc__}"""\n'
    src = inspect.getsource(obj)
    if rename is not None:
        src = re.sub(r"^(def|class) \w+", rf"\1 {rename}", src, count=1)
    return src.rstrip() + "\n"


def kind_of(var) -> str:
    if var.is_scalar:
        return "scalar"
    return "vector" if var.shape[1] == 1 else "matrix"


def user_dims(shape) -> tuple:
    """The shape that users see: scalars 0-d, vectors 1-D (rows or columns)."""
    r, c = shape
    if r == 1 and c == 1:
        return ()
    if c == 1:
        return (r,)
    if r == 1:
        return (c,)
    return (r, c)


class Problem:
    """What one generated function computes: the expression, the derivatives and how
    they are laid out, read off one :class:`Result` or the results of a ``Results``."""

    def __init__(self, result):
        results = list(result) if not hasattr(result, "expr") else [result]
        first = results[0]
        self.result = result
        self.results = results
        self.kind = first.kind
        self.function = first.differentiated
        self.derivatives = [r.expr for r in results]
        self.wrt = [r.variable for r in results]
        self.second = first.second
        variables = dict(E.free_vars(first.differentiated))
        for e in self.derivatives:
            variables.update(E.free_vars(e))
        for v in self.wrt + ([self.second] if self.second is not None else []):
            variables.setdefault(v.name, v)
        self.variables = [variables[k] for k in sorted(variables)]
        abstract = {}
        for e in [self.function] + self.derivatives:
            for n in E.walk(e):
                if isinstance(n, E.Abstract):
                    known = abstract.get(n.name, (0, n.elementwise, n.arg.shape))
                    abstract[n.name] = (max(known[0], n.order), n.elementwise, known[2])
        self.abstract = dict(sorted(abstract.items()))
        from ..userfunctions import expand  # user-defined functions: their bodies
        self.plan: Plan = build_plan((expand(self.function),
                                      *(expand(d) for d in self.derivatives)))

    def derivative_layout(self, index: int):
        """``(shape of F, shape of X)`` of derivative ``index`` in the vec form."""
        var = self.wrt[index]
        if self.kind == "gradient":
            return None
        by = self.second if self.second is not None else var
        f_shape = var.shape if self.kind == "hessian" else self.function.shape
        return f_shape, by.shape


class Printer:
    """Prints a :class:`Problem` as a module (subclasses spell the operations)."""

    backend = "numpy"
    xp = "_np"                       # the array module's name in the generated code
    # the calls that derive a user's function where its derivative is not given
    # (gradient, Hessian); None: the derivative must be passed
    autodiff: tuple | None = None
    imports = ("import numpy as _np",)
    runtime_helpers: dict = {}       # backend helpers: name -> object (source copied)
    kernel_variants = None           # module of the kernels written for this backend
    #: the argument conversion, with {a} the argument
    asarray = "_np.asarray({a}, dtype=_dt)"

    def __init__(self, problem: Problem, function_name: str = "f", check: bool = False):
        self.problem = problem
        self.function_name = function_name
        self.check = check
        self.helpers: list[str] = []
        self.kernels: list[str] = []
        self.used_dims: set = set()
        taken = {function_name, "check_" + function_name}
        self.names = {}
        for v in problem.variables:
            self.names[v.name] = python_name(v.name, taken)
            taken.add(self.names[v.name])
        self.functions = {}
        for name, (order, elementwise, _) in problem.abstract.items():
            for k in range(order + 1):
                base = name if k == 0 else f"{name}_{('grad', 'hess')[k - 1]}"
                self.functions[(k, name)] = python_name(base, taken)
                taken.add(self.functions[(k, name)])
        self.dims = {}                       # symbolic dimension -> (argument, axis)
        for v in problem.variables:
            for axis, d in enumerate(v.shape):
                if isinstance(d, str) and "*" not in d and d not in self.dims:
                    self.dims[d] = (self.names[v.name], axis)

    # names and sizes -------------------------------------------------------------
    def need(self, name: str) -> str:
        """Mark a helper (runtime or backend) as used; returns its name."""
        if name not in self.helpers:
            self.helpers.append(name)
        return name

    def kernel(self, name: str) -> str:
        if name not in self.kernels:
            self.kernels.append(name)
        return f"_k_{name}"

    def size(self, d) -> str:
        parts = []
        for f in dim_factors(d):
            if isinstance(f, int):
                parts.append(str(f))
                continue
            if f not in self.dims:
                raise EvaluationError(f"cannot generate code: no variable has the size {f}")
            self.used_dims.add(f)
            parts.append(f"_dim_{f}")
        return " * ".join(parts)

    def shape(self, shape) -> str:
        return f"({self.size(shape[0])}, {self.size(shape[1])})"

    # the operations ----------------------------------------------------------------
    def print_step(self, step, a: list) -> str:
        return getattr(self, "op_" + step.op)(step, a)

    def op_param(self, step, a):
        return self.names[step.params[0]]

    def op_literal(self, step, a):
        return repr(step.params[0])

    def op_constant(self, step, a):
        return repr(CONSTANTS[step.params[0]])

    def op_size(self, step, a):
        return f"float({self.size(step.params[0])})"

    def op_eye(self, step, a):
        return f"{self.xp}.eye({self.size(step.params[0])}, dtype=_dt)"

    def op_add(self, step, a):
        out = ("-" if step.params[0] < 0 else "") + a[0]
        for sign, code in zip(step.params[1:], a[1:]):
            out += (" - " if sign < 0 else " + ") + code
        return out

    def op_mul(self, step, a):
        number, divide = step.params
        out = ""
        for code, below in zip(a, divide):
            if not out:
                out = f"1.0 / {code}" if below else code
            else:
                out += (" / " if below else " * ") + code
        if number == -1.0 and out:
            return "-" + out
        if number != 1.0:
            out = f"{number!r} * {out}" if out else repr(number)
        return out or "1.0"

    def op_power(self, step, a):
        exp = self.problem.plan.steps[step.inputs[1]]
        if exp.op == "literal" and float(exp.params[0]).is_integer():
            return f"{a[0]} ** {int(exp.params[0])}"     # x ** 2, an integer power
        return f"{a[0]} ** {a[1]}"

    def op_matmul(self, step, a):
        return f"{a[0]} @ {a[1]}"

    def op_multi_dot(self, step, a):
        return f"{self.xp}.linalg.multi_dot([{', '.join(a)}])"

    def op_transpose(self, step, a):
        return f"{a[0]}.T"

    def op_solve(self, step, a):
        return f"{self.need('_solve')}({a[0]}, {a[1]}, {step.params[0]!r})"

    def op_inv(self, step, a):
        return f"{self.need('_inv')}({a[0]}, {step.params[0]!r})"

    def op_call(self, step, a):
        name, axis, elementwise = step.params
        kernel = KERNELS[name]
        if callable(kernel) and type(kernel).__name__ == "ufunc":
            return f"{self.xp}.{self.ufunc(kernel.__name__)}({a[0]})"
        k = self.kernel(name)
        return f"{k}({a[0]})" if elementwise else f"{k}({a[0]}, {axis})"

    def ufunc(self, name: str) -> str:
        return name

    def op_abstract(self, step, a):
        name, order, elementwise, arg_shape, node = step.params
        f = self.functions[(order, name)]
        label = repr(f)
        if elementwise:
            out = f"{f}({a[0]})"
            return f"{self.need('_elementwise_returned')}({label}, " \
                   f"{self.asarray.format(a=out)}, {a[0]})"
        user = self.user(a[0], arg_shape)
        out = self.asarray.format(a=f"{f}({user})")
        return f"{self.need('_returned')}({label}, {out}, {self.shape(node.shape)})"

    def op_kron(self, step, a):
        return f"{self.xp}.kron({a[0]}, {a[1]})"


    def op_vec(self, step, a):
        return f"{a[0]}.T.reshape(-1, 1)"           # vec stacks columns

    def op_commute(self, step, a):
        m, n = step.params
        return f"{self.kernel('commute')}({a[0]}, {self.size(m)}, {self.size(n)})"

    def op_commutation(self, step, a):
        m, n = step.params
        return f"{self.kernel('commutation')}({self.size(m)}, {self.size(n)}, _dt)"

    def op_matrix_power(self, step, a):
        return f"{self.xp}.linalg.matrix_power({a[0]}, {step.params[0]})"

    def op_broadcast(self, step, a, weak=False):
        if weak:
            return f"{self.xp}.full({self.shape(step.params)}, {a[0]}, dtype=_dt)"
        return f"{self.xp}.broadcast_to({a[0]}, {self.shape(step.params)})"

    # results -------------------------------------------------------------------------
    def user(self, code: str, shape) -> str:
        """A 2-D value as users see it: a 0-d scalar, a 1-D vector, a 2-D matrix."""
        dims = user_dims(shape)
        if dims == ():
            return f"{code}[0, 0]"
        if shape[1] == 1:
            return f"{code}[:, 0]"
        if shape[0] == 1:
            return f"{code}[0, :]"
        return code

    def copy(self, code: str) -> str:
        """A returned value that must not be a view of an argument."""
        return f"{code}.copy()"

    def unvec(self, code: str, f_shape, x_shape) -> str:
        """∂vec(F)/∂vec(X)' as an array of shape shape(F) + shape(X)."""
        dims = user_dims(f_shape) + user_dims(x_shape)
        vector_like = all(1 in s for s in (f_shape, x_shape))
        if vector_like:             # J is already len(F) x len(X)
            f_part, x_part = user_dims(f_shape), user_dims(x_shape)
            return code + {(True, True): "", (False, True): "[0, :]",
                           (True, False): "[:, 0]", (False, False): "[0, 0]"}[
                               (bool(f_part), bool(x_part))]
        (p, q), (m, n) = f_shape, x_shape
        sizes = ", ".join(self.size(d) for d in (p, q, m, n))
        shape = ", ".join(self.size(d) for d in dims)
        return f"{self.need('_unvec')}({code}, ({sizes}), ({shape}))"

    # the module ----------------------------------------------------------------------
    def body(self) -> list[str]:
        """The lines computing the outputs, and the return statement."""
        plan = self.problem.plan
        live = plan.live()
        codes: dict[int, str] = {}
        atomic: dict[int, bool] = {}
        lines = []
        count = 0
        for i, step in enumerate(plan.steps):
            if not live[i]:
                continue
            args = [codes[j] if atomic[j] else f"({codes[j]})" for j in step.inputs]
            if step.op == "broadcast":
                code = self.op_broadcast(step, args, weak=plan.steps[step.inputs[0]].weak)
            else:
                code = self.print_step(step, args)
            simple = step.op in ("param", "literal", "constant", "size") or (
                step.op == "transpose" and atomic[step.inputs[0]])
            if simple or step.weak:
                codes[i] = code
                atomic[i] = step.op in ("param", "constant", "size", "transpose") or (
                    step.op == "literal" and step.params[0] >= 0)
                continue
            count += 1
            name = f"_t{count}"
            lines.append(f"    {name} = {code}")
            codes[i], atomic[i] = name, True
        outs = []
        for k, slot in enumerate(plan.outputs):
            code = codes[slot] if atomic[slot] else f"({codes[slot]})"
            step = plan.steps[slot]
            if step.op in ("param", "transpose", "broadcast"):
                code = self.copy(code)
            if k == 0:
                shape = self.problem.function.shape
                outs.append(self.user(code, shape))
                continue
            layout = self.problem.derivative_layout(k - 1)
            if layout is None:
                outs.append(self.user(code, self.problem.wrt[k - 1].shape))
            else:
                outs.append(self.unvec(code, *layout))
        lines.append(f"    return {', '.join(outs)}")
        return lines

    def prelude(self) -> list[str]:
        """Argument conversion and checks, sizes, and the user's functions."""
        p = self.problem
        args = [self.names[v.name] for v in p.variables]
        lines = [f"    {self.dtype_line(args)}"]
        if args:
            lines.append("    _sizes = {}")
        for v in p.variables:
            name = self.names[v.name]
            dims = {"scalar": (), "vector": v.shape[:1], "matrix": v.shape}[kind_of(v)]
            labels = ", ".join(repr(d) if isinstance(d, str) else str(d) for d in dims)
            labels = f"({labels},)" if labels and "," not in labels else f"({labels})"
            converted = self.asarray.format(a=name)
            lines.append(f"    {name} = {self.need('_argument')}({v.name!r}, {converted}, "
                         f"{kind_of(v)!r}, {labels}, _sizes)")
            if v.symmetric:
                lines.append(f"    {self.need('_symmetric')}({v.name!r}, {name})")
        for d in sorted(self.used_dims):
            arg, axis = self.dims[d]
            lines.append(f"    _dim_{d} = {arg}.shape[{axis}]")
        for (order, fname), param in sorted(self.functions.items()):
            lines += self.function_default(order, fname, param)
        return lines

    def dtype_line(self, args: list) -> str:
        return f"_dt = {self.need('_float_dtype')}({', '.join(args)})"

    def function_default(self, order: int, name: str, param: str) -> list:
        """What a missing derivative of a user's function becomes: derived by the
        backend's ``autodiff`` (entry by entry for an element-wise function), or an
        error (NumPy)."""
        if order and self.autodiff is not None:
            lower = self.functions[(order - 1, name)]
            if self.problem.abstract[name][1]:
                make = f"{self.need('_elementwise_derivative')}({lower})"
            elif order == 1:
                make = f"{self.autodiff[0]}({lower})"
            else:
                make = f"{self.autodiff[1]}({self.functions[(0, name)]})"
            return [f"    if {param} is None:", f"        {param} = {make}"]
        what = ("", "the gradient", "the Hessian")[order]
        if self.problem.abstract[name][1]:
            what = ("", "the derivative", "the second derivative")[order]
        label = repr(param) if order == 0 else repr(f"{param} ({what} of {name})")
        return [f"    {self.need('_user_function')}({label}, {param})"]

    def signature(self) -> str:
        params = [self.names[v.name] for v in self.problem.variables]
        for (order, fname), param in sorted(self.functions.items()):
            params.append(param if order == 0 else f"{param}=None")
        return f"def {self.function_name}({', '.join(params)}):"

    def function(self) -> str:
        body = self.body()            # first: it records the sizes and helpers used
        prelude = self.prelude()
        doc = self.docstring()
        return "\n".join([self.signature(), doc] + prelude + body) + "\n"

    def module(self) -> str:
        function = self.function()
        check = self.check_function() if self.check else ""
        helpers = self.helper_sources()
        kernels = self.kernel_sources()
        imports = self.module_imports()
        if any("_math." in k for k in kernels):
            imports.insert(0, "import math as _math")
        parts = [self.module_docstring(), "\n".join(imports) + "\n"]
        if helpers:
            parts.append("\n\n".join(helpers))
        if kernels:
            parts.append("\n\n".join(kernels))
        parts.append(function)
        if check:
            parts.append(check)
        return ascii_text("\n\n".join(p.rstrip("\n") + "\n" for p in parts))

    def module_imports(self) -> list[str]:
        out = list(self.imports)
        if self.check and "import numpy as _np" not in out:
            out.append("import numpy as _np")
        return out

    def module_docstring(self) -> str:
        from .. import __version__
        text = (f'{self.function_name}: {self.function_text()} and its '
                f'{self.what()} ({self.backend}), generated by matcalc {__version__}.\n\n'
                f'The module is self-contained: it needs {self.backend}, not matcalc.\n')
        return '"""' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'

    def function_text(self) -> str:
        """The expression as the user wrote it (spaces collapsed), else its flat form."""
        written = getattr(self.problem.result, "input", None)
        return " ".join(written.split()) if written else self.problem.function.text()

    # helpers and kernels -------------------------------------------------------------
    def helper_object(self, name: str):
        if name in self.runtime_helpers:
            return self.runtime_helpers[name]
        return getattr(runtime, name)

    def helper_sources(self) -> list[str]:
        """The source of each helper used and of the helpers it calls, in a stable
        order: error classes, then the shared helpers, then the backend's."""
        known = set(runtime.HELPERS) | set(self.runtime_helpers)
        order = list(runtime.HELPERS) + sorted(self.runtime_helpers)
        wanted: set = set()
        pending = list(self.helpers)
        while pending:
            name = pending.pop()
            if name in wanted:
                continue
            wanted.add(name)
            src = source_of(self.helper_object(name))
            pending.extend(n for n in re.findall(r"\b_\w+", src) if n in known)
        return [source_of(self.helper_object(n)) for n in order if n in wanted]

    def kernel_source(self, name: str) -> tuple[str, list]:
        """The source of kernel ``name`` for this backend, and module-level names of the
        kernels module that it uses."""
        numpy_fn = KERNELS.get(name) or getattr(numpy_kernels, name)
        variant = getattr(self.kernel_variants, numpy_fn.__name__, None)
        fn = variant if variant is not None else numpy_fn
        src = source_of(fn, f"_k_{name}")
        if variant is None:
            src = self.translate_numpy(src)
        return src, [n for n in re.findall(r"\b(_[a-z]\w*)\b", src)
                     if hasattr(numpy_kernels, n) and not n.startswith("_k_")]

    def translate_numpy(self, src: str) -> str:
        """NumPy kernel source for the generated module: ``np.`` is ``_np.``."""
        return re.sub(r"\b(np|math)\.", r"_\1.", src)

    def kernel_sources(self) -> list[str]:
        out, done = [], set()
        pending = sorted(self.kernels)
        extra = []
        while pending:
            name = pending.pop(0)
            if name in done:
                continue
            done.add(name)
            src, uses = self.kernel_source(name)
            out.append(src)
            for u in uses:
                if u not in done:
                    done.add(u)
                    extra.append(self.translate_numpy(source_of(getattr(numpy_kernels, u))))
        return extra + out

    # the docstring ---------------------------------------------------------------------
    def what(self) -> str:
        kind = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian"}
        n = len(self.problem.wrt)
        return kind[self.problem.kind] + ("s" if n > 1 else "")

    def docstring(self) -> str:
        p = self.problem
        wrt = ", ".join(v.name for v in p.wrt)
        if p.second is not None:
            wrt += f" and {p.second.name}"
        name = "F" if p.kind == "jacobian" else "L"
        lines = [f"Value of {name} = {self.function_text()} and its {self.what()} with "
                 f"respect to {wrt}.", ""]
        shown = str(p.result) if len(p.results) > 1 else f"{p.result.lhs()} = {p.result}"
        lines += ["    " + line for line in shown.split("\n")]
        lines += ["", "Arguments (symbolic sizes are read from the arguments and must agree):"]
        for v in p.variables:
            lines.append(f"    {self.names[v.name]}: {describe_kind(v)}")
        for (order, name), param in sorted(self.functions.items()):
            elementwise = p.abstract[name][1]
            shape = p.abstract[name][2]
            lines.append(f"    {param}: {describe_function(order, name, elementwise, shape)}")
        lines += ["", "Returns:", f"    value: {describe_value(p.function.shape)}"]
        for k, v in enumerate(p.wrt):
            layout = p.derivative_layout(k)
            if layout is None:
                lines.append(f"    gradient with respect to {v.name}: shaped like {v.name}, "
                             f"{describe_value(v.shape)}")
            else:
                f_shape, x_shape = layout
                dims = user_dims(f_shape) + user_dims(x_shape)
                by = p.second if p.second is not None else v
                what = "Hessian" if p.kind == "hessian" else "Jacobian"
                lines.append(f"    {what}: an array of shape {shape_text(dims)} = shape(F) + "
                             f"shape({by.name}), entry [i.., k..] = dF[i..]/d{by.name}[k..]"
                             + (f" with F = dL/d{v.name}" if p.kind == "hessian" else ""))
        lines += ["", self.backend_note()]
        text = "\n".join(wrap(line) for line in lines)
        text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        body = "\n".join(("    " + line).rstrip() for line in text.split("\n"))
        return f'    """{body.lstrip()}\n    """'

    def backend_note(self) -> str:
        return ("Arrays keep their float dtype (float32 in, float32 out; float64 for "
                "lists and numbers).")

    def check_function(self) -> str:
        from .check import check_function
        return check_function(self)


def wrap(line: str, width: int = 84) -> str:
    """A docstring line wrapped, continuation lines indented under its text."""
    indent = len(line) - len(line.lstrip())
    if len(line) <= width or " = " in line.lstrip()[:12]:     # formulas stay whole
        return line
    more = indent + (4 if line.lstrip()[:1] != "" and indent else 0)
    return textwrap.fill(line.strip(), width, initial_indent=" " * indent,
                         subsequent_indent=" " * more, break_on_hyphens=False,
                         break_long_words=False)


def ascii_text(text: str) -> str:
    """The generated module in ASCII: the docstrings' ∇, ∂, ², × spelled as in the CLI's
    ASCII fallback (nabla, d, 2, x)."""
    from ..cli import ASCII
    for a, b in ASCII + (("’", "'"),):
        text = text.replace(a, b)
    return text


def describe_kind(v) -> str:
    kind = kind_of(v)
    if kind == "scalar":
        return "scalar"
    if kind == "vector":
        return f"vector of length {v.shape[0]}"
    sym = "symmetric " if v.symmetric else ""
    return f"{sym}matrix of shape ({v.shape[0]}, {v.shape[1]})"


def describe_value(shape) -> str:
    dims = user_dims(shape)
    if dims == ():
        return "a scalar (0-d)"
    if len(dims) == 1:
        return f"a vector of length {dims[0]}"
    return f"a matrix of shape {shape_text(dims)}"


def describe_function(order: int, name: str, elementwise: bool, arg_shape) -> str:
    if elementwise:
        what = ("applied entry by entry to an array", "its derivative, entry by entry",
                "its second derivative, entry by entry")[order]
        return f"callable, {what}" + ("" if order == 0 else " (optional in JAX and PyTorch: "
                                      "taken by automatic differentiation)")
    u = describe_value(arg_shape)
    what = (f"callable g(u) -> scalar, u {u}".replace("g(", f"{name}("),
            f"callable, the gradient of {name}: shaped like u",
            f"callable, the Hessian of {name}: u -> matrix")[order]
    return what + ("" if order == 0 else " (optional in JAX and PyTorch: taken by "
                   "automatic differentiation)")


def shape_text(dims: tuple) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
