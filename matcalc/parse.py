"""Text -> typed expression: kinds, declarations, dimension inference, building.

Three steps.  :mod:`matcalc.syntax` turns the text into a syntax tree that remembers
where each piece stands.  Inference then gives every node a shape whose sizes are
integers or symbolic dimensions (:mod:`matcalc.unify`), unifying them across the whole
expression (``W*x+b`` makes ``b`` as tall as ``W``); a conflict is a ``ShapeError``
with a caret under the operator.  Finally the tree is rebuilt with the canonical
constructors.  How a function call is typed comes from its entry in the registry
(:mod:`matcalc.functions`): one rule per shape kind, not one per function.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from . import expr as E
from .errors import LimitError, MatcalcError, ParseError, ShapeError
from .limits import LIMITS
from .syntax import Node, syntax_tree
from .unify import Dims

VARIABLE_KINDS = ("scalar", "vector", "matrix", "symmetric")
FUNCTION_KINDS = ("function", "elementwise")
KINDS = VARIABLE_KINDS + FUNCTION_KINDS
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: calls whose arguments are sizes, not expressions
SIZE_CALLS = ("eye", "commutation", "dim")


# ---------------------------------------------------------------------------
# declarations and kinds
# ---------------------------------------------------------------------------

_DECL_RE = re.compile(r"^\s*([a-z]+)\s*(?:\(\s*([^)]*)\))?\s*$")


def _declaration(name: str, decl: str) -> tuple[str, list]:
    """``"matrix(m,n)" -> ("matrix", ["m", "n"])``; sizes are names or integers."""
    m = _DECL_RE.match(str(decl))
    if not m or m.group(1) not in KINDS:
        raise ParseError(f"cannot declare {name} as {decl!r}: use scalar, vector, matrix or "
                         "symmetric, optionally with sizes like matrix(m,n) or vector(3), "
                         "or function or elementwise for an unknown function")
    kind, sizes_text = m.group(1), m.group(2)
    sizes: list = []
    if sizes_text is not None and sizes_text.strip():
        for part in sizes_text.split(","):
            part = part.strip()
            if re.fullmatch(r"\d+", part) and int(part) >= 1:
                sizes.append(int(part))
            elif NAME_RE.fullmatch(part):
                sizes.append(part)
            else:
                raise ParseError(f"cannot declare {name} as {decl!r}: {part!r} is not a size")
    wanted = {"scalar": (0,), "vector": (0, 1), "matrix": (0, 2), "symmetric": (0, 1),
              "function": (0,), "elementwise": (0,)}[kind]
    if len(sizes) not in wanted:
        raise ParseError(f"cannot declare {name} as {decl!r}: {kind} takes "
                         f"{' or '.join(str(w) for w in wanted if w) or 'no'} size(s)")
    return kind, sizes


def default_kind(name: str) -> str:
    """matrixcalculus.org's defaults: a–g scalars, h–z vectors, A–Z matrices."""
    c = name[0]
    if "a" <= c <= "g":
        return "scalar"
    if c.islower():
        return "vector"
    return "matrix"


def declarations(e: E.Expr) -> dict[str, str]:
    """Declarations (with sizes) that make ``parse(str(e), vars=...)`` rebuild ``e``."""
    out = {}
    for name, v in sorted(E.free_vars(e).items()):
        out[name] = declaration_of(v)
    for n in E.walk(e):
        if isinstance(n, E.Abstract) and (len(n.name) > 1 or n.elementwise):
            out[n.name] = "elementwise" if n.elementwise else "function"
    return out


def declaration_of(v: E.Var) -> str:
    """The declaration that pins a variable's kind and sizes: ``matrix(m,n)``."""
    r, c = v.shape
    if v.symmetric:
        return f"symmetric({r})"
    if v.is_scalar:
        return "scalar"
    if c == 1:
        return f"vector({r})"
    return f"matrix({r},{c})"


def known_names() -> list[str]:
    """The functions and constructors a call may name (for suggestions)."""
    return sorted(E.RESERVED - set(E.CONSTANTS))


# ---------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------

