"""A bounded load test of ``matcalc serve``, against a server that the test starts on
127.0.0.1 with its default settings (2 fast workers, 1 slow worker, 5 s limit).

16 clients send requests back to back for 20 seconds (MATCALC_LOAD_CLIENTS,
MATCALC_LOAD_SECONDS): 10 send ordinary requests as the page does (inspect, derivative
with check and code, Jacobian, Hessian), 2 send slow ones (a nested expression that
computes for seconds), 2 bad ones (syntax errors, 100 KiB bodies, garbage bytes, JSON
that is not a request) and 2 escaping probes.  Every request must be answered with a
result or a clear JSON error, the ordinary requests' p99 latency must stay under one
second while the slow ones run, and the server must answer afterwards.  The figures go
to tests/artifacts/load.json and load.md (recorded in docs/web.md).
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import platform
import threading
import time
from urllib.parse import urlsplit

import pytest

pytest.importorskip("uvicorn")

from web_server import ARTIFACTS, running_server  # noqa: E402

pytestmark = pytest.mark.load

CLIENTS = int(os.environ.get("MATCALC_LOAD_CLIENTS", "16"))
SECONDS = float(os.environ.get("MATCALC_LOAD_SECONDS", "20"))
REQUEST_TIMEOUT = 60  # a client gives up (and the test fails) after this long
XSS = "<img src=x onerror=alert(1)>"


def nested(depth: int, name: str = "X") -> str:
    e = name
    for _ in range(depth):
        e = f"(A*{e}*B+{e}')"
    return f"tr({e})"


def body(data) -> bytes:
    return json.dumps(data).encode()


ORDINARY = [
    ("/api/inspect", body({"input": "g(W*x+b)"})),
    ("/api/diff", body({"input": "g(W*x+b)", "wrt": "W", "check": True, "code": True})),
    ("/api/diff", body({"input": "x'*S*x", "wrt": "x", "vars": {"S": "symmetric"},
                        "check": True, "code": True})),
    ("/api/diff", body({"input": "norm2(W2*tanh(W1*x+b1) - y)^2", "wrt": "W1",
                        "check": True, "code": True})),
    ("/api/jacobian", body({"input": "tanh(W*x+b)", "wrt": "x", "check": True})),
    ("/api/hessian", body({"input": "sum(log(vector(1)+exp(X*w))) - y'*X*w", "wrt": "w",
                           "check": True})),
    ("/api/inspect", body({"input": "log(det(X)) + tr(A*X*B)"})),
]
# the slow ones: seconds of symbolic work each (depth 10 runs past the 5 s limit here,
# depth 9 takes 2 to 3 s); every one is a new input, so that nothing can be remembered
SLOW = [("/api/diff", body({"input": nested(10 - (i % 4 == 3), f"X{i}"), "wrt": f"X{i}"}))
        for i in range(200)]
BAD = [
    ("/api/diff", body({"input": "g(W*x+", "wrt": "W"}), 422),
    ("/api/diff", body({"input": "x" * 100_000, "wrt": "x"}), 413),
    ("/api/diff", b"\xff\x00\x13garbage\x80", 400),
    ("/api/diff", b'{"input": "x", "wrt": 7}', 400),
    ("/api/diff", b"[]", 400),
    ("/api/inspect", body({"input": "x + * y"}), 422),
]
PROBES = [
    ("/api/diff", body({"input": XSS, "wrt": "W"}), XSS),
    ("/api/inspect", body({"input": XSS}), XSS),
    ("/api/diff", body({"input": "x", "wrt": "x", "vars": {XSS: "scalar"}}), "x"),
    ("/api/diff", body({"input": "</script><script>alert(1)</script>", "wrt": "x"}),
     "</script><script>alert(1)</script>"),
]


class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []       # (role, path, status, seconds, error type or None)
        self.failures = []   # requests without a proper answer

    def add(self, *row):
        with self.lock:
            self.rows.append(row)

    def fail(self, message):
        with self.lock:
            self.failures.append(message)


def send(host, port, path, payload):
    """POST on a fresh connection: ``(status, headers, parsed JSON, seconds)``."""
    conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
    start = time.monotonic()
    try:
        conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        seconds = time.monotonic() - start
        return response.status, dict(response.getheaders()), json.loads(raw), seconds
    finally:
        conn.close()


def client(role, requests, host, port, deadline, record: Record):
    for item in itertools.cycle(requests):
        if time.monotonic() >= deadline:
            return
        path, payload = item[0], item[1]
        try:
            status, headers, answer, seconds = send(host, port, path, payload)
        except Exception as exc:  # no answer at all: the one thing that must not happen
            record.fail(f"{role} {path}: no answer ({type(exc).__name__}: {exc})")
            continue
        error = answer.get("error") if isinstance(answer, dict) else None
        record.add(role, path, status, seconds, error and error.get("type"))
        if not headers.get("content-type", "").startswith("application/json"):
            record.fail(f"{role} {path}: answered {headers.get('content-type')}")
        if role == "ordinary" and (status != 200 or error):
            record.fail(f"ordinary {path}: {status} {error}")
        elif role == "slow" and not (
                status == 200 or (status == 422 and error["type"] == "LimitError")
                or (status == 503 and error["type"] == "ServerBusy")):
            record.fail(f"slow {path}: {status} {error}")
        elif role == "bad" and (status != item[2] or not error or not error.get("message")):
            record.fail(f"bad {path}: {status} {error}, expected {item[2]}")
        elif role == "probe" and (status not in (400, 422) or answer.get("input") != item[2]):
            record.fail(f"probe {path}: {status} {answer}")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def roles(n):
    """10 ordinary, 2 slow, 2 bad, 2 probes for 16 clients (in proportion otherwise)."""
    slow = bad = probe = max(1, n // 8)
    return (["slow"] * slow + ["bad"] * bad + ["probe"] * probe
            + ["ordinary"] * max(1, n - slow - bad - probe))


def test_load(tmp_path):
    with running_server(log_path=ARTIFACTS / "serve-load.log") as (url, process):
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        record = Record()
        work = {"ordinary": ORDINARY, "slow": SLOW, "bad": BAD, "probe": PROBES}
        start = time.monotonic()
        deadline = start + SECONDS
        threads = []
        for i, role in enumerate(roles(CLIENTS)):
            # each client starts at another place in its list, so the mix is spread
            rotated = work[role][i % len(work[role]):] + work[role][:i % len(work[role])]
            threads.append(threading.Thread(
                target=client, args=(role, rotated, host, port, deadline, record)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 2 * REQUEST_TIMEOUT)
        elapsed = time.monotonic() - start
        assert not any(t.is_alive() for t in threads), "a client never finished"

        # the server still answers, quickly, after the storm
        after = time.monotonic()
        status, _, answer, _ = send(host, port, "/api/diff", ORDINARY[1][1])
        after = time.monotonic() - after
        assert status == 200 and answer["result"]["text"] == "∇g(W*x+b)*x'"
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/api/info")
        info = json.loads(conn.getresponse().read())
        conn.close()

    by_role = {r: [row for row in record.rows if row[0] == r] for r in work}
    ordinary = [row[3] for row in by_role["ordinary"]]
    slow_outcomes = {}
    for row in by_role["slow"]:
        key = "result" if row[2] == 200 else row[4]
        slow_outcomes[key] = slow_outcomes.get(key, 0) + 1
    figures = {
        "clients": CLIENTS, "seconds": round(elapsed, 1),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "requests": len(record.rows) + len(record.failures),
        "answered": len(record.rows),
        "unanswered_or_wrong": len(record.failures),
        "per_role": {r: len(rows) for r, rows in by_role.items()},
        "ordinary_per_second": round(len(ordinary) / elapsed, 1),
        "all_per_second": round(len(record.rows) / elapsed, 1),
        "ordinary_p50_ms": round(1000 * percentile(ordinary, 0.50), 1),
        "ordinary_p99_ms": round(1000 * percentile(ordinary, 0.99), 1),
        "ordinary_max_ms": round(1000 * max(ordinary), 1),
        "slow_outcomes": slow_outcomes,
        "slow_max_s": round(max(row[3] for row in by_role["slow"]), 2),
        "workers_replaced": info["workers"]["fast"]["replaced"]
                            + info["workers"]["slow"]["replaced"],
        "answer_after_ms": round(1000 * after, 1),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(figures, indent=2) + "\n")
    (ARTIFACTS / "load.md").write_text(
        "| figure | value |\n|---|---|\n"
        + "".join(f"| {k} | {v} |\n" for k, v in figures.items()))
    print("\nload test:", json.dumps(figures))

    assert not record.failures, record.failures[:10]
    assert len(ordinary) >= 10 * CLIENTS  # the ordinary clients were served throughout
    assert figures["ordinary_p99_ms"] < 1000, figures
    assert slow_outcomes.get("LimitError", 0) >= 1, figures  # slow ones really ran long
    assert figures["workers_replaced"] >= 1
