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
from smartnote.db.tables import metadata, users
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
