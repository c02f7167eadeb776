"""Time, in one place, so that jobs and tests can inject it."""

from __future__ import annotations

from datetime import UTC, datetime


def to_stored_time(moment: datetime) -> datetime:
    """`moment` in UTC, truncated to milliseconds: exactly what MongoDB stores and returns."""
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    """Now, as stored."""
    return to_stored_time(datetime.now(UTC))
