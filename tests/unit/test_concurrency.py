"""The container's blocking-call pool: every thread starts up front, none while serving."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import wait

from smartnote.concurrency import (
    CONTAINER_THREADS,
    equip,
    loop_to_itself,
    prestarted_pool,
    run_blocking,
    run_short,
)


def _threads(prefix: str) -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(prefix))


def test_prestarted_pool_runs_all_its_threads_before_any_call() -> None:
    pool = prestarted_pool(3, name="probe-pool")
    try:
        started = _threads("probe-pool")
        assert len(started) == 3
        # A burst of calls, each submitted while earlier ones may still be finishing: the
        # situation in which a lazily growing pool starts more threads.
        futures = [pool.submit(threading.get_ident) for _ in range(300)]
        wait(futures)
        assert _threads("probe-pool") == started
        assert {f.result() for f in futures} <= {t.ident for t in threading.enumerate()}
    finally:
        pool.shutdown()
    assert _threads("probe-pool") == []


REQUEST = contextvars.ContextVar("request", default="none")


def test_run_blocking_uses_the_loops_own_pool_and_keeps_context() -> None:
    loop = asyncio.new_event_loop()
    try:

        async def two_calls() -> list[tuple[str, str]]:
            REQUEST.set("req-1")  # as the middleware sets the request id
            return [
                await run_blocking(lambda: (threading.current_thread().name, REQUEST.get()))
                for _ in "ab"
            ]

        calls = loop.run_until_complete(two_calls())
        assert all(name.startswith("container") for name, _ in calls)
        assert [request for _, request in calls] == ["req-1", "req-1"]
        pool_threads = {t.name for t in threading.enumerate() if t.name.startswith("container")}
        assert len(pool_threads) >= CONTAINER_THREADS
    finally:
        loop.close()  # shuts the loop's pool down with it


def test_a_loop_equipped_with_a_bigger_pool_keeps_it() -> None:
    """A server running many requests on one loop (loadtests/direct.py) sizes its pool: that
    many blocking calls can wait on each other at once (with the default pool they would
    starve, as requests waiting on SQLite's lock starved the commit that frees it)."""
    workers = CONTAINER_THREADS + 3
    loop = asyncio.new_event_loop()
    try:
        equip(loop, workers=workers)
        barrier = threading.Barrier(workers, timeout=10)

        async def all_at_once() -> list[int]:
            return list(await asyncio.gather(*(run_blocking(barrier.wait) for _ in range(workers))))

        assert sorted(loop.run_until_complete(all_at_once())) == list(range(workers))
    finally:
        loop.close()


def test_run_short_is_inline_only_while_the_invocation_has_the_loop_to_itself() -> None:
    """In a Lambda invocation a short blocking call skips the trip to a pool thread; where a
    loop serves many requests, it still leaves the loop free."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:

        async def where() -> tuple[str, str]:
            REQUEST.set("req-2")
            return await run_short(lambda: (threading.current_thread().name, REQUEST.get()))

        here = threading.current_thread().name
        with loop_to_itself():
            alone = loop.run_until_complete(where())
        shared = loop.run_until_complete(where())
        assert alone == (here, "req-2")
        assert shared[0] != here and shared[0].startswith("container")
        assert shared[1] == "req-2"
    finally:
        asyncio.set_event_loop(None)
        loop.close()