class Parsed:
    """The result of parsing: the expression, ``variables`` (name -> Var, every variable
    seen or declared), ``functions`` (abstract function name -> "function" or
    "elementwise"), ``definitions`` (where-defined name -> Expr) and ``written`` (the
    variables that the text names)."""

    def __init__(self, text: str, expr: E.Expr, variables: dict, functions: dict,
                 definitions: dict | None = None, written: set | None = None):
        self.text, self.expr, self.variables, self.functions = text, expr, variables, functions
        self.definitions = definitions or {}
        self.written = written or set()


class _Typer:
    def __init__(self, text: str, vars: dict | None, user: dict | None = None):
        self.text = text
        self.user = dict(user or {})  # user-defined function name -> registry key
        self.decls: dict[str, tuple] = {}
        if vars is not None and not isinstance(vars, Mapping):
            raise ParseError(f"the declarations must be a dict of name -> kind, like "
                             f"{{'S': 'symmetric'}}, not {type(vars).__name__}")
        for name, decl in (vars or {}).items():
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                raise ParseError(f"cannot declare {name!r}: not a variable name")
            if name in E.RESERVED or name == "where":
                raise ParseError(f"cannot declare {name}: it is a name of the language")
            self.decls[name] = _declaration(name, decl)
        reserved = set()
        for kind, sizes in self.decls.values():
            reserved.update(s for s in sizes if isinstance(s, str))
        self.dims = Dims(reserved)
        self.var_shapes: dict[str, tuple] = {}
        self.symmetric: set[str] = set()
        self.shapes: dict[int, tuple] = {}
        self.functions: dict[str, str] = {}
        self.defined: dict[str, Node] = {}       # where-definitions typed so far
        self.pending_definitions: set[str] = set()
        # undeclared a-g names added to a vector or matrix (W*x+b): vectors, SPEC §2
        self.promoted: set[str] = set()
        self.promote: set[str] = set()

    # errors -------------------------------------------------------------
    def error(self, cls, message: str, span) -> MatcalcError:
        return cls(message, self.text, span)

    def desc(self, node: Node) -> str:
        text = self.text[node.span[0]:node.span[1]]
        if len(text) > 30:
            text = text[:27] + "..."
        return f"{text} ({self.dims.shape_text(self.shape(node))})"

    # shapes -------------------------------------------------------------
    def shape(self, node: Node):
        return self.shapes[id(node)]

    def is_scalar(self, shape) -> bool:
        return self.dims.find(shape[0]) == 1 and self.dims.find(shape[1]) == 1

    def is_one(self, d) -> bool:
        return self.dims.find(d) == 1

    def var_shape(self, name: str, span):
        if name in self.var_shapes:
            return self.var_shapes[name]
        kind, sizes = self.decls.get(name, (default_kind(name), []))
        if kind in FUNCTION_KINDS:
            raise self.error(ParseError, f"{name} is declared a function: write {name}(...)",
                             span or (0, len(self.text)))
        if name in self.promoted:
            kind = "vector"
        dims = [self.dims.fresh(s) if isinstance(s, str) else s for s in sizes]
        if kind == "scalar":
            shape = (1, 1)
        elif kind == "vector":
            shape = (dims[0] if dims else self.dims.fresh(), 1)
        elif kind == "symmetric":
            d = dims[0] if dims else self.dims.fresh()
            shape = (d, d)
            self.symmetric.add(name)
        else:
            shape = (dims[0], dims[1]) if dims else (self.dims.fresh(), self.dims.fresh())
        self.var_shapes[name] = shape
        return shape

    def infer(self, root: Node):
        shape = self._infer(root)
        self.settle()
        return shape

    def _infer(self, root: Node):
        if root.kind != "where":
            return self._infer_tree(root)
        body, *definitions = root.args
        self.pending_definitions = {d.value for d in definitions}
        for d in definitions:
            name = d.value
            if name in E.RESERVED or name in self.decls or name in self.defined:
                what = ("defined twice" if name in self.defined else "declared" if name in
                        self.decls else "a name of the language")
                raise self.error(ParseError, f"cannot define {name}: it is {what}", d.op_span)
            self.pending_definitions.discard(name)
            self.shapes[id(d)] = self._infer_tree(d.args[0])
            if name in self.var_shapes or name in self.functions:
                raise self.error(ParseError, f"{name} is used before its definition",
                                 d.op_span)
            self.defined[name] = d
        return self._infer_tree(body)

    def _infer_tree(self, node: Node):
        # iterative post-order, so that deep inputs do not exhaust Python's stack
        stack = [(node, False)]
        while stack:
            n, done = stack.pop()
            if done:
                self.shapes[id(n)] = self._infer_one(n)
            else:
                stack.append((n, True))
                stack.extend((a, False) for a in reversed(_typed_args(n)))
        return self.shape(node)

    def _infer_one(self, n: Node):
        k = n.kind
        if k == "num":
            return (1, 1)
        if k == "name":
            return self._name(n)
        if k == "transpose":
            # b' of an undeclared a–g name: transposing a scalar is a no-op nobody
            # writes, so b is taken to be a vector (b'*x), as matrixcalculus.org does
            self._note_promotion(n.args[0], None)
            r, c = self.shape(n.args[0])
            return (c, r)
        if k == "unary":
            return self.shape(n.args[0])
        if k == "binary":
            return self._binary(n)
        if k == "call":
            return self._call(n)
        if k == "nabla":
            return self._nabla(n)
        raise AssertionError(k)  # pragma: no cover

    def _name(self, n: Node):
        name = n.value
        if name in self.defined:
            return self.shapes[id(self.defined[name])]
        if name in self.pending_definitions:
            raise self.error(ParseError, f"{name} is used before its definition", n.span)
        if name == "eye":
            d = self.dims.fresh()
            return (d, d)
        if name in E.CONSTANTS:
            return (1, 1)
        if name in E.RESERVED or name == "where":
            raise self.error(ParseError, f"{name} is a function: write {name}(...)", n.span)
        if name in self.functions:
            raise self.error(ParseError, f"{name} is a function: write {name}(...)", n.span)
        return self.var_shape(name, n.span)

    def _unify_or_fail(self, a, b, n: Node, verb: str, left: Node, right: Node, joiner: str):
        def failure():
            return self.error(ShapeError, f"cannot {verb} {self.desc(left)} {joiner} "
                              f"{self.desc(right)}: {self.dims.text(a)} ≠ "
                              f"{self.dims.text(b)}", n.op_span)
        self.dims.context = failure  # reported if a kept product equation fails later
        ok = self.dims.unify(a, b)
        self.dims.context = None
        if not ok:
            raise failure()

    def settle(self) -> None:
        """Solve the product equations kept while typing (``kron`` sizes), or fail."""
        failed = self.dims.settle()
        if failed is None:
            return
        if callable(failed):
            raise failed()
        raise self.error(ShapeError, "the sizes of the Kronecker products and vec forms "
                         "do not match in one way only: declare the variables' sizes, such "
                         "as X=matrix(n,m)", (0, len(self.text)))

    def broadcast(self, n: Node, left: Node, right: Node, verb: str, joiner: str):
        """The shape of an entry-wise operation, broadcasting a scalar to anything, a
        column vector across the columns of a matrix and a row vector down its rows."""
        ls, rs = self.shape(left), self.shape(right)
        if self.is_scalar(ls) or self.is_scalar(rs):
            return rs if self.is_scalar(ls) else ls
        lcol, lrow = self.is_one(ls[1]), self.is_one(ls[0])
        rcol, rrow = self.is_one(rs[1]), self.is_one(rs[0])
        if lcol != rcol and lrow != rrow:
            raise self.error(ShapeError, f"cannot {verb} {self.desc(left)} {joiner} "
                             f"{self.desc(right)}: a column vector broadcasts across a "
                             "matrix's columns and a row vector down its rows, not across "
                             "each other", n.op_span)
        if lcol != rcol:   # a column vector across the columns of a matrix
            self._unify_or_fail(ls[0], rs[0], n, verb, left, right, joiner)
            return rs if lcol else ls
        if lrow != rrow:   # a row vector down the rows of a matrix
            self._unify_or_fail(ls[1], rs[1], n, verb, left, right, joiner)
            return rs if lrow else ls
        for i in (0, 1):
            self._unify_or_fail(ls[i], rs[i], n, verb, left, right, joiner)
        return ls

    def _binary(self, n: Node):
        op = n.value
        left, right = n.args
        ls, rs = self.shape(left), self.shape(right)
        lsc, rsc = self.is_scalar(ls), self.is_scalar(rs)
        if op in "+-":
            if lsc != rsc:
                self._note_promotion(left if lsc else right, rs if lsc else ls)
            verb = "add" if op == "+" else "subtract"
            if op == "-":
                return self.broadcast(n, right, left, verb, "from")
            return self.broadcast(n, left, right, verb, "and")
        if op == "*":
            if lsc or rsc:
                return rs if lsc else ls
            self._unify_or_fail(ls[1], rs[0], n, "multiply", left, right, "by")
            return (ls[0], rs[1])
        if op == "/":
            if not rsc:
                raise self.error(ShapeError, f"cannot divide by {self.desc(right)}: / divides "
                                 "by a scalar only; use ./ for element-wise division or "
                                 "inv(...) for a matrix inverse", n.op_span)
            return ls
        if op in (".*", "./"):
            verb = "multiply" if op == ".*" else "divide"
            return self.broadcast(n, left, right, f"{verb} element-wise", "by")
        if op in ("^", ".^"):
            return self._power(n, op, left, right, ls, lsc, rsc)
        raise AssertionError(op)  # pragma: no cover

    def _power(self, n, op, left, right, ls, lsc, rsc):
        if not rsc:
            raise self.error(ShapeError, f"the exponent {self.desc(right)} must be a "
                             "scalar", n.op_span)
        if op == ".^" or lsc:
            return ls
        if self.is_one(ls[1]) or self.is_one(ls[0]):
            raise self.error(ShapeError, f"cannot raise {self.desc(left)} to a power: ^ "
                             "takes a scalar or a square matrix; use .^ for an "
                             "element-wise power", n.op_span)
        if _integer_literal(right) is None:
            raise self.error(ShapeError, f"cannot raise the matrix {self.desc(left)} to "
                             f"the power {self.text[right.span[0]:right.span[1]]}: a "
                             "matrix power needs an integer literal exponent; use .^ "
                             "for an element-wise power", n.op_span)
        if not self.dims.unify(ls[0], ls[1]):
            raise self.error(ShapeError, f"cannot raise {self.desc(left)} to a power: it "
                             "is not square", n.op_span)
        return ls

    def _note_promotion(self, scalar: Node, other_shape) -> None:
        """Remember an undeclared a–g name added to a vector or matrix, or transposed."""
        if scalar.kind == "transpose":
            scalar = scalar.args[0]
        if (scalar.kind == "name" and scalar.value not in self.decls
                and scalar.value not in E.RESERVED and scalar.value not in self.defined
                and default_kind(scalar.value) == "scalar"
                and (other_shape is None or not self.is_one(other_shape[0]))):
            self.promote.add(scalar.value)

    def _arity(self, n: Node, counts=(1,)):
        if len(n.args) not in counts:
            shown = " or ".join(str(c) for c in counts)
            raise self.error(ParseError, f"{n.value} takes {shown} argument"
                             f"{'s' if counts != (1,) else ''}, not {len(n.args)}", n.op_span)

    def size_argument(self, n: Node, arg: Node):
        """A size written as an argument: ``eye(n)``, ``commutation(m,3)``, ``dim(m*n)``."""
        if arg.kind == "name":
            return self.dims.fresh(arg.value)
        if arg.kind == "num" and arg.value.denominator == 1 and arg.value >= 1:
            return int(arg.value)
        if arg.kind == "binary" and arg.value == "*":
            return self.dims.product(*(self.size_argument(n, a) for a in arg.args))
        raise self.error(ParseError, f"{n.value} takes sizes: names or whole numbers",
                         arg.span)

    def axis(self, n: Node) -> int:
        """The axis literal of ``sum(X, d)``: 1 or 2 (0 when absent)."""
        if len(n.args) < 2:
            return 0
        value = _integer_literal(n.args[1])
        if value not in (1, 2):
            raise self.error(ParseError, f"the second argument of {n.value} is the axis: "
                             "1 (down each column) or 2 (along each row)", n.args[1].span)
        return value

    def _call(self, n: Node):
        fn = n.value
        if fn in ("eye", "dim"):
            self._arity(n)
            d = self.size_argument(n, n.args[0])
            return (d, d) if fn == "eye" else (1, 1)
        if fn == "commutation":
            self._arity(n, (2,))
            m, k = (self.size_argument(n, a) for a in n.args)
            size = self.dims.product(m, k)
            return (size, size)
        if fn == "kron":
            self._arity(n, (2,))
            a, b = (self.shape(x) for x in n.args)
            return (self.dims.product(a[0], b[0]), self.dims.product(a[1], b[1]))
        if fn in ("max", "min") and len(n.args) == 2:
            return self.broadcast(n, n.args[0], n.args[1], f"take the {fn} of", "and")
        spec = E.FUNCTIONS.get(self.user.get(fn, fn))
        self._arity(n, (1, 2) if spec is not None and spec.axes else (1,))
        arg = n.args[0]
        s = self.shape(arg)
        if fn in ("vector", "matrix"):
            if not self.is_scalar(s):
                raise self.error(ShapeError, f"{fn}(c) takes a scalar c, not "
                                 f"{self.desc(arg)}", n.op_span)
            return (self.dims.fresh(), 1) if fn == "vector" else (self.dims.fresh(),
                                                                  self.dims.fresh())
        if fn == "vec":
            return (self.dims.product(s[0], s[1]), 1)
        if spec is not None:
            return self._function_shape(n, spec, arg, s)
        return self._abstract_call(n, fn)

    def _function_shape(self, n: Node, spec, arg: Node, s):
        """The shape of a registered function's value, by its shape rule."""
        rule, axis, scalar = spec.shape, self.axis(n), self.is_scalar(s)
        if rule in ("elementwise", "same"):
            return s
        if rule in ("reduce", "vector_reduce") and axis:
            return (1, s[1]) if axis == 1 else (s[0], 1)
        if rule == "reduce":
            return (1, 1)
        if rule in ("square_scalar", "square"):
            if not scalar and not self.dims.unify(s[0], s[1]):
                raise self.error(ShapeError, f"{n.value} needs a square matrix, not "
                                 f"{self.desc(arg)}", n.op_span)
            return (1, 1) if rule == "square_scalar" else s
        if rule == "diag":
            if scalar:
                return s
            if self.is_one(s[1]):
                return (s[0], s[0])
            if self.is_one(s[0]):
                return (s[1], s[1])
            if not self.dims.unify(s[0], s[1]):
                raise self.error(ShapeError, f"diag needs a vector or a square matrix, not "
                                 f"{self.desc(arg)}", n.op_span)
            return (s[0], 1)
        if rule in ("vector_map", "vector_reduce"):
            if not axis and (not self.is_one(s[1]) or scalar):
                raise self.error(ShapeError, f"{n.value} needs a column vector, not "
                                 f"{self.desc(arg)}; for a matrix give the axis: "
                                 f"{n.value}(X, 1) or {n.value}(X, 2)", n.op_span)
            return s if rule == "vector_map" else (1, 1)
        raise AssertionError(rule)  # pragma: no cover

    def _abstract_call(self, n: Node, fn: str):
        """``g(u)``: an abstract function, declared or one letter long."""
        kind = self.decls.get(fn, (None,))[0]
        if fn in self.var_shapes or fn in self.defined or (kind is not None and
                                                           kind not in FUNCTION_KINDS):
            raise self.error(ParseError, f"{fn} is a variable, not a function", n.op_span)
        if kind is None and len(fn) > 1:
            raise self.error(ParseError, unknown_function_message(fn), n.op_span)
        self._arity(n)
        kind = kind or "function"
        self.functions[fn] = kind
        return self.shape(n.args[0]) if kind == "elementwise" else (1, 1)

    def _nabla(self, n: Node):
        order, fn = n.value
        if fn in E.RESERVED:
            raise self.error(ParseError, f"∇ applies to abstract functions, not to {fn}",
                             n.op_span)
        kind = self.decls.get(fn, (None,))[0]
        if kind is None and len(fn) > 1:
            raise self.error(ParseError, unknown_function_message(fn), n.op_span)
        if kind is not None and kind not in FUNCTION_KINDS or fn in self.var_shapes:
            raise self.error(ParseError, f"{fn} is a variable, not a function", n.op_span)
        if len(n.args) != 1:
            raise self.error(ParseError, f"{fn} takes 1 argument, not {len(n.args)}",
                             n.op_span)
        kind = kind or "function"
        self.functions[fn] = kind
        s = self.shape(n.args[0])
        if order == 1 or kind == "elementwise" or self.is_scalar(s):
            return s
        if not self.is_one(s[1]):
            raise self.error(ShapeError, f"∇²{fn} of {self.desc(n.args[0])} would be a 4-way "
                             "tensor; ∇² takes a scalar or a vector argument", n.op_span)
        return (s[0], s[0])

    # building -----------------------------------------------------------
    def build(self, root: Node) -> E.Expr:
        names = self.dims.names()

        def rshape(shape):
            return (self.dims.resolve(shape[0], names), self.dims.resolve(shape[1], names))

        self.resolve_shape = rshape
        self.built_definitions: dict[str, E.Expr] = {}
        if root.kind == "where":
            body, *definitions = root.args
            for d in definitions:
                self.built_definitions[d.value] = self._build_tree(d.args[0], rshape)
            return self._build_tree(body, rshape)
        return self._build_tree(root, rshape)

    def _build_tree(self, root: Node, rshape) -> E.Expr:
        built: dict[int, object] = {}
        depth: dict[int, int] = {}
        stack = [(root, False)]
        while stack:
            n, done = stack.pop()
            if not done:
                stack.append((n, True))
                stack.extend((a, False) for a in reversed(_typed_args(n)))
                continue
            kids = _typed_args(n)
            # the depth of the tree being built: f(g(h(...))) and a^b^c... nest, but a sum
            # or product does not (a*b*c is a flat chain, and a product nested to the
            # right, a*(b*(c*...)), nests its parentheses, which the syntax limits)
            flat = n.kind == "binary" and n.value in ("+", "-", "*", ".*")
            depth[id(n)] = max((depth.pop(id(a)) + (0 if flat else 1) for a in kids),
                               default=0)
            if depth[id(n)] > LIMITS.max_depth:
                raise LimitError(f"the expression nests more than {LIMITS.max_depth} levels "
                                 "deep; the limit is matcalc.LIMITS.max_depth", self.text,
                                 n.op_span or n.span)
            args = [built.pop(id(a)) for a in kids]
            try:
                if n.kind == "binary" and n.value in "+-":
                    # a + b - c + ... is collected and canonicalised once, not per term
                    terms = args[0] if isinstance(args[0], _Terms) else _Terms([_materialise(
                        args[0])])
                    right = _materialise(args[1])
                    terms.append(right if n.value == "+" else E.neg(right))
                    built[id(n)] = terms
                    continue
                if n.kind == "binary" and n.value == "*":
                    # so is a product A1*A2*...*Ak
                    factors = args[0] if isinstance(args[0], _Factors) else _Factors(
                        [_materialise(args[0])])
                    factors.append(_materialise(args[1]))
                    built[id(n)] = factors
                    continue
                built[id(n)] = self._build_one(n, [_materialise(a) for a in args], rshape)
            except MatcalcError as exc:
                if exc.text is not None:
                    raise
                raise type(exc)(exc.message, self.text, n.op_span or n.span) from None
        try:
            return _materialise(built[id(root)])
        except MatcalcError as exc:
            if exc.text is not None:
                raise
            raise type(exc)(exc.message, self.text, root.span) from None

    def _build_one(self, n: Node, args, rshape) -> E.Expr:
        k = n.kind
        shape = rshape(self.shape(n))
        if k == "num":
            return E.Num(n.value)
        if k == "name":
            if n.value in self.built_definitions:
                return self.built_definitions[n.value]
            if n.value == "eye":
                return E.eye(shape[0])
            if n.value in E.CONSTANTS:
                return E.Constant(n.value)
            return E.Var(n.value, shape, n.value in self.symmetric)
        if k == "transpose":
            return E.transpose(args[0])
        if k == "unary":
            return E.neg(args[0]) if n.value == "-" else args[0]
        if k == "binary":
            return _BINARY[n.value](*args)
        if k == "call":
            return self._build_call(n, args, shape, rshape)
        if k == "nabla":
            order, fn = n.value
            return E.abstract(fn, order, args[0], self.functions[fn] == "elementwise")
        raise AssertionError(k)  # pragma: no cover

    def _build_call(self, n: Node, args, shape, rshape) -> E.Expr:
        fn = n.value
        if fn in ("vector", "matrix"):
            c = args[0]
            return E.fill(c.value, shape) if isinstance(c, E.Num) else E.mul(c, E.ones(shape))
        if fn == "eye":
            return E.eye(shape[0])
        if fn in ("commutation", "dim"):
            sizes = [rshape((self.size_argument(n, a), 1))[0] for a in n.args]
            return E.commutation(*sizes) if fn == "commutation" else E.size(sizes[0])
        if fn == "kron":
            return E.kron(*args)
        if fn == "vec":
            return E.vec(args[0])
        if fn in ("max", "min") and len(args) == 2:
            return elementwise_extreme(fn, *args)
        if fn in self.user:
            return E.call(self.user[fn], args[0])
        if fn in E.FUNCTIONS:
            return E.call(fn, args[0], self.axis(n))
        return E.abstract(fn, 0, args[0], self.functions[fn] == "elementwise")


