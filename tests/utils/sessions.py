"""Sessions written straight to the SQL database: many logins, at chosen times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from smartnote.db.sql import session_factory
from smartnote.db.tables import sessions

# Three sessions to each creation time: ties fall on the page boundaries of limit=20.
START = datetime(2026, 11, 1, tzinfo=UTC)
TIED = [START + timedelta(minutes=i // 3) for i in range(44)]


def add_sessions(sql_url: str, user_id: str, stamps: list[datetime]) -> list[str]:
    """The ids of new live sessions of `user_id`, started at `stamps` (as many logins over
    time would have), with user agents `device-0`, `device-1`..."""
    rows = [
        {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "user_agent": f"device-{i}",
            "created_at": stamp,
            "last_used_at": stamp,
            "expires_at": datetime.now(UTC) + timedelta(days=30),
        }
        for i, stamp in enumerate(stamps)
    ]
    with session_factory(sql_url)() as db:
        db.execute(insert(sessions), rows)
        db.commit()
    return [row["id"] for row in rows]
