"""Blocking work (SQL) off the event loop, on threads that outlive the invocation.

FastAPI runs a plain `def` dependency on anyio's worker threads, and anyio retires those
threads when the root task ends. Mangum starts a new root task for every invocation, so each
warm invocation paid for starting a fresh thread (and a hop per dependency). The loop's own
executor lives as long as the loop, i.e. the container, so its threads are reused.

asyncio's default executor starts its threads lazily, and starts another whenever a call is
submitted before the previous call's thread has marked itself idle: on a busy CPU that race
kept adding threads during warm invocations. Each container loop therefore gets a pool whose
threads all start with its first blocking call, and none after.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Blocking calls one invocation may have in flight at once (/health runs two in parallel).
CONTAINER_THREADS = 4
_equipped: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


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
