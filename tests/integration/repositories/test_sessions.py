"""The sessions repository against real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.exc import DBAPIError

from smartnote.db.sql import Session, get_engine, session_factory
from smartnote.db.tables import sessions as sessions_table
from smartnote.repositories.sessions import RefreshRejected, SessionRecord, SessionsRepository
from smartnote.repositories.users import UserRecord, UsersRepository
from tests.utils.sessions import TIED, add_sessions


def _new_user(db: Session, name: str) -> UserRecord:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    return UsersRepository(db).create(email, "not-a-hash", None, "UTC")


def _every_live(db: Session, user_id: str, limit: int = 100) -> list[SessionRecord]:
    """Every live session of `user_id`, page after page."""
    found: list[SessionRecord] = []
    cursor: str | None = None
    while True:
        page, cursor = SessionsRepository(db).page_live(user_id, limit, cursor)
        found += page
        if cursor is None:
            return found


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
        stored = {s.id: s.user_agent for s in _every_live(db, user.id)}
    assert stored[with_nul] == "agent\ufffdzero"
    assert stored[overlong] == "a" * 512


def test_a_refresh_that_read_its_session_before_it_ended_issues_nothing(sql_url: str) -> None:
    """A refresh read its session live, then a logout (or a revocation, a password change)
    ended it: the refresh still answered 200 with a new pair, of a session that was over (both
    tokens a 401 at their first use). The logout is committed here at the driver's boundary,
    just before the refresh touches its session (which it does before spending its token)."""
    with session_factory(sql_url)() as db:
        user = UsersRepository(db).create(
            f"race-{uuid.uuid4().hex[:8]}@example.com", "not-a-hash", None, "UTC"
        )
        issued = SessionsRepository(db).start(user.id, None, timedelta(days=1))
        db.commit()

        ended: list[str] = []

        def end_the_session_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("UPDATE sessions") and not ended:
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
        assert _every_live(db, user.id) == []


@pytest.mark.parametrize("limit", [1, 7, 20, 44])
def test_live_sessions_page_newest_first_ties_by_id_each_once(sql_url: str, limit: int) -> None:
    """Pages of a user's live sessions: each live one once, newest first and by id among
    equal creation times, whatever the page size; ended and other users' sessions never."""
    with session_factory(sql_url)() as db:
        user, other = _new_user(db, "pages"), _new_user(db, "other")
        db.commit()
    live = add_sessions(sql_url, user.id, TIED)
    ended = add_sessions(sql_url, user.id, TIED[:4])
    add_sessions(sql_url, other.id, TIED)
    with session_factory(sql_url)() as db:
        db.execute(
            update(sessions_table)
            .where(sessions_table.c.id.in_(ended[:2]))
            .values(revoked_at=datetime.now(UTC), revoked_reason="logout")
        )
        db.execute(
            update(sessions_table)
            .where(sessions_table.c.id.in_(ended[2:]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.commit()
        listed = _every_live(db, user.id, limit)
    expected = sorted(zip(TIED, live, strict=True), key=lambda s: s[1])
    expected.sort(key=lambda s: s[0], reverse=True)
    assert [(s.created_at, s.id) for s in listed] == expected


def _plan(sql_url: str, statement: str, parameters: Any) -> str:
    """The plan the database chooses for `statement` (PostgreSQL told to prefer an index to
    scanning its few rows)."""
    engine = get_engine(sql_url)
    with engine.connect() as connection:
        if sql_url.startswith("sqlite"):
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        plan = "\n".join(str(row[0]) for row in rows)
        connection.rollback()
        return plan


def test_a_page_of_sessions_is_read_from_one_index_in_order(sql_url: str) -> None:
    """First and later pages alike: an index range in the listing's order, no sort of every
    live session (a page's cost does not grow with the caller's sessions or its position)."""
    with session_factory(sql_url)() as db:
        user = _new_user(db, "plan")
        db.commit()
    add_sessions(sql_url, user.id, TIED)
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM sessions" in statement:
            sent.append((statement, parameters))

    engine = get_engine(sql_url)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        with session_factory(sql_url)() as db:
            _, cursor = SessionsRepository(db).page_live(user.id, 20, None)
            SessionsRepository(db).page_live(user.id, 20, cursor)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert len(sent) == 2
    for statement, parameters in sent:
        if "OFFSET" in statement:  # SQLite's dialect writes `LIMIT ? OFFSET ?`, with 0
            assert statement.endswith("OFFSET ?") and parameters[-1] == 0, statement
        plan = _plan(sql_url, statement, parameters)
        assert "ix_sessions_user_created" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_a_refresh_racing_the_deletion_of_its_account_does_not_deadlock(sql_url: str) -> None:
    """A refresh locked its token, then its session; an account's deletion locks the user's
    sessions, then (cascading) their tokens: started in between, PostgreSQL found a deadlock
    and aborted one of them (a 503). The deletion starts here right after the refresh's first
    write, and the refresh goes on once the deletion is waiting."""
    with session_factory(sql_url)() as db:
        user = _new_user(db, "deleted")
        issued = SessionsRepository(db).start(user.id, None, timedelta(days=1))
        db.commit()

        deletion: list[threading.Thread] = []
        outcome: list[str] = []

        def delete_the_account() -> None:
            with session_factory(sql_url)() as other:
                try:
                    UsersRepository(other).delete(user.id)
                    other.commit()
                    outcome.append("deleted")
                except DBAPIError as exc:
                    outcome.append(type(exc).__name__)

        def delete_meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("UPDATE") and not deletion:
                deletion.append(threading.Thread(target=delete_the_account))
                deletion[0].start()
                time.sleep(0.5)  # until it waits on a lock of the refresh's (SQLite: its file)

        engine = get_engine(sql_url)
        event.listen(engine, "after_cursor_execute", delete_meanwhile)
        try:
            SessionsRepository(db).rotate(issued.token)
            db.commit()
        finally:
            event.remove(engine, "after_cursor_execute", delete_meanwhile)
            for thread in deletion:
                thread.join()
        assert outcome == ["deleted"]
        assert UsersRepository(db).by_id(user.id) is None
