"""Generated NumPy, JAX and PyTorch code, each loaded from a written file as a user would
paste it: every worked example against ``evaluate`` and finite differences; the seed,
the logistic-regression Hessian and a two-layer MLP against hand-written functions and
their central differences; clear errors for wrong shapes (the batch mistake), asymmetric
and singular inputs; dtypes kept; ``jax.jit``; PyTorch on another device.

JAX and PyTorch tests skip, with the reason in pytest's header and summary, where the
package is missing (``pip install "jax[cpu]" torch``; .ci/run installs both).
"""
from __future__ import annotations

import functools
import inspect
import os

import numpy as np
import pytest

import matcalc
from matcalc.numeric import dims_of, draw_points

from helpers import load_examples, load_generated as load

BACKENDS = ["numpy", "jax", "torch"]
EXAMPLES = load_examples()


def backend(name: str):
    """The array module of a backend (skipping when it is not installed, unless
    MATCALC_REQUIRE_JAX says that JAX must be there, as in .ci/run)."""
    if name == "jax":
        if os.environ.get("MATCALC_REQUIRE_JAX"):
            import jax
        else:
            jax = pytest.importorskip("jax", reason="JAX is not installed: pip install "
                                      "'jax[cpu]' to test the generated JAX code")
        jax.config.update("jax_enable_x64", True)   # float64, to compare with differences
        return pytest.importorskip("jax.numpy")
    if name == "torch":
        return pytest.importorskip("torch", reason="PyTorch is not installed: pip install "
                                   "torch to test the generated PyTorch code")
    return np


def generated(result, name: str, tmp_path, check: bool = False):
    backend(name)
    code = getattr(result, f"{name}_code")(check=check)
    return load(code, tmp_path, f"generated_{name}")


def numbers(a) -> np.ndarray:
    return np.asarray(a, dtype=float)


