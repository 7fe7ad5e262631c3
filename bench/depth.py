"""Depth scaling: how the time and the printed size of a derivative grow with depth.

Four series at L = 8, 16, 32, 64, 128, each case in its own process with a time budget
(a case that runs over is reported as "timed out", one that the default limits refuse
as "refused by limit"):

(a) ``norm2(WL*...*W1*x - y)^2`` w.r.t. ``W1``
(b) ``tr(A1*...*AL*X)`` w.r.t. ``X``
(c) the tanh network ``norm2(WL*tanh(W{L-1}*...tanh(W1*x+b1)...+b{L-1}) - y)^2`` w.r.t.
    ``W1`` (L weight matrices, L-1 tanh layers)
(d) ``y'*softmax(softmax(...softmax(x)...))``, L softmaxes, w.r.t. ``x``

and the flat product ``tr(A1*...*A2000*X)`` w.r.t. ``X``, which is long but not deep.
The time exponent is the least-squares slope of log(time) against log(L); the size is
``len(str(r))`` (the human form) beside ``len(str(r.expr))`` (the flat form).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time

from .harness import (Config, fit_exponent, fmt_seconds, metric, run_worker)

#: the largest flat form that is printed to measure it (tokens)
FLAT_PRINTED = 1_000_000
from .targets import SERIES

FULL_DEPTHS = (8, 16, 32, 64, 128)
QUICK_DEPTHS = (2, 4)
FLAT_FACTORS, QUICK_FLAT_FACTORS = 2000, 20


def chain(depth: int) -> tuple[str, str]:
    """>>> chain(3)
    ('norm2(W3*W2*W1*x - y)^2', 'W1')
    """
    return "norm2(" + "*".join(f"W{i}" for i in range(depth, 0, -1)) + "*x - y)^2", "W1"


def trace(depth: int) -> tuple[str, str]:
    """>>> trace(3)
    ('tr(A1*A2*A3*X)', 'X')
    """
    return "tr(" + "*".join(f"A{i}" for i in range(1, depth + 1)) + "*X)", "X"


def tanh(depth: int) -> tuple[str, str]:
    """>>> tanh(3)
    ('norm2(W3*tanh(W2*tanh(W1*x+b1)+b2) - y)^2', 'W1')
    """
    h = "x"
    for i in range(1, depth):
        h = f"tanh(W{i}*{h}+b{i})"
    return f"norm2(W{depth}*{h} - y)^2", "W1"


def softmax(depth: int) -> tuple[str, str]:
    """>>> softmax(2)
    ("y'*softmax(softmax(x))", 'x')
    """
    return "y'*" + "softmax(" * depth + "x" + ")" * depth, "x"


def flat(factors: int) -> tuple[str, str]:
    """>>> flat(2)
    ('tr(A1*A2*X)', 'X')
    """
    return trace(factors)


BUILDERS = {"chain": chain, "trace": trace, "tanh": tanh, "softmax": softmax, "flat": flat}


#: for the informative second series: limits out of the way (not a target)
RAISED = {"max_depth": 1_000_000, "max_result_tokens": 10**12, "max_input_chars": 10**8}


def measure(series: str, depth: int, budget: float = 2.0, raised: bool = False) -> dict:
    """In this process: the derivative's time (median of repeats within ``budget``
    seconds, caches cleared before each), its printed sizes, or why it was refused.
    ``raised`` lifts matcalc's limits (and Python's recursion limit) out of the way."""
    import matcalc
    from matcalc.expr import cost
    from .harness import clear_caches
    if raised:
        for name, value in RAISED.items():
            setattr(matcalc.LIMITS, name, value)
        sys.setrecursionlimit(100_000)
    expression, wrt = BUILDERS[series](depth)
    matcalc.diff("x'*x", "x")  # the parser is built once per process: not counted
    times, r = [], None
    while not times or (sum(times) < budget and len(times) < 5):
        clear_caches()
        start = time.perf_counter()
        try:
            r = matcalc.diff(expression, wrt)
        except matcalc.LimitError as exc:
            return {"status": "refused by limit", "note": f"refused by limit: {exc.message}",
                    "seconds": time.perf_counter() - start, "chars": len(expression)}
        except matcalc.MatcalcError as exc:
            return {"status": "error", "note": f"error: {exc.message}",
                    "seconds": time.perf_counter() - start, "chars": len(expression)}
        times.append(time.perf_counter() - start)
    # the flat form of a DAG can be exponentially long (softmax nested 32 deep): it is
    # printed only below FLAT_PRINTED tokens, and otherwise reported by its token count
    flat_tokens = cost(r.expr)
    flat_size = len(str(r.expr)) if flat_tokens <= FLAT_PRINTED else \
        f"{flat_tokens:,} tokens, not printed"
    return {"status": "ok", "note": "", "seconds": statistics.median(times),
            "repeats": len(times), "size": len(str(r)), "flat_size": flat_size,
            "chars": len(expression)}


def _why(p: dict) -> str:
    """``refused by limit (max_depth)``, ``timed out``, ...: a point's status, short."""
    m = re.search(r"LIMITS\.(\w+)", p.get("note", ""))
    return f"{p['status']} ({m.group(1)})" if m else p["status"]


