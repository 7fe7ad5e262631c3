"""matcalc's benchmark suite: ``python bench/run.py`` (see docs/benchmarks.md).

Each group is a module with ``run(config) -> dict`` (symbolic, depth, startup,
evaluation, hessians); :mod:`bench.harness` times contenders side by side in interleaved
rounds, :mod:`bench.targets` holds the issue's targets in one table, and
:mod:`bench.report` prints them and writes the Markdown page.
"""
