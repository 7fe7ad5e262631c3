"""The plan of a computation: the steps that compute some expressions, each shared node once.

One plan is built for the value and the derivative(s) together, so they share their
temporaries.  A step is one operation of a small instruction set (``add``, ``mul``,
``matmul``, ``solve``, ``call`` of a kernel, ...); the code printers
(:mod:`matcalc.codegen.numpy`, ``jax``, ``torch``) print each step as a line, and
:class:`matcalc.numeric.Evaluator` runs the same steps with the same NumPy kernels, so
``evaluate`` and the generated code compute the same way.

Values may be stored smaller than their shape when NumPy-style broadcasting gives the
rest: a constant is a Python number (``weak``: it takes the dtype of the arrays it meets),
``b*vector(1)'`` is ``b`` itself, ``1 - h.^2`` is ``1 - h**2``.  Element-wise operations
keep such a value small; a matrix product, a kernel or a returned value first spreads it
(``broadcast``) to its full shape.

Matrix products are planned by :mod:`matcalc.codegen.chains`: the cheapest order,
diagonal matrices as scalings, ``inv(A)*B`` as ``solve(A, B)``, the commutation matrix
as a permutation, all-ones factors as sums and broadcasts.

>>> import matcalc
>>> r = matcalc.diff("x'*A*x", "x")
>>> print(build_plan((r.differentiated, r.expr)).describe())
s0 = param(x)
s1 = transpose s0
s2 = param(A)
s3 = matmul s2 s0
s4 = matmul s1 s3
s5 = transpose s2
s6 = add(1, 1) s2 s5
s7 = matmul s6 s0
out s4 s7
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction

from .. import expr as E
from ..dims import dim_factors
from ..errors import EvaluationError

#: a symbolic size, when costs are compared at generation time (sizes known only at run
#: time are compared by multi_dot then)
NOMINAL = 1000


def estimate(d) -> int:
    """A size for cost comparisons: an int, or NOMINAL per symbolic factor."""
    out = 1
    for f in dim_factors(d):
        out *= f if isinstance(f, int) else NOMINAL
    return out


@dataclass(eq=False)
class Step:
    """One operation.  ``inputs`` are the slots (indices of earlier steps) it reads;
    ``params`` its static data; ``rows``/``cols`` the stored shape (a 1 where the value
    broadcasts along that axis; both ``None`` for a weak Python number); ``shape`` the
    value's full shape; ``node`` the expression it computes, if it computes a whole one."""
    op: str
    inputs: tuple = ()
    params: tuple = ()
    rows: object = None
    cols: object = None
    shape: tuple = (1, 1)
    node: object = None

    @property
    def weak(self) -> bool:
        return self.rows is None

    @property
    def full(self) -> bool:
        return not self.weak and (self.rows, self.cols) == tuple(self.shape)


@dataclass
class Plan:
    """The steps, in an order that computes inputs before their use, and the slots of
    the outputs (each stored at its full shape)."""
    steps: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def finish(self) -> "Plan":
        """Record what every run needs: the live steps, the variables read, and the
        steps whose values are worth remembering between runs."""
        self.needed = self.live()
        self.variables = [s.params[1] for i, s in enumerate(self.steps)
                          if self.needed[i] and s.op == "param"]
        self.remembered = [s for i, s in enumerate(self.steps)
                           if self.needed[i] and s.node is not None and s.full]
        return self

    def live(self, done=lambda step: False) -> list[bool]:
        """Which steps the outputs need (a step for which ``done`` holds needs nothing)."""
        need = [False] * len(self.steps)
        for s in self.outputs:
            need[s] = True
        for i in range(len(self.steps) - 1, -1, -1):
            if need[i] and not done(self.steps[i]):
                for j in self.steps[i].inputs:
                    need[j] = True
        return need

    def describe(self) -> str:
        """The steps as text, one per line (for tests and debugging)."""
        live = self.live()
        lines = []
        for i, s in enumerate(self.steps):
            if not live[i]:
                continue
            shown = [str(p) for p in s.params if not isinstance(p, E.Expr)]
            params = "(" + ", ".join(shown) + ")" if shown else ""
            ins = " ".join(f"s{j}" for j in s.inputs)
            lines.append(f"s{i} = {s.op}{params}" + (f" {ins}" if ins else ""))
        lines.append("out " + " ".join(f"s{j}" for j in self.outputs))
        return "\n".join(lines)

    def uses(self, op: str) -> bool:
        live = self.live()
        return any(live[i] and s.op == op for i, s in enumerate(self.steps))