def _series_metrics(points: list[dict], depths) -> dict:
    ok = [p for p in points if p["status"] == "ok"]
    last = points[-1]
    span = f"L = {depths[0]}…{depths[-1]}"
    reasons: dict[str, list] = {}
    for p in points:
        if p["status"] != "ok":
            reasons.setdefault(_why(p), []).append(str(p["depth"]))
    partial = "" if not reasons else \
        f"fitted over L = {', '.join(str(p['depth']) for p in ok) or 'none'}; " + \
        "; ".join(f"L = {', '.join(ds)} {why}" for why, ds in reasons.items())
    if len(ok) < 2:
        partial = partial or "fewer than two depths measured"
    return {
        "time_at_max": metric(last.get("seconds") if last["status"] == "ok" else None,
                              f"L = {last['depth']}", last.get("note", "")),
        "exponent": metric(fit_exponent([p["depth"] for p in ok],
                                        [p["seconds"] for p in ok]), span, partial),
        "size_exponent": metric(fit_exponent([p["depth"] for p in ok],
                                             [p["size"] for p in ok]), span, partial),
    }


def _points(series: str, depths, timeout: float, raised: bool = False,
            only=None) -> list[dict]:
    """One worker per depth (those in ``only``, if given); after a timeout the larger
    depths are not run."""
    points = []
    for depth in depths:
        if only is not None and depth not in only:
            continue
        if points and points[-1]["status"] in ("timed out", "not run"):
            p = {"status": "not run", "note": "not run: a smaller L timed out"}
        else:
            p = run_worker("depth", [series, str(depth)] + (["--raised"] if raised else []),
                           timeout)
        p["depth"] = depth
        points.append(p)
    return points


def _row(label: str, p: dict) -> list[str]:
    ok = p["status"] == "ok"
    return [label, str(p["depth"]), fmt_seconds(p.get("seconds")) if ok else "—",
            str(p.get("size", "—")), str(p.get("flat_size", "—")),
            "" if ok else p["status"], "" if ok else p.get("note", "")]


