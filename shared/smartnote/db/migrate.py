"""Run the Alembic migrations shipped inside the package (locally, in tests, on deploy)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, pool, text

from smartnote.config import get_settings
from smartnote.db.sql import engine_arguments

logger = logging.getLogger("smartnote.db.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def current_head() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no Alembic revisions in the package")
    return head


def _known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}


def _database_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(
    database_url: str,
    *,
    wait_seconds: float | None = None,
    statement_timeout_seconds: float | None = None,
) -> str:
    """Bring the database at `database_url` to the newest schema, then bound the application's
    statements; returns the database's revision.

    A database at a revision this package does not know was migrated by a newer release,
    and is left so: a rollback to this release must not fail on it (each migration keeps
    the release before it working). `wait_seconds` bounds each wait on the database
    (connecting, a lock another session holds); None waits as long as it takes.
    `statement_timeout_seconds` (default: SQL_TIMEOUT_SECONDS) becomes PostgreSQL's
    `statement_timeout` for this role in this database (see `limit_statements`).
    """
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = migration_engine(database_url, wait_seconds)
    try:
        revision = _database_revision(engine)
        if revision is not None and revision not in _known_revisions():
            logger.warning("the database is at %s, past this release's migrations", revision)
            return revision
        config = alembic_config(database_url)
        config.attributes["engine"] = engine  # what env.py migrates with
        command.upgrade(config, "head")
        if engine.dialect.name == "postgresql":
            if statement_timeout_seconds is None:
                statement_timeout_seconds = get_settings().sql_timeout_seconds
            limit_statements(engine, statement_timeout_seconds)
    except TimeoutError as exc:  # pg8000's socket timeout, raised as it is
        raise TimeoutError(
            f"the database did not answer within {wait_seconds:.0f} s"
            " (a lock held by another session?)"
        ) from exc
    finally:
        engine.dispose()
    return current_head()


def migration_engine(database_url: str, wait_seconds: float | None) -> Engine:
    """An engine with the application's TLS choice (sslmode in the URL), waiting at most
    `wait_seconds`, and, on PostgreSQL, free of the role's statement_timeout: that bounds
    the application's statements, a migration waits for its locks."""
    url, connect_args = engine_arguments(database_url, wait_seconds)
    engine = create_engine(url, connect_args=connect_args, poolclass=pool.NullPool)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _no_statement_timeout)
    return engine


def _no_statement_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET statement_timeout = 0")
    cursor.close()
    dbapi_connection.commit()  # a rollback would undo the SET


def limit_statements(engine: Engine, seconds: float) -> None:
    """Make PostgreSQL cancel any statement of this role in `engine`'s database after
    `seconds`.

    The client gives up on its own a little later (`db.sql.SOCKET_GRACE_SECONDS`), but a
    statement it abandons would stay on the server, holding its connection, until whatever
    blocks it ends. A role's default, not a setting sent when connecting: RDS Proxy refuses
    startup parameters, and a `SET` on each connection would pin it to one database
    connection. New connections take it; the migrations turn it off for themselves.
    """
    milliseconds = max(1, round(seconds * 1000))
    with engine.begin() as connection:
        database = connection.execute(text("SELECT current_database()")).scalar_one()
        quoted = connection.dialect.identifier_preparer.quote(database)
        connection.execute(
            text(
                f"ALTER ROLE CURRENT_USER IN DATABASE {quoted}"
                f" SET statement_timeout = {milliseconds}"
            )
        )


def main() -> None:
    """`python -m smartnote.db.migrate`: migrate the configured database."""
    upgrade_to_head(get_settings().database_url)


if __name__ == "__main__":
    main()
