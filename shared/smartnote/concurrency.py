"""Blocking work (SQL) off the event loop, on threads that outlive the invocation.

FastAPI runs a plain `def` dependency on anyio's worker threads, and anyio retires those
threads when the root task ends. Mangum starts a new root task for every invocation, so each
warm invocation paid for starting a fresh thread (and a hop per dependency). The loop's own
executor lives as long as the loop, i.e. the container, so its threads are reused.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` on the running loop's executor, with the caller's context vars."""
    context = contextvars.copy_context()  # keeps the request id in log lines
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(None, call)
