"""The `write_counters` table: a per-user limit on writes that holds across Lambda containers.

Each write bumps the user's counter of the current fixed window in its own short
transaction (an atomic upsert), so the count is shared by every container and never holds
a lock for the rest of the request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from smartnote.db.tables import WriteCounter
from smartnote.errors import TooManyRequests


class WriteLimiter:
    def __init__(self, engine: Engine, limit: int, window_seconds: int) -> None:
        self._engine = engine
        self._limit = limit
        self._window = window_seconds

    def hit(self, user_id: str, now: datetime) -> None:
        """Count one write of `user_id`; over the limit it is refused with 429 + Retry-After."""
        epoch = int(now.timestamp())
        window_start = epoch - epoch % self._window
        # Both dialects spell the atomic upsert the same way (INSERT ... ON CONFLICT).
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(WriteCounter)
            .values(user_id=user_id, window_start=window_start, count=1)
            .on_conflict_do_update(
                index_elements=[WriteCounter.user_id, WriteCounter.window_start],
                set_={"count": WriteCounter.count + 1},
            )
            .returning(WriteCounter.count)
        )
        with self._engine.begin() as connection:
            count = int(connection.execute(statement).scalar_one())
            if count == 1:  # first write of a window: the user's older windows are done
                connection.execute(
                    delete(WriteCounter).where(
                        WriteCounter.user_id == user_id, WriteCounter.window_start < window_start
                    )
                )
        if count > self._limit:
            raise TooManyRequests(
                "Too many writes; slow down", retry_after=window_start + self._window - epoch
            )

    def delete_before(self, before: datetime) -> int:
        """Drop the counters of windows that ended before `before` (cleanup job)."""
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(WriteCounter).where(
                    WriteCounter.window_start < int(before.timestamp()) - self._window
                )
            )
        return int(result.rowcount)
