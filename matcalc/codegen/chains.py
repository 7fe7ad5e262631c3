"""Planning a matrix product ``coef * scalars * F1 * F2 * ... * Fk``.

The rules, each one the reason for a piece of code below:

* a product already computed elsewhere in the expressions is reused, not recomputed
  (``y'*X*w`` next to ``X*w`` is ``y' @ t`` with ``t = X @ w``);
* where an inner dimension is 1 the chain falls into pieces: columns, scalars and rows,
  each computed from its vector end by matrix-vector products, and multiplied together
  by broadcasting, so that an outer product ``u*v'`` is formed once as ``u * v.T``;
* what is left is a chain of matrices: in the cheapest order for known sizes (the
  classic dynamic programme), by ``multi_dot`` at run time for symbolic ones;
* ``diag(v)`` scales the rows or columns of its smaller neighbour, ``inv(A)*B`` is
  ``solve(A, B)``, ``commutation(m, n)*B`` is a reshape and transpose of B, and an
  all-ones factor ``vector(1)``/``matrix(1)`` becomes sums and a broadcast;
* the number and the scalar factors multiply the smallest operand of the product (or a
  scaled copy that the expressions already compute).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import expr as E
from .plan import estimate, inverse_of, is_diagonal_factor, permutation_of, to_float

#: the all-ones column or row of a split product: it broadcasts, it is not a value
ONES = None


@dataclass(eq=False)
class T:
    """A node of a product's evaluation tree (turned into steps once it is final)."""
    op: str
    kids: list = field(default_factory=list)
    params: tuple = ()
    rows: object = 1
    cols: object = 1
    slot: int | None = None      # a leaf: the value of an earlier step
    factor: object = None        # a leaf: the factor node it holds

    @property
    def size(self) -> int:
        return estimate(self.rows) * estimate(self.cols)

    def walk(self):
        for k in self.kids:
            yield from k.walk()
        yield self

    def linear_parts(self):
        """The nodes whose scaling scales the whole: all but a solve's matrix."""
        for i, k in enumerate(self.kids):
            if not (self.op == "solve" and i == 0):
                yield from k.linear_parts()
        yield self


@dataclass(eq=False)
class Operand:
    """One factor of a product: ``dense`` (a tree), ``diag`` (scaling by ``tree``),
    ``inv`` (``tree`` is A; applied by solving), ``perm`` (commutation ``mn``), the
    all-ones ``ones`` vector, or ``eye`` (left out of a longer product)."""
    kind: str
    rows: object
    cols: object
    tree: T | None = None
    transposed: bool = False
    mn: tuple = ()
    factor: object = None
    what: str = ""