def elementwise_extreme(fn: str, a: E.Expr, b: E.Expr) -> E.Expr:
    """``max(A, B)`` entry by entry, as ``A + relu(B - A)`` (``max(0, u) = relu(u)``);
    ``min(A, B) = A - relu(A - B)``; the shape is the operands' broadcast shape even
    where the result folds to one of them (``min(0, x - x)`` is a zero vector)."""
    from .algebra import _broadcast_shape
    shape = _broadcast_shape([a, b], f"take the {fn} of")
    if fn == "max":
        if E.is_zero(b):
            a, b = b, a
        out = E.add(a, E.call("relu", E.sub(b, a)))
    elif E.is_zero(b):
        out = E.neg(E.call("relu", E.neg(a)))
    else:
        out = E.sub(a, E.call("relu", E.sub(a, b)))
    return E.broadcast(out, shape) if out.shape != shape else out


def _divide(a: E.Expr, b: E.Expr) -> E.Expr:
    return E.mul(a, E.power(b, E.num(-1)))


def _divide_elementwise(a: E.Expr, b: E.Expr) -> E.Expr:
    return E.hadamard(a, E.elem_power(b, E.num(-1)) if not b.is_scalar
                      else E.power(b, E.num(-1)))


_BINARY = {
    "+": E.add, "-": E.sub, "*": E.mul, "/": _divide, ".*": E.hadamard,
    "./": _divide_elementwise, "^": E.power, ".^": E.elem_power,
}


