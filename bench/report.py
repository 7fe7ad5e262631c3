"""The run's results as a plain-text table (the terminal) and as Markdown
(``docs/benchmarks.md``).  Both show the same things: the targets, met or not with
the measured figure and the reason, then each group's tables and method.

A block of hand-written notes between ``<!-- notes -->`` and ``<!-- /notes -->`` in an
existing Markdown page is kept when the page is written again.
"""
from __future__ import annotations

import re

NOTES_OPEN, NOTES_CLOSE = "<!-- notes -->", "<!-- /notes -->"


def verdict(met) -> str:
    return "met" if met else "not measured" if met is None else "NOT MET"


def text_table(columns: list[str], rows: list[list[str]]) -> str:
    cells = [columns] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def target_rows(results: dict) -> list[list[str]]:
    return [[t["what"], t["target"], t["shown"], t["at"], verdict(t["met"]), t["detail"]]
            for t in results["targets"]]


TARGET_COLUMNS = ["target", "goal", "measured", "at", "", "detail"]


def short_target_rows(results: dict) -> list[list[str]]:
    """The terminal's narrower form: the target's key instead of its description."""
    return [[t["key"], t["target"], t["shown"], t["at"], verdict(t["met"]), t["note"]]
            for t in results["targets"]]


def machine_lines(results: dict) -> list[str]:
    m = results["machine"]
    v = m["versions"]
    blas = m["blas"].get("loaded")
    if isinstance(blas, list):
        blas_text = "; ".join(
            " ".join(str(b[k]) for k in ("internal_api", "version") if b.get(k))
            + " (" + ", ".join([str(b["architecture"])] if b.get("architecture") else []
                               + [f"{b.get('num_threads')} threads",
                                  (b.get("filepath") or "").rsplit("/", 1)[-1]]) + ")"
            for b in blas)
    else:
        blas_text = str(blas)
    peers = m.get("peers", {})
    lines = [
        f"CPU: {m['cpu']}, {m['cores']} cores ({m['cores_available']} available), "
        f"{m['memory_gib']} GiB; {m['os']}",
        f"Python {m['python']}; " + ", ".join(f"{k} {v[k]}" for k in v if v[k]),
        f"BLAS: {blas_text}",
    ]
    if m.get("thread_env"):
        lines.append("Thread settings: " + ", ".join(f"{k}={v}" for k, v in
                                                     m["thread_env"].items()))
    if "torch" in peers:
        lines.append(f"PyTorch: {peers['torch']['threads']} threads; "
                     + "; ".join(peers["torch"]["blas"]))
    if "jax" in peers:
        lines.append(f"JAX: backend {peers['jax']['backend']}, x64 {peers['jax']['x64']}")
    load = results.get("load_average") or {}
    if load.get("start") and load.get("end"):
        lines.append(f"Load average (1, 5, 15 min) at the start {load['start']}, at the end "
                     f"{load['end']}: other work on the machine "
                     f"({m['cores']} cores) shows here")
    git = m.get("git") or {}
    if git.get("commit"):
        lines.append(f"matcalc commit {git['commit'][:12]}"
                     + (" (with uncommitted changes)" if git.get("dirty") else ""))
    return lines


def render_text(results: dict) -> str:
    out = [f"matcalc benchmarks ({'quick' if results['quick'] else 'full'} run, "
           f"{results['duration_s']:.0f} s)", ""]
    out += machine_lines(results)
    for name, group in results["groups"].items():
        out += ["", f"== {group.get('title', name)} =="]
        for table in group.get("tables", []):
            out += ["", table["title"], text_table(table["columns"], table["rows"])]
    if results["skipped"]:
        out += ["", "Skipped:"] + [f"  {s}" for s in results["skipped"]]
    out += ["", "== Targets ==", text_table(TARGET_COLUMNS, short_target_rows(results))]
    met = sum(t["met"] is True for t in results["targets"])
    out.append(f"\n{met} of {len(results['targets'])} targets met")
    return "\n".join(out)


def existing_notes(text: str | None) -> str | None:
    if not text:
        return None
    m = re.search(re.escape(NOTES_OPEN) + r"(.*?)" + re.escape(NOTES_CLOSE), text, re.S)
    return m.group(1).strip("\n") if m else None


def render_markdown(results: dict, notes: str | None = None) -> str:
    met = sum(t["met"] is True for t in results["targets"])
    total = len(results["targets"])
    out = [
        "# Benchmarks",
        "",
        "Measured by the benchmark suite in `bench/` on the machine below. Reproduce with:",
        "",
        "```",
        'pip install -e ".[bench]"     # the peers: SymPy, JAX, PyTorch',
        results["command"],
        "```",
        "",
        "On the development machine, install PyTorch first with `pip install "
        "torch==2.13.0`: that takes the CPU wheel on its disk, where another version would "
        "pull a multi-GB CUDA build. The extra asks for `torch>=2.1`.",
        "",
        "Contenders run side by side in one process, in interleaved rounds (A, B, C, then "
        "B, C, A, ...), and every figure is compared with another one measured in the same "
        "rounds: read ratios, not absolute times. A peer that is not installed is skipped "
        "with a message. `python bench/run.py --quick` runs every group at tiny sizes "
        "(the test suite does this, so the benchmark cannot rot); its figures mean nothing.",
        "",
        "`--threads 1` runs BLAS, PyTorch and XLA on one thread each. On a shared machine "
        "that keeps the ratios steady; without it each library takes every core, and the "
        "figures swing with whatever else runs.",
        "",
        f"This page: {'quick' if results['quick'] else 'full'} run of "
        f"{results['started']}, {results['duration_s'] / 60:.1f} minutes.",
        "",
        "## Machine",
        "",
    ]
    out += [f"* {line}" for line in machine_lines(results)]
    out += ["", "## Targets", "", f"{met} of {total} targets met.", "",
            markdown_table(TARGET_COLUMNS, target_rows(results))]
    out += ["", "## Notes", "", NOTES_OPEN, notes or "(none yet)", NOTES_CLOSE]
    for name, group in results["groups"].items():
        out += ["", f"## {group.get('title', name)}", ""]
        if group.get("method"):
            out += [group["method"], ""]
        for table in group.get("tables", []):
            out += [f"**{table['title']}**", "", markdown_table(table["columns"],
                                                                table["rows"]), ""]
    if results["skipped"]:
        out += ["## Skipped", ""] + [f"* {s}" for s in results["skipped"]] + [""]
    out += ["## Memory", "", results["memory_method"], ""]
    return "\n".join(out).rstrip() + "\n"

