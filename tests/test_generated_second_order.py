"""Jacobians and Hessians of generated expressions (the second half of the generated
testing of docs/testing.md): for every vector or scalar variable of a generated scalar
expression, the Hessian and the Jacobian (the gradient as a row) must be refused with
NotDifferentiableError or a LimitError naming its limit, or pass ``check()``; so must
the mixed Hessian ``matcalc.hessian(text, x, y)`` (entry (i,j) = ∂²f/∂x_i∂y_j) of a pair
of vector variables.  The Hessian check compares with central differences of the
symbolic gradient and with second differences of the function itself, so both layers
are tested.

Every failed check is a problem: no known bug is excused here (the one that was,
``max``'s gradient ``1 - sign(max(U) - U)`` rounding to 0 or 2 at the maximum, is fixed:
it is ``ismax(U)``).

The long run: ``python -m pytest -m soak tests/test_generated_second_order.py -s``.
"""
from __future__ import annotations

import itertools
import os
import time
import traceback
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcalc
from matcalc import LimitError, NotDifferentiableError
from matcalc import expr as E
from strategies import cases

CI_EXAMPLES = 60
SOAK_EXAMPLES = int(os.environ.get("MATCALC_SOAK_SECOND_ORDER", "2000"))
OUTCOMES = ("generated", "derived", "checked ok", "refused", "unchecked", "wrong", "errors",
            "mixed Hessians")


def derivatives(case, all_pairs: bool):
    """What to compute: (description, thunk) for the Hessian and Jacobian of each scalar
    and vector variable, and the mixed Hessians of pairs of vector variables (the first
    pair only, unless ``all_pairs``)."""
    out = []
    for name, decl in case.vars.items():
        if not decl.startswith(("scalar", "vector")):
            continue
        for compute in (matcalc.hessian, matcalc.jacobian):
            out.append((f"{compute.__name__} w.r.t. {name}",
                        lambda compute=compute, name=name: compute(case.text, name,
                                                                   vars=case.vars)))
    vectors = [name for name, decl in case.vars.items() if decl.startswith("vector")]
    pairs = list(itertools.permutations(vectors, 2)) if all_pairs else \
        list(itertools.combinations(vectors, 2))[:1]
    for x, y in pairs:
        out.append((f"mixed hessian w.r.t. {x}, {y}",
                    lambda x=x, y=y: matcalc.hessian(case.text, x, y, vars=case.vars)))
    return out


def second_order(case, counts: Counter, all_pairs: bool = False) -> list[str]:
    """The problems found in the Jacobians and Hessians of ``case`` (every outcome is
    counted in ``counts``)."""
    problems = []
    for what, compute in derivatives(case, all_pairs):
        try:
            r = compute()
        except (NotDifferentiableError, LimitError):
            counts["refused"] += 1
            continue
        except matcalc.MatcalcError as exc:
            counts["errors"] += 1
            problems.append(f"{case!r}: {what}: {type(exc).__name__}: {exc}")
            continue
        counts["derived"] += 1
        if what.startswith("mixed"):
            counts["mixed Hessians"] += 1
        try:
            report = r.check(points=2)
        except matcalc.EvaluationError:
            counts["unchecked"] += 1   # no valid point in the domain was found
            continue
        if report.passed:
            counts["checked ok"] += 1
            continue
        counts["wrong"] += 1
        problems.append(f"{case!r}: {what} = {r}\n{report}")
    return problems


@settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases(max_depth=5, max_nodes=30))
def test_generated_hessians_and_jacobians_check(case):
    problems = second_order(case, Counter())
    assert not problems, "\n".join(problems)


def test_mixed_hessians_check():
    # the mixed block of a few forms, with its value (SPEC §3: hessian of two variables)
    vars = {"A": "matrix(n,m)", "x": "vector(n)", "y": "vector(m)", "z": "vector(n)"}
    for text, x, y in [("x'*A*y", "x", "y"), ("g(x)*sum(y)", "x", "y"),
                       ("sum(softmax(x).*exp(z))", "x", "z"), ("s(x)'*A*y", "y", "x"),
                       ("max(x + z) + norm2(A'*x - y)^2", "x", "y")]:
        r = matcalc.hessian(text, x, y, vars={**vars, "s": "elementwise"})
        assert r.check().passed, f"{text}: {r}"
    r = matcalc.hessian("x'*A*y", "x", "y", vars=vars)
    assert str(r) == "A"


def test_the_second_order_harness_notices_a_wrong_rule(monkeypatch):
    # with sin'' taken from a wrong sin' = sin, the Hessian of sum(sin(x)) is wrong
    from matcalc import calculus
    monkeypatch.setattr(calculus.E.FUNCTIONS["sin"], "derivative",
                        lambda u, f: calculus.call("sin", u))
    from strategies import case_from_tree
    counts = Counter()
    problems = second_order(case_from_tree(("call", "sum", ("call", "sin", ("var", "x")))),
                            counts)
    assert counts["wrong"] >= 1 and problems


@pytest.mark.soak
def test_soak_generated_second_order():
    counts = Counter({k: 0 for k in OUTCOMES})
    problems: list[str] = []
    start = time.time()

    @settings(max_examples=SOAK_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases(max_depth=6, max_nodes=40), all_pairs=st.booleans())
    def run(case, all_pairs):
        counts["generated"] += 1
        try:
            problems.extend(second_order(case, counts, all_pairs))
        except Exception:  # noqa: BLE001 - the soak counts everything and never stops
            counts["errors"] += 1
            problems.append(f"{case!r}\n{traceback.format_exc()}")

    run()
    summary = ", ".join(f"{k}: {counts[k]}" for k in OUTCOMES)
    lines = [f"second-order soak ({time.time() - start:.0f} s): {summary}",
             f"problems: {len(problems)}"]
    report = "\n".join(lines + problems[:200])
    print("\n" + report)
    out = os.environ.get("MATCALC_SOAK_SECOND_ORDER_REPORT")
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(report + "\n")
    assert counts["wrong"] == 0 and counts["errors"] == 0, report
