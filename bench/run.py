"""Run matcalc's benchmark suite: one command for every group.

    python bench/run.py                          # everything, full sizes (a while)
    python bench/run.py --quick                  # tiny sizes: a smoke run (seconds)
    python bench/run.py --only depth --only startup
    python bench/run.py --json out.json --markdown docs/benchmarks.md
    python bench/run.py --threads 1              # one thread per library: steadier ratios

Prints the tables and the targets (met / not met, with the measured figure); writes
JSON with the machine, the versions, the BLAS and every figure.  The peers (SymPy,
JAX, PyTorch: ``pip install -e ".[bench]"``) are skipped with a message when missing.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, report, targets  # noqa: E402

GROUPS = ("symbolic", "depth", "startup", "evaluation", "hessians")


def run(argv: list[str] | None = None) -> dict:
    """Run the chosen groups and return the results (what --json writes)."""
    parser = argparse.ArgumentParser(prog="bench/run.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few rounds: checks that everything runs")
    parser.add_argument("--only", action="append", choices=GROUPS, metavar="NAME",
                        help=f"run only this group (repeatable): {', '.join(GROUPS)}")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--markdown", metavar="PATH",
                        help="(re)write the Markdown report, e.g. docs/benchmarks.md")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds one depth case may take (default 60)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="threads for BLAS, PyTorch and XLA (default: each library's "
                             "own choice); 1 gives steadier ratios on a busy machine")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.threads:
        harness.limit_threads(args.threads)
    config = harness.Config(quick=args.quick, timeout=args.timeout, verbose=not args.quiet)
    started = datetime.datetime.now().astimezone()
    load_at_start = _load_average()
    t0 = time.perf_counter()
    groups = {}
    for name in args.only or GROUPS:
        config.log(f"[{name}]")
        module = importlib.import_module(f"bench.{name}")
        start = time.perf_counter()
        groups[name] = module.run(config)
        groups[name]["duration_s"] = time.perf_counter() - start
    results = {
        "command": "python bench/run.py " + shlex.join(argv if argv is not None
                                                       else sys.argv[1:]),
        "started": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - t0,
        "quick": args.quick,
        "machine": harness.machine_info(),
        "load_average": {"start": load_at_start, "end": _load_average()},
        "memory_method": harness.MEMORY_METHOD,
        "skipped": config.skipped,
        "groups": groups,
        "targets": targets.assess(groups),
    }
    print(report.render_text(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n",
                                   encoding="utf-8")
    if args.markdown:
        path = Path(args.markdown)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        path.write_text(report.render_markdown(results, report.existing_notes(old)),
                        encoding="utf-8")
    return results


def _load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: other work on the machine shows here."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        return None


def main(argv: list[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
