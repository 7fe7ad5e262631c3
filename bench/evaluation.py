"""Evaluation at the BLAS floor: matcalc's numbers against hand-written code.

For each case, at n = 2000, side by side in the same rounds:

* the hand-written reference, in NumPy (and in JAX, jitted, and PyTorch, when they are
  installed: the same code on each backend);
* ``r.evaluate(values)`` and matcalc's generated NumPy function (``r.numpy_code()``),
  and its generated JAX / PyTorch functions where the engine has ``r.jax_code()`` /
  ``r.torch_code()``;
* for information, the frameworks' own autodiff: ``jax.jit(jax.value_and_grad)`` and
  ``torch.autograd.grad``.

Every contender's derivative is checked against the hand-written NumPy one before it is
timed; a wrong answer is reported, never timed as a success.  Peak memory is measured
for each contender after the timing rounds (see the Memory section of the report).

The hand-written references are what a careful person writes: a vector times a matrix
as ``z @ W`` (not ``W.T @ z``, which costs JAX a transpose), a scalar applied to the
vector before an outer product.  The losses given to the autodiff peers write ``M @ v``
as ``b.matvec(M, v)``, which each backend spells in the form its autodiff handles best:
``torch.func`` batches ``v @ M.T`` 10-15 times faster than ``M @ v``, and ``jax.grad``
is the other way round.
"""
from __future__ import annotations

import gc
import json
import sys
from dataclasses import dataclass
from typing import Callable

from .backends import Backend, backends, generated_function, to_numpy_tree
from .harness import (MEMORY_ENV, Config, Contender, fmt_bytes, fmt_ratio, fmt_seconds,
                      interleave, metric, peak_memory, ratio, run_worker, summary)


@dataclass
class Case:
    name: str
    expression: str
    wrt: str
    kind: str                      # gradient or hessian
    inputs: Callable               # (numpy, rng, n) -> dict of NumPy values
    loss: Callable                 # (backend, **values) -> scalar
    reference: Callable            # (backend, **values) -> (value, derivative)
    title: str = ""


# --- the cases: a loss, and its derivative as a person would write it by hand -------

def _chain_inputs(np, rng, n):
    s = 1 / np.sqrt(n)
    return {"W1": rng.normal(size=(n, n)) * s, "W2": rng.normal(size=(n, n)) * s,
            "W3": rng.normal(size=(n, n)) * s, "x": rng.normal(size=n),
            "y": rng.normal(size=n)}


def _chain_loss(b, W1, W2, W3, x, y):
    z = b.matvec(W3, b.matvec(W2, b.matvec(W1, x))) - y
    return z @ z


def _chain_reference(b, W1, W2, W3, x, y):
    z = W3 @ (W2 @ (W1 @ x)) - y
    return z @ z, b.outer(2 * ((z @ W3) @ W2), x)


def _logistic_inputs(np, rng, n):
    rows = 2 * n
    return {"X": rng.normal(size=(rows, n)) / np.sqrt(n), "w": rng.normal(size=n),
            "y": (rng.random(rows) > 0.5).astype(float)}


def _logistic_loss(b, X, w, y):
    z = b.matvec(X, w)
    return b.softplus(z).sum() - z @ y


def _logistic_gradient(b, X, w, y):
    z = X @ w
    return b.softplus(z).sum() - y @ z, (b.sigmoid(z) - y) @ X


def _logistic_hessian(b, X, w, y):
    # the closed form as the issue states it: X.T @ (d[:, None] * X)
    z = X @ w
    s = b.sigmoid(z)
    return b.softplus(z).sum() - y @ z, X.T @ (b.column(s * (1 - s)) * X)


def _mlp_inputs(np, rng, n):
    s = 1 / np.sqrt(n)
    return {"W1": rng.normal(size=(n, n)) * s, "W2": rng.normal(size=(n, n)) * s,
            "b1": rng.normal(size=n), "x": rng.normal(size=n), "y": rng.normal(size=n)}


def _mlp_loss(b, W1, W2, b1, x, y):
    z = b.matvec(W2, b.tanh(b.matvec(W1, x) + b1)) - y
    return z @ z


