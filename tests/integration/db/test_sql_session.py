"""smartnote.db.sql.Session, the request's unit of SQL work, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Insert, event, func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from smartnote.clock import utcnow
from smartnote.db.migrate import upgrade_to_head
from smartnote.db.sql import get_engine, is_transient, session_factory
from smartnote.db.tables import login_failures
from smartnote.repositories.users import UsersRepository


def _failures_of(sql_url: str, email: str) -> int:
    with get_engine(sql_url).connect() as connection:
        count = connection.scalar(select(func.count()).where(login_failures.c.email == email))
    return int(count or 0)


def _write(email: str) -> Insert:
    return login_failures.insert().values(email=email, client_ip="192.0.2.9", attempted_at=utcnow())


def _lose_commit(_conn: Connection) -> None:
    raise OperationalError("COMMIT", {}, ConnectionError("connection lost"))


def test_nothing_is_checked_out_until_the_first_statement(sql_url: str) -> None:
    engine = get_engine(sql_url)
    before = engine.pool.checkedout()
    with session_factory(sql_url)() as session:
        assert engine.pool.checkedout() == before and not session.in_transaction()
        session.execute(select(1))
        assert engine.pool.checkedout() == before + 1 and session.in_transaction()
    assert engine.pool.checkedout() == before


def test_commit_saves_and_close_without_commit_rolls_back(sql_url: str) -> None:
    kept, dropped = f"kept-{uuid.uuid4().hex}", f"dropped-{uuid.uuid4().hex}"
    with session_factory(sql_url)() as session:
        session.execute(_write(kept))
        session.commit()
        assert not session.in_transaction()
        session.execute(_write(dropped))
    assert (_failures_of(sql_url, kept), _failures_of(sql_url, dropped)) == (1, 0)


def test_a_failed_commit_leaves_no_write_for_the_next_user_of_the_connection(
    sql_url: str,
) -> None:
    """A connection whose COMMIT failed is dropped, not pooled: pooled, the next request's
    COMMIT on it would save the failed request's writes."""
    lost, next_request = f"lost-{uuid.uuid4().hex}", f"next-{uuid.uuid4().hex}"
    with session_factory(sql_url)() as session:
        session.execute(_write(lost))
        event.listen(Engine, "commit", _lose_commit)
        try:
            with pytest.raises(OperationalError):
                session.commit()
        finally:
            event.remove(Engine, "commit", _lose_commit)
        assert not session.in_transaction()
    with session_factory(sql_url)() as session:  # the pool's next connection
        session.execute(_write(next_request))
        session.commit()
    assert (_failures_of(sql_url, lost), _failures_of(sql_url, next_request)) == (0, 1)


def test_a_block_commits_at_its_end_and_rolls_back_on_an_error(sql_url: str) -> None:
    kept, dropped = f"kept-{uuid.uuid4().hex}", f"dropped-{uuid.uuid4().hex}"
    with session_factory(sql_url)() as session:
        with session.begin():
            session.execute(_write(kept))
        with pytest.raises(ValueError), session.begin():
            session.execute(_write(dropped))
            raise ValueError("the job failed midway")
    assert (_failures_of(sql_url, kept), _failures_of(sql_url, dropped)) == (1, 0)


def test_a_block_whose_commit_fails_leaves_nothing_behind(sql_url: str) -> None:
    """The scheduled jobs end their SQL work with a block: SQLAlchemy's block rolls back a
    COMMIT that failed (a plain `Connection.commit` does not, hence `Session._end`)."""
    lost, next_job = f"lost-{uuid.uuid4().hex}", f"next-{uuid.uuid4().hex}"
    with session_factory(sql_url)() as session:
        event.listen(Engine, "commit", _lose_commit)
        try:
            with pytest.raises(OperationalError), session.begin():
                session.execute(_write(lost))
        finally:
            event.remove(Engine, "commit", _lose_commit)
    with session_factory(sql_url)() as session, session.begin():
        session.execute(_write(next_job))
    assert (_failures_of(sql_url, lost), _failures_of(sql_url, next_job)) == (0, 1)


def test_a_parameter_the_driver_cannot_send_spoils_no_pooled_connection(sql_url: str) -> None:
    """pg8000 encodes a statement's parameters while writing it out: text it cannot encode
    (a lone surrogate) raised halfway, and the connection went back to the pool mid-message,
    so that the statements served on it next failed, or read the answers of others."""
    for _ in range(3):
        with session_factory(sql_url)() as session, pytest.raises(UnicodeEncodeError):
            session.execute(select(login_failures.c.id).where(login_failures.c.email == "\ud800"))
    for number in range(6):  # more than the pool holds
        with session_factory(sql_url)() as session:
            assert session.execute(select(number)).scalar_one() == number


def test_a_full_sqlite_disk_under_a_savepoint_is_a_database_that_cannot_answer_now(
    tmp_path: Path,
) -> None:
    """SQLite out of room (SQLITE_FULL) rolls back the whole transaction, its savepoints
    too: leaving the registration's savepoint then fails with "no such savepoint", which
    hid the full disk and made a 500. It is a 503, as a full disk is without a savepoint."""
    url = f"sqlite:///{tmp_path / 'full.db'}"
    upgrade_to_head(url)
    engine = get_engine(url)

    def no_room_to_grow(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        (pages,) = cursor.execute("PRAGMA page_count").fetchone()
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    engine.dispose()
    event.listen(engine, "connect", no_room_to_grow)
    try:
        with session_factory(url)() as session, pytest.raises(DBAPIError) as raised:
            for n in range(1000):  # until the pages the file has are full
                UsersRepository(session).create(f"u{n}@example.com", "x" * 500, None, "UTC")
        assert is_transient(raised.value), repr(raised.value)
    finally:
        event.remove(engine, "connect", no_room_to_grow)
        engine.dispose()