def run(config: Config) -> dict:
    depths = QUICK_DEPTHS if config.quick else FULL_DEPTHS
    timeout = min(config.timeout, 20.0) if config.quick else config.timeout
    factors = QUICK_FLAT_FACTORS if config.quick else FLAT_FACTORS
    metrics, rows, raw, lifted_rows, lifted_fits = {}, [], {}, [], []
    for series in list(SERIES) + ["flat"]:
        points = _points(series, [factors] if series == "flat" else depths, timeout)
        raw[series] = points
        for p in points:
            rows.append(_row(series, p))
            config.log(f"  {series} L={p['depth']}: {p['status']} "
                       f"{fmt_seconds(p.get('seconds'))} {p.get('note', '')}")
        refused = [p["depth"] for p in points if p["status"] == "refused by limit"]
        if refused:  # what the limits hide: the same inputs with the limits lifted
            lifted = _points(series, depths if series != "flat" else [factors], timeout,
                             raised=True, only=refused)
            raw[f"{series} (limits lifted)"] = lifted
            for p in lifted:
                lifted_rows.append(_row(series, p))
                config.log(f"  {series} L={p['depth']} limits lifted: {p['status']} "
                           f"{fmt_seconds(p.get('seconds'))}")
            if series != "flat":
                merged = sorted([p for p in points if p["status"] == "ok"] +
                                [p for p in lifted if p["status"] == "ok"],
                                key=lambda p: p["depth"])
                lifted_fits.append([series, _fmt(fit_exponent(
                    [p["depth"] for p in merged], [p["seconds"] for p in merged])),
                    _fmt(fit_exponent([p["depth"] for p in merged],
                                      [p["size"] for p in merged])),
                    ", ".join(str(p["depth"]) for p in merged)])
        if series != "flat":
            for key, m in _series_metrics(points, depths).items():
                metrics[f"{series}.{key}"] = m
    p = raw["flat"][0]
    admitted = None if p["status"] in ("timed out", "crashed", "error", "not run") else \
        p["status"] == "ok"
    metrics["flat.admitted"] = metric(admitted, f"{factors} factors",
                                      p.get("note", "") or fmt_seconds(p.get("seconds")))
    fits = [[SERIES[s], _fmt(metrics[f"{s}.exponent"]["value"]),
             _fmt(metrics[f"{s}.size_exponent"]["value"]),
             fmt_seconds(metrics[f"{s}.time_at_max"]["value"])] for s in SERIES]
    columns = ["series", "L", "time", "size (str(r))", "size (str(r.expr))", "status",
               "note"]
    tables = [
        {"title": "Fitted exponents (log time and log size against log L), default limits",
         "columns": ["series", "time exponent", "size exponent",
                     f"time at L = {depths[-1]}"], "rows": fits},
        {"title": f"Per depth, default limits (flat: tr(A1*...*AK*X), L = K = {factors})",
         "columns": columns, "rows": rows},
    ]
    if lifted_rows:
        tables += [
            {"title": "The refused inputs again, with the limits lifted (not a target)",
             "columns": columns, "rows": lifted_rows},
            {"title": "Exponents with the limits lifted (admitted and lifted points)",
             "columns": ["series", "time exponent", "size exponent", "L measured"],
             "rows": lifted_fits},
        ]
    return {
        "title": "Depth scaling",
        "method": ("Each case runs in a fresh process (`python -m bench.depth --worker "
                   f"SERIES L`) with a budget of {timeout:g} s and matcalc's default "
                   "limits; the parser is built before timing, caches are cleared before "
                   "each call, and the time is the median of up to 5 calls within 2 s. "
                   "Size is len(str(r)) (human form) and len(str(r.expr)) (flat form; "
                   f"above {FLAT_PRINTED:,} tokens its token count, unprinted). "
                   "Inputs that the default limits refuse are run again with the limits "
                   f"lifted ({', '.join(f'{k} = {v:,}' for k, v in RAISED.items())}, "
                   "recursion limit 100,000), to show what the limits hide."),
        "metrics": metrics,
        "tables": tables,
        "points": raw,
    }


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.depth --worker")
    parser.add_argument("series", choices=sorted(BUILDERS))
    parser.add_argument("depth", type=int)
    parser.add_argument("--raised", action="store_true", help="lift the limits")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.series, args.depth, raised=args.raised)))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(worker(sys.argv[2:]))
    sys.exit("usage: python -m bench.depth --worker SERIES DEPTH (or python bench/run.py)")
