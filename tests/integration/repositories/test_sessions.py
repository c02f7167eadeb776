"""The sessions repository against real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

from smartnote.db.sql import session_factory
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.users import UsersRepository


def test_a_user_agent_any_backend_can_hold(sql_url: str) -> None:
    # A NUL in the User-Agent header failed the login's insert on PostgreSQL (a 503);
    # an overlong one is cut to the column's length.
    with session_factory(sql_url)() as db:
        user = UsersRepository(db).create(
            email=f"agent-{uuid.uuid4().hex[:8]}@example.com",
            password_hash="not-a-hash",
            display_name=None,
            timezone="UTC",
        )
        sessions = SessionsRepository(db)
        with_nul = sessions.start(user.id, "agent\x00zero", timedelta(days=1)).session.id
        overlong = sessions.start(user.id, "a" * 2000, timedelta(days=1)).session.id
        db.commit()
        stored = {s.id: s.user_agent for s in sessions.list_live(user.id)}
    assert stored[with_nul] == "agent\ufffdzero"
    assert stored[overlong] == "a" * 512