def _mlp_reference(b, W1, W2, b1, x, y):
    h = b.tanh(W1 @ x + b1)
    z = W2 @ h - y
    return z @ z, b.outer(2 * ((z @ W2) * (1 - h * h)), x)


LOGISTIC = "sum(log(vector(1)+exp(X*w))) - y'*X*w"

CASES = [
    Case("chain", "norm2(W3*W2*W1*x-y)^2", "W1", "gradient", _chain_inputs, _chain_loss,
         _chain_reference, "gradient of norm2(W3*W2*W1*x-y)^2 w.r.t. W1"),
    Case("logistic_grad", LOGISTIC, "w", "gradient", _logistic_inputs, _logistic_loss,
         _logistic_gradient, "logistic regression gradient (X is 2n×n)"),
    Case("logistic_hess", LOGISTIC, "w", "hessian", _logistic_inputs, _logistic_loss,
         _logistic_hessian, "logistic regression Hessian (X is 2n×n)"),
    Case("mlp_grad", "norm2(W2*tanh(W1*x+b1) - y)^2", "W1", "gradient", _mlp_inputs,
         _mlp_loss, _mlp_reference, "two-layer MLP gradient w.r.t. W1"),
]


# --- measuring one case --------------------------------------------------------------

@dataclass
class Entry:
    """A contender of a numeric case."""
    name: str
    backend: Backend
    role: str                      # reference, matcalc, peer, unit
    call: Callable                 # (values) -> result
    values: dict
    derivative: Callable = lambda out: out[1]  # picks the derivative from the result
    first_call: float | None = None
    first_output: object = None

    def run(self):
        return self.backend.sync(self.call(self.values))


def matcalc_result(case: Case):
    import matcalc
    compute = matcalc.hessian if case.kind == "hessian" else matcalc.gradient
    return compute(case.expression, case.wrt)


def build_entries(case: Case, n: int, config: Config, peers: str,
                  numpy_only: bool = False) -> tuple[list, dict]:
    """The contenders of a case at size n: references, matcalc, and (``peers``:
    "grad" or "hessian") the frameworks' autodiff."""
    import time

    import numpy as np
    rng = np.random.default_rng(0)
    values = case.inputs(np, rng, n)
    r = matcalc_result(case)
    entries = []
    names = sorted(values)
    for b in backends(config, numpy_only):
        v = b.convert(values)
        hand = b.jit(lambda vals, b=b: case.reference(b, **vals))
        entries.append(Entry(f"hand-written {b.label}", b, "reference", hand, v))
        if b.name == "numpy":
            entries.append(Entry("matcalc r.evaluate", b, "matcalc",
                                 lambda vals: r.evaluate(vals), v, lambda out: out))
            if case.name == "logistic_hess":
                entries.append(Entry("X.T @ X (syrk, the floor)", b, "unit",
                                     lambda vals: vals["X"].T @ vals["X"], v, None))
        gen = generated_function(r, b, v, config)
        if gen is not None:
            entries.append(Entry(f"matcalc generated {b.label}", b, "matcalc", gen, v))
        if b.name != "numpy" and peers:
            loss = lambda b=b, **vals: case.loss(b, **vals)  # noqa: E731
            if peers == "hessian":
                label = "jax.jit(jax.hessian)" if b.name == "jax" else "torch.func.hessian"
                entries.append(Entry(label, b, "peer", b.hessian(loss, names, case.wrt),
                                     v, lambda out: out))
            else:
                label = ("jax.jit(jax.value_and_grad)" if b.name == "jax"
                         else "torch.autograd.grad")
                entries.append(Entry(label, b, "peer", b.grad(loss, names, case.wrt), v))
    for e in entries:  # the first call compiles (JAX) or warms up: timed on its own
        start = time.perf_counter()
        e.first_output = e.run()
        e.first_call = time.perf_counter() - start
    return entries, values


