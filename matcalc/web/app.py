"""The web application of ``matcalc serve``: the page, its static files and the JSON
API under it.

Routes (all answers are JSON except the page and its files):

* ``GET /`` the page; ``GET /static/...`` its script, style and the vendored KaTeX;
* ``GET /api/info`` version, limits and the code backends of this engine;
* ``POST /api/inspect`` ``{"input", "vars"}`` → what ``matcalc.inspect`` returns;
* ``POST /api/diff`` ``{"input", "wrt", "kind", "vars", "check", "code"}`` → the JSON
  of ``matcalc diff --format json`` (plus ``code`` when asked for);
  ``/api/jacobian`` and ``/api/hessian`` are the same with that ``kind``.

A failed request answers the same JSON with an ``error`` object ``{"type", "message",
"span", "caret"}``: 422 for what matcalc refused (including the time limit, type
``LimitError``), 400 for a malformed request, 413 for a body over the size limit, 503
(``ServerBusy``) when too many requests wait, 500 (``InternalError``) for a bug.  The
symbolic work runs in worker processes (:mod:`matcalc.web.workers`).
"""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import matcalc

from .engine import KINDS, available_backends, failure
from .workers import Busy, TimeLimitExceeded, WorkerLost, WorkerPool

STATIC = Path(__file__).parent / "static"

#: Nothing but this server: no CDN, no inline script.  KaTeX sets inline styles.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "font-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]

MAX_DECLARATIONS = 200
MAX_WRT = 16


class RequestError(Exception):
    """A request that is not of the API's form; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def error_response(status: int, type_: str, message: str, request: dict | None = None,
                   headers: dict | None = None) -> JSONResponse:
    error = {"type": type_, "message": message, "span": None, "caret": None}
    body = failure(request, error) if request else {"error": error}
    return JSONResponse(body, status_code=status, headers=headers)


async def read_json(request: Request, max_body: int) -> dict:
    """The request's JSON object, read no further than ``max_body`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_body):
        raise RequestError(f"the request body is larger than {max_body} bytes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body:
            raise RequestError(f"the request body is larger than {max_body} bytes", 413)
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8 text; send a JSON object") from None
    except ValueError as exc:
        raise RequestError(f"the request body is not JSON ({exc.msg} at character "
                           f"{exc.pos}); send a JSON object like "
                           '{"input": "g(W*x+b)", "wrt": "W"}') from None
    if not isinstance(data, dict):
        raise RequestError("the request body must be a JSON object, like "
                           '{"input": "g(W*x+b)", "wrt": "W"}')
    return data


def read_task(data: dict, op: str, kind: str | None) -> dict:
    """Check the request's fields and turn them into a worker's task."""
    task = {"op": op, "input": data.get("input")}
    if not isinstance(task["input"], str):
        raise RequestError('"input" must be the expression, a string')
    vars_ = data.get("vars") or {}
    if not isinstance(vars_, dict) or len(vars_) > MAX_DECLARATIONS or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in vars_.items()):
        raise RequestError('"vars" must be an object of name: kind strings, like '
                           '{"S": "symmetric", "W": "matrix(m,n)"}')
    task["vars"] = vars_
    if op == "inspect":
        return task
    kind = kind or data.get("kind", "gradient")
    if kind == "diff":
        kind = "gradient"
    if kind not in KINDS:
        raise RequestError(f'"kind" must be one of {", ".join(KINDS)}')
    wrt = data.get("wrt")
    if isinstance(wrt, list) and 0 < len(wrt) <= MAX_WRT and all(isinstance(w, str) for w in wrt):
        wrt = wrt[0] if len(wrt) == 1 else wrt
    elif not isinstance(wrt, str):
        raise RequestError('"wrt" must be the variable\'s name, or a list of names')
    for flag in ("check", "code"):
        if not isinstance(data.get(flag, False), bool):
            raise RequestError(f'"{flag}" must be true or false')
    task.update(kind=kind, wrt=wrt, check=data.get("check", False),
                code=data.get("code", False))
    return task


async def answer(request: Request, op: str, kind: str | None = None) -> JSONResponse:
    """Read, check and compute one API request; never a traceback."""
    settings = request.app.state.settings
    task = None
    try:
        task = read_task(await read_json(request, settings["max_body"]), op, kind)
        status, body = await request.app.state.pool.run(task)
        return JSONResponse(body, status_code=status)
    except RequestError as exc:
        return error_response(exc.status, "RequestError", exc.message, task)
    except TimeLimitExceeded:
        return error_response(
            422, "LimitError",
            f"took too long: the computation did not finish within the server's time "
            f"limit of {settings['time_limit']:g} s (matcalc serve --time-limit)", task)
    except Busy:
        return error_response(503, "ServerBusy", "the server is busy with other "
                              "requests; try again in a moment", task,
                              headers={"Retry-After": "1"})
    except WorkerLost:
        return error_response(500, "InternalError", "the process computing this request "
                              "stopped unexpectedly; please report this input", task)


async def page(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def info(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    return JSONResponse({
        "version": matcalc.__version__,
        "kinds": list(KINDS),
        "backends": available_backends(),
        "limits": {"time_limit": settings["time_limit"], "max_body": settings["max_body"],
                   "max_input_chars": matcalc.LIMITS.max_input_chars},
        "workers": request.app.state.pool.stats(),
    })


async def inspect(request: Request) -> JSONResponse:
    return await answer(request, "inspect")


async def diff(request: Request) -> JSONResponse:
    return await answer(request, "diff")


async def jacobian(request: Request) -> JSONResponse:
    return await answer(request, "diff", "jacobian")


async def hessian(request: Request) -> JSONResponse:
    return await answer(request, "diff", "hessian")


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Unknown paths and wrong methods, answered in JSON like every other error."""
    message = f"{request.method} {request.url.path}: {exc.detail}"
    return error_response(exc.status_code, "RequestError", message, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug in the server: the client gets JSON, the server's log the traceback."""
    return error_response(500, "InternalError",
                          "internal error in matcalc serve; please report this input")


class SecurityHeaders:
    """Adds the CSP and its companions to every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(workers: int = 2, slow_workers: int = 1, time_limit: float = 5.0,
               fast_limit: float = 0.25, max_body: int = 64 * 1024,
               allowed_hosts: list[str] | None = None) -> Starlette:
    """The application; its worker pool starts and stops with it (ASGI lifespan).

    ``allowed_hosts`` (Host header names, ``None`` for any) guards a loopback server
    against DNS rebinding.
    """
    @asynccontextmanager
    async def lifespan(app):
        pool = WorkerPool(workers, slow_workers, time_limit, fast_limit)
        await pool.start()
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/info", info),
            Route("/api/inspect", inspect, methods=["POST"]),
            Route("/api/diff", diff, methods=["POST"]),
            Route("/api/jacobian", jacobian, methods=["POST"]),
            Route("/api/hessian", hessian, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.settings = {"time_limit": time_limit, "max_body": max_body}
    return app