def central_differences(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d x entry by entry (f of an array, scalar- or array-valued)."""
    out = []
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[idx] = h
        out.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * h))
    return np.moveaxis(np.array(out).reshape(x.shape + np.shape(f(x))), range(x.ndim),
                       range(-x.ndim, 0)) if np.ndim(f(x)) else np.array(out).reshape(x.shape)


# every worked example, every backend ----------------------------------------------

@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_every_example(name, example, tmp_path):
    r = getattr(matcalc, example["kind"])(example["expr"], example["wrt"],
                                          vars=example["vars"])
    module = generated(r, name, tmp_path, check=True)
    rng = np.random.default_rng(0)
    (p,) = draw_points(r.differentiated, dict(r.variables), r.functions, rng, 1,
                       extra_dims=dims_of(r.expr))
    params = inspect.signature(module.f).parameters
    args = {k: v for k, v in p.values.items() if k in params}
    if name == "jax":                       # one compilation, not one per operation
        import jax
        module.f = jax.jit(module.f)
    value, derivative = module.f(**args)
    assert np.allclose(numbers(derivative), r.evaluate(p.values), rtol=1e-9, atol=1e-9)
    assert numbers(derivative).shape == np.shape(r.evaluate(p.values))
    # central differences of the generated function's own value, along a random direction
    assert module.check_f(**args) < 1e-6


# the three functions of the issue ---------------------------------------------------

def seed_values(rng):
    W, x, b = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    return W, x, b


@pytest.mark.parametrize("name", BACKENDS)
def test_the_seed_with_a_concrete_g(name, tmp_path):
    xp = backend(name)
    module = generated(matcalc.diff("g(W*x+b)", "W"), name, tmp_path)
    W, x, b = seed_values(np.random.default_rng(1))

    def g(u):   # a concrete g: sum(sin(u)) + |u|^2/2, written for the backend's arrays
        return xp.sum(xp.sin(u)) + 0.5 * xp.sum(u * u)

    def g_np(u):
        return np.sum(np.sin(u)) + 0.5 * np.sum(u * u)

    value, G = module.f(W, b, x, g, lambda u: xp.cos(u) + u)
    assert np.isclose(float(value), g_np(W @ x + b))
    expected = central_differences(lambda M: g_np(M @ x + b), W)
    assert G.shape == W.shape and np.allclose(numbers(G), expected, atol=1e-7)
    if name != "numpy":                              # g_grad by automatic differentiation
        assert np.allclose(numbers(module.f(W, b, x, g)[1]), expected, atol=1e-7)
    with pytest.raises(ValueError) as info:          # the batch mistake
        module.f(W, b, np.ones((5, 4)), g, lambda u: xp.cos(u) + u)
    assert str(info.value) == ("x must be a vector of length m (here m = 4 from W), got "
                               "an array of shape (5, 4)")


LOGISTIC = "sum(log(vector(1)+exp(X*w))) - y'*X*w"


def logistic_values(rng, n=7, m=3):
    return rng.standard_normal((n, m)), rng.standard_normal(m), \
        (rng.random(n) < 0.5).astype(float)


def logistic_loss(X, w, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z)) - y @ z


@pytest.mark.parametrize("name", BACKENDS)
def test_the_logistic_regression_hessian(name, tmp_path):
    backend(name)
    module = generated(matcalc.hessian(LOGISTIC, "w"), name, tmp_path)
    X, w, y = logistic_values(np.random.default_rng(2))
    value, H = module.f(X, w, y)
    assert np.isclose(float(value), logistic_loss(X, w, y))
    gradient = lambda v: central_differences(lambda u: logistic_loss(X, u, y), v, 1e-5)
    assert H.shape == (3, 3)
    assert np.allclose(numbers(H), central_differences(gradient, w, 1e-4), atol=1e-5)
    s = 1 / (1 + np.exp(-X @ w))                    # and the closed form
    assert np.allclose(numbers(H), X.T @ ((s * (1 - s))[:, None] * X))
    with pytest.raises(ValueError, match=r"w must be a vector of length m \(here m = 3 "
                                         r"from X\), got an array of shape \(4, 3\)"):
        module.f(X, np.ones((4, 3)), y)


MLP = "norm2(W2*tanh(W1*x+b1) - y)^2"


def mlp_loss(W1, b1, W2, x, y):
    r = W2 @ np.tanh(W1 @ x + b1) - y
    return r @ r


@pytest.mark.parametrize("name", BACKENDS)
def test_the_two_layer_mlp_gives_the_value_and_three_gradients(name, tmp_path):
    backend(name)
    module = generated(matcalc.diff(MLP, ["W1", "b1", "W2"]), name, tmp_path, check=True)
    rng = np.random.default_rng(3)
    W1, b1, W2 = rng.standard_normal((4, 3)), rng.standard_normal(4), \
        rng.standard_normal((2, 4))
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    out = module.f(W1=W1, W2=W2, b1=b1, x=x, y=y)
    assert len(out) == 4
    value, gW1, gb1, gW2 = out
    assert np.isclose(float(value), mlp_loss(W1, b1, W2, x, y))
    for got, expected in [
            (gW1, central_differences(lambda a: mlp_loss(a, b1, W2, x, y), W1)),
            (gb1, central_differences(lambda a: mlp_loss(W1, a, W2, x, y), b1)),
            (gW2, central_differences(lambda a: mlp_loss(W1, b1, a, x, y), W2))]:
        assert got.shape == expected.shape and np.allclose(numbers(got), expected, atol=1e-6)
    assert module.check_f(W1=W1, W2=W2, b1=b1, x=x, y=y) < 1e-6     # all three gradients
    with pytest.raises(ValueError, match=r"x must be a vector of length k \(here k = 3 "
                                         r"from W1\), got an array of shape \(10, 3\)"):
        module.f(W1=W1, W2=W2, b1=b1, x=np.ones((10, 3)), y=y)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("text, x, y", [("x'*A*y + sum(exp(x.*y))", "x", "y"),
                                        ("tr(X*A*Y') + sum(exp(X))", "X", "Y")])
def test_mixed_hessians(name, text, x, y, tmp_path):
    r = matcalc.hessian(text, x, y)
    module = generated(r, name, tmp_path, check=True)
    (p,) = draw_points(r.differentiated, dict(r.variables), r.functions,
                       np.random.default_rng(7), 1)
    args = {k: p.values[k] for k in inspect.signature(module.f).parameters}
    value, H = module.f(**args)
    assert np.allclose(numbers(H), r.evaluate(p.values))
    assert module.check_f(**args) < 1e-6         # second differences in x and y


def test_several_variables_come_back_in_the_order_given(tmp_path):
    rs = matcalc.diff(MLP, ["W2", "b1"])
    module = load(rs.numpy_code(), tmp_path, "order")
    rng = np.random.default_rng(4)
    W1, b1, W2, x, y = (rng.standard_normal((4, 3)), rng.standard_normal(4),
                        rng.standard_normal((2, 4)), rng.standard_normal(3),
                        rng.standard_normal(2))
    value, gW2, gb1 = module.f(W1=W1, W2=W2, b1=b1, x=x, y=y)
    assert gW2.shape == (2, 4) and gb1.shape == (4,)


# clear errors ----------------------------------------------------------------------

SHAPE_ERRORS = [
    # expression, wrt, declarations, arguments, message
    ("W*x + b", None, {}, dict(W=np.ones(3), b=np.ones(3), x=np.ones(2)),
     "W must be a matrix of shape (n, m), got an array of shape (3,)"),
    ("W*x + b", None, {}, dict(W=np.ones((3, 2)), b=np.ones(4), x=np.ones(2)),
     "b must be a vector of length n (here n = 3 from W), got an array of shape (4,)"),
    ("lam*norm2(x)^2", None, {"lam": "scalar"}, dict(lam=np.ones(2), x=np.ones(2)),
     "lam must be a scalar (a number or a 0-d array), got an array of shape (2,)"),
    ("logdet(X)", None, {}, dict(X=np.ones((2, 3))),
     "X must be a square matrix of shape (n, n), got an array of shape (2, 3)"),
    ("x'*x", None, {"x": "vector(3)"}, dict(x=np.ones(4)),
     "x must be a vector of length 3, got an array of shape (4,)"),
    ("A*x", None, {}, dict(A=np.ones((3, 2)), x=np.ones((2, 2))),
     "x must be a vector of length m (here m = 2 from A), got an array of shape (2, 2)"),
]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("text, wrt, decls, args, message", SHAPE_ERRORS,
                         ids=[m.split(" must")[0] for *_, m in SHAPE_ERRORS])
def test_wrong_shapes_are_clear_errors(name, text, wrt, decls, args, message, tmp_path):
    e = matcalc.parse(text, vars=decls)
    variable = wrt or sorted(matcalc.expr.free_vars(e))[-1]
    compute = matcalc.jacobian if not e.is_scalar else matcalc.diff
    module = generated(compute(text, variable, vars=decls), name, tmp_path)
    with pytest.raises(ValueError) as info:
        module.f(**args)
    assert str(info.value) == message


@pytest.mark.parametrize("name", BACKENDS)
def test_a_column_is_accepted_as_a_vector(name, tmp_path):
    module = generated(matcalc.diff("x'*A*x", "x"), name, tmp_path)
    A, x = np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([1.0, 2.0])
    value, gradient = module.f(A, x.reshape(2, 1))
    assert gradient.shape == (2,) and np.allclose(numbers(gradient), (A + A.T) @ x)


@pytest.mark.parametrize("name", BACKENDS)
def test_an_asymmetric_argument_declared_symmetric_is_refused(name, tmp_path):
    module = generated(matcalc.diff("x'*S*x", "x", vars={"S": "symmetric"}), name, tmp_path)
    S, x = np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([1.0, 2.0])
    assert np.allclose(numbers(module.f(S + 1e-13 * np.eye(2)[::-1] * [1, -1], x)[1]),
                       2 * S @ x)                     # within the tolerance
    with pytest.raises(ValueError) as info:
        module.f(np.array([[2.0, 1.0], [0.5, 3.0]]), x)
    assert "S is declared symmetric, but S - S.T has an entry of size 0.5" in str(info.value)


@pytest.mark.parametrize("name", BACKENDS)
def test_a_singular_matrix_is_a_clear_error(name, tmp_path):
    module = generated(matcalc.diff("x'*inv(A)*x", "x"), name, tmp_path)
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(ValueError, match="^A is singular at this point"):
        module.f(singular, np.array([1.0, 1.0]))
    if name == "jax":       # under jit the values are unknown while tracing: inf/nan
        import jax
        value, gradient = jax.jit(module.f)(singular, np.array([1.0, 1.0]))
        assert not np.all(np.isfinite(numbers(gradient)))


# dtypes, jit, devices -----------------------------------------------------------------

@pytest.mark.parametrize("name", BACKENDS)
def test_float32_in_float32_out(name, tmp_path):
    xp = backend(name)
    rs = matcalc.diff("lam*norm2(W2*tanh(W1*x+b1) - y)^2", ["W1", "b1"],
                      vars={"lam": "scalar"})
    module = generated(rs, name, tmp_path)
    rng = np.random.default_rng(5)
    args = dict(W1=rng.standard_normal((4, 3)), b1=rng.standard_normal(4),
                W2=rng.standard_normal((2, 4)), x=rng.standard_normal(3),
                y=rng.standard_normal(2))
    single = {k: xp.asarray(v.astype(np.float32)) if name != "torch" else
              xp.tensor(v, dtype=xp.float32) for k, v in args.items()}
    out32 = module.f(lam=0.5, **single)                  # a Python number adapts
    assert all(str(o.dtype).endswith("float32") for o in out32), [o.dtype for o in out32]
    out64 = module.f(lam=0.5, **args)
    assert all(str(o.dtype).endswith("float64") for o in out64)
    for a, b in zip(out32, out64):
        assert np.allclose(numbers(a), numbers(b), rtol=1e-4, atol=1e-4)


def test_jax_jit_gives_the_same_numbers(tmp_path):
    backend("jax")
    import jax
    module = generated(matcalc.hessian(LOGISTIC, "w"), "jax", tmp_path)
    X, w, y = logistic_values(np.random.default_rng(6))
    plain, jitted = module.f(X, w, y), jax.jit(module.f)(X, w, y)
    assert all(np.allclose(numbers(a), numbers(b)) for a, b in zip(plain, jitted))
    seed = generated(matcalc.diff("g(W*x+b)", "W"), "jax", tmp_path)
    W, x, b = seed_values(np.random.default_rng(1))
    g = lambda u: jax.numpy.sum(jax.numpy.sin(u))
    jitted = jax.jit(functools.partial(seed.f, g=g))         # g_grad by jax.grad
    assert np.allclose(numbers(jitted(W, b, x)[1]),
                       np.outer(np.cos(W @ x + b), x))
    with pytest.raises(ValueError, match="x must be a vector"):   # checked while tracing
        jitted(W, b, np.ones((5, 4)))


def test_torch_code_keeps_to_the_arguments_device(tmp_path):
    torch = backend("torch")
    # the meta device has no data: any constant made on the CPU would fail to combine
    r = matcalc.diff("x'*inv(A)*x + sum(sigmoid(W*X + b)) + norm2(x)^2 + dim(n)", "x",
                     vars={"x": "vector(n)"})
    module = generated(r, "torch", tmp_path)
    meta = dict(A=torch.empty(3, 3, device="meta"), W=torch.empty(2, 4, device="meta"),
                X=torch.empty(4, 5, device="meta"), b=torch.empty(2, device="meta"),
                x=torch.empty(3, device="meta"))
    value, gradient = module.f(**meta)
    assert value.device.type == gradient.device.type == "meta" and gradient.shape == (3,)


# the module ------------------------------------------------------------------------------

IMPORTS = {"numpy": ["import numpy as _np"],
           "jax": ["import jax as _jax", "import jax.numpy as _jnp", "import numpy as _np"],
           "torch": ["import torch as _torch"]}


@pytest.mark.parametrize("name", BACKENDS)
def test_the_module_imports_only_its_backend(name):
    code = getattr(matcalc.diff("sum(erf(W*x))", "W"), f"{name}_code")()
    imports = [line for line in code.splitlines() if line.startswith(("import ", "from "))]
    assert [i for i in imports if i != "import math as _math"] == IMPORTS[name]
    assert "matcalc" not in "\n".join(imports)


@pytest.mark.parametrize("name", BACKENDS)
def test_the_check_helper_catches_a_wrong_derivative(name, tmp_path):
    backend(name)
    module = generated(matcalc.diff("sum(exp(A*x))", "x"), name, tmp_path, check=True)
    A, x = np.array([[1.0, 2.0], [3.0, 1.0]]), np.array([1.0, 0.5])
    assert module.check_f(A, x) < 1e-7
    right = module.f
    module.f = lambda A, x: (right(A, x)[0], -right(A, x)[1])      # the sign wrong
    assert module.check_f(A, x) > 1.0


@pytest.mark.parametrize("name", BACKENDS)
def test_build_function(name):
    backend(name)
    f = matcalc.diff("x'*A*x", "x").function(name)
    value, gradient = f(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([1.0, 2.0]))
    assert np.isclose(float(value), 16.0) and np.allclose(numbers(gradient), [6.0, 13.0])


@pytest.mark.parametrize("fmt", ["numpy", "jax", "torch"])
def test_cli_formats_with_several_variables(fmt, capsys):
    from matcalc.cli import main
    assert main(["diff", MLP, "W1", "b1", "W2", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "def f(W1, W2, b1, x, y):" in out
    assert out.split("\ndef f(")[1].count("\n    return ") == 1


# every kernel, every backend ----------------------------------------------------------

KERNEL_CASES = [f"sum({f}(X))" for f in matcalc.expr.ELEMENTWISE] + [
    "tr(X)", "det(X)", "logdet(X)", "sum(inv(X))", "sum(diag(X))", "x'*diag(x)*x",
    "sum(sum(X, 1))", "sum(sum(X, 2))", "mean(X)", "max(X)", "min(X)", "norm1(X)",
    "norm2(X)", "sum(softmax(x).*x)", "sum(softmax(X, 1).*X)", "sum(softmax(X, 2).*X)",
    "logsumexp(x)", "sum(logsumexp(X, 1))", "sum(logsumexp(X, 2))", "sum(X^3)"]


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_every_kernel_computes_what_the_numpy_kernel_computes(name, tmp_path):
    backend(name)
    for i, text in enumerate(KERNEL_CASES):
        r = matcalc.diff(text, "X" if "X" in text else "x", vars={"X": "matrix(n,n)"})
        (p,) = draw_points(r.differentiated, dict(r.variables), r.functions,
                           np.random.default_rng(i), 1)
        module = load(getattr(r, f"{name}_code")(), tmp_path, f"kernel{i}_{name}")
        args = {k: p.values[k] for k in inspect.signature(module.f).parameters}
        value, derivative = module.f(**args)
        expected = load(r.numpy_code(), tmp_path, f"kernel{i}_numpy").f(**args)
        assert np.allclose(float(value), float(expected[0]), rtol=1e-12), text
        assert np.allclose(numbers(derivative), expected[1], rtol=1e-10, atol=1e-12), text
