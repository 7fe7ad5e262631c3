"""Symbolic speed: the time of one derivative on every worked example, against SymPy.

Every case of ``tests/data/examples.json`` is differentiated by matcalc (gradient,
Jacobian or Hessian, as the case says) with its cross-call caches emptied before each
call, so that a repeat costs what a new request costs.  The SymPy peer differentiates
a hand-written translation of the case (:mod:`bench.sympy_cases`) with SymPy's cache
cleared likewise; both are timed in the same rounds.  A SymPy answer counts only if it
agrees numerically with matcalc's at a random point (n = 3): "cases both can do" means
cases where SymPy returns a right, fully evaluated answer.
"""
from __future__ import annotations

import contextlib
import json
import signal
import statistics
import warnings

from .harness import (ROOT, Config, Contender, clear_caches, fmt_ratio, fmt_seconds,
                      interleave, load_peer, metric, ratio, summary)

EXAMPLES = ROOT / "tests" / "data" / "examples.json"
SYMPY_PROBE_SECONDS = 20.0  # a SymPy case slower than this once is left out


def load_cases() -> list[dict]:
    return json.loads(EXAMPLES.read_text(encoding="utf-8"))


def matcalc_call(case: dict):
    """A no-argument function computing the case's derivative with matcalc."""
    import matcalc
    fn = {"gradient": matcalc.gradient, "jacobian": matcalc.jacobian,
          "hessian": matcalc.hessian}[case["kind"]]
    expr, wrt, vars_ = case["expr"], case["wrt"], case.get("vars") or {}
    return lambda: fn(expr, wrt, vars=vars_)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the main thread after ``seconds`` (no limit elsewhere)."""
    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds:g} s")
    try:
        old = signal.signal(signal.SIGALRM, expire)
    except (ValueError, AttributeError):  # not the main thread, or no SIGALRM
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def kinds_of(case: dict) -> dict:
    import matcalc
    info = matcalc.inspect(case["expr"], vars=case.get("vars") or {})
    return {name: v["kind"] for name, v in info["variables"].items()}


def check_values(np, kinds: dict, n: int = 3, seed: int = 0) -> dict:
    """Well-conditioned random values with positive entries (log, sqrt and det are
    defined): matrices near 2*I, symmetric ones symmetric."""
    rng = np.random.default_rng(seed)
    values = {}
    for name, kind in sorted(kinds.items()):
        if kind == "scalar":
            values[name] = float(rng.uniform(0.5, 1.5))
        elif kind == "vector":
            values[name] = rng.uniform(0.5, 1.5, n)
        else:
            m = 2 * np.eye(n) + rng.uniform(0.1, 0.4, (n, n))
            values[name] = (m + m.T) / 2 if kind == "symmetric" else m
    return values


def sympy_status(sp, np, case: dict, translation, kinds: dict) -> str:
    """``ok`` when SymPy's derivative agrees with matcalc's numerically; otherwise
    ``error: <exception>`` (SymPy raised), ``unevaluated`` (the answer still holds a
    ``Derivative``), ``unchecked`` (an answer that SymPy itself cannot evaluate at
    numbers), ``wrong`` or ``timed out``."""
    from .sympy_cases import differentiate, to_array
    try:
        with time_limit(SYMPY_PROBE_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                d = differentiate(sp, translation, kinds, case["kind"], case["wrt"],
                                  sp.Symbol("n"))
            except (TimeoutError, KeyboardInterrupt):
                raise
            except Exception as exc:
                return f"error: {type(exc).__name__}"
            if d.has(sp.Derivative):
                return "unevaluated"
            values = check_values(np, kinds)
            try:
                d = differentiate(sp, translation, kinds, case["kind"], case["wrt"], 3)
                subs = {}
                for name, kind in kinds.items():
                    v = values[name]
                    if kind == "scalar":
                        subs[sp.Symbol(name)] = sp.Float(v)
                    else:
                        sym = sp.MatrixSymbol(name, 3, 1 if kind == "vector" else 3)
                        subs[sym] = sp.ImmutableMatrix(v.reshape(3, -1))
                got = to_array(np, sp, d.xreplace(subs).doit())
            except (TimeoutError, KeyboardInterrupt):
                raise
            except Exception:
                return "unchecked"
    except TimeoutError:
        return "timed out"
    want = np.asarray(matcalc_call(case)().evaluate(values), dtype=float)
    if got.size != want.size:
        return "wrong"
    got = got.reshape(want.shape)
    if np.allclose(got, want, rtol=1e-6, atol=1e-9):
        return "ok"
    if want.ndim == 2 and np.allclose(got.T, want, rtol=1e-6, atol=1e-9):
        return "ok"  # a Jacobian in the other layout
    return "wrong"


def _time_case(config: Config, case: dict, rounds: int, sp, translations) -> dict:
    """One case: matcalc and (when it does the case right) SymPy, interleaved."""
    import numpy as np
    contenders = [Contender("matcalc", matcalc_call(case), setup=clear_caches),
                  # for comparison only: a repeat, served partly from the caches
                  Contender("matcalc, caches kept", matcalc_call(case))]
    status = "not installed"
    if translations is not None:
        from sympy.core.cache import clear_cache as sympy_clear_cache
        from .sympy_cases import differentiate
        translation = translations.get(case["name"])
        kinds = kinds_of(case)
        status = "no translation" if translation is None else \
            sympy_status(sp, np, case, translation, kinds)
        if status == "ok":
            n = sp.Symbol("n")
            contenders.append(Contender(
                "sympy", lambda: differentiate(sp, translation, kinds, case["kind"],
                                               case["wrt"], n),
                setup=sympy_clear_cache))
    samples = interleave(contenders, rounds)
    mc = summary(samples["matcalc"])
    spy = summary(samples.get("sympy", []))
    return {"name": case["name"], "kind": case["kind"], "matcalc": mc,
            "matcalc_warm": summary(samples["matcalc, caches kept"]), "sympy": spy,
            "sympy_status": status, "ratio": ratio(spy["median"], mc["median"]),
            "samples": samples}


def run(config: Config) -> dict:
    cases = load_cases()
    if config.quick:
        cases = cases[:: max(1, len(cases) // 8)]  # a spread of kinds, not all 65
    rounds = config.rounds(11, 2)
    sp = load_peer("sympy", config)
    translations = None
    if sp is not None:
        from .sympy_cases import translations as make
        translations = make(sp)
    cleared = clear_caches()
    per_case, rows = [], []
    with warnings.catch_warnings():  # SymPy's deprecation warnings, not ours
        warnings.simplefilter("ignore")
        for case in cases:
            c = _time_case(config, case, rounds, sp, translations)
            per_case.append(c)
            rows.append([c["name"], c["kind"], fmt_seconds(c["matcalc"]["median"]),
                         fmt_seconds(c["matcalc_warm"]["median"]),
                         fmt_seconds(c["sympy"]["median"]), fmt_ratio(c["ratio"]),
                         c["sympy_status"]])
            config.log(f"  {c['name']}: matcalc {fmt_seconds(c['matcalc']['median'])}, "
                       f"sympy {fmt_seconds(c['sympy']['median'])} ({c['sympy_status']})")
    times = [c["matcalc"]["median"] for c in per_case]
    both = [c["ratio"] for c in per_case if c["ratio"] is not None]
    median_time = statistics.median(times)
    at = f"{len(per_case)} cases"
    metrics = {
        "median_time": metric(median_time, at, ""),
        "sympy_speedup": metric(statistics.median(both) if both else None,
                                f"{len(both)} cases both do right",
                                "" if both else "SymPy is not installed" if sp is None
                                else "no case that SymPy does right"),
    }
    counts: dict = {}
    for c in per_case:
        counts[c["sympy_status"]] = counts.get(c["sympy_status"], 0) + 1
    summary_rows = [
        ["cases", str(len(per_case))],
        ["matcalc, median time per derivative", fmt_seconds(median_time)],
        ["matcalc, the same with the caches kept (a repeat; for comparison only)",
         fmt_seconds(statistics.median(c["matcalc_warm"]["median"] for c in per_case))],
        ["matcalc, slowest case", max(per_case, key=lambda c: c["matcalc"]["median"])["name"]
         + " " + fmt_seconds(max(times))],
        ["SymPy / matcalc, median over cases both do right",
         fmt_ratio(metrics["sympy_speedup"]["value"])],
        ["SymPy outcome per case", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))],
    ]
    return {
        "title": "Symbolic speed",
        "method": (f"Each case timed {rounds} times per contender in interleaved rounds; "
                   "before every call matcalc's cross-call caches are emptied (" +
                   ", ".join(cleared) + ") and so is SymPy's cache (sympy.core.cache."
                   "clear_cache). SymPy builds its expression from a hand-written "
                   "translation and differentiates it with expr.diff (twice for a Hessian); "
                   "its answer counts only when it agrees with matcalc's numerically."),
        "metrics": metrics,
        "tables": [
            {"title": "Summary", "columns": ["", ""], "rows": summary_rows},
            {"title": "Per case (median time per derivative)",
             "columns": ["case", "kind", "matcalc", "matcalc, caches kept", "SymPy",
                         "SymPy / matcalc", "SymPy's answer"],
             "rows": rows},
        ],
        "cases": per_case,
        "caches_cleared": cleared,
    }
