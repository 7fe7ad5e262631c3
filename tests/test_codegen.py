"""Generated NumPy code gives the same numbers as the engine's own evaluation, and a
user's names cannot inject code into it."""
from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

import matcalc
from matcalc.numeric import Evaluator, dims_of, draw_points


def load(code: str, tmp_path, name="generated"):
    """Import the generated module from a file, as a user would."""
    path = tmp_path / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def point(r, seed=0):
    rng = np.random.default_rng(seed)
    (p,) = draw_points(r.function, dict(r.variables), r.functions, rng, 1,
                       extra_dims=dims_of(r.expr))
    return p.values


CASES = [
    (matcalc.diff, "g(W*x+b)", "W", {}),
    (matcalc.diff, "x'*S*x + lam*norm2(x)^2", "x", {"S": "symmetric", "lam": "scalar"}),
    (matcalc.diff, "logdet(X) + tr(A*inv(X))", "X", {}),
    (matcalc.diff, "sum(relu(W2*tanh(W1*x)))", "W1", {}),
    (matcalc.jacobian, "softmax(A*x)", "x", {}),
    (matcalc.jacobian, "A*X*B", "X", {}),
    (matcalc.hessian, "sum(log(vector(1)+exp(X*w))) - y'*X*w", "w", {}),
    (matcalc.hessian, "logdet(X)", "X", {}),
    (matcalc.hessian, "g(W*x+b)", "x", {}),
]


@pytest.mark.parametrize("compute, expression, wrt, decls", CASES)
def test_generated_code_matches_evaluation(compute, expression, wrt, decls, tmp_path):
    r = compute(expression, wrt, vars=decls)
    module = load(r.numpy_code(), tmp_path)
    values = point(r)
    args = {k: v for k, v in values.items() if k in r.variables}
    for fname in r.functions:
        args[fname] = values[fname]
        args[fname + "_grad"] = values["∇" + fname]
        if any(n.order == 2 for n in matcalc.expr.walk(r.expr)
               if isinstance(n, matcalc.expr.Abstract)):
            args[fname + "_hess"] = values["∇²" + fname]
    import inspect
    params = inspect.signature(module.f).parameters
    value, derivative = module.f(**{k: v for k, v in args.items() if k in params})
    expected_value = Evaluator(values, r.variables)(r.function)
    assert np.allclose(np.asarray(value).reshape(-1), expected_value.reshape(-1))
    assert np.allclose(derivative, r.evaluate(values))


def test_logistic_hessian_code_never_builds_the_diagonal():
    code = matcalc.hessian("sum(log(vector(1)+exp(X*w))) - y'*X*w", "w").numpy_code()
    body = code.split("def f(")[1].split('"""')[-1]          # after the docstring
    scaled = re.search(r"(_t\d+) = _t\d+ \* X\n", body).group(1)   # d * X: rows scaled
    assert "diag" not in body and f"X.T @ {scaled}" in body


@pytest.mark.parametrize("name", ["lambda", "import", "def", "np", "print", "sum_",
                                  "exec", "__import__", "os", "f"])
def test_user_names_cannot_inject_code(name, tmp_path):
    text = f"{name}'*A*{name}"
    try:
        r = matcalc.diff(text, name, vars={name: "vector"})
    except matcalc.ParseError as exc:   # not a name of the language: a clean error
        assert name in str(exc) and name.startswith("_")
        return
    code = r.numpy_code()
    module = load(code, tmp_path, "injected")
    x = np.array([1.0, 2.0])
    A = np.array([[2.0, 1.0], [0.0, 3.0]])
    import inspect
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
