"""The targets of the speed issue, in one table, and how a run's figures meet them.

A target names a figure (``group.metric``), a comparison and a threshold.  Each group's
``run`` returns its figures as ``metrics``; :func:`assess` puts the two together: met,
not met (with the measured figure), or not measured (with the reason: refused by a
limit, timed out, a peer that is not installed, a backend that matcalc does not have).
"""
from __future__ import annotations

from dataclasses import dataclass

from .harness import fmt_ratio, fmt_seconds


@dataclass(frozen=True)
class Target:
    key: str          # "group.metric"
    what: str         # what is measured, for the report
    op: str           # "<=", ">=" or "=="
    threshold: object
    unit: str         # "s", "ratio", "exponent", "count", "bool"

    @property
    def group(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def metric(self) -> str:
        return self.key.split(".", 1)[1]

    def show(self, value) -> str:
        if value is None:
            return "—"
        if self.unit == "s":
            return fmt_seconds(value)
        if self.unit == "ratio":
            return fmt_ratio(value)
        if self.unit == "exponent":
            return f"{value:.2f}"
        if self.unit == "bool":
            return "yes" if value else "no"
        return f"{value:g}"

    def goal(self) -> str:
        return f"{self.op} {self.show(self.threshold)}" if self.op != "==" else \
            self.show(self.threshold)

    def met(self, value) -> bool | None:
        if value is None:
            return None
        if self.op == "<=":
            return value <= self.threshold
        if self.op == ">=":
            return value >= self.threshold
        return value == self.threshold


SERIES = {
    "chain": "(a) norm2(WL*...*W1*x - y)^2 w.r.t. W1",
    "trace": "(b) tr(A1*...*AL*X) w.r.t. X",
    "tanh": "(c) tanh network norm2(WL*tanh(...tanh(W1*x+b1)...) - y)^2 w.r.t. W1",
    "softmax": "(d) y'*softmax(...softmax(x)...), L deep, w.r.t. x",
}

HESSIAN_SIZES = (500, 1000, 2000)


def _targets() -> list[Target]:
    t = [
        Target("symbolic.median_time", "median time per derivative over the worked "
               "examples, caches cleared", "<=", 0.5e-3, "s"),
        Target("symbolic.sympy_speedup", "SymPy time / matcalc time, median over the "
               "cases both do right", ">=", 20, "ratio"),
    ]
    for name, what in SERIES.items():
        t += [
            Target(f"depth.{name}.time_at_max", f"{what}: time at L = 128, default limits",
                   "<=", 0.3, "s"),
            Target(f"depth.{name}.exponent", f"{what}: fitted time exponent, L = 8…128",
                   "<=", 1.2, "exponent"),
            Target(f"depth.{name}.size_exponent", f"{what}: fitted exponent of the printed "
                   "size (linear: 1; 1.1 allowed)", "<=", 1.1, "exponent"),
        ]
    t += [
        Target("depth.flat.admitted", "tr(A1*...*A2000*X) w.r.t. X is admitted by the "
               "default limits (a flat product is not deep)", "==", True, "bool"),
        Target("startup.cli_ratio", "`matcalc diff \"g(W*x+b)\" W` / `python -c pass`, "
               "whole processes, median of pairs", "<=", 5, "ratio"),
        Target("startup.first_diff", "first derivative in a fresh process, beyond import",
               "<=", 3e-3, "s"),
        Target("startup.heavy_imports", "modules the CLI command imports without needing "
               "them (numpy, sympy, scipy, jax, torch)", "<=", 0, "count"),
        Target("evaluation.chain.numpy", "norm2(W3*W2*W1*x-y)^2 gradient, generated NumPy / "
               "hand-written NumPy, n = 2000", "<=", 1.2, "ratio"),
        Target("evaluation.chain.evaluate", "norm2(W3*W2*W1*x-y)^2 gradient, r.evaluate / "
               "hand-written NumPy, n = 2000", "<=", 1.2, "ratio"),
        Target("evaluation.chain.jax", "norm2(W3*W2*W1*x-y)^2 gradient, generated JAX / "
               "hand-written JAX (both jitted), n = 2000", "<=", 1.2, "ratio"),
        Target("evaluation.chain.torch", "norm2(W3*W2*W1*x-y)^2 gradient, generated PyTorch "
               "/ hand-written PyTorch, n = 2000", "<=", 1.2, "ratio"),
        Target("evaluation.logistic_grad.numpy", "logistic regression gradient, generated "
               "NumPy / hand-written NumPy, n = 2000", "<=", 1.1, "ratio"),
        Target("evaluation.mlp_grad.numpy", "two-layer MLP gradient w.r.t. W1, generated "
               "NumPy / hand-written NumPy, n = 2000", "<=", 1.1, "ratio"),
        Target("evaluation.logistic_hess.numpy", "logistic Hessian, generated NumPy / "
               "hand-written X.T @ (d[:,None]*X), n = 2000", "<=", 1.05, "ratio"),
    ]
    for peer, label in (("jax", "jax.jit(jax.hessian)"), ("torch", "torch.func.hessian")):
        for n in HESSIAN_SIZES:
            t.append(Target(f"hessians.quad.{peer}.n{n}", f"x'*A*x Hessian: {label} / "
                            f"matcalc generated NumPy, n = {n}", ">=", 10, "ratio"))
    return t


TARGETS: list[Target] = _targets()


def assess(groups: dict) -> list[dict]:
    """One row per target: the measured figure, where it was measured, met or not."""
    rows = []
    for target in TARGETS:
        group = groups.get(target.group)
        if group is None:
            m = {"value": None, "at": "", "note": "group not run"}
        else:
            m = group.get("metrics", {}).get(target.metric) or {
                "value": None, "at": "", "note": "not reported by the group"}
        met = target.met(m["value"])
        detail = m.get("note") or ("" if met is not None else "not measured")
        rows.append({"key": target.key, "what": target.what, "target": target.goal(),
                     "measured": m["value"], "shown": target.show(m["value"]),
                     "at": m.get("at", ""), "met": met, "note": m.get("note", ""),
                     "detail": detail})
    return rows
