"""Matrix Cookbook (Petersen & Pedersen, Nov 2012) identities, each checked against
finite differences and for its printed form."""
from __future__ import annotations

import pytest

import matcalc

# (equation, expression, variable, declarations, matcalc's form)
GRADIENT_TABLE = [
    ("(49) ∂det(X)/∂X = det(X)X^-T", "det(X)", "X", {}, "det(X)*inv(X)'"),
    ("(51) ∂det(AXB)/∂X = det(AXB)X^-T", "det(A*X*B)", "X",
     {"A": "matrix(n,n)", "B": "matrix(n,n)", "X": "matrix(n,n)"}, "det(A*X*B)*inv(X)'"),
    ("(57) ∂ln|det X|/∂X = X^-T", "logdet(X)", "X", {}, "inv(X)'"),
    ("(61) ∂a'X^-1b/∂X = -X^-T ab' X^-T", "a'*inv(X)*b", "X",
     {"a": "vector", "b": "vector"}, "-inv(X)'*a*b'*inv(X)'"),
    ("(69) ∂x'a/∂x = a", "x'*a", "x", {"a": "vector"}, "a"),
    ("(70) ∂a'Xb/∂X = ab'", "a'*X*b", "X", {"a": "vector", "b": "vector"}, "a*b'"),
    ("(71) ∂a'X'b/∂X = ba'", "a'*X'*b", "X", {"a": "vector", "b": "vector"}, "b*a'"),
    ("(77) ∂b'X'Xc/∂X = X(bc' + cb')", "b'*X'*X*c", "X", {"b": "vector", "c": "vector"},
     "X*(b*c'+c*b')"),
    ("(81) ∂x'Bx/∂x = (B + B')x", "x'*B*x", "x", {}, "(B+B')*x"),
    ("(84) ∂(x-As)'W(x-As)/∂s = -2A'W(x-As)", "(x - A*s)'*W*(x - A*s)", "s",
     {"W": "symmetric"}, "-2*A'*W*(x-A*s)"),
    ("(99) ∂tr(X)/∂X = I", "tr(X)", "X", {}, "eye"),
    ("(100) ∂tr(XA)/∂X = A'", "tr(X*A)", "X", {}, "A'"),
    ("(101) ∂tr(AXB)/∂X = A'B'", "tr(A*X*B)", "X", {}, "A'*B'"),
    ("(102) ∂tr(AX'B)/∂X = BA", "tr(A*X'*B)", "X", {}, "B*A"),
    ("(103) ∂tr(X'A)/∂X = A", "tr(X'*A)", "X", {}, "A"),
    ("(106) ∂tr(X^2)/∂X = 2X'", "tr(X^2)", "X", {}, "2*X'"),
    ("(107) ∂tr(X^2B)/∂X = (XB + BX)'", "tr(X^2*B)", "X", {}, "B'*X' + X'*B'"),
    ("(108) ∂tr(X'BX)/∂X = BX + B'X", "tr(X'*B*X)", "X", {}, "(B+B')*X"),
    ("(111) ∂tr(XBX')/∂X = XB' + XB", "tr(X*B*X')", "X", {}, "X*(B+B')"),
    ("(114) ∂tr(AXBX)/∂X = A'X'B' + B'X'A'", "tr(A*X*B*X)", "X", {},
     "A'*X'*B' + B'*X'*A'"),
    ("(115) ∂tr(X'X)/∂X = 2X", "tr(X'*X)", "X", {}, "2*X"),
    ("(116) ∂tr(B'X'CXB)/∂X = C'XBB' + CXBB'", "tr(B'*X'*C*X*B)", "X", {},
     "(C+C')*X*B*B'"),
    ("(117) ∂tr(X'BXC)/∂X = BXC + B'XC'", "tr(X'*B*X*C)", "X", {}, "B*X*C + B'*X*C'"),
    ("(119) ∂tr((AXB+C)(AXB+C)')/∂X = 2A'(AXB+C)B'", "tr((A*X*B + C)*(A*X*B + C)')", "X",
     {}, "2*A'*(A*X*B+C)*B'"),
    ("(121) ∂tr(X^k)/∂X = k(X^(k-1))'", "tr(X^3)", "X", {}, "3*X'^2"),
    ("(124) ∂tr(AX^-1B)/∂X = -(X^-1BAX^-1)'", "tr(A*inv(X)*B)", "X", {},
     "-inv(X)'*A'*B'*inv(X)'"),
    ("(126) ∂tr((X'CX)^-1(X'BX))/∂X", "tr(inv(X'*C*X)*(X'*B*X))", "X",
     {"C": "symmetric", "B": "symmetric"}, "2*(eye-C*X*inv(X'*C*X)*X')*B*X*inv(X'*C*X)"),
    ("(129) ∂||x-a||₂/∂x = (x-a)/||x-a||₂", "norm2(x - a)", "x", {"a": "vector"},
     "(x-a)/norm2(x-a)"),
    ("(132) ∂||X||²_F/∂X = 2X", "norm2(X)^2", "X", {}, "2*X"),
]


@pytest.mark.parametrize("eq, expression, wrt, decls, form", GRADIENT_TABLE,
                         ids=[row[0].split(")")[0] + ")" for row in GRADIENT_TABLE])
def test_cookbook_gradient(eq, expression, wrt, decls, form):
    r = matcalc.diff(expression, wrt, vars=decls)
    report = r.check()
    assert report.passed, f"{eq}: {report}"
    assert str(r.expr) == form
    assert matcalc.parse(str(r), r.vars) == matcalc.parse(form, r.vars)  # the human form


def test_tr_X_squared_matches_2X_transposed_numerically():
    # (106) again, evaluated at a fixed point against the closed form 2*X'
    import numpy as np
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    r = matcalc.diff("tr(X^2)", "X")
    assert np.allclose(r.evaluate({"X": X}), 2 * X.T)
