"""The plan (matcalc.codegen.plan, chains) and the generated NumPy code: the same numbers
as a naive evaluation, the products in a cheap order, shared work done once, and a
user's names unable to inject code.  Other backends: test_codegen_backends.py."""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import matcalc
from matcalc import expr as E
from matcalc.codegen.plan import build_plan
from matcalc.numeric import Evaluator, dims_of, draw_points

from helpers import load_examples, load_generated as load
from oracle import naive


def point(r, seed=0):
    rng = np.random.default_rng(seed)
    (p,) = draw_points(r.differentiated, dict(r.variables), r.functions, rng, 1,
                       extra_dims=dims_of(r.expr))
    return p


def body(code: str, name: str = "f") -> str:
    """The statements of the generated function (after its docstring)."""
    return code.split(f"\ndef {name}(")[1].split('"""')[2].split("\ndef ")[0]


def call(module, values, r):
    """Call the generated f with the values of a drawn point (functions included)."""
    params = inspect.signature(module.f).parameters
    args = {k: v for k, v in values.items() if k in params}
    for name in r.functions:
        for prefix, suffix in (("∇", "_grad"), ("∇²", "_hess")):
            if name + suffix in params:
                args[name + suffix] = values[prefix + name]
    return module.f(**args)


# more cases than the examples: broadcasts, all-ones factors, solves, permutations,
# user functions, axis forms, reductions
EXTRA = [
    ("diff", "det(X'*A*X)", "X", {"A": "symmetric"}),
    ("diff", "tr(inv(X'*C*X)*(X'*B*X))", "X", {"C": "symmetric", "B": "symmetric"}),
    ("hessian", "logdet(X)", "X", {}),
    ("jacobian", "A*X*B", "X", {}),
    ("jacobian", "inv(X)", "X", {}),
    ("diff", "sum(W*X+b)", "b", {}),
    ("diff", "sum(sigmoid(W*X+b))", "W", {}),
    ("diff", "norm2(W3*W2*W1*x - y)^2", "W1", {}),
    ("diff", "tr(A*inv(X)*B)", "X", {}),
    ("hessian", "x'*inv(A)*x + sum(exp(x))", "x", {}),
    ("diff", "g(W*x+b)", "W", {}),
    ("hessian", "g(W*x+b)", "x", {}),
    ("diff", "sum(s(W*x))", "W", {"s": "elementwise"}),
    ("diff", "sum(softmax(X, 2).*Y)", "X", {}),
    ("diff", "sum(logsumexp(W*X, 1))", "W", {}),
    ("diff", "mean(X)*a + sum(diag(X))", "X", {}),
    ("diff", "x'*matrix(1)*y", "x", {}),
    ("diff", "sum(X*matrix(2)*Y)", "X", {}),
    ("diff", "sum(erf(x).*x) + pi*dim(n)*sum(x)", "x", {"x": "vector(n)"}),
    ("diff", "norm1(A*x) + max(x) + min(x)", "x", {}),
    ("jacobian", "exp(x)", "x", {}),
    ("diff", "tr(A)*tr(X)", "X", {}),
    ("hessian", "norm2(x - a)", "x", {}),
]
CASES = [(e["kind"], e["expr"], e["wrt"], e["vars"]) for e in load_examples()] + EXTRA


@pytest.mark.parametrize("kind, text, wrt, decls", CASES, ids=[c[1] for c in CASES])
def test_plans_give_the_numbers_of_a_naive_evaluation(kind, text, wrt, decls, tmp_path):
    """evaluate and the generated NumPy code (one plan) against an evaluation that forms
    every node as written; the checker (finite differences) backs the naive one."""
    r = getattr(matcalc, kind)(text, wrt, vars=decls)
    p = point(r, seed=1)
    module = load(r.numpy_code(), tmp_path)
    value, derivative = call(module, p.values, r)
    expected = naive(r.expr, p.values, p.sizes)
    got = Evaluator(p.values, r.variables, p.sizes)(r.expr)
    scale = max(1.0, float(np.abs(expected).max()))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-9 * scale
    assert np.allclose(np.asarray(derivative), r.evaluate(p.values), rtol=1e-12, atol=1e-12)
    assert np.allclose(np.asarray(value).reshape(-1),
                       naive(r.differentiated, p.values, p.sizes).reshape(-1), rtol=1e-9)


