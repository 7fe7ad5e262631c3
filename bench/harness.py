"""Shared machinery of the benchmark suite: interleaved timing rounds, medians and
ratios, peak memory, fitted exponents, subprocess workers with a time budget, optional
peers, and a description of the machine.

Every comparison is made side by side: the contenders run in the same process, in the
same rounds, one after the other (A, B, C, then B, C, A, ...), so that a slow moment of
the machine hits all of them alike and every figure can be read as a ratio.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Config:
    """What a run measures: ``quick`` takes tiny sizes and few rounds (the smoke test)."""
    quick: bool = False
    timeout: float = 60.0       # seconds a depth case may take in its own process
    verbose: bool = True
    skipped: list = field(default_factory=list)  # messages about missing peers

    def rounds(self, full: int, quick: int = 2) -> int:
        return quick if self.quick else full

    def log(self, message: str) -> None:
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    def skip(self, message: str) -> None:
        """Record (once) and show why a contender is not measured."""
        if message not in self.skipped:
            self.skipped.append(message)
            self.log(f"  skipped: {message}")


# ---------------------------------------------------------------------------
# matcalc's cross-call caches
# ---------------------------------------------------------------------------

#: lru_caches that hold a one-off build (the Lark parser), not results of earlier
#: requests: they stay, because a fresh process builds them once too
_KEPT_CACHES = ("parser", "grammar")


def clear_caches() -> list[str]:
    """Empty every cache that carries results from one request to the next, so that a
    repeated derivative costs what a new one costs.  Returns what was cleared.

    ``matcalc.clear_caches()`` is used when the engine has it; otherwise the memo dicts
    (``_MEMO``, ``_CACHE``) and ``functools`` caches of matcalc's modules are found here.
    """
    import matcalc
    if hasattr(matcalc, "clear_caches"):
        matcalc.clear_caches()
        return ["matcalc.clear_caches()"]
    cleared = []
    for name, module in sorted(sys.modules.items()):
        if not (name == "matcalc" or name.startswith("matcalc.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, dict) and attr.upper() == attr and attr.startswith("_") \
                    and ("MEMO" in attr or "CACHE" in attr):
                value.clear()
                cleared.append(f"{name}.{attr}")
            elif hasattr(value, "cache_clear") and getattr(value, "__module__", None) == name \
                    and not any(k in attr.lower() for k in _KEPT_CACHES):
                value.cache_clear()
                cleared.append(f"{name}.{attr}()")
    return cleared


# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------

@dataclass
class Contender:
    """One way of computing a figure: ``fn`` is timed, ``setup`` (untimed) runs first."""
    name: str
    fn: Callable[[], object]
    setup: Callable[[], object] | None = None


def interleave(contenders: list[Contender], rounds: int, warmup: int = 1) -> dict:
    """Seconds per call of each contender, ``rounds`` samples each, taken round by
    round with the order rotated every round.

    >>> samples = interleave([Contender("a", lambda: None), Contender("b", lambda: None)], 3)
    >>> sorted(samples), len(samples["a"])
    (['a', 'b'], 3)
    """
    for c in contenders:
        for _ in range(warmup):
            if c.setup:
                c.setup()
            c.fn()
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    k = len(contenders)
    for r in range(rounds):
        for i in range(k):
            c = contenders[(i + r) % k]
            if c.setup:
                c.setup()
            start = time.perf_counter()
            c.fn()
            samples[c.name].append(time.perf_counter() - start)
    return samples


def summary(samples: list[float]) -> dict:
    """Median, minimum and count of a list of seconds."""
    if not samples:
        return {"median": None, "min": None, "n": 0}
    return {"median": statistics.median(samples), "min": min(samples), "n": len(samples)}


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def paired_ratio(a: list[float], b: list[float]) -> float | None:
    """Median over rounds of a[i] / b[i]: the ratio of two contenders timed side by side."""
    pairs = [x / y for x, y in zip(a, b) if y > 0]
    return statistics.median(pairs) if pairs else None


def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log y against log x: 1 for linear growth, 2 for quadratic.

    >>> round(fit_exponent([1, 2, 4, 8], [3, 12, 48, 192]), 6)
    2.0
    """
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y and y > 0]
    if len(pts) < 2:
        return None
    mx = statistics.fmean(p[0] for p in pts)
    my = statistics.fmean(p[1] for p in pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def metric(value, at: str = "", note: str = "") -> dict:
    """A figure that a target can be checked against: its value (None when it was not
    measured, with the reason in ``note``) and the size it was measured at."""
    return {"value": value, "at": at, "note": note}


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------

def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_rss_peak() -> bool:
    """Reset the kernel's high-water mark of resident memory (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


#: the environment of a memory worker: glibc's malloc hands every block over 64 KiB
#: back to the system when it is freed (no dynamic threshold, no trimming delay), so the
#: resident set rises and falls with what a call really holds
MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}

MEMORY_METHOD = (
    "Peak memory is measured in a separate process per case (`python -m bench.evaluation "
    "--memory-worker ...`), after every contender has been called once (JAX compiles "
    "then), by two methods. tracemalloc: the peak of memory traced by Python's tracemalloc "
    "during one call; it includes NumPy's array buffers (NumPy reports them to "
    "tracemalloc) but not what JAX/XLA or PyTorch allocate natively, so it is shown for "
    "NumPy contenders only. RSS rise: the rise of the resident-set high-water mark "
    "(VmHWM, reset through /proc/self/clear_refs) over the resident set before the call, "
    "with glibc's malloc told to return every block over 64 KiB to the system when it is "
    "freed (MALLOC_MMAP_THRESHOLD_=65536, MALLOC_TRIM_THRESHOLD_=0); it sees every "
    "allocator, in pages, and misses memory that an allocator keeps in a pool of its own.")


def peak_memory(fn: Callable[[], object]) -> dict:
    """Peak extra memory of one call of ``fn``, in bytes, by both methods above (the
    RSS figure is meaningful in a process started with :data:`MEMORY_ENV`)."""
    out = {"tracemalloc": None, "rss": None}
    before = _proc_status_kib("VmRSS") if _reset_rss_peak() else None
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        out["tracemalloc"] = max(0, tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    high = _proc_status_kib("VmHWM")
    if before is not None and high is not None:
        out["rss"] = max(0, high - before) * 1024
    return out


# ---------------------------------------------------------------------------
# subprocess workers
# ---------------------------------------------------------------------------

def worker_env() -> dict:
    """Environment for a subprocess that measures this checkout's matcalc."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def run_worker(module: str, args: list[str], timeout: float,
               env: dict | None = None) -> dict:
    """Run ``python -m bench.<module> --worker ARGS`` with a time budget; its last
    stdout line is JSON.  A timeout or crash is reported, never raised."""
    cmd = [sys.executable, "-m", f"bench.{module}", "--worker", *args]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**worker_env(), **(env or {})}, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "timed out", "note": f"timed out after {timeout:g} s"}
    wall = time.perf_counter() - start
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "crashed", "note": f"worker exited {proc.returncode}: {tail}",
                "wall": wall}
    data = json.loads(lines[-1])
    data.setdefault("wall", wall)
    return data


