"""Blocking work (SQL) off the event loop, on threads that outlive the invocation.

FastAPI runs a plain `def` dependency on anyio's worker threads, and anyio retires those
threads when the root task ends. Mangum starts a new root task for every invocation, so each
warm invocation paid for starting a fresh thread (and a hop per dependency). The loop's own
executor lives as long as the loop, i.e. the container, so its threads are reused.

asyncio's default executor starts its threads lazily, and starts another whenever a call is
submitted before the previous call's thread has marked itself idle: on a busy CPU that race
kept adding threads during warm invocations. Each container loop therefore gets a pool whose
threads all start with its first blocking call, and none after.

A Lambda invocation has its container's loop to itself: nothing else runs on it meanwhile, so
a short blocking call (`run_short`: SQL on the container's connection) runs inline there.
The trip to a pool thread and back cost a warm `GET /notes/{id}` ~0.24 ms of its ~0.9 ms
own time (bench case warm). Where one loop serves many requests (uvicorn, the tests'
client) the same call still goes to the pool, so it never holds the others up.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Blocking calls one invocation may have in flight at once (/health runs two in parallel).
CONTAINER_THREADS = 4
_equipped: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_loop_to_itself = contextvars.ContextVar("loop_to_itself", default=False)


def prestarted_pool(workers: int, name: str = "container") -> ThreadPoolExecutor:
    """A thread pool with all `workers` threads running: it never starts one later."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    # Each task holds its thread at the barrier, so every submit finds no idle thread and
    # starts a new one, up to `workers`; then all are released at once.
    barrier = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(barrier.wait)
    barrier.wait()
    return pool


def equip(loop: asyncio.AbstractEventLoop, workers: int = CONTAINER_THREADS) -> None:
    """Give `loop` a pool of `workers` threads as default executor (closed with the loop),
    unless it has one: a server that runs many requests on one loop equips it with more."""
    if loop not in _equipped:
        loop.set_default_executor(prestarted_pool(workers))
        _equipped.add(loop)


async def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on the running loop's executor, with the caller's context vars."""
    loop = asyncio.get_running_loop()
    equip(loop)
    context = contextvars.copy_context()  # keeps the request id in log lines
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await loop.run_in_executor(None, call)


@contextmanager
def loop_to_itself() -> Iterator[None]:
    """Within: the work started here has the event loop to itself (one Lambda invocation),
    so `run_short` calls run inline. The tasks it creates inherit the mark."""
    token = _loop_to_itself.set(True)
    try:
        yield
    finally:
        _loop_to_itself.reset(token)


async def run_short(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A short blocking call: inline when the invocation has the loop to itself (see
    `loop_to_itself`), else on the loop's executor like `run_blocking`."""
    if _loop_to_itself.get():
        return fn(*args, **kwargs)
    return await run_blocking(fn, *args, **kwargs)
