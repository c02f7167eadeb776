"""Alembic environment: the URL comes from the caller (smartnote.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from smartnote.db.sql import engine_arguments
from smartnote.db.tables import metadata

config = context.config
target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # The application's TLS choice (sslmode in the URL) applies to migrations too.
    url, connect_args = engine_arguments(str(config.get_main_option("sqlalchemy.url")))
    connectable = create_engine(url, connect_args=connect_args, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        if connection.dialect.name == "postgresql":
            # The role's statement_timeout (smartnote.db.migrate.limit_statements) bounds the
            # application's statements; a migration waits for its locks as long as it takes.
            connection.execute(text("SET statement_timeout = 0"))
            connection.commit()
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