def check(entries: list[Entry]) -> dict:
    """name -> "ok", "n/a" or "WRONG (...)": each derivative against hand-written NumPy."""
    import numpy as np
    want = np.asarray(entries[0].derivative(entries[0].first_output), dtype=float)
    out = {}
    for e in entries:
        if e.derivative is None:
            out[e.name] = "n/a"
            continue
        got = to_numpy_tree(e.backend, e.derivative(e.first_output))
        got = np.asarray(got, dtype=float).reshape(want.shape) if np.size(got) == want.size \
            else got
        if np.shape(got) == want.shape and np.allclose(got, want, rtol=1e-6,
                                                       atol=1e-8 * np.abs(want).max()):
            out[e.name] = "ok"
        else:
            err = "shape" if np.shape(got) != want.shape else \
                f"max error {np.abs(got - want).max():.2g}"
            out[e.name] = f"WRONG ({err})"
    return out


def measure(case: Case, n: int, config: Config, rounds: int, peers: str = "",
            with_memory: bool = True) -> dict:
    """Time every contender of the case at size n, interleaved; then (in a fresh
    process) their peak memory."""
    entries, _ = build_entries(case, n, config, peers)
    verdicts = check(entries)
    for e in entries:
        e.first_output = None  # free it before timing
    timed = [e for e in entries if not verdicts[e.name].startswith("WRONG")]
    samples = interleave([Contender(e.name, e.run) for e in timed], rounds, warmup=0)
    stats = {}
    for e in entries:
        stats[e.name] = {"backend": e.backend.name, "role": e.role,
                         "time": summary(samples.get(e.name, [])),
                         "first_call": e.first_call, "check": verdicts[e.name],
                         "samples": samples.get(e.name, [])}
    del entries, timed
    memory = measure_memory(case, n, peers, numpy_only=config.quick) if with_memory else {}
    for name, c in stats.items():
        c["memory"] = memory.get(name, {"tracemalloc": None, "rss": None})
    return {"case": case.name, "n": n, "contenders": stats,
            "memory_note": memory.get("note", "" if with_memory else "not measured")}


def measure_memory(case: Case, n: int, peers: str, numpy_only: bool = False) -> dict:
    """Peak memory of every contender, measured in a fresh process (see MEMORY_METHOD);
    ``numpy_only`` (the quick run) leaves out JAX and PyTorch, which take seconds to
    import."""
    out = run_worker("evaluation", [case.name, str(n), peers or "none"]
                     + (["--numpy-only"] if numpy_only else []), 1800.0, env=MEMORY_ENV)
    if "contenders" not in out:
        return {"note": out.get("note", "memory worker failed")}
    return out["contenders"]


def memory_worker(argv: list[str]) -> int:
    """``python -m bench.evaluation --worker CASE N PEERS [--numpy-only]``: peak memory
    of each contender, as JSON."""
    from . import hessians
    name, n, peers = argv[0], int(argv[1]), argv[2]
    case = next(c for c in CASES + hessians.CASES if c.name == name)
    config = Config(verbose=False)
    entries, _ = build_entries(case, n, config, "" if peers == "none" else peers,
                               numpy_only="--numpy-only" in argv[3:])
    for e in entries:
        e.first_output = None
    gc.collect()
    print(json.dumps({"contenders": {e.name: peak_memory(e.run) for e in entries}}))
    return 0


def median_of(m: dict, name: str):
    c = m["contenders"].get(name)
    return None if c is None else c["time"]["median"]


def fastest_of(m: dict, name: str):
    c = m["contenders"].get(name)
    return None if c is None else c["time"]["min"]


def ratio_note(m: dict, name: str, reference: str) -> str:
    """The medians compared, and the ratio of the fastest calls: when the machine is
    busy, a large gap between the two ratios says how much the figures were disturbed."""
    return (f"{fmt_seconds(median_of(m, name))} vs {fmt_seconds(median_of(m, reference))}; "
            f"fastest calls {fmt_ratio(ratio(fastest_of(m, name), fastest_of(m, reference)))}")