# the rules of chains.py ------------------------------------------------------------

def test_a_chain_ending_in_a_vector_is_matrix_vector_products(tmp_path):
    # 2*W2'*W3'*(W3*W2*W1*x-y)*x': no matrix-matrix product, one outer product
    r = matcalc.diff("norm2(W3*W2*W1*x - y)^2", "W1")
    code = r.numpy_code()
    lines = body(code).strip().splitlines()
    products = [line for line in lines if "@" in line]
    assert all(re.search(r"@ (_t\d+|x)$", line) for line in products), products
    assert len(products) == 5                    # 3 forward, 2 backward
    outer = [line for line in lines if line.endswith("* x.T")]
    assert len(outer) == 1 and "2.0" not in outer[0]     # formed once, 2 folded before
    assert sum("2.0 *" in line for line in lines) == 1
    module = load(code, tmp_path)
    rng = np.random.default_rng(0)
    W1, W2, W3 = (rng.standard_normal((4, 4)) for _ in range(3))
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    residual = W3 @ W2 @ W1 @ x - y
    value, gradient = module.f(W1, W2, W3, x, y)
    assert np.isclose(value, residual @ residual)
    assert np.allclose(gradient, 2 * np.outer(W2.T @ W3.T @ residual, x))


def test_a_product_computed_elsewhere_is_reused():
    # y'*X*w next to X*w (the logistic loss): X @ w once, then y' @ (that)
    code = matcalc.diff("sum(log(vector(1)+exp(X*w))) - y'*X*w", "w").numpy_code()
    lines = body(code)
    assert lines.count("X @ w") == 1
    assert re.search(r"y\.T @ _t1\n", lines) and "y.T @ X" not in lines


def test_a_scaled_vector_computed_elsewhere_is_reused():
    # the MLP: 2*d for b1 and 2*d*x' for W1 share the scaled vector
    code = matcalc.diff("norm2(W2*tanh(W1*x+b1) - y)^2", ["W1", "b1"]).numpy_code()
    assert body(code).count("2.0 * ") == 1


@pytest.mark.parametrize("sizes, first", [((10, 100, 5, 50), "A @ B"),
                                          ((50, 5, 100, 10), "B @ C")])
def test_known_sizes_take_the_cheapest_order(sizes, first):
    p, q, r_, s = sizes
    e = matcalc.parse("A*B*C", vars={"A": f"matrix({p},{q})", "B": f"matrix({q},{r_})",
                                     "C": f"matrix({r_},{s})"})
    plan = build_plan((e,))
    products = [st for st in plan.steps if st.op == "matmul"]
    names = {st.node.name: i for i, st in enumerate(plan.steps) if st.op == "param"}
    a, b = (list(names)[list(names.values()).index(i)] for i in products[0].inputs)
    assert f"{a} @ {b}" == first and not plan.uses("multi_dot")


def test_symbolic_sizes_are_ordered_at_run_time():
    plan = build_plan((matcalc.parse("A*B*C*D"),))
    assert plan.uses("multi_dot") and not plan.uses("matmul")
    code = matcalc.jacobian("A*B*C*x", "x").numpy_code()
    assert "_np.linalg.multi_dot([A, B, C])" in code


def test_inverse_times_a_matrix_is_a_solve(tmp_path):
    r = matcalc.diff("tr(A*inv(X)*B)", "X")
    code = r.numpy_code()
    assert "_solve(" in body(code) and "_inv(" not in body(code)
    assert "np.linalg.inv" not in code
    rng = np.random.default_rng(0)
    A, X, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)) + 4 * np.eye(4), \
        rng.standard_normal((4, 3))
    value, gradient = load(code, tmp_path).f(A, B, X)
    Y = np.linalg.inv(X)
    assert np.isclose(value, np.trace(A @ Y @ B))
    assert np.allclose(gradient, -(Y @ B @ A @ Y).T)


