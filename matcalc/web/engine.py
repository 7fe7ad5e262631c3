"""The web page's requests, answered with matcalc's public API.

This is what a worker process runs (see :mod:`matcalc.web.workers`); it is plain,
synchronous and never raises: every answer is ``(http_status, json_dict)``.  It uses
only the public API, and the features that the engine gains over time (the JAX and
PyTorch generators, several variables, mixed Hessians) are picked up when they are
there.

>>> status, answer = handle({"op": "diff", "input": "tr(A*X*B)", "wrt": "X"})
>>> status, answer["result"]["text"]
(200, "A'*B'")
>>> handle({"op": "diff", "input": "x*A", "wrt": "x"})[1]["error"]["span"]
[1, 2]
"""
from __future__ import annotations

import math

import matcalc

#: what a request may ask for, and the API function that answers it
KINDS = ("gradient", "jacobian", "hessian")

#: code generators by backend name, as ``Result`` methods
BACKENDS = {"numpy": "numpy_code", "jax": "jax_code", "torch": "torch_code"}

#: the HTTP status of an error that matcalc raised about the input
ERROR_STATUS = 422


def available_backends() -> list[str]:
    """The code generators that this version of the engine has.

    >>> "numpy" in available_backends()
    True
    """
    return [name for name, method in BACKENDS.items() if hasattr(matcalc.Result, method)]


def handle(task: dict) -> tuple[int, dict]:
    """Answer one request (already checked for its form by the app).

    ``task["op"]`` is ``inspect`` or ``diff``; a ``diff`` task has ``kind``
    (gradient, jacobian or hessian), ``wrt`` (a name or a list of names), ``vars``,
    and the flags ``check`` and ``code``.
    """
    try:
        if task["op"] == "inspect":
            return 200, jsonable(matcalc.inspect(task["input"], vars=task.get("vars") or None))
        return 200, jsonable(derivative(task))
    except matcalc.MatcalcError as exc:
        return ERROR_STATUS, failure(task, exc.to_json())
    except Exception as exc:  # an engine bug: an answer that asks for a report, no traceback
        return 500, failure(task, internal_error(exc))


def derivative(task: dict) -> dict:
    """The JSON of ``matcalc --format json`` for the task, with generated code."""
    kind = task.get("kind", "gradient")
    wrt = task["wrt"]
    result = compute(kind, task["input"], wrt, task.get("vars") or {})
    report, check_error = None, None
    if task.get("check"):
        try:
            report = result.check()
        except matcalc.MatcalcError as exc:  # the derivative stands; only its check failed
            check_error = exc.to_json()
    answer = result.to_json(report)
    if check_error is not None:
        answer["check_error"] = check_error
    if task.get("code"):
        answer["code"] = generated_code(result)
    return answer


def compute(kind: str, expression: str, wrt, vars: dict):
    """Call the API function of ``kind``; a list of names asks for several variables
    (gradients) or a mixed block (a Hessian of two variables)."""
    function = getattr(matcalc, kind)
    if isinstance(wrt, str) or len(wrt) == 1:
        return function(expression, wrt if isinstance(wrt, str) else wrt[0], vars=vars)
    if kind == "hessian":
        if len(wrt) != 2:
            raise matcalc.ParseError("a Hessian takes one variable, or two for the mixed "
                                     "block (∂²f/∂x∂y)")
        try:
            return function(expression, wrt[0], wrt[1], vars=vars)
        except TypeError:  # an engine without mixed Hessians
            raise matcalc.NotDifferentiableError(
                "this version of matcalc computes Hessians with respect to one variable "
                "only") from None
    return function(expression, list(wrt), vars=vars)


def generated_code(result) -> dict:
    """Source for each backend the engine can generate, or the error it gave."""
    code = {}
    for name, method in BACKENDS.items():
        generate = getattr(result, method, None)
        if generate is None:
            continue
        try:
            code[name] = {"source": generate()}
        except matcalc.MatcalcError as exc:
            code[name] = {"error": exc.to_json()}
    return code


def failure(task: dict, error: dict) -> dict:
    """The JSON of a failed request: what was asked, and the error (CLI's shape)."""
    answer = {"input": task.get("input")}
    if task.get("op") != "inspect":
        answer.update(wrt=task.get("wrt"), kind=task.get("kind", "gradient"))
    answer.update(vars=task.get("vars") or {}, error=error)
    return answer


def internal_error(exc: BaseException) -> dict:
    return {"type": "InternalError",
            "message": f"internal error ({type(exc).__name__}); please report this input",
            "span": None, "caret": None}


def jsonable(value):
    """Plain JSON: tuples as lists, and NaN or infinite floats (which JSON cannot hold)
    as ``null``.

    >>> jsonable({"worst": float("nan"), "shape": ("n", 1)})
    {'worst': None, 'shape': ['n', 1]}
    """
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # a NumPy scalar (np.bool_ is not JSON)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def warm_up() -> None:
    """Answer one request of each kind, so that a worker's first real request does not
    pay for loading the engine's lazily imported parts."""
    handle({"op": "inspect", "input": "g(W*x+b)"})
    for kind in KINDS:
        handle({"op": "diff", "kind": kind, "input": "norm2(W*x+b)^2", "wrt": "x",
                "check": True, "code": True})
