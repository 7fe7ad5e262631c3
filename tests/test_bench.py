"""The benchmark suite runs: a smoke run of ``python bench/run.py --quick`` at tiny sizes.

No timing is asserted here (benchmarks are ratios measured side by side, reported in
docs/benchmarks.md); this only keeps the suite from rotting.  Peers that are not
installed (SymPy, JAX, PyTorch) are skipped by the suite itself, with a message.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GROUPS = {"symbolic", "depth", "startup", "evaluation", "hessians"}


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    import bench.harness
    import bench.targets
    return bench


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick",
                           "--quiet", "--json", str(out / "results.json"),
                           "--markdown", str(out / "benchmarks.md")],
                          capture_output=True, text=True, timeout=300, cwd=out)
    assert done.returncode == 0, done.stderr
    return (json.loads((out / "results.json").read_text(encoding="utf-8")),
            (out / "benchmarks.md").read_text(encoding="utf-8"), done.stdout)


@pytest.mark.slow
def test_quick_run_reports_machine_groups_and_every_target(quick_run, bench):
    results, markdown, printed = quick_run
    machine = results["machine"]
    for key in ("cpu", "cores", "python", "versions", "blas", "git"):
        assert key in machine
    assert machine["versions"]["numpy"]
    assert set(results["groups"]) == GROUPS
    keys = [t["key"] for t in results["targets"]]
    assert keys == [t.key for t in bench.targets.TARGETS]
    for group in results["groups"].values():
        assert group["tables"] and group["metrics"]
    for target in bench.targets.TARGETS:
        assert target.what in markdown.replace("\\|", "|")
        assert target.key in printed


@pytest.mark.slow
def test_quick_run_measures_matcalc_everywhere(quick_run):
    results, _, _ = quick_run
    groups = results["groups"]
    assert groups["symbolic"]["metrics"]["median_time"]["value"] > 0
    assert groups["depth"]["metrics"]["trace.time_at_max"]["value"] > 0
    assert groups["startup"]["metrics"]["cli_ratio"]["value"] > 0
    assert set(groups["evaluation"]["cases"]) == {"chain", "logistic_hess"}
    for case in groups["evaluation"]["cases"].values():
        checks = {name: c["check"] for name, c in case["contenders"].items()}
        assert checks["matcalc generated NumPy"] == "ok", checks
        assert checks["matcalc r.evaluate"] == "ok", checks


def test_a_missing_peer_is_skipped_with_a_message(bench):
    config = bench.harness.Config(verbose=False)
    assert bench.harness.load_peer("no_such_peer_module", config) is None
    assert "no_such_peer_module is not available" in config.skipped[0]


def test_clear_caches_empties_the_simplifier_memo(bench):
    import matcalc
    import matcalc.simplify
    matcalc.diff("tr(A*X)", "X")
    assert matcalc.simplify._MEMO
    cleared = bench.harness.clear_caches()
    assert cleared and not matcalc.simplify._MEMO


def test_fitted_exponent_and_interleaved_rounds(bench):
    h = bench.harness
    assert h.fit_exponent([8, 16, 32], [1.0, 2.0, 4.0]) == pytest.approx(1.0)
    order = []
    samples = h.interleave([h.Contender(name, lambda n=name: order.append(n))
                            for name in "abc"], rounds=3, warmup=0)
    assert order == list("abcbcacab")
    assert {k: len(v) for k, v in samples.items()} == {"a": 3, "b": 3, "c": 3}
