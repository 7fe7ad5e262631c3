"""``matcalc serve``: its arguments and its runner.

This module imports nothing heavy, so that ``matcalc`` starts fast; the web framework
is imported when the server starts, and its absence is a clear message.
"""
from __future__ import annotations

import argparse
import sys

MISSING = ('matcalc serve needs the web extra, which is not installed: '
           'pip install "matcalc[web]"')


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``serve`` command to the CLI's subparsers."""
    help_text = "start the local web page (offline; Ctrl-C stops it)"
    p = subparsers.add_parser("serve", help=help_text, description=help_text)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000,
                   help="port (default 8000; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument("--workers", type=_positive_int, default=2,
                   help="worker processes for ordinary requests (default 2)")
    p.add_argument("--slow-workers", type=_positive_int, default=1,
                   help="worker processes for requests that run long (default 1)")
    p.add_argument("--time-limit", type=_positive_float, default=5.0, metavar="SECONDS",
                   help="longest time one request may compute (default 5)")
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, not {text}")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    import ipaddress
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    """Serve until Ctrl-C; the exit code."""
    try:
        import uvicorn

        from .app import create_app
    except ImportError:
        print(MISSING, file=sys.stderr)
        return 1
    loopback = is_loopback(args.host)
    if not loopback:
        print(f"matcalc: warning: listening on {args.host}, so other machines can reach "
              "this server and use its CPU; it has no login. Use --host 127.0.0.1 to "
              "keep it local.", file=sys.stderr)
    # Host names a loopback server answers to: a guard against DNS rebinding.
    hosts = ["127.0.0.1", "localhost", args.host] if loopback and ":" not in args.host else None
    app = create_app(workers=args.workers, slow_workers=args.slow_workers,
                     time_limit=args.time_limit, allowed_hosts=hosts)
    server = uvicorn.Server(uvicorn.Config(
        app, host=args.host, port=args.port, log_level="warning", access_log=False,
        timeout_graceful_shutdown=3))
    import threading
    done = threading.Event()
    threading.Thread(target=_announce, args=(server, args, done), daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C after a clean shutdown
        pass
    except SystemExit:  # uvicorn could not start and has said why (port in use, ...)
        pass
    finally:
        done.set()
    if not server.started:
        print(f"matcalc: could not serve on {args.host}:{args.port}", file=sys.stderr)
        return 1
    print("matcalc: stopped", file=sys.stderr)
    return 0


def _announce(server, args, done: threading.Event) -> None:
    """Once the server listens: print its address, and open it when asked to."""
    while not server.started:
        if done.wait(0.05):
            return
    port = args.port
    for s in getattr(server, "servers", []):
        for sock in s.sockets:
            port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{port}/"
    print(f"matcalc: serving the page on {url}  (Ctrl-C stops)", file=sys.stderr,
          flush=True)
    if args.open:
        import webbrowser
        webbrowser.open(url)
