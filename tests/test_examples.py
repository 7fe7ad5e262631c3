"""Every gradient case of the worked examples (tests/data/examples.json): correct numbers, compact form."""
from __future__ import annotations

import pytest

import matcalc
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
