"""Start-up: what a fresh process pays before the first answer.

* Whole processes, in pairs: ``python -c pass`` and ``matcalc diff "g(W*x+b)" W`` (the
  installed console script, else ``python -m matcalc``), one after the other with the
  order alternating; the figure is the median over pairs of their ratio.
* Inside a fresh process (a worker): the time of ``import matcalc``, of the first
  derivative (which builds the parser), of a second one with caches cleared, and the
  modules that the CLI command leaves imported.
* ``python -X importtime -c "import matcalc.cli"``: the slowest imports, for whoever
  optimises them.
"""
from __future__ import annotations

import io
import json
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

from .harness import Config, fmt_ratio, fmt_seconds, metric, run_worker, worker_env

COMMAND = ["diff", "g(W*x+b)", "W"]
#: imported by the text CLI without being needed for a text derivative
HEAVY = ("numpy", "sympy", "scipy", "jax", "torch")


def cli_command() -> tuple[list[str], str]:
    """The console script next to this interpreter (what users run), or ``-m``."""
    script = Path(sys.executable).parent / "matcalc"
    if script.exists():
        return [str(script), *COMMAND], f"{script.name} (console script)"
    found = shutil.which("matcalc")
    if found:
        return [found, *COMMAND], f"{found} (console script on PATH)"
    return [sys.executable, "-m", "matcalc", *COMMAND], "python -m matcalc"


def _wall(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - start


def pairs(count: int) -> dict:
    """Interleaved whole-process timings of ``python -c pass`` and the CLI command."""
    env = worker_env()
    baseline = [sys.executable, "-c", "pass"]
    cli, how = cli_command()
    _wall(baseline, env), _wall(cli, env)  # warm the file cache
    base_t, cli_t = [], []
    for i in range(count):
        if i % 2:
            cli_t.append(_wall(cli, env))
            base_t.append(_wall(baseline, env))
        else:
            base_t.append(_wall(baseline, env))
            cli_t.append(_wall(cli, env))
    ratios = [c / b for c, b in zip(cli_t, base_t)]
    return {"python_c_pass": base_t, "cli": cli_t, "ratios": ratios, "how": how,
            "ratio": statistics.median(ratios)}


def measure_in_process() -> dict:
    """Run in a fresh process: import time, first and second derivative, CLI modules."""
    before = set(sys.modules)
    t0 = time.perf_counter()
    import matcalc
    t1 = time.perf_counter()
    matcalc.diff(*COMMAND[1:])
    t2 = time.perf_counter()
    from .harness import clear_caches
    clear_caches()
    t3 = time.perf_counter()
    matcalc.diff(*COMMAND[1:])
    t4 = time.perf_counter()
    from matcalc.cli import main
    with redirect_stdout(io.StringIO()):
        main(list(COMMAND))
    loaded = set(sys.modules) - before
    heavy = sorted(m for m in HEAVY if m in loaded)
    return {"import": t1 - t0, "first_diff": t2 - t1, "second_diff": t4 - t3,
            "heavy": heavy, "lark": "lark" in loaded, "modules": len(loaded)}


def import_times(top: int = 10) -> list[tuple[str, float, float]]:
    """The slowest imports of ``matcalc.cli``: (module, self s, cumulative s)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import matcalc.cli"],
                          capture_output=True, text=True, env=worker_env())
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:"):].split("|")
        try:
            self_us, cumulative_us = int(fields[0]), int(fields[1])
        except ValueError:  # the header line
            continue
        rows.append((fields[2].strip(), self_us / 1e6, cumulative_us / 1e6))
    return sorted(rows, key=lambda r: -r[2])[:top]


def run(config: Config) -> dict:
    p = pairs(config.rounds(21, 3))
    config.log(f"  CLI / python -c pass: {p['ratio']:.2f} (median of {len(p['ratios'])} pairs)")
    workers = [run_worker("startup", [], 60.0) for _ in range(config.rounds(7, 2))]
    good = [w for w in workers if "import" in w]
    if good:
        inproc = {k: statistics.median(w[k] for w in good)
                  for k in ("import", "first_diff", "second_diff")}
        heavy = good[0]["heavy"]
        inproc_note = ""
    else:
        inproc, heavy = {"import": None, "first_diff": None, "second_diff": None}, None
        inproc_note = workers[0].get("note", "worker failed") if workers else "no worker"
    imports = import_times()
    base = statistics.median(p["python_c_pass"])
    cli = statistics.median(p["cli"])
    metrics = {
        "cli_ratio": metric(p["ratio"], f"{len(p['ratios'])} pairs",
                            f"{fmt_seconds(cli)} / {fmt_seconds(base)}"),
        "first_diff": metric(inproc["first_diff"], "fresh process", inproc_note or (
            f"import {fmt_seconds(inproc['import'])}; a second derivative with caches "
            f"cleared {fmt_seconds(inproc['second_diff'])}")),
        "heavy_imports": metric(None if heavy is None else len(heavy), COMMAND[0],
                                inproc_note or ("imports " + ", ".join(heavy) if heavy
                                                else "none")),
    }
    rows = [
        ["python -c pass (whole process, median)", fmt_seconds(base)],
        [f"matcalc {' '.join(COMMAND)} via {p['how']} (median)", fmt_seconds(cli)],
        ["ratio, median of pairs", fmt_ratio(p["ratio"])],
        ["import matcalc (in a fresh process)", fmt_seconds(inproc["import"])],
        ["first derivative after import (builds the parser)",
         fmt_seconds(inproc["first_diff"])],
        ["second derivative, caches cleared", fmt_seconds(inproc["second_diff"])],
        ["heavy modules imported by the CLI command",
         ", ".join(heavy) if heavy else ("none" if heavy is not None else "—")],
    ]
    return {
        "title": "Start-up",
        "method": (f"{len(p['ratios'])} pairs of whole processes (order alternating), "
                   f"{len(good)} fresh worker processes for the in-process figures; "
                   "PYTHONPATH points at this checkout in every subprocess."),
        "metrics": metrics,
        "tables": [
            {"title": "Fresh processes", "columns": ["", "time"], "rows": rows},
            {"title": "Slowest imports of matcalc.cli (python -X importtime)",
             "columns": ["module", "self", "cumulative"],
             "rows": [[n, fmt_seconds(s), fmt_seconds(c)] for n, s, c in imports]},
        ],
        "pairs": p,
        "workers": workers,
    }


def worker(argv: list[str]) -> int:
    print(json.dumps(measure_in_process()))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(worker(sys.argv[2:]))
    sys.exit("usage: python -m bench.startup --worker (or python bench/run.py)")