def to_float(v) -> float:
    """A number of the tree as a float, or a clear error when it is too large."""
    try:
        return float(v)
    except OverflowError:
        raise EvaluationError(f"the number {E.number_text(abs(v))} is too large for "
                              "floating point") from None


def broadcast_dims(a, b):
    """The stored dimension of an element-wise result from two stored dimensions."""
    return b if a == 1 else a


def is_diagonal_factor(f: E.Expr) -> bool:
    """``diag(v)`` of a vector: in a product it is a scaling by ``v``."""
    return isinstance(f, E.Call) and f.fn == "diag" and f.arg.shape[1] == 1 \
        and not f.arg.is_scalar


def inverse_of(f: E.Expr):
    """``(A, transposed)`` when ``f`` is ``inv(A)`` or ``inv(A)'``, else None."""
    if isinstance(f, E.Transpose) and isinstance(f.arg, E.Call) and f.arg.fn == "inv":
        return f.arg.arg, True
    if isinstance(f, E.Call) and f.fn == "inv":
        return f.arg, False
    return None


def permutation_of(f: E.Expr):
    """``(m, n)`` when ``f`` is ``commutation(m, n)`` (or its transpose, K(n, m))."""
    if isinstance(f, E.Commutation):
        return f.m, f.n
    if isinstance(f, E.Transpose) and isinstance(f.arg, E.Commutation):
        return f.arg.n, f.arg.m
    return None


