"""Alembic migrations: the same schema on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from smartnote.db.migrate import upgrade_to_head
from smartnote.db.sql import get_engine
from smartnote.db.tables import metadata
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
