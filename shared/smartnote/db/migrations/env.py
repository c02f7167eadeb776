"""Alembic environment: the engine (online) or URL (offline) comes from smartnote.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from smartnote.db.migrate import migration_engine
from smartnote.db.tables import metadata

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # smartnote.db.migrate's engine: the application's TLS choice (sslmode in the URL), the
    # caller's time bound, and free of the role's statement_timeout. Alembic's own commands
    # (a revision chosen by hand) come without one.
    engine: Engine = config.attributes.get("engine") or migration_engine(
        str(config.get_main_option("sqlalchemy.url")), wait_seconds=None
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
