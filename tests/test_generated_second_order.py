"""Jacobians and Hessians of generated expressions (the second half of the generated
testing of docs/testing.md): for every vector or scalar variable of a generated scalar
expression, the Hessian and the Jacobian (the gradient as a row) must be refused with
NotDifferentiableError or a LimitError naming its limit, or pass ``check()``.  The
Hessian check compares with central differences of the symbolic gradient and with
second differences of the function itself, so both layers are tested.

The long run: ``python -m pytest -m soak tests/test_generated_second_order.py -s``.
"""
from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

import matcalc
from matcalc import LimitError, NotDifferentiableError
from strategies import cases

CI_EXAMPLES = 60
SOAK_EXAMPLES = int(os.environ.get("MATCALC_SOAK_SECOND_ORDER", "2000"))


def second_order(case, counts: Counter) -> list[str]:
    """Problems found in the Jacobians and Hessians of ``case`` (counted in ``counts``)."""
    problems = []
    for name, decl in case.vars.items():
        if not decl.startswith(("scalar", "vector")):
            continue
        for compute in (matcalc.hessian, matcalc.jacobian):
            what = f"{compute.__name__} w.r.t. {name}"
            try:
                r = compute(case.text, name, vars=case.vars)
            except (NotDifferentiableError, LimitError):
                counts["refused"] += 1
                continue
            except matcalc.MatcalcError as exc:
                counts["errors"] += 1
                problems.append(f"{case!r}: {what}: {type(exc).__name__}: {exc}")
                continue
            counts["derived"] += 1
            try:
                report = r.check(points=2)
            except matcalc.EvaluationError:
                counts["unchecked"] += 1   # no valid point in the domain was found
                continue
            if report.passed:
                counts["checked ok"] += 1
            else:
                counts["wrong"] += 1
                problems.append(f"{case!r}: {what} = {r}\n{report}")
    return problems


@settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases(max_depth=5, max_nodes=30))
def test_generated_hessians_and_jacobians_check(case):
    problems = second_order(case, Counter())
    assert not problems, "\n".join(problems)


@pytest.mark.soak
def test_soak_generated_second_order():
    counts = Counter()
    problems: list[str] = []
    start = time.time()

    @settings(max_examples=SOAK_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases(max_depth=6, max_nodes=40))
    def run(case):
        counts["generated"] += 1
        problems.extend(second_order(case, counts))

    run()
    summary = ", ".join(f"{k}: {counts[k]}" for k in
                        ("generated", "derived", "checked ok", "refused", "unchecked",
                         "wrong", "errors"))
    print(f"\nsecond-order soak ({time.time() - start:.0f} s): {summary}")
    for p in problems[:20]:
        print(p)
    assert counts["wrong"] == 0 and counts["errors"] == 0