def test_the_commutation_matrix_is_a_permutation(tmp_path):
    # the Hessian of logdet(X) is -K*kron(inv(X)', inv(X)): K applied by reshaping
    r = matcalc.hessian("logdet(X)", "X")
    code = r.numpy_code()
    assert "_k_commute(" in body(code) and "_k_commutation" not in code
    assert not re.search(r"@ _k_commute|_k_commute\(.*\) @", code)
    X = np.array([[3.0, 1.0], [0.5, 2.0]])
    value, H = load(code, tmp_path).f(X)
    Y = np.linalg.inv(X)
    assert H.shape == (2, 2, 2, 2)       # G = inv(X)': dG[i,j]/dX[k,l] = -Y[j,k]*Y[l,i]
    assert np.allclose(H, -np.einsum("jk,li->ijkl", Y, Y))


def test_a_lone_commutation_matrix_is_built_without_loops(tmp_path):
    r = matcalc.jacobian("X'", "X")          # the Jacobian is K itself
    code = r.numpy_code()
    kernel = code.split("def _k_commutation(")[1].split("\ndef ")[0].split('"""')[2]
    assert "_k_commutation(" in body(code) and not re.search(r"\b(for|while)\b", kernel)
    X = np.arange(6.0).reshape(2, 3)
    value, J = load(code, tmp_path).f(X)
    assert np.array_equal(value, X.T) and J.shape == (3, 2, 2, 3)
    assert np.array_equal(J, np.einsum("il,jk->ijkl", np.eye(3), np.eye(2)))


def test_a_broadcast_is_never_formed(tmp_path):
    # sigmoid(W*X + b): b spread across the columns by broadcasting, not by b*ones'
    r = matcalc.diff("sum(sigmoid(W*X+b))", "b")
    code = body(r.numpy_code())
    assert re.search(r"_t\d+ = _t\d+ \+ b\n", code)
    assert "_np.full" not in code and "broadcast_to" not in code
    assert "@ " not in code.replace("W @ X", "")
    rng = np.random.default_rng(0)
    W, X, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 5)), rng.standard_normal(3)
    value, gradient = load(r.numpy_code(), tmp_path).f(W, X, b)
    s = 1 / (1 + np.exp(-(W @ X + b[:, None])))
    assert np.isclose(value, s.sum()) and np.allclose(gradient, (s * (1 - s)).sum(axis=1))


def test_a_returned_broadcast_is_a_full_writable_array(tmp_path):
    r = matcalc.diff("sum(W*X+b)", "b")        # gradient dim(k)*vector(1)
    value, gradient = load(r.numpy_code(), tmp_path).f(np.ones((2, 3)), np.ones((3, 4)),
                                                       np.zeros(2))
    assert gradient.shape == (2,) and np.allclose(gradient, 4.0)
    gradient += 1.0


def test_the_trace_of_a_product_is_not_formed():
    # tr(A*X*B) = sum((X@B) .* A'): one matrix product, not two (and one for A'*B')
    code = body(matcalc.diff("tr(A*X*B)", "X").numpy_code())
    assert code.count(" @ ") == 2 and "_k_trace" not in code and "_k_sum(" in code


def test_diagonal_matrices_scale_rows():
    code = matcalc.hessian("sum(log(vector(1)+exp(X*w))) - y'*X*w", "w").numpy_code()
    lines = body(code)
    scaled = re.search(r"(_t\d+) = _t\d+ \* X\n", lines).group(1)   # d * X: rows scaled
    assert "diag" not in lines and f"X.T @ {scaled}" in lines


# the generated module --------------------------------------------------------------

@pytest.mark.parametrize("kind, text, wrt, decls", CASES, ids=[c[1] for c in CASES])
def test_no_python_loops_and_only_the_helpers_used(kind, text, wrt, decls):
    code = getattr(matcalc, kind)(text, wrt, vars=decls).numpy_code()
    assert not re.search(r"\b(for|while)\b", body(code))
    defined = re.findall(r"^(?:def|class) (_\w+)", code, flags=re.M)
    for name in defined:                          # each helper is called somewhere else
        assert len(re.findall(rf"\b{name}\b", code)) >= 2, name
    code.encode("ascii")                          # a file any editor opens


def test_only_the_helpers_needed_are_emitted():
    plain = matcalc.diff("x'*A*x", "x").numpy_code()
    for name in ("_solve", "_inv", "_symmetric", "_NotSymmetricError",
                 "_SingularMatrixError", "_unvec", "_k_", "_returned", "import math"):
        assert name not in plain, name
    symmetric = matcalc.diff("x'*S*x", "x", vars={"S": "symmetric"}).numpy_code()
    assert "def _symmetric" in symmetric and "class _NotSymmetricError" in symmetric