# ---------------------------------------------------------------------------
# peers
# ---------------------------------------------------------------------------

def load_peer(name: str, config: Config):
    """The peer's module, or None (with a message) when it is not installed."""
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install
        config.skip(f"{name} is not available ({type(exc).__name__}: {exc}); its rows "
                    f"are skipped. Install the peers with: pip install -e \".[bench]\"")
        return None
    if name == "jax":
        # the same arithmetic as NumPy and PyTorch here: float64
        module.config.update("jax_enable_x64", True)
    if name == "torch" and os.environ.get("BENCH_THREADS"):
        module.set_num_threads(int(os.environ["BENCH_THREADS"]))
    return module


def limit_threads(n: int) -> None:
    """Run BLAS, OpenMP, PyTorch and XLA with ``n`` threads, here and in every worker.
    Must run before NumPy, JAX or PyTorch is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["BENCH_THREADS"] = str(n)
    if n == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false").strip()


def peer_info() -> dict:
    """Versions and thread counts of the peers that this process has imported."""
    info = {}
    if "jax" in sys.modules:
        import jax
        info["jax"] = {"version": jax.__version__, "backend": jax.default_backend(),
                       "devices": [str(d) for d in jax.devices()],
                       "x64": bool(jax.config.read("jax_enable_x64"))}
    if "torch" in sys.modules:
        import torch
        import re
        config = torch.__config__.show()
        blas = re.findall(r"(?:BLAS_INFO|LAPACK_INFO)=\w+", config)
        blas += [ln.strip(" -") for ln in config.splitlines()
                 if "Math Kernel Library Version" in ln or "OpenMP" in ln]
        info["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                         "interop_threads": torch.get_num_interop_threads(),
                         "blas": blas}
    if "sympy" in sys.modules:
        import sympy
        info["sympy"] = {"version": sympy.__version__,
                         "cache": os.environ.get("SYMPY_USE_CACHE", "yes")}
    return info


# ---------------------------------------------------------------------------
# the machine
# ---------------------------------------------------------------------------

PACKAGES = ("matcalc", "numpy", "lark", "sympy", "jax", "jaxlib", "torch", "threadpoolctl",
            "psutil")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def blas_info() -> dict:
    """The BLAS that NumPy was built with and the ones loaded now (threadpoolctl)."""
    import numpy as np
    info: dict = {}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_build"] = {k: blas.get(k) for k in ("name", "version",
                                                         "openblas configuration")
                               if blas.get(k)}
    except Exception as exc:  # older NumPy: no dict mode
        info["numpy_build"] = f"unavailable ({type(exc).__name__})"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["loaded"] = "threadpoolctl is not installed"
    else:
        info["loaded"] = [{k: p.get(k) for k in ("user_api", "internal_api", "version",
                                                  "architecture", "threading_layer",
                                                  "num_threads", "filepath")}
                          for p in threadpool_info()]
    return info


def machine_info() -> dict:
    """CPU, cores, memory, OS, Python, package versions, BLAS and the git commit."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = None
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "versions": versions,
        "blas": blas_info(),
        "peers": peer_info(),
        "git": {"commit": commit, "dirty": bool(dirty) if dirty is not None else None},
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "MKL_NUM_THREADS", "XLA_FLAGS",
                                                   "BENCH_THREADS")
                       if k in os.environ},
    }


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------

def fmt_seconds(s: float | None) -> str:
    """``1.23 ms``, ``45.6 µs``, ``2.10 s``; ``—`` when missing."""
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    return f"{r:.3g}×" if r < 1000 else f"{r:,.0f}×"


def fmt_bytes(b: int | None) -> str:
    if b is None:
        return "—"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b} B"
