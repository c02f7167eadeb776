"""Run the Alembic migrations shipped inside the package (locally, in tests, on deploy)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from smartnote.config import get_settings
from smartnote.db.sql import engine_arguments

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


def upgrade_to_head(database_url: str, statement_timeout_seconds: float | None = None) -> None:
    """Bring the database at `database_url` to the newest schema, then bound its statements.

    `statement_timeout_seconds` (default: SQL_TIMEOUT_SECONDS) becomes PostgreSQL's
    `statement_timeout` for this role in this database (see `limit_statements`).
    """
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")
    if database_url.startswith("postgresql"):
        if statement_timeout_seconds is None:
            statement_timeout_seconds = get_settings().sql_timeout_seconds
        limit_statements(database_url, statement_timeout_seconds)


def limit_statements(database_url: str, seconds: float) -> None:
    """Make PostgreSQL cancel any statement of this role in this database after `seconds`.

    The client gives up on its own a little later (`db.sql.SOCKET_GRACE_SECONDS`), but a
    statement it abandons would stay on the server, holding its connection, until whatever
    blocks it ends. A role's default, not a setting sent when connecting: RDS Proxy refuses
    startup parameters, and a `SET` on each connection would pin it to one database
    connection. New connections take it; the migrations turn it off for themselves (env.py).
    """
    milliseconds = max(1, round(seconds * 1000))
    target, connect_args = engine_arguments(database_url)
    engine = create_engine(target, connect_args=connect_args, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            database = connection.execute(text("SELECT current_database()")).scalar_one()
            quoted = connection.dialect.identifier_preparer.quote(database)
            connection.execute(
                text(
                    f"ALTER ROLE CURRENT_USER IN DATABASE {quoted}"
                    f" SET statement_timeout = {milliseconds}"
                )
            )
    finally:
        engine.dispose()


def main() -> None:
    """`python -m smartnote.db.migrate`: migrate the configured database."""
    upgrade_to_head(get_settings().database_url)


if __name__ == "__main__":
    main()