def unknown_function_message(fn: str) -> str:
    """``sigmod`` is not a function: the closest known ones and how to declare it."""
    import difflib
    close = difflib.get_close_matches(fn, known_names(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else "."
    return (f"unknown function {fn}{hint} To use an unknown function {fn}, declare it: "
            f"--let {fn}=function (scalar-valued, like g(u)) or --let {fn}=elementwise "
            f"(applied entry by entry); in Python vars={{'{fn}': 'function'}}")


class _Terms(list):
    """The terms of a sum being read, added up once when the sum is complete."""


class _Factors(list):
    """The factors of a product being read, multiplied once when it is complete."""


def _materialise(x):
    if isinstance(x, _Terms):
        return E.add(*x)
    if isinstance(x, _Factors):
        return E.product(*x)
    return x


def _typed_args(n: Node) -> list:
    """Arguments that are expressions (sizes like the n of eye(n) and axes are not)."""
    if n.kind == "call" and n.value in SIZE_CALLS:
        return []
    if n.kind == "call" and len(n.args) == 2 and n.value in E.FUNCTIONS \
            and E.FUNCTIONS[n.value].axes:
        return n.args[:1]
    return n.args


def _integer_literal(n: Node) -> int | None:
    if n.kind == "num" and n.value.denominator == 1:
        return int(n.value)
    if n.kind == "unary" and n.args[0].kind == "num":
        v = _integer_literal(n.args[0])
        return None if v is None else (-v if n.value == "-" else v)
    return None


def parse_typed(text: str, vars: dict | None = None, wrt: tuple[str, ...] = (),
                shape=None, functions: dict | None = None) -> Parsed:
    """Parse and type ``text``; also types the names in ``wrt`` (variables to differentiate
    by) even when they do not occur, and unifies the result with ``shape`` if given.
    ``functions`` defines element-wise functions by their bodies, ``{"f": "t^3"}``."""
    if not isinstance(text, str):
        raise ParseError(f"the expression must be a string, not {type(text).__name__}")
    user = define_functions(functions)
    tree = syntax_tree(text)
    typer = _Typer(text, vars, user)
    result_shape = typer.infer(tree)
    while typer.promote - typer.promoted:
        # W*x+b: b becomes a vector, unless that makes the expression ill-typed
        retry = _Typer(text, vars, user)
        retry.promoted = typer.promoted | typer.promote
        try:
            result_shape = retry.infer(tree)
        except MatcalcError:
            break
        typer = retry
    if shape is not None:
        ok = all(typer.dims.unify(a, typer.dims.fresh(b) if isinstance(b, str) else b)
                 for a, b in zip(result_shape, shape)) and typer.dims.settle() is None
        if not ok:
            raise ShapeError(f"the expression has shape {typer.dims.shape_text(result_shape)}"
                             f", not {E.shape_text(shape)}", text, (0, len(text)))
    written = set(typer.var_shapes)
    for name in wrt:
        if name in typer.defined:
            raise ParseError(f"cannot differentiate with respect to {name}: it is defined "
                             f"by a where clause; differentiate by the variables of its "
                             "definition")
        if name in typer.functions or name in E.RESERVED:
            raise ParseError(f"cannot differentiate with respect to {name}: it is a function")
        typer.var_shape(name, None)
    for name, (kind, _) in typer.decls.items():
        if kind not in FUNCTION_KINDS:
            typer.var_shape(name, None)
    expr = typer.build(tree)
    variables = {name: E.Var(name, typer.resolve_shape(s), name in typer.symmetric)
                 for name, s in typer.var_shapes.items()}
    return Parsed(text, expr, variables, dict(typer.functions),
                  dict(typer.built_definitions), written)


def define_functions(functions: dict | None) -> dict:
    """Register user-defined element-wise functions; name -> registry key."""
    if not functions:
        return {}
    if not isinstance(functions, Mapping):
        raise ParseError("functions must be a dict like {\"f\": \"t^3/(1+t^2)\"}")
    from .userfunctions import define, parse_definition
    out = {}
    for head, body in functions.items():
        name = parse_definition(str(head), body)[0]
        out[name] = define(str(head), body)
    return out


def parse(text: str, vars: dict | None = None, shape=None,
          functions: dict | None = None) -> E.Expr:
    """Parse matrixcalculus.org-style text into a typed, canonical expression.

    >>> str(parse("x'*A*x + 0*b"))
    "x'*A*x"
    >>> parse("W*x + b").shape
    ('n', 1)
    >>> str(parse("g(a) where a = W*x + b"))
    'g(W*x+b)'
    """
    return parse_typed(text, vars, shape=shape, functions=functions).expr
