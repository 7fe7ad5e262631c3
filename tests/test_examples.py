"""Every gradient case of the worked examples (tests/data/examples.json): correct numbers, compact form."""
from __future__ import annotations

import pytest

import matcalc
from matcalc.parse import declarations
from helpers import load_examples, token_count, values_equal

GRADIENTS = [e for e in load_examples() if e["kind"] == "gradient"]

# The Cookbook's det(A*X)*inv(X)' assumes square A and X.  With the default (generic)
# sizes A is n×k and X is k×n, inv(X) does not exist, and matcalc's general answer
# det(A*X)*A'*inv(A*X)' is the short one; declared square, it gives the Cookbook's.
SQUARE = {"det_AX": {"A": "matrix(n,n)", "X": "matrix(n,n)"}}


def test_examples_are_present():
    assert len(GRADIENTS) == 55


@pytest.mark.parametrize("case", GRADIENTS, ids=[e["name"] for e in GRADIENTS])
def test_gradient_example(case):
    decls = SQUARE.get(case["name"], case["vars"])
    r = matcalc.diff(case["expr"], case["wrt"], vars=decls)
    report = r.check()
    assert report.passed, str(report)
    symmetric = case["vars"].get(case["wrt"]) == "symmetric"
    assert values_equal(r, case["expected"], symmetric=symmetric) < 1e-8
    assert token_count(str(r.expr)) <= token_count(case["expected"]), str(r.expr)


def test_det_AX_general_sizes_is_correct():
    r = matcalc.diff("det(A*X)", "X", vars={"A": "matrix", "X": "matrix"})
    assert str(r) == "det(A*X)*A'*inv(A*X)'"
    assert r.check().passed


ALL_CASES = [e for e in load_examples()]


@pytest.mark.parametrize("case", ALL_CASES, ids=[e["name"] for e in ALL_CASES])
def test_human_and_flat_forms_parse_back_and_are_short(case):
    """Issue 7: both printed forms parse back to the derivative, neither is longer than
    the expected form, and both give the same numbers."""
    compute = {"gradient": matcalc.diff, "jacobian": matcalc.jacobian,
               "hessian": matcalc.hessian}[case["kind"]]
    decls = SQUARE.get(case["name"], case["vars"])
    r = compute(case["expr"], case["wrt"], vars=decls)
    sized = dict(declarations(r.expr))
    for name, v in r.variables.items():
        sized.setdefault(name, declarations(v)[name])
    for form in (str(r), str(r.expr)):
        back = matcalc.parse(form, sized, shape=r.expr.shape)
        assert back == r.expr, (form, str(back))
        if "expected_note" not in case:
            assert token_count(form) <= token_count(case["expected"]), form
