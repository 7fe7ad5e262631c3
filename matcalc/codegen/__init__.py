"""Generated code: NumPy, JAX and PyTorch functions returning a value and its derivatives.

One plan (:mod:`matcalc.codegen.plan`) is built from the expressions: the temporaries in
evaluation order, each shared node once, the cheapest order of each matrix product,
diagonal matrices as scalings, ``inv(A)*B`` as ``solve(A, B)``, the commutation matrix
as a permutation.  Each backend prints that plan (:mod:`.numpy`, :mod:`.jax`,
:mod:`.torch`, over the shared :mod:`.printer`), and ``evaluate`` runs the same plan
with the same kernels (:func:`matcalc.codegen.numpy.execute`).

>>> import matcalc
>>> f = build_function(matcalc.diff("x'*A*x", "x"))
>>> value, gradient = f([[2.0, 1.0], [0.0, 3.0]], [1.0, 2.0])
>>> float(value), gradient.tolist()
(16.0, [6.0, 13.0])
"""
from __future__ import annotations

import hashlib
import linecache

from ..errors import EvaluationError
from .jax import jax_code
from .numpy import numpy_code
from .printer import python_name
from .torch import torch_code

#: the code generators by backend name
BACKENDS = {"numpy": numpy_code, "jax": jax_code, "torch": torch_code}


def generate(result, backend: str = "numpy", function_name: str = "f",
             check: bool = False) -> str:
    """The source of a module for ``backend`` (``numpy``, ``jax`` or ``torch``)."""
    if backend not in BACKENDS:
        raise ValueError(f"no code generator for {backend!r}: choose one of "
                         f"{', '.join(BACKENDS)}")
    if not function_name.isidentifier() or function_name.startswith("_"):
        raise ValueError(f"{function_name!r} cannot name the generated function")
    return BACKENDS[backend](result, function_name, check)


def build_function(result, backend: str = "numpy", function_name: str = "f"):
    """The generated function itself, ready to call (its module is the source that
    :func:`generate` returns, compiled into a fresh namespace)."""
    source = generate(result, backend, function_name)
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<matcalc {backend} code {digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": f"matcalc_generated_{backend}_{digest}"}
    # The one place matcalc runs code: the module that this package printed from the
    # expression tree, with names sanitised by python_name and texts as escaped
    # literals.  No user text reaches it as code (tests/test_injection.py checks this).
    try:
        exec(compile(source, filename, "exec"), namespace)
    except ModuleNotFoundError as exc:  # the backend's library: an optional extra
        library = {"jax": "JAX", "torch": "PyTorch"}.get(backend, exc.name)
        raise EvaluationError(f"the {backend} function needs {library}, which is not "
                              f"installed: pip install 'matcalc[{backend}]'") from None
    return namespace[function_name]


__all__ = ["BACKENDS", "build_function", "generate", "jax_code", "numpy_code",
           "python_name", "torch_code"]
