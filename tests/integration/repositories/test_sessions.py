"""The sessions repository against real SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from smartnote.db.sql import get_engine, session_factory
from smartnote.repositories.sessions import RefreshRejected, SessionsRepository
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


def test_a_refresh_that_read_its_session_before_it_ended_issues_nothing(sql_url: str) -> None:
    """A refresh read its session live, then a logout (or a revocation, a password change)
    ended it: the refresh still answered 200 with a new pair, of a session that was over (both
    tokens a 401 at their first use). The logout is committed here at the driver's boundary,
    just before the refresh spends its token."""
    with session_factory(sql_url)() as db:
        user = UsersRepository(db).create(
            f"race-{uuid.uuid4().hex[:8]}@example.com", "not-a-hash", None, "UTC"
        )
        issued = SessionsRepository(db).start(user.id, None, timedelta(days=1))
        db.commit()

        ended: list[str] = []

        def end_the_session_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("UPDATE refresh_tokens") and not ended:
                ended.append(statement)
                with session_factory(sql_url)() as other:
                    SessionsRepository(other).revoke(issued.session.id, "logout")
                    other.commit()

        engine = get_engine(sql_url)
        event.listen(engine, "before_cursor_execute", end_the_session_first)
        try:
            with pytest.raises(RefreshRejected):
                SessionsRepository(db).rotate(issued.token)
        finally:
            event.remove(engine, "before_cursor_execute", end_the_session_first)
        assert len(ended) == 1
        db.commit()
        assert SessionsRepository(db).list_live(user.id) == []
