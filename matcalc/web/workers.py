"""A bounded pool of worker processes for the symbolic work of the web page.

The event loop never computes: every request goes to a worker process through a
pipe, and the loop only waits for the pipe to become readable.  The pool has two
lanes, each a fixed number of processes and a FIFO of requests waiting for one:

* the **fast lane** (``workers``, default 2) takes every request first, for at most
  ``fast_limit`` seconds (default 0.25);
* a request still running then is moved to the **slow lane** (``slow_workers``,
  default 1), where it starts again with the full ``time_limit`` (default 5 s), at a
  lower CPU priority (``nice`` +10).

A worker whose request runs past its lane's limit is killed and replaced, so a
pathological input holds one slow-lane worker for a few seconds at most, and the
ordinary requests keep the fast lane to themselves.  Past the slow lane's limit the
answer is a :class:`TimeLimitExceeded`; a lane with too many requests waiting, or no
free worker within ``time_limit``, answers :class:`Busy`.

Workers come from a fork server that has imported and warmed up the engine (see
:mod:`matcalc.web.preload`), so a replacement is ready in milliseconds; where fork
servers do not exist (Windows) they are spawned.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from dataclasses import dataclass, field

log = logging.getLogger("matcalc.web")

#: how much lower the slow lane's CPU priority is (as ``nice``)
SLOW_NICENESS = 10


class TimeLimitExceeded(Exception):
    """The request ran past the time limit; its worker was replaced."""


class Busy(Exception):
    """Too many requests are waiting; the request was not started."""


class WorkerLost(Exception):
    """The worker process died while computing (for example killed for its memory)."""


def context():
    """The multiprocessing context of the workers: a fork server with the engine
    preloaded where there is one, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["matcalc.web.preload"])
        return ctx
    return multiprocessing.get_context("spawn")


def worker_main(conn, niceness: int = 0) -> None:
    """A worker's life: receive a task, answer it, until the pipe closes."""
    # Ctrl-C reaches the whole process group; the server shuts the workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)
    from . import preload  # noqa: F401  (warm already when forked from the fork server)
    from .engine import handle
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(handle(task))


class Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx, niceness: int = 0):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, niceness), daemon=True,
                                   name="matcalc-worker")
        self.process.start()
        child.close()

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


async def readable(conn, timeout: float) -> None:
    """Wait until ``conn`` has data, or raise ``asyncio.TimeoutError``."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)


@dataclass
class Lane:
    """A fixed number of workers and the requests waiting for one of them."""
    name: str
    size: int
    ctx: object
    max_waiting: int
    niceness: int = 0
    idle: asyncio.Queue = field(default_factory=asyncio.Queue)
    waiting: int = 0
    replaced: int = 0
    tasks: set = field(default_factory=set)
    closed: bool = False

    async def start(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.to_thread(Worker, self.ctx, self.niceness))

    async def run(self, task: dict, time_limit: float, wait_limit: float):
        """The worker's answer to ``task``; raises Busy, TimeLimitExceeded or
        WorkerLost."""
        if self.waiting >= self.max_waiting:
            raise Busy(f"{self.waiting} requests are waiting")
        self.waiting += 1
        try:
            worker = await asyncio.wait_for(self.idle.get(), wait_limit)
        except asyncio.TimeoutError:
            raise Busy(f"no {self.name} worker was free within {wait_limit:g} s") from None
        finally:
            self.waiting -= 1
        healthy = False
        try:
            worker.conn.send(task)
            await readable(worker.conn, time_limit)
            answer = worker.conn.recv()
            healthy = True
            return answer
        except asyncio.TimeoutError:
            raise TimeLimitExceeded(f"no answer within {time_limit:g} s") from None
        except (EOFError, OSError) as exc:
            raise WorkerLost(f"the worker stopped ({type(exc).__name__})") from None
        finally:
            # A worker that timed out, died or was abandoned (the request was
            # cancelled) may still be computing: it is never reused.
            if healthy:
                self.idle.put_nowait(worker)
            else:
                self.replace(worker)

    def replace(self, worker: Worker) -> None:
        """Kill ``worker`` and put a fresh one in its place, in the background."""
        self.replaced += 1
        task = asyncio.get_running_loop().create_task(self._respawn(worker))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _respawn(self, worker: Worker) -> None:
        await asyncio.to_thread(worker.stop)
        if self.closed:
            return
        try:
            fresh = await asyncio.to_thread(Worker, self.ctx, self.niceness)
        except Exception:  # pragma: no cover - the machine cannot start processes
            log.exception("could not start a %s worker", self.name)
            return
        if self.closed:
            await asyncio.to_thread(fresh.stop)
        else:
            self.idle.put_nowait(fresh)

    async def close(self) -> None:
        self.closed = True
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        workers = []
        while not self.idle.empty():
            workers.append(self.idle.get_nowait())
        for worker in workers:
            await asyncio.to_thread(worker.stop)


class WorkerPool:
    """The fast and slow lanes (see the module's docstring).

    ``run(task)`` returns the worker's ``(status, answer)``; use it between
    ``await pool.start()`` and ``await pool.close()``.
    """

    def __init__(self, workers: int = 2, slow_workers: int = 1, time_limit: float = 5.0,
                 fast_limit: float = 0.25, max_waiting: int = 64):
        if workers < 1 or slow_workers < 0 or time_limit <= 0 or fast_limit <= 0:
            raise ValueError("need workers >= 1, slow_workers >= 0 and positive limits")
        self.time_limit = time_limit
        # without a slow lane, the fast lane is the only chance: it gets the full limit
        self.fast_limit = min(fast_limit, time_limit) if slow_workers else time_limit
        ctx = context()
        self.fast = Lane("fast", workers, ctx, max_waiting)
        # The slow lane runs at a lower CPU priority: on a machine with few cores, a
        # pathological input then takes the CPU time that ordinary requests leave.
        self.slow = Lane("slow", slow_workers, ctx, max_waiting, niceness=SLOW_NICENESS)

    async def start(self) -> None:
        await self.fast.start()
        await self.slow.start()

    async def run(self, task: dict):
        try:
            return await self.fast.run(task, self.fast_limit, self.time_limit)
        except TimeLimitExceeded:
            if self.fast_limit >= self.time_limit:
                raise
        return await self.slow.run(task, self.time_limit, self.time_limit)

    @property
    def replaced(self) -> int:
        """How many workers were killed and replaced so far."""
        return self.fast.replaced + self.slow.replaced

    def stats(self) -> dict:
        return {lane.name: {"workers": lane.size, "waiting": lane.waiting,
                            "replaced": lane.replaced}
                for lane in (self.fast, self.slow)}

    async def close(self) -> None:
        await self.fast.close()
        await self.slow.close()
