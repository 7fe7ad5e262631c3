"""Element-wise functions that a user defines: ``functions={"f": "t^3/(1+t^2)"}`` in the
API, ``--define "f(t)=t^3/(1+t^2)"`` on the command line.

The body is read by matcalc's own parser (a scalar expression of its argument; no text
is ever evaluated), SymPy differentiates it (twice, for Hessians), and the derivatives
come back as matcalc expressions.  ``f`` then joins the function registry like a
built-in element-wise function: ``sum(f(W*x))`` w.r.t. ``W`` gives
``(3*u.^2./(1+u.^2) - 2*u.^4./(1+u.^2).^2)*x'``-like forms with ``u = W*x``: the
scalar derivative lifted entry by entry.  Evaluation and generated code expand ``f(u)``
into its lifted body.

Each definition is registered under a key that includes a digest of its body, so that
two different bodies for the same name never share a registry entry; the name is what
prints.
"""
from __future__ import annotations

import re
import zlib

from . import expr as E
from .errors import ParseError
from .functions import Function, _elementwise_builder, register

_DEFINITION = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*\(\s*([A-Za-z][A-Za-z0-9_]*)\s*\)\s*$")


def parse_definition(head: str, body: str) -> tuple[str, str, str]:
    """``("f", "t^3")`` or ``("f(z)", "z^3")`` -> (name, argument, body)."""
    m = _DEFINITION.match(head)
    if m:
        return m.group(1), m.group(2), body
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", head.strip()):
        return head.strip(), "t", body
    raise ParseError(f"cannot define {head!r}: write a name (\"f\", argument t) or a head "
                     "like f(z)")


def define(head: str, body: str) -> str:
    """Register the element-wise function ``head(t) = body``; returns its registry key."""
    from .parse import parse_typed
    name, argument, body = parse_definition(head, body)
    if name in E.RESERVED or name == argument:
        raise ParseError(f"cannot define {name}: it is a name of the language")
    if not isinstance(body, str):
        raise ParseError(f"the body of {name} must be text, like \"t^3/(1+t^2)\"")
    key = f"{name}#{zlib.crc32(f'{argument}:{body}'.encode()):08x}"
    if key in E.FUNCTIONS:
        return key
    try:
        parsed = parse_typed(body, {argument: "scalar"})
    except Exception as exc:
        raise ParseError(f"cannot read the body of {name}({argument}) = {body}: {exc}") \
            from None
    t = E.Var(argument, E.SCALAR)
    others = set(E.free_vars(parsed.expr)) - {argument}
    if others or parsed.functions or not parsed.expr.is_scalar:
        raise ParseError(f"the body of {name}({argument}) may use only {argument}, numbers, "
                         f"pi and element-wise functions, not {', '.join(sorted(others))}"
                         if others else f"the body of {name}({argument}) must be a scalar "
                         f"expression of {argument} with built-in functions only")
    first, second = _derivatives(parsed.expr, t)
    from .printing import latex_name
    register(Function(
        name=key, shape="elementwise", build=_elementwise_builder(key), kernel="",
        latex=latex_name(name), identity=f"{name}'({argument}) = {first}",
        derivative=lambda u, node: lift(first, t, u), sympy=None, display=name,
        expand=lambda u: lift(parsed.expr, t, u)))
    return key


def _derivatives(body: E.Expr, t: E.Var) -> tuple[E.Expr, E.Expr]:
    """f' and f'' of a scalar body, by SymPy, back as matcalc expressions (f'' is not
    needed by the engine, which differentiates the lifted f' itself, but it is computed
    as a cross-check that SymPy's form reads back)."""
    from .simplify import simplify
    from .sympy_bridge import from_sympy, to_sympy
    symbols: dict = {}
    s = to_sympy(body, symbols)
    import sympy
    st = sympy.Symbol(t.name, real=True)
    first = sympy.simplify(sympy.diff(s, st))
    second = sympy.simplify(sympy.diff(first, st))
    return simplify(from_sympy(first)), simplify(from_sympy(second))


def lift(e: E.Expr, t: E.Var, u: E.Expr) -> E.Expr:
    """A scalar expression of ``t`` applied entry by entry to ``u``: ``t^2 -> u.^2``,
    ``a*b -> a.*b``, ``f(t) -> f(u)``."""
    memo: dict = {t: u}
    for n in E.postorder(e, lambda n: n not in memo):
        a = [memo[c] for c in n.children()]
        if isinstance(n, (E.Num, E.Constant, E.Var, E.Size)):
            memo[n] = n
        elif isinstance(n, E.Add):
            memo[n] = E.add(*a)
        elif isinstance(n, E.Mul):
            memo[n] = E.scale(n.coef, E.hadamard(*a)) if a else E.Num(n.coef)
        elif isinstance(n, E.Pow):
            memo[n] = E.elem_power(*a) if not a[0].is_scalar else E.power(*a)
        elif isinstance(n, E.Call) and n.spec.elementwise:
            memo[n] = E.call(n.fn, a[0])
        else:
            raise ParseError(f"{n} cannot be applied entry by entry")
    return memo[e]


def expand(e: E.Expr) -> E.Expr:
    """``e`` with every user-defined function replaced by its lifted body."""
    memo: dict = {}
    for n in E.postorder(e, lambda n: n not in memo):
        kids = [memo[c] for c in n.children()]
        if isinstance(n, E.Call) and getattr(n.spec, "expand", None) is not None:
            memo[n] = n.spec.expand(kids[0])
        elif kids and any(k is not c for k, c in zip(kids, n.children())):
            from .simplify import rebuild
            memo[n] = rebuild(n, kids)
        else:
            memo[n] = n
    return memo[e]