def case_table(m: dict, unit: str) -> list[list[str]]:
    """Rows: contender, median, × hand-written (same backend), × ``unit``, memory."""
    rows = []
    for name, c in m["contenders"].items():
        same = next((k for k, o in m["contenders"].items()
                     if o["backend"] == c["backend"] and o["role"] == "reference"), None)
        numpy_mem = c["backend"] == "numpy"
        rows.append([name, fmt_seconds(c["time"]["median"]),
                     fmt_ratio(ratio(c["time"]["median"], median_of(m, same))),
                     fmt_ratio(ratio(c["time"]["median"], median_of(m, unit))),
                     fmt_seconds(c["first_call"]),
                     fmt_bytes(c["memory"]["tracemalloc"]) if numpy_mem else "n/a",
                     fmt_bytes(c["memory"]["rss"]), c["check"]])
    return rows


CASE_COLUMNS = ["contender", "median", "× hand-written (same backend)", "× {unit}",
                "first call", "peak (tracemalloc)", "peak (RSS rise)", "answer"]


def ratio_metric(m: dict, name: str, reference: str, why_missing: str) -> dict:
    """``name`` / ``reference`` as a target figure, with the reason when it is missing."""
    at = f"n = {m['n']}"
    c = m["contenders"].get(name)
    if c is None:
        return metric(None, at, why_missing)
    if c["check"].startswith("WRONG"):
        return metric(None, at, f"{name} gives a wrong answer: {c['check']}")
    return metric(ratio(median_of(m, name), median_of(m, reference)), at,
                  ratio_note(m, name, reference))


def _missing(backend: str, config: Config) -> str:
    method = {"jax": "jax_code", "torch": "torch_code"}[backend]
    for s in config.skipped:
        if s.startswith(f"{backend} is not available"):
            return f"{backend} is not installed"
    return f"matcalc has no Result.{method}()"


#: what a quick run (the smoke test) measures: one gradient with peers, one Hessian
QUICK_CASES = ("chain", "logistic_hess")


def run(config: Config) -> dict:
    n = 12 if config.quick else 2000
    rounds = config.rounds(9, 2)
    measured, metrics, tables = {}, {}, []
    for i, case in enumerate(CASES):
        if config.quick and case.name not in QUICK_CASES:
            for key in ("numpy", "evaluate", "jax", "torch"):
                metrics[f"{case.name}.{key}"] = metric(None, "", "not run in a quick run")
            continue
        config.log(f"  {case.name}, n = {n}")
        peers = "" if case.kind == "hessian" else "grad"  # Hessian peers: bench.hessians
        # the quick run measures memory once, to keep the smoke test short
        m = measure(case, n, config, rounds, peers, with_memory=not config.quick or i == 0)
        measured[case.name] = m
        unit = "X.T @ X (syrk, the floor)" if case.name == "logistic_hess" \
            else "hand-written NumPy"
        tables.append({"title": f"{case.title}, n = {n}",
                       "columns": [c.format(unit=unit) for c in CASE_COLUMNS],
                       "rows": case_table(m, unit)})
        ref = "hand-written NumPy"
        metrics[f"{case.name}.numpy"] = ratio_metric(
            m, "matcalc generated NumPy", ref, "no generated NumPy code")
        metrics[f"{case.name}.evaluate"] = ratio_metric(m, "matcalc r.evaluate", ref, "")
        for b, label in (("jax", "JAX"), ("torch", "PyTorch")):
            metrics[f"{case.name}.{b}"] = ratio_metric(
                m, f"matcalc generated {label}", f"hand-written {label}", _missing(b, config))
        for name, c in m["contenders"].items():
            config.log(f"    {name}: {fmt_seconds(c['time']['median'])} {c['check']}")
    return {
        "title": "Evaluation",
        "method": (f"n = {n}; {rounds} interleaved rounds after one untimed first call "
                   "(shown as 'first call': it includes JAX's compilation). Ratios are of "
                   "medians. JAX runs jitted, in float64 like the others; PyTorch runs "
                   "eagerly on the CPU. Peak memory: see the Memory section."),
        "metrics": metrics,
        "tables": tables,
        "cases": measured,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(memory_worker(sys.argv[2:]))
    sys.exit("usage: python -m bench.evaluation --worker CASE N PEERS (or python bench/run.py)")
