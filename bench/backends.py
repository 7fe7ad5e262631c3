"""NumPy, JAX and PyTorch behind one small interface, for the numeric groups.

A hand-written reference is written once against :class:`Backend` (``b.tanh``,
``b.outer``, ``b.softplus``, ...) and runs on all three; a backend also converts
inputs, waits for a result (JAX is asynchronous), jit-compiles where that is how the
framework is used, and provides its autodiff (``jax.grad`` / ``jax.hessian``,
``torch.autograd`` / ``torch.func.hessian``).  matcalc's generated code for a backend
is loaded from the source that matcalc prints (``r.numpy_code()``, and ``r.jax_code()``
/ ``r.torch_code()`` where the engine has them).  That source is matcalc's own output,
never user text; it is compiled into a fresh namespace.
"""
from __future__ import annotations

from typing import Callable

from .harness import Config, load_peer


class Backend:
    name = "numpy"
    label = "NumPy"

    def __init__(self, module):
        self.m = module

    # -- the few operations the references need --
    def tanh(self, a):
        return self.m.tanh(a)

    def exp(self, a):
        return self.m.exp(a)

    def outer(self, a, b):
        return self.m.outer(a, b)

    def sigmoid(self, a):
        return 1.0 / (1.0 + self.m.exp(-a))

    def softplus(self, a):
        return self.m.logaddexp(0.0, a)

    def column(self, v):
        return v[:, None]

    def matvec(self, m, v):
        """``m @ v``, in the form this framework's autodiff handles best."""
        return m @ v

    # -- plumbing --
    def convert(self, values: dict) -> dict:
        return dict(values)

    def to_numpy(self, a):
        import numpy as np
        return np.asarray(a, dtype=float)

    def sync(self, out):
        return out

    def jit(self, fn: Callable) -> Callable:
        return fn


class JaxBackend(Backend):
    name = "jax"
    label = "JAX"

    def __init__(self, jax):
        import jax.numpy as jnp
        super().__init__(jnp)
        self.jax = jax

    def convert(self, values):
        return {k: self.jax.device_put(self.m.asarray(v)) for k, v in values.items()}

    def sync(self, out):
        return self.jax.block_until_ready(out)

    def jit(self, fn):
        return self.jax.jit(fn)

    def grad(self, loss: Callable, names: list[str], wrt: str) -> Callable:
        """jit(value_and_grad) of ``loss(**values)`` w.r.t. one input."""
        i = names.index(wrt)
        g = self.jax.jit(self.jax.value_and_grad(lambda *a: loss(**dict(zip(names, a))),
                                                 argnums=i))
        return lambda values: g(*(values[n] for n in names))

    def hessian(self, loss: Callable, names: list[str], wrt: str) -> Callable:
        """jit(jax.hessian) of ``loss(**values)`` w.r.t. one input."""
        i = names.index(wrt)
        h = self.jax.jit(self.jax.hessian(lambda *a: loss(**dict(zip(names, a))),
                                          argnums=i))
        return lambda values: h(*(values[n] for n in names))


class TorchBackend(Backend):
    name = "torch"
    label = "PyTorch"

    def __init__(self, torch):
        super().__init__(torch)

    def softplus(self, a):
        return self.m.nn.functional.softplus(a)

    def matvec(self, m, v):
        # torch.func batches a vector-matrix product 10-15 times faster than a
        # matrix-vector one (jax.grad is the other way round: it pays for m.T)
        return v @ m.T

    def sigmoid(self, a):
        return self.m.sigmoid(a)

    def convert(self, values):
        return {k: self.m.as_tensor(v, dtype=self.m.float64) for k, v in values.items()}

    def to_numpy(self, a):
        import numpy as np
        return np.asarray(a.detach().numpy() if hasattr(a, "detach") else a, dtype=float)

    def grad(self, loss: Callable, names: list[str], wrt: str) -> Callable:
        """torch.autograd: the loss and its gradient w.r.t. one input."""
        def value_and_grad(values):
            x = values[wrt].detach().requires_grad_(True)
            value = loss(**{**values, wrt: x})
            (g,) = self.m.autograd.grad(value, x)
            return value.detach(), g
        return value_and_grad

    def hessian(self, loss: Callable, names: list[str], wrt: str) -> Callable:
        """torch.func.hessian of the loss w.r.t. one input."""
        from torch.func import hessian

        def h(values):
            return hessian(lambda x: loss(**{**values, wrt: x}))(values[wrt])
        return h


def backends(config: Config, numpy_only: bool = False) -> list[Backend]:
    """NumPy, then JAX and PyTorch when they are installed (float64 throughout)."""
    import numpy
    out: list[Backend] = [Backend(numpy)]
    if numpy_only:
        return out
    jax = load_peer("jax", config)
    if jax is not None:
        out.append(JaxBackend(jax))
    torch = load_peer("torch", config)
    if torch is not None:
        out.append(TorchBackend(torch))
    return out


def to_numpy_tree(backend: Backend, out):
    """A result (or a tuple of results) as NumPy arrays."""
    if isinstance(out, (tuple, list)):
        return type(out)(to_numpy_tree(backend, o) for o in out)
    return backend.to_numpy(out)


CODE_METHODS = {"numpy": "numpy_code", "jax": "jax_code", "torch": "torch_code"}


def generated_function(result, backend: Backend, values: dict,
                       config: Config) -> Callable | None:
    """matcalc's generated function for this backend, taking the values as a dict, or
    None (with a message) when matcalc does not generate code for it.  JAX code is
    jit-compiled when it can be (checked with one call on ``values``)."""
    method = getattr(result, CODE_METHODS[backend.name], None)
    if method is None:
        config.skip(f"matcalc has no Result.{CODE_METHODS[backend.name]}(): generated "
                    f"{backend.label} code is not measured")
        return None
    source = method()
    namespace: dict = {}
    # matcalc's own output (the names in it are checked identifiers), not user text
    exec(compile(source, f"<matcalc {backend.name} code>", "exec"), namespace)  # noqa: S102
    fn = namespace["f"]
    if backend.name == "jax":
        jitted = backend.jit(fn)
        try:
            backend.sync(jitted(**values))
            fn = jitted
        except Exception as exc:
            config.skip(f"matcalc's generated JAX code does not jit "
                        f"({type(exc).__name__}); it is timed eagerly")
    return lambda v: fn(**v)