class Planner:
    """Builds a :class:`Plan`: each node planned once, when first needed."""

    def __init__(self, outputs: tuple):
        from .chains import ChainPlanner
        self.plan = Plan()
        self.slot: dict = {}
        self.parents: dict = {}
        for root in outputs:
            for n in E.walk(root):
                for c in n.children():
                    self.parents.setdefault(c, []).append(n)
        nodes = set(self.parents) | set(outputs)
        #: products present in the expressions, for reuse as parts of longer chains
        self.products = {n.chain: n for n in nodes if isinstance(n, E.Mul)
                         and n.coef == 1 and not n.scalars and len(n.chain) >= 2}
        #: scaled factors present in the expressions: (coef, scalars, factor) -> node
        self.scaled = {(n.coef, n.scalars, n.chain[0]): n for n in nodes
                       if isinstance(n, E.Mul) and len(n.chain) == 1}
        self.chains = ChainPlanner(self)
        self.plan.outputs = [self.full(self.value(e), e.shape) for e in outputs]

    # steps -------------------------------------------------------------------------
    def add(self, op: str, inputs=(), params=(), rows=None, cols=None, shape=(1, 1),
            node=None) -> int:
        self.plan.steps.append(Step(op, tuple(inputs), tuple(params), rows, cols,
                                    tuple(shape), node))
        return len(self.plan.steps) - 1

    def step(self, slot: int) -> Step:
        return self.plan.steps[slot]

    def full(self, slot: int, shape) -> int:
        """The slot of the value spread to ``shape``, the shape of the node it holds (a
        new ``broadcast`` step if it is stored smaller)."""
        s = self.step(slot)
        shape = tuple(shape)
        if not s.weak and (s.rows, s.cols) == shape:
            return slot
        return self.add("broadcast", [slot], shape, shape[0], shape[1], shape)

    def whole(self, node: E.Expr) -> int:
        """The slot of ``node`` at its full shape."""
        return self.full(self.value(node), node.shape)

    def array(self, slot: int) -> int:
        """The slot as an array (a weak number becomes a 1×1 array of the dtype)."""
        s = self.step(slot)
        if not s.weak:
            return slot
        return self.add("broadcast", [slot], (1, 1), 1, 1, (1, 1))

    def elementwise(self, op: str, slots: list, params=(), shape=None, node=None) -> int:
        """An element-wise step; its stored shape is the broadcast of its inputs'."""
        rows = cols = None
        for j in slots:
            s = self.step(j)
            if s.weak:
                continue
            rows = s.rows if rows is None else broadcast_dims(rows, s.rows)
            cols = s.cols if cols is None else broadcast_dims(cols, s.cols)
        return self.add(op, slots, params, rows, cols, shape or (1, 1), node)

    # nodes -------------------------------------------------------------------------
    def value(self, node: E.Expr) -> int:
        """The slot holding ``node`` (planning it and what it needs, children first)."""
        if node in self.slot:
            return self.slot[node]
        stack = [(node, False)]
        while stack:
            n, ready = stack.pop()
            if n in self.slot:
                continue
            if ready:
                self.slot[n] = self.plan_node(n)
                continue
            stack.append((n, True))
            stack.extend((c, False) for c in reversed(self.needs(n)) if c not in self.slot)
        return self.slot[node]

    def needs(self, n: E.Expr) -> tuple:
        """The nodes that planning ``n`` reads."""
        if isinstance(n, E.Mul):
            return n.scalars + self.chains.needs(n.chain)
        if self.inline_trace(n):
            return n.arg.scalars + self.chains.needs(n.arg.chain)
        return n.children()

    def used_outside_products(self, n: E.Expr) -> bool:
        """Is ``n`` needed other than as a factor of a product (where it can be applied
        without being formed: ``inv(A)*B`` is ``solve(A, B)``)?"""
        for p in self.parents.get(n, ()):
            if isinstance(p, E.Transpose):
                if self.used_outside_products(p):
                    return True
            elif not (isinstance(p, E.Mul) and len(p.chain) >= 2 and n in p.chain):
                return True
        return False

    def inline_trace(self, n: E.Expr) -> bool:
        """``tr(A*B)`` of a product needed nowhere else is ``sum(A.*B')``."""
        if not (isinstance(n, E.Call) and n.fn == "tr" and isinstance(n.arg, E.Mul)):
            return False
        m = n.arg
        return len(m.chain) >= 2 and self.parents.get(m, []) == [n] \
            and not any(isinstance(f, E.Fill) for f in m.chain)

    def plan_node(self, n: E.Expr) -> int:
        shape = n.shape
        if isinstance(n, E.Var):
            return self.add("param", (), (n.name, n), shape[0], shape[1], shape, n)
        if isinstance(n, (E.Num, E.Fill)):
            return self.add("literal", (), (to_float(n.value),), shape=shape, node=n)
        if isinstance(n, E.Constant):
            return self.add("constant", (), (n.name,), shape=shape, node=n)
        if isinstance(n, E.Size):
            return self.add("size", (), (n.dim,), shape=shape, node=n)
        if isinstance(n, E.Eye):
            return self.add("eye", (), (shape[0],), shape[0], shape[1], shape, n)
        if isinstance(n, E.Add):
            return self.plan_add(n)
        if isinstance(n, E.Mul):
            return self.chains.product(n.coef, n.scalars, n.chain, n)
        if isinstance(n, E.Hadamard):
            slots, divide = [], []
            for f in n.factors:
                if isinstance(f, E.ElemPow) and isinstance(f.exp, E.Num) and f.exp.value == -1:
                    slots.append(self.value(f.base))
                    divide.append(True)      # a .* b.^-1 -> a / b
                else:
                    slots.append(self.value(f))
                    divide.append(False)
            if divide[0]:
                slots.insert(0, self.add("literal", (), (1.0,)))
                divide.insert(0, False)
            return self.elementwise("mul", slots, (1.0, tuple(divide)), shape, n)
        if isinstance(n, (E.Pow, E.ElemPow)):
            return self.elementwise("power", [self.value(n.base), self.value(n.exp)], (),
                                    shape, n)
        if isinstance(n, E.MatPow):
            return self.add("matrix_power", [self.whole(n.base)], (n.k,),
                            shape[0], shape[1], shape, n)
        if isinstance(n, E.Transpose):
            a = self.step(self.value(n.arg))
            if a.weak:
                return self.value(n.arg)
            return self.add("transpose", [self.value(n.arg)], (), a.cols, a.rows, shape, n)
        if isinstance(n, E.Call):
            return self.plan_call(n)
        if isinstance(n, E.Abstract):
            u = self.value(n.arg)
            u = self.array(u) if n.elementwise else self.full(u, n.arg.shape)
            params = (n.name, n.order, n.elementwise, n.arg.shape, n)
            if n.elementwise:
                return self.elementwise("abstract", [u], params, shape, n)
            return self.add("abstract", [u], params, shape[0], shape[1], shape, n)
        if isinstance(n, E.Kron):
            a, b = self.whole(n.left), self.whole(n.right)
            return self.add("kron", [a, b], (), shape[0], shape[1], shape, n)
        if isinstance(n, E.Vec):
            return self.add("vec", [self.whole(n.arg)], (), shape[0], 1, shape, n)
        if isinstance(n, E.Commutation):
            return self.add("commutation", (), (n.m, n.n), shape[0], shape[1], shape, n)
        raise TypeError(f"no plan for {type(n).__name__}")  # pragma: no cover

    def plan_add(self, n: E.Add) -> int:
        slots, signs = [], []
        for t in n.terms:
            if isinstance(t, E.Mul) and t.coef < 0:
                t = t.negated()              # a + (-1)*b -> a - b
                signs.append(-1)
            else:
                signs.append(1)
            slots.append(self.value(t))
        if signs[0] < 0:                     # -a + b -> b - a
            first = signs.index(1) if 1 in signs else None
            if first is not None:
                slots.insert(0, slots.pop(first))
                signs.insert(0, signs.pop(first))
        return self.elementwise("add", slots, tuple(signs), n.shape, n)

    def plan_call(self, n: E.Call) -> int:
        shape = n.shape
        spec = n.spec
        if spec.elementwise:
            a = self.array(self.value(n.arg))
            return self.elementwise("call", [a], (spec.kernel, 0, True), shape, n)
        if self.inline_trace(n):
            return self.chains.trace(n.arg, n)
        a = self.whole(n.arg)
        if n.fn == "inv":
            return self.add("inv", [a], (n.arg.text(),), shape[0], shape[1], shape, n)
        return self.add("call", [a], (spec.kernel, n.axis, False), shape[0], shape[1],
                        shape, n)


@functools.lru_cache(maxsize=512)
def build_plan(outputs: tuple) -> Plan:
    """The plan computing ``outputs`` (expressions), each returned at its full shape."""
    return Planner(tuple(outputs)).plan.finish()


def dims_needed(plan: Plan) -> set:
    """The symbolic dimensions that the plan's steps use as numbers."""
    out = set()
    live = plan.live()
    for i, s in enumerate(plan.steps):
        if not live[i]:
            continue
        dims = []
        if s.op in ("size", "eye"):
            dims = [s.params[0]]
        elif s.op in ("commutation", "commute"):
            dims = list(s.params[:2])
        elif s.op in ("broadcast", "full"):
            dims = list(s.params[:2])
        for d in dims:
            out.update(f for f in dim_factors(d) if isinstance(f, str))
    return out


def check_sizes_known(plan: Plan, known: set) -> None:
    """A size the plan needs must come from an argument's shape."""
    missing = sorted(dims_needed(plan) - set(known))
    if missing:
        raise EvaluationError(f"cannot generate code: no variable has the size "
                              f"{missing[0]}")


__all__ = ["Plan", "Step", "Planner", "build_plan", "estimate", "NOMINAL", "Fraction"]
