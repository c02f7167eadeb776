"""What every benchmark case shares: a throwaway local stack, users, events, DB timing, stats."""

from __future__ import annotations

import contextlib
import contextvars
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pymongo import monitoring
from sqlalchemy import Engine, event

from smartnote.config import get_settings
from smartnote.local.gateway import Gateway
from smartnote.local.stack import apply_environ, ephemeral_services
from smartnote.local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "tulip-orbit-7-canyon"
# Password hashing is not what these cases measure; keep registration cheap.
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST_KIB": "1024"}


def template() -> Template:
    return load_template(ROOT / "template.yaml")


@contextlib.contextmanager
def server_process(argv: list[str]) -> Iterator[str]:
    """A database server in a child process that prints its URI and serves until its stdin
    closes (bench/mongo_server.py, bench/mongoeco_server.py); yields the URI."""
    with subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            uri = child.stdout.readline().strip()
            if not uri:
                raise RuntimeError(f"{' '.join(argv)} exited without serving")
            yield uri
        finally:
            child.stdin.close()
            child.wait(30)


def secantus_process() -> contextlib.AbstractContextManager[str]:
    """SecantusDB in a child process (bench/mongo_server.py); yields its URI."""
    return server_process([sys.executable, "-m", "bench.mongo_server"])


@contextlib.contextmanager
def local_stack(mongodb_uri: str | None = None) -> Iterator[tuple[Gateway, dict[str, str]]]:
    """Embedded services + the gateway on a free loopback port; `mongodb_uri` overrides Mongo."""
    tpl = template()
    saved = dict(os.environ)
    if mongodb_uri:
        os.environ["MONGODB_URI"] = mongodb_uri
    with (
        tempfile.TemporaryDirectory(prefix="smartnote-bench-") as work,
        ephemeral_services(work, tpl) as env,
    ):
        apply_environ(tpl, {**env, **CHEAP_ARGON2, "LOG_LEVEL": "WARNING"})
        get_settings.cache_clear()
        try:
            with Gateway(tpl, port=0, quiet=True) as gateway:
                yield gateway, {**env, **CHEAP_ARGON2}
        finally:
            os.environ.clear()
            os.environ.update(saved)
            get_settings.cache_clear()


@dataclass
class BenchUser:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register(base_url: str, email: str) -> BenchUser:
    with httpx.Client(base_url=base_url, timeout=30) as api:
        api.post("/auth/register", json={"email": email, "password": PASSWORD}).raise_for_status()
        token = api.post("/auth/token", data={"username": email, "password": PASSWORD})
        token.raise_for_status()
        access = token.json()["access_token"]
        me = api.get("/users/me", headers={"Authorization": f"Bearer {access}"}).json()
    return BenchUser(me["id"], access)


class DbTimer(monitoring.CommandListener):
    """Time spent in Mongo commands and SQL statements by the call being timed (the API's
    own cost = the rest).

    The tally lives in a context variable, not a thread-local: the invocation's tasks and the
    blocking calls it sends to pool threads (which run in a copy of its context) all add to
    the tally of the `reset` that started it.
    """

    def __init__(self) -> None:
        self._tally: contextvars.ContextVar[list[float]] = contextvars.ContextVar("db_seconds")
        self._sql_started: dict[int, float] = {}
        monitoring.register(self)  # only clients created after this report to it
        event.listen(Engine, "before_cursor_execute", self._sql_before)
        event.listen(Engine, "after_cursor_execute", self._sql_after)

    def reset(self) -> None:
        self._tally.set([0.0])

    @property
    def seconds(self) -> float:
        return self._tally.get([0.0])[0]

    def _add(self, seconds: float) -> None:
        tally = self._tally.get(None)
        if tally is not None:
            tally[0] += seconds

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._add(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._add(event.duration_micros / 1e6)

    def _sql_before(self, conn: Any, *_: Any) -> None:
        self._sql_started[id(conn)] = time.perf_counter()

    def _sql_after(self, conn: Any, *_: Any) -> None:
        started = self._sql_started.pop(id(conn), None)
        if started is not None:
            self._add(time.perf_counter() - started)


def timed(fn: Callable[[], Any], timer: DbTimer | None = None) -> tuple[float, float]:
    """(total seconds, database seconds) of one call."""
    if timer is not None:
        timer.reset()
    start = time.perf_counter()
    fn()
    total = time.perf_counter() - start
    return total, (timer.seconds if timer is not None else 0.0)


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p95 and mean in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(p95 * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
        "n": len(ordered),
    }


def table(rows: list[list[Any]], header: list[str]) -> str:
    """Columns padded to their widest cell, a dashed line under the header."""
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
