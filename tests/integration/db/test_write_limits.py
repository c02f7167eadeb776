"""The per-user write limit on real SQL (SQLite and PostgreSQL): windows, users, Retry-After."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from smartnote.db.sql import session_factory
from smartnote.db.tables import write_counters
from smartnote.errors import TooManyRequests
from smartnote.repositories.write_limits import WriteLimiter

START = datetime(2026, 11, 24, 9, 0, 0, tzinfo=UTC)


def limiter(sql_url: str) -> WriteLimiter:
    # A new session per call, like separate requests (or containers).
    return WriteLimiter(session_factory(sql_url)(), limit=2, window_seconds=60)


def test_third_write_in_a_window_is_refused_until_the_next(sql_url: str) -> None:
    user = str(uuid.uuid4())
    limiter(sql_url).hit(user, START)
    limiter(sql_url).hit(user, START + timedelta(seconds=10))
    with pytest.raises(TooManyRequests) as refused:
        limiter(sql_url).hit(user, START + timedelta(seconds=15))
    assert refused.value.headers["Retry-After"] == "45"
    limiter(sql_url).hit(user, START + timedelta(seconds=61))  # a new window


def test_users_are_counted_apart_and_old_windows_dropped(sql_url: str) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(2):
        limiter(sql_url).hit(first, START)
    limiter(sql_url).hit(second, START)  # not refused: per user
    limiter(sql_url).hit(first, START + timedelta(minutes=5))
    with session_factory(sql_url)() as db:
        rows = db.execute(
            select(func.count())
            .select_from(write_counters)
            .where(write_counters.c.user_id == first)
        ).scalar()
    assert rows == 1
