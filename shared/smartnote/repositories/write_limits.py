"""The `write_counters` table: a per-user limit on writes that holds across Lambda containers.

Each write bumps the user's counter of the current fixed window with an atomic upsert and
commits it at once, on the request's own connection: the count is shared by every container,
stands even if the request fails later, and holds no lock for the rest of the request (nor a
second pooled connection, which concurrent requests could exhaust).
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from smartnote.db.sql import Session
from smartnote.db.tables import write_counters
from smartnote.errors import TooManyRequests


class WriteLimiter:
    def __init__(self, session: Session, limit: int, window_seconds: int) -> None:
        self._db = session
        self._limit = limit
        self._window = window_seconds

    def hit(self, user_id: str, now: datetime) -> None:
        """Count one write of `user_id`; over the limit it is refused with 429 + Retry-After."""
        epoch = int(now.timestamp())
        window_start = epoch - epoch % self._window
        statement = (
            _dialect_insert(self._db.dialect_name)(write_counters)
            .values(user_id=user_id, window_start=window_start, count=1)
            .on_conflict_do_update(
                index_elements=[write_counters.c.user_id, write_counters.c.window_start],
                set_={"count": write_counters.c.count + 1},
            )
            .returning(write_counters.c.count)
        )
        count = int(self._db.execute(statement).scalar_one())
        if count == 1:  # first write of a window: the user's older windows are done
            self._db.execute(
                delete(write_counters).where(
                    write_counters.c.user_id == user_id,
                    write_counters.c.window_start < window_start,
                )
            )
        self._db.commit()
        if count > self._limit:
            raise TooManyRequests(
                "Too many writes; slow down", retry_after=window_start + self._window - epoch
            )

    def delete_before(self, before: datetime) -> int:
        """Drop the counters of windows that ended before `before` (cleanup job)."""
        result = self._db.execute(
            delete(write_counters).where(
                write_counters.c.window_start < int(before.timestamp()) - self._window
            )
        )
        return int(result.rowcount)


def _dialect_insert(dialect: str) -> Any:
    """The `insert` with ON CONFLICT of the engine's dialect (both spell the upsert alike).

    Imported here: the engine has already loaded its own dialect, and importing both at
    start would load every Postgres driver module (asyncpg, psycopg...) into each function.
    """
    package = "postgresql" if dialect == "postgresql" else "sqlite"
    return importlib.import_module(f"sqlalchemy.dialects.{package}").insert
