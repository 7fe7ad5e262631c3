"""A real ``matcalc serve`` for the browser and load tests: started on 127.0.0.1 on a
free port (``--port 0``), stopped with Ctrl-C (SIGINT) as a user would."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def descendants(pid: int) -> set[int]:
    """The processes started (directly or not) by ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@contextlib.contextmanager
def running_server(*args: str, log_path: Path | None = None):
    """Yield ``(base_url, process)`` of ``matcalc serve --port 0 ARGS``."""
    log_path = log_path or ARTIFACTS / "serve.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "matcalc", "serve", "--host", "127.0.0.1", "--port", "0",
             *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            url = _wait_for_url(process, log_path)
            yield url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_for_url(process, log_path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"serving the page on (http://127\.0\.0\.1:\d+/)", log_path.read_text())
        if m:
            return m.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"matcalc serve exited early:\n{log_path.read_text()}")
        time.sleep(0.1)
    raise RuntimeError(f"matcalc serve did not start:\n{log_path.read_text()}")
