"""Alembic migrations: the same schema on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from smartnote.db.migrate import upgrade_to_head
from smartnote.db.sql import get_engine
from smartnote.db.tables import metadata


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
