"""Hessians: matcalc's closed forms against autodiff Hessians, at n = 500, 1000, 2000.

The peers are ``jax.jit(jax.hessian(f))`` and ``torch.func.hessian(f)``; their first
call (JAX's compilation, PyTorch's warm-up) is timed on its own and left out of the
rounds.  matcalc's figure is its generated NumPy code (``r.evaluate`` is shown too),
beside the closed form written by hand.  The ≥ 10× target applies where the closed form
is cheaper in order than n Hessian-vector products: ``x'*A*x``, whose Hessian A + A'
costs O(n²) against O(n³).  The logistic Hessian X'*diag(d)*X and ``sum(exp(A*x))``'s
A'*diag(e)*A cost one matrix product, the same order as the batched Hessian-vector
products, so for them the ratios are shown without a target.

This group replaces the former ``bench/hessian_logistic.py``.
"""
from __future__ import annotations

from .evaluation import (Case, _logistic_hessian, _logistic_inputs, _logistic_loss,
                         LOGISTIC, case_table, CASE_COLUMNS, median_of, measure, ratio_note)
from .harness import Config, fmt_ratio, fmt_seconds, metric, ratio
from .targets import HESSIAN_SIZES

QUICK_SIZES = (8,)  # one size: the quick run checks that it runs


def _quad_inputs(np, rng, n):
    return {"A": rng.normal(size=(n, n)), "x": rng.normal(size=n)}


def _quad_loss(b, A, x):
    return x @ A @ x  # (x @ A) @ x: the fastest form for both peers


def _quad_reference(b, A, x):
    return x @ (A @ x), A + A.T


def _sumexp_inputs(np, rng, n):
    return {"A": rng.normal(size=(n, n)) / np.sqrt(n), "x": rng.normal(size=n)}


def _sumexp_loss(b, A, x):
    return b.exp(b.matvec(A, x)).sum()


def _sumexp_reference(b, A, x):
    e = b.exp(A @ x)
    return e.sum(), A.T @ (b.column(e) * A)


CASES = [
    Case("quad", "x'*A*x", "x", "hessian", _quad_inputs, _quad_loss, _quad_reference,
         "Hessian of x'*A*x (closed form A + A': O(n²))"),
    Case("logistic", LOGISTIC, "w", "hessian", _logistic_inputs, _logistic_loss,
         _logistic_hessian, "logistic Hessian, X is 2n×n (closed form: one product)"),
    Case("sumexp", "sum(exp(A*x))", "x", "hessian", _sumexp_inputs, _sumexp_loss,
         _sumexp_reference, "Hessian of sum(exp(A*x)) (closed form: one product)"),
]

MATCALC = "matcalc generated NumPy"
PEERS = {"jax": "jax.jit(jax.hessian)", "torch": "torch.func.hessian"}


def run(config: Config) -> dict:
    sizes = QUICK_SIZES if config.quick else HESSIAN_SIZES
    metrics, tables, measured, speedups = {}, [], {}, []
    for case in CASES[:1] if config.quick else CASES:
        for slot, n in zip(HESSIAN_SIZES, sizes):
            config.log(f"  {case.name}, n = {n}")
            rounds = config.rounds(5 if n < 2000 else 3, 2)
            m = measure(case, n, config, rounds, peers="hessian",
                        with_memory=not config.quick)
            measured[f"{case.name}.n{n}"] = m
            tables.append({"title": f"{case.title}, n = {n}",
                           "columns": [c.format(unit=MATCALC) for c in CASE_COLUMNS],
                           "rows": case_table(m, MATCALC)})
            row = [case.name, str(n)]
            for peer, label in PEERS.items():
                c = m["contenders"].get(label)
                value = None if c is None or c["check"].startswith("WRONG") else \
                    ratio(median_of(m, label), median_of(m, MATCALC))
                note = (f"{peer} is not installed" if c is None else
                        f"{label} gives a wrong answer" if value is None else
                        f"{ratio_note(m, label, MATCALC)}; its first call "
                        f"{fmt_seconds(c['first_call'])}")
                metrics[f"{case.name}.{peer}.n{slot}"] = metric(value, f"n = {n}", note)
                row += [fmt_ratio(value)]
            speedups.append(row)
            for name, c in m["contenders"].items():
                config.log(f"    {name}: {fmt_seconds(c['time']['median'])} {c['check']}")
    return {
        "title": "Hessians against autodiff",
        "method": (f"{config.rounds(5, 2)} interleaved rounds per size ({config.rounds(3, 2)} "
                   f"at n = {sizes[-1]}) after one untimed first call "
                   "(shown as 'first call': JAX compiles then). float64 throughout; JAX "
                   "jitted, PyTorch eager (torch.func.hessian = jacfwd(jacrev)). The ≥ 10× "
                   "target applies to x'*A*x only (see the module docstring)."),
        "metrics": metrics,
        "tables": [{"title": "Peer time / matcalc generated NumPy time",
                    "columns": ["case", "n"] + list(PEERS.values()), "rows": speedups}]
        + tables,
        "cases": measured,
    }
