"""Alembic migrations: the same schema on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.pool import NullPool

from smartnote.db.migrate import alembic_config, upgrade_to_head
from smartnote.db.sql import get_engine
from smartnote.db.tables import metadata, sessions, users
from smartnote.repositories.users import normalise_email
from tests.conftest import postgres_database


def test_migrated_schema_matches_the_models(sql_url: str) -> None:
    engine = get_engine(sql_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert {"users", "sessions", "refresh_tokens", "login_failures"} <= set(
        inspect(engine).get_table_names()
    )


def test_upgrade_is_idempotent(sql_url: str) -> None:
    upgrade_to_head(sql_url)
    upgrade_to_head(sql_url)


def test_migrations_wait_for_a_lock_past_the_statement_timeout_they_set(sql_url: str) -> None:
    """The role's statement_timeout bounds the application's statements, not the migrations:
    one that waits for a lock (a long request holding a table) still completes."""
    if not sql_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's statement_timeout")
    with postgres_database() as url:
        upgrade_to_head(url, statement_timeout_seconds=1)
        locker = create_engine(url, poolclass=NullPool).connect()
        locker.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        release = threading.Timer(2.5, locker.rollback)
        release.start()
        try:
            upgrade_to_head(url, statement_timeout_seconds=1)
        finally:
            release.join()
            locker.close()
        with create_engine(url, poolclass=NullPool).connect() as connection:
            applied = connection.execute(text("SHOW statement_timeout")).scalar_one()
    assert applied == "1s"


def test_emails_stored_in_an_older_normal_form_are_brought_to_todays(empty_sql_url: str) -> None:
    """Lower-casing `J̌` decomposes it: before revision 0004 such an address was stored
    decomposed while the login looked it up composed, so its account could never log in."""
    command.upgrade(alembic_config(empty_sql_url), "0003")
    decomposed = "j\u030cana@example.com"  # how registration stored J̌ana@example.com
    clashing = {"old": "j\u030coe@example.com", "new": "\u01f0oe@example.com"}
    stored = {"jana": decomposed, **clashing, "plain": "plain@example.com"}
    engine = create_engine(empty_sql_url, poolclass=NullPool)
    with engine.begin() as connection:
        now = datetime.now(UTC)
        connection.execute(
            insert(users),
            [
                {
                    "id": user_id,
                    "email": email,
                    "password_hash": "x",
                    "timezone": "UTC",
                    "email_reminders": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for user_id, email in stored.items()
            ],
        )
    upgrade_to_head(empty_sql_url)
    with engine.connect() as connection:
        emails = dict(connection.execute(select(users.c.id, users.c.email)).tuples().all())
    assert emails["jana"] == normalise_email("J\u030cana@example.com") == "\u01f0ana@example.com"
    # Two accounts for one address: which is the person's is an operator's call.
    assert (emails["old"], emails["new"]) == (clashing["old"], clashing["new"])
    assert emails["plain"] == "plain@example.com"


def _sessions_indexes(url: str) -> dict[str, list[tuple[str, bool]]]:
    """Each index of `sessions`: its columns, each with whether it is descending."""
    engine = create_engine(url, poolclass=NullPool)
    found = {}
    for index in inspect(engine).get_indexes("sessions"):
        name = str(index["name"])
        if url.startswith("sqlite"):  # SQLite's reflection leaves the direction out
            with engine.connect() as connection:
                rows = connection.exec_driver_sql(f"PRAGMA index_xinfo({name})").all()
            found[name] = [(row.name, bool(row.desc)) for row in rows if row.key]
        else:
            sorting = index.get("column_sorting", {})
            found[name] = [
                (str(column), "desc" in sorting.get(str(column), ()))
                for column in index["column_names"]
            ]
    return found


def test_sessions_get_an_index_of_each_users_newest_first_and_give_it_back(
    empty_sql_url: str,
) -> None:
    """Revision 0005: GET /auth/sessions' pages are ranges of (user_id, created_at DESC, id),
    which also serves every lookup by user (the index of user_id alone goes); the sessions
    stored before are kept, and a downgrade restores the index it replaced."""
    command.upgrade(alembic_config(empty_sql_url), "0004")
    before = {
        "ix_sessions_user_id": [("user_id", False)],
        "ix_sessions_expires_at": [("expires_at", False)],
    }
    assert _sessions_indexes(empty_sql_url) == before
    now = datetime.now(UTC)
    engine = create_engine(empty_sql_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            insert(users).values(
                id="u1", email="kept@example.com", password_hash="x", timezone="UTC",
                email_reminders=True, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        connection.execute(
            insert(sessions).values(
                id="s1", user_id="u1", created_at=now, last_used_at=now, expires_at=now
            )
        )
    upgrade_to_head(empty_sql_url)
    assert _sessions_indexes(empty_sql_url) == {
        "ix_sessions_user_created": [("user_id", False), ("created_at", True), ("id", False)],
        "ix_sessions_expires_at": [("expires_at", False)],
    }
    with engine.connect() as connection:
        assert connection.execute(select(sessions.c.id)).scalars().all() == ["s1"]
    command.downgrade(alembic_config(empty_sql_url), "0004")
    assert _sessions_indexes(empty_sql_url) == before
    upgrade_to_head(empty_sql_url)
    assert "ix_sessions_user_created" in _sessions_indexes(empty_sql_url)