def test_the_docstring_names_the_expression_the_shapes_and_the_layout():
    doc = matcalc.jacobian("A*X*B", "X").function().__doc__
    assert "F = A*X*B" in doc and "kron(B', A)" in doc
    assert "X: matrix of shape (m, k)" in doc
    assert "shape (n, p, m, k) = shape(F) + shape(X)" in doc
    doc = matcalc.diff("g(W*x+b)", "W").function().__doc__
    assert "shaped like W, a matrix of shape (n, m)" in doc and "g_grad: callable" in doc
    # the expression as the user wrote it, not as matcalc reordered it
    code = matcalc.diff("sum(log(1 + exp(-y.*(X*w))))  +  0.5*lam*norm2(w)^2", "w",
                        vars={"lam": "scalar"}).numpy_code()
    assert code.startswith('"""f: sum(log(1 + exp(-y.*(X*w)))) + 0.5*lam*norm2(w)^2 and')
    assert "L = sum(log(1 + exp(-y.*(X*w)))) + 0.5*lam*norm2(w)^2 and its" in code


@pytest.mark.parametrize("name", ["lambda", "import", "def", "np", "print", "sum_",
                                  "exec", "__import__", "os", "f", "check_f", "_dt"])
def test_user_names_cannot_inject_code(name, tmp_path):
    text = f"{name}'*A*{name}"
    try:
        r = matcalc.diff(text, name, vars={name: "vector"})
    except matcalc.ParseError as exc:   # not a name of the language: a clean error
        assert name in str(exc) and name.startswith("_")
        return
    code = r.numpy_code(check=True)
    module = load(code, tmp_path, "injected")
    x = np.array([1.0, 2.0])
    A = np.array([[2.0, 1.0], [0.0, 3.0]])
    params = list(inspect.signature(module.f).parameters)
    value, g = module.f(*[A if p.startswith("A") else x for p in params])
    assert np.isclose(value, x @ A @ x) and np.allclose(g, (A + A.T) @ x)


@pytest.mark.parametrize("text", ["x'*x; import os", "x'*x\"", "__import__('os')",
                                  "ｘ'*x", "x'*x # comment", "x'*x\nimport os"])
def test_hostile_text_is_a_clean_error(text):
    with pytest.raises(matcalc.MatcalcError) as info:
        matcalc.diff(text, "x")
    assert "^" in str(info.value)


def test_cli_numpy_format(capsys):
    from matcalc.cli import main
    assert main(["diff", "tr(A*X*B)", "X", "--format", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "import numpy as _np" in out and "def f(A, B, X):" in out


def test_a_function_named_like_a_builtin_stays_an_abstract_function(tmp_path):
    r = matcalc.diff("eval(x)", "x", vars={"eval": "function"})
    assert str(r) == "∇eval(x)"
    module = load(r.numpy_code(), tmp_path, "builtin_names")
    value, g = module.f(np.array([1.0, 2.0]), eval_=lambda u: float(u @ u),
                        eval_grad=lambda u: 2 * u)
    assert value == 5.0 and np.allclose(g, [2.0, 4.0])
    with pytest.raises(TypeError, match="eval_grad .the gradient of eval. must be a callable"):
        module.f(np.array([1.0, 2.0]), eval_=lambda u: float(u @ u))


def test_a_size_no_argument_has_is_a_clean_error():
    r = matcalc.diff("sum(x)*dim(q)", "x", vars={"x": "vector(n)"})
    with pytest.raises(matcalc.EvaluationError, match="no variable has the size q"):
        r.numpy_code()


@pytest.mark.parametrize("backend, library", [("jax", "JAX"), ("torch", "PyTorch")])
def test_a_backend_without_its_library_says_which_extra_to_install(backend, library,
                                                                    monkeypatch):
    import sys
    for name in ("jax", "jax.numpy", "torch"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    r = matcalc.diff("x'*A*x", "x")
    with pytest.raises(matcalc.EvaluationError, match=rf"^the {backend} function needs "
                       rf"{library}, which is not installed: pip install "
                       rf"'matcalc\[{backend}\]'"):
        r.function(backend)
    assert "import" in r.jax_code() and "import" in r.torch_code()  # the source still is