class ChainPlanner:
    def __init__(self, planner):
        self.p = planner

    # what a product reads ----------------------------------------------------------
    def absorbed_inverse(self, f) -> bool:
        inverse = inverse_of(f)
        if inverse is None:
            return False
        node = f.arg if isinstance(f, E.Transpose) else f
        return not self.p.used_outside_products(node)

    def needs(self, chain: tuple) -> tuple:
        out = []
        for f in chain:
            if is_diagonal_factor(f):
                out.append(f.arg)
            elif self.absorbed_inverse(f):
                out.append(inverse_of(f)[0])
            elif not isinstance(f, (E.Fill, E.Eye)) and permutation_of(f) is None:
                out.append(f)
        return tuple(out)

    # leaves --------------------------------------------------------------------------
    def leaf(self, slot: int, factor=None) -> T:
        s = self.p.step(slot)
        rows, cols = (s.rows, s.cols) if not s.weak else (1, 1)
        return T("leaf", rows=rows, cols=cols, slot=slot, factor=factor)

    def dense(self, node) -> T:
        return self.leaf(self.p.full(self.p.value(node), node.shape), node)

    def operand(self, f) -> Operand:
        rows, cols = f.shape
        if isinstance(f, E.Eye):
            return Operand("eye", rows, cols, self.dense(f))
        if is_diagonal_factor(f):
            return Operand("diag", rows, cols, self.dense(f.arg), factor=f)
        if self.absorbed_inverse(f):
            a, transposed = inverse_of(f)
            return Operand("inv", rows, cols, self.dense(a), transposed, factor=f,
                           what=a.text())
        mn = permutation_of(f)
        if mn is not None:
            return Operand("perm", rows, cols, mn=mn, factor=f)
        return Operand("dense", rows, cols, self.dense(f))

    def reuse(self, chain: tuple, itself) -> list:
        """The chain with spans that the expressions compute anyway (other than
        ``itself``) replaced by their value (a ``(span, tree)`` item), longest first."""
        k = len(chain)
        items: list = list(chain)
        taken = [False] * k
        for length in range(k, 1, -1):
            for i in range(0, k - length + 1):
                if any(taken[i:i + length]):
                    continue
                span = tuple(chain[i:i + length])
                tree = None
                for nodes, flip in ((span, False),
                                    (tuple(E.transpose(f) for f in reversed(span)), True)):
                    found = self.p.products.get(nodes)
                    # a shorter product is planned first if need be; one as long as
                    # this one (itself, or its transpose) only if it is planned already
                    if found is None or found is itself or (
                            length == k and found not in self.p.slot):
                        continue
                    t = self.dense(found)
                    tree = T("transpose", [t], rows=t.cols, cols=t.rows) if flip else t
                    break
                if tree is not None:
                    for j in range(i, i + length):
                        taken[j] = True
                        items[j] = None
                    items[i] = (span, tree)
        return [x for x in items if x is not None]

    # the product ---------------------------------------------------------------------
    def product(self, coef, scalars: tuple, chain: tuple, node) -> int:
        """The slot of ``coef * scalars * chain`` (``node`` is the Mul it computes)."""
        p = self.p
        scalar_slots = [p.value(s) for s in scalars]
        number = to_float(coef)
        fills = any(isinstance(f, E.Fill) for f in chain)
        segments: list = [[]]
        itself = node if node is not None and coef == 1 and not scalars else None
        for item in self.reuse(chain, itself):
            if isinstance(item, tuple):
                span, tree = item
                rows, cols = span[0].shape[0], span[-1].shape[1]
                segments[-1].append(Operand("dense", rows, cols, tree))
            elif isinstance(item, E.Fill):
                # ... * c*ones(p, q) * ... = c * (... * ones(p)) .* (ones(q)' * ...)
                number *= to_float(item.value)
                rows, cols = item.shape
                if rows != 1:
                    segments[-1].append(Operand("ones", rows, 1))
                segments.append([Operand("ones", 1, cols)] if cols != 1 else [])
            else:
                segments[-1].append(self.operand(item))
        pieces = []
        for seg in segments:
            others = [op for op in seg if op.kind != "eye"]
            seg = others if others else [Operand("dense", op.rows, op.cols, op.tree)
                                         for op in seg]   # A*eye -> A; eye alone stays
            if not seg:
                continue
            if len(seg) == 2 and seg[0].kind == seg[1].kind == "ones":
                pieces.append(self.leaf(p.value(E.Size(seg[0].cols))))  # 1'*1 = n
                continue
            pieces.append(self.segment(seg))
        pieces = [t for t in pieces if t is not ONES]
        root = self.outer(pieces)
        root = self.fold(root, number, scalar_slots,
                         None if fills else (coef, scalars), node)
        return self.emit(root, node, node.shape if node is not None else _chain_shape(chain))

    def outer(self, pieces: list):
        """Columns, scalars and rows multiplied by broadcasting (an outer product)."""
        if not pieces:
            return ONES
        if len(pieces) == 1:
            return pieces[0]
        rows = next((t.rows for t in pieces if t.rows != 1), 1)
        cols = next((t.cols for t in pieces if t.cols != 1), 1)
        return T("mul", pieces, (1.0,), rows, cols)

    def fold(self, root, number: float, scalar_slots: list, scaled_key, node=None):
        """Multiply the smallest operand by the number and the scalar factors (or use
        the scaled operand that the expressions compute anyway: ``2*d`` next to
        ``2*d*x'``)."""
        if number == 1.0 and not scalar_slots:
            return root
        scalars = [self.leaf(s) for s in scalar_slots]
        if root is ONES:
            return T("mul", scalars, (number,), 1, 1)
        best, best_cost, best_reuse = None, None, None
        for t in root.linear_parts():
            cost = t.size
            reuse = None
            if scaled_key is not None and t.op == "leaf" and t.factor is not None:
                reuse = self.p.scaled.get(scaled_key + (t.factor,))
                if reuse is node:
                    reuse = None
                if reuse is not None:
                    cost = 0
            if best_cost is None or cost < best_cost:
                best, best_cost, best_reuse = t, cost, reuse
        if best_reuse is not None:
            replacement = self.leaf(self.p.full(self.p.value(best_reuse), best_reuse.shape),
                                    best_reuse)
        else:
            replacement = T("mul", [best] + scalars, (number,), best.rows, best.cols)
        if best is root:
            return replacement
        for t in root.walk():
            t.kids = [replacement if k is best else k for k in t.kids]
        return root

    # pieces between inner dimensions of 1 --------------------------------------------
    def segment(self, ops: list):
        """A product of operands with no all-ones factor inside (ones only at its ends)."""
        bounds = [ops[0].rows] + [o.cols for o in ops]
        cuts = [i for i in range(1, len(ops)) if bounds[i] == 1]
        pieces = []
        start = 0
        for cut in cuts + [len(ops)]:
            piece = ops[start:cut]
            start = cut
            if len(piece) == 1 and piece[0].kind == "ones":
                continue
            if piece[-1].cols == 1:
                pieces.append(self.from_right(piece))
            elif piece[0].rows == 1:
                pieces.append(self.from_left(piece))
            else:
                pieces.append(self.matrices(piece))
        return self.outer([t for t in pieces if t is not ONES])

    def from_right(self, ops: list):
        """A product ending in a column, by matrix-vector products from the right."""
        cur = ONES if ops[-1].kind == "ones" else ops[-1].tree
        for op in reversed(ops[:-1]):
            cur = self.apply_left(op, cur)
        return cur

    def from_left(self, ops: list):
        """A product starting with a row, by vector-matrix products from the left."""
        cur = ONES if ops[0].kind == "ones" else ops[0].tree
        for op in ops[1:]:
            cur = self.apply_right(cur, op)
        return cur

    def ones(self, rows) -> T:
        one = self.p.add("literal", (), (1.0,))
        slot = self.p.add("broadcast", [one], (rows, 1), rows, 1, (rows, 1))
        return self.leaf(slot)

    def matrix_of(self, op: Operand) -> T:
        """A special operand on its own: formed after all."""
        return self.dense(op.factor)

    def apply_left(self, op: Operand, cur):
        """``op * cur`` for a column ``cur`` (ONES: the all-ones column)."""
        if op.kind == "ones":                            # 1'*v = sum(v)
            if cur is ONES:
                return self.leaf(self.p.value(E.Size(op.cols)))
            return T("sum", [cur], (0,), 1, 1)
        if op.kind == "dense":
            if cur is ONES:                              # A*1 = sum(A, 2)
                return T("sum", [op.tree], (2,), op.rows, 1)
            return T("matmul", [op.tree, cur], (), op.rows, cur.cols)
        if op.kind == "diag":                            # diag(v)*u = v.*u
            return op.tree if cur is ONES else T("mul", [op.tree, cur], (1.0,), op.rows, 1)
        if op.kind == "perm":                            # K*1 = 1
            return cur if cur is ONES else self.commute(cur, *op.mn)
        if cur is ONES:
            cur = self.ones(op.cols)
        return self.solve(op, cur)

    def apply_right(self, cur, op: Operand):
        """``cur * op`` for a row ``cur`` (ONES: the all-ones row)."""
        if op.kind == "ones":
            if cur is ONES:
                return self.leaf(self.p.value(E.Size(op.rows)))
            return T("sum", [cur], (0,), 1, 1)
        if op.kind == "dense":
            if cur is ONES:                              # 1'*A = sum(A, 1)
                return T("sum", [op.tree], (1,), 1, op.cols)
            return T("matmul", [cur, op.tree], (), cur.rows, op.cols)
        if op.kind == "diag":
            row = self.transpose(op.tree)
            return row if cur is ONES else T("mul", [cur, row], (1.0,), 1, op.cols)
        if cur is ONES:
            if op.kind == "perm":
                return ONES
            cur = self.transpose(self.ones(op.rows))
        return self.transpose(self.apply_left(self.transposed(op), self.transpose(cur)))

    def transposed(self, op: Operand) -> Operand:
        """The operand of ``op'``: inv(A)' or K(n, m)."""
        if op.kind == "inv":
            return Operand("inv", op.cols, op.rows, op.tree, not op.transposed,
                           factor=op.factor, what=op.what)
        m, n = op.mn
        return Operand("perm", op.cols, op.rows, mn=(n, m), factor=op.factor)

    def transpose(self, t: T) -> T:
        if t.op == "transpose":
            return t.kids[0]
        return T("transpose", [t], (), t.cols, t.rows)

    def solve(self, op: Operand, b: T) -> T:
        a = self.transpose(op.tree) if op.transposed else op.tree
        return T("solve", [a, b], (op.what,), op.rows, b.cols)

    def commute(self, t: T, m, n) -> T:
        return T("commute", [t], (m, n), t.rows, t.cols)

    # chains of matrices --------------------------------------------------------------
    def matrices(self, ops: list) -> T:
        """A product of matrices (no dimension 1 at its ends or inside)."""
        merged: list = []
        for op in ops:                                   # diag(u)*diag(v) = diag(u.*v)
            if op.kind == "diag" and merged and merged[-1].kind == "diag":
                prev = merged[-1]
                merged[-1] = Operand("diag", op.rows, op.cols,
                                     T("mul", [prev.tree, op.tree], (1.0,), op.rows, 1))
            else:
                merged.append(op)
        if len(merged) == 1 and merged[0].kind == "diag":
            return T("diagmat", [merged[0].tree], (), merged[0].rows, merged[0].cols)
        ops = self.attach_diagonals(merged)
        items: list = []                                 # dense runs and special operands
        for op in ops:
            if op.kind == "dense":
                if items and isinstance(items[-1], list):
                    items[-1].append(op.tree)
                else:
                    items.append([op.tree])
            else:
                items.append(op)
        items = [self.run(x) if isinstance(x, list) else x for x in items]
        acc = None
        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, T):
                acc = item if acc is None else T("matmul", [acc, item], (), acc.rows,
                                                 item.cols)
                i += 1
                continue
            right = items[i + 1] if i + 1 < len(items) and isinstance(items[i + 1], T) \
                else None
            if right is not None and (acc is None or right.size <= acc.size):
                applied = self.apply_left(item, right)
                acc = applied if acc is None else T("matmul", [acc, applied], (),
                                                    acc.rows, applied.cols)
                i += 2
            elif acc is not None:
                acc = self.apply_right(acc, item)
                i += 1
            else:
                acc = self.matrix_of(item)
                i += 1
        return acc

    def attach_diagonals(self, ops: list) -> list:
        """Each diag(v) scales the rows of its right neighbour or the columns of its
        left one, whichever is smaller: X'*diag(d)*X -> X' @ (d * X)."""
        ops = list(ops)
        i = 0
        while i < len(ops):
            op = ops[i]
            if op.kind != "diag":
                i += 1
                continue
            left = ops[i - 1] if i > 0 and ops[i - 1].kind == "dense" else None
            right = ops[i + 1] if i + 1 < len(ops) and ops[i + 1].kind == "dense" else None
            if right is not None and (left is None or right.tree.size <= left.tree.size):
                t = right.tree
                ops[i + 1] = Operand("dense", right.rows, right.cols,
                                     T("mul", [op.tree, t], (1.0,), t.rows, t.cols))
                del ops[i]
            elif left is not None:
                t = left.tree
                ops[i - 1] = Operand("dense", left.rows, left.cols,
                                     T("mul", [t, self.transpose(op.tree)], (1.0,), t.rows,
                                       t.cols))
                del ops[i]
            else:
                ops[i] = Operand("dense", op.rows, op.cols,
                                 T("diagmat", [op.tree], (), op.rows, op.cols))
                i += 1
        return ops

    def run(self, trees: list) -> T:
        """A run of dense matrices: the best order for known sizes, else multi_dot."""
        if len(trees) == 1:
            return trees[0]
        if len(trees) == 2:
            a, b = trees
            return T("matmul", [a, b], (), a.rows, b.cols)
        dims = [trees[0].rows] + [t.cols for t in trees]
        if all(isinstance(d, int) for d in dims):
            return self.best_order(trees, dims)
        return T("multi_dot", list(trees), (), trees[0].rows, trees[-1].cols)

    def best_order(self, trees: list, dims: list) -> T:
        """The classic matrix-chain dynamic programme (Cormen et al., 15.2)."""
        n = len(trees)
        cost = [[0] * n for _ in range(n)]
        split = [[0] * n for _ in range(n)]
        for length in range(2, n + 1):
            for i in range(n - length + 1):
                j = i + length - 1
                cost[i][j] = None
                for k in range(i, j):
                    c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                    if cost[i][j] is None or c < cost[i][j]:
                        cost[i][j], split[i][j] = c, k

        def build(i, j):
            if i == j:
                return trees[i]
            k = split[i][j]
            return T("matmul", [build(i, k), build(k + 1, j)], (), dims[i], dims[j + 1])
        return build(0, n - 1)

    # tr(A*B) = sum(A.*B') --------------------------------------------------------------
    def trace(self, m: E.Mul, node) -> int:
        chain = m.chain
        best = None
        for k in range(1, len(chain)):
            cost = chain_cost(chain[:k]) + chain_cost(chain[k:])
            if best is None or cost < best[0]:
                best = (cost, k)
        k = best[1]
        left = self.part(chain[:k])
        right = self.part(chain[k:])
        t = T("sum", [T("mul", [left, self.transpose(right)], (1.0,), left.rows,
                        left.cols)], (0,), 1, 1)
        t = self.fold(t, to_float(m.coef), [self.p.value(s) for s in m.scalars], None, node)
        return self.emit(t, node, (1, 1))

    def part(self, chain: tuple) -> T:
        if len(chain) == 1:
            return self.dense(chain[0])
        if chain in self.p.products:
            return self.dense(self.p.products[chain])
        return self.leaf(self.product(1, (), chain, None))

    # trees to steps --------------------------------------------------------------------
    def emit(self, t, node, shape) -> int:
        p = self.p
        slots = {}
        for x in t.walk():
            if x.op == "leaf":
                slots[id(x)] = x.slot
                continue
            ins = [slots[id(k)] for k in x.kids]
            top = x is t
            mark = node if top else None
            full_shape = tuple(shape) if top else (x.rows, x.cols)
            if x.op == "mul":
                slot = p.elementwise("mul", ins, (x.params[0], (False,) * len(ins)),
                                     full_shape, mark)
            elif x.op == "transpose":
                s = p.step(ins[0])
                slot = ins[0] if s.weak else p.add(
                    "transpose", ins, (), s.cols, s.rows, full_shape, mark)
            elif x.op == "sum":
                axis = x.params[0]
                slot = p.add("call", ins, ("sum", axis, False), x.rows, x.cols,
                             full_shape, mark)
            elif x.op == "diagmat":
                slot = p.add("call", ins, ("diag", 0, False), x.rows, x.cols, full_shape,
                             mark)
            else:                        # matmul, multi_dot, solve, commute
                slot = p.add(x.op, ins, x.params, x.rows, x.cols, full_shape, mark)
            slots[id(x)] = slot
        return slots[id(t)]


def _chain_shape(chain: tuple) -> tuple:
    return (chain[0].shape[0], chain[-1].shape[1])


def chain_cost(chain: tuple) -> int:
    """Estimated multiplications of the cheapest order of a chain (nominal sizes)."""
    dims = [chain[0].shape[0]] + [f.shape[1] for f in chain]
    dims = [estimate(d) for d in dims]
    n = len(chain)
    cost = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            cost[i][j] = min(cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                             for k in range(i, j))
    return cost[0][n - 1]
