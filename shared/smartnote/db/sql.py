"""The SQL engine of this container (SQLAlchemy 2 Core, pg8000 on Postgres, SQLite locally).

SQLAlchemy Core only: the tables are Core `Table`s, rows come back as plain records, and a
request's unit of work is the small `Session` below. The ORM would cost every function that
authenticates ~40 ms of import at each cold start (bench coldstart) and more per request.
"""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    CursorResult,
    DateTime,
    Engine,
    RootTransaction,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, Dialect, ExceptionContext, NestedTransaction, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeDecorator

from smartnote.errors import unavailable_when

# SQLSTATEs of a PostgreSQL that cannot do it now, rather than of a statement it will never
# take: connection (08), read-only after a failover (25006), transaction rolled back for a
# conflict (40: serialization, deadlock), resources (53), lock not available (55P03),
# operator intervention (57: shutdown, cancelled), system (58). Prefixes of the codes.
_POSTGRES_TRANSIENT = ("08", "25006", "40", "53", "55P03", "57", "58")
# SQLite's primary result codes of the same kind: BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN,
# PROTOCOL. "No such table" or a syntax error (ERROR) is not one.
_SQLITE_TRANSIENT = frozenset({5, 6, 7, 10, 13, 14, 15})


def is_transient(exc: BaseException) -> bool:
    """Whether a SQL error means "the database cannot answer now" (503: try again later)
    rather than "this statement is wrong", a bug or a schema behind the code, which is a 500
    that the error alarms see, not a retry that never succeeds. An error raised while
    handling one that is (leaving a savepoint that SQLite's full disk rolled back with its
    transaction: "no such savepoint") is its consequence, and one too."""
    cause = exc.__context__
    # PoolTimeout, InterfaceError: no connection to be had, the network.
    if isinstance(exc, PoolTimeout | InterfaceError) or (cause and is_transient(cause)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    reason = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    if isinstance(reason, dict):  # pg8000: the server's error fields, "C" its SQLSTATE
        return str(reason.get("C", "")).startswith(_POSTGRES_TRANSIENT)
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in _SQLITE_TRANSIENT
    return isinstance(exc, OperationalError)  # no code to read: the driver's own word


unavailable_when(is_transient)

R = TypeVar("R")

_engines: dict[tuple[str, float | None], Engine] = {}
_lock = threading.Lock()


class Session:
    """One unit of SQL work on one pooled connection, checked out on first use.

    Like a Connection, a transaction begins with the first statement and lasts until
    `commit` or `rollback`; `close` gives the connection back (rolling back what is open).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    def _connected(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[*tuple[Any, ...]]:
        return self._connected().execute(statement, parameters)

    def first(
        self,
        statement: Executable,
        record: Callable[..., R],
        parameters: dict[str, Any] | None = None,
    ) -> R | None:
        """The first row as a `record` (a dataclass named like the columns), or None."""
        row = self.execute(statement, parameters).first()
        return record(**row._mapping) if row is not None else None

    def all(self, statement: Executable, record: Callable[..., R]) -> list[R]:
        """Every row as a `record`."""
        return [record(**row._mapping) for row in self.execute(statement)]

    def begin(self) -> RootTransaction:
        """Begin explicitly: as a context manager it commits, or rolls back on an error (a
        COMMIT that fails included, unlike a plain `Connection.commit`, see `_end`)."""
        return self._connected().begin()

    def begin_nested(self) -> NestedTransaction:
        """A savepoint: as a context manager, an error undoes only what was done inside."""
        return self._connected().begin_nested()

    def in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction()

    def commit(self) -> None:
        self._end(Connection.commit)

    def rollback(self) -> None:
        self._end(Connection.rollback)

    def _end(self, end: Callable[[Connection], None]) -> None:
        """End the open transaction; if that fails, drop the database connection.

        After a failed COMMIT nobody knows what the server holds, and SQLAlchemy considers
        the transaction over: back in the pool, the connection would carry the request's
        uncommitted writes into the next request, whose COMMIT would save them. Closed, the
        server rolls them back.
        """
        connection = self._connection
        if connection is None:
            return
        try:
            end(connection)
        except BaseException:
            self._connection = None
            connection.invalidate()
            connection.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# Hosts reached without TLS unless DATABASE_URL asks for it: this machine (CI's Postgres has
# no certificate).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SSL_MODES = ("disable", "require", "verify-full")


def postgres_tls(url: str | URL) -> tuple[URL, ssl.SSLContext | bool]:
    """`url` without its `sslmode`/`sslrootcert` query (libpq's names), and the pg8000
    `ssl_context` they ask for.

    pg8000 given no context tries TLS without checking the certificate and falls back to
    plain text: anyone on the path could read or change the traffic. Here a remote host is
    verified by default (`verify-full`: the system's CAs, or `sslrootcert`, with the host
    name; RDS Proxy's certificates are publicly trusted); `require` encrypts without
    verifying; `disable` is plain text, the default for LOCAL_HOSTS only.
    """
    parsed = make_url(url)
    query = dict(parsed.query)
    mode = query.pop("sslmode", None)
    root = query.pop("sslrootcert", None)
    if mode is None:
        mode = "disable" if (parsed.host or "localhost") in LOCAL_HOSTS else "verify-full"
    if mode not in SSL_MODES or isinstance(root, tuple):
        raise ValueError(f"DATABASE_URL: sslmode must be one of {', '.join(SSL_MODES)}")
    stripped = parsed.set(query=query)
    if mode == "disable":
        return stripped, False
    context = ssl.create_default_context(cafile=root)
    if mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return stripped, context


# The client waits this much longer than PostgreSQL's own statement_timeout (set to the same
# SQL_TIMEOUT_SECONDS by the migrations): a statement held by a lock is cancelled by the server,
# whose error leaves the connection usable, and the socket's timeout is left for a network that
# stalled (the connection is then dropped).
SOCKET_GRACE_SECONDS = 2.0


def engine_arguments(
    url: str, timeout_seconds: float | None = None
) -> tuple[str | URL, dict[str, Any]]:
    """The URL and connect_args to create an engine for `url` with (any pool).

    `timeout_seconds` (SQL_TIMEOUT_SECONDS, PostgreSQL's statement_timeout too) plus
    SOCKET_GRACE_SECONDS bounds every wait on PostgreSQL's socket (connecting, a stalled
    network): past it the connection is dropped and the request is a 503, before the
    function's own timeout kills it (a 502, its container abandoned). None (a migration run
    by hand) waits as long as it takes. SQLite waits on its file's lock 5 s at most.
    """
    if url.startswith("sqlite"):
        return url, {"check_same_thread": False, "timeout": 5}
    stripped, context = postgres_tls(url)
    socket_timeout = None if timeout_seconds is None else timeout_seconds + SOCKET_GRACE_SECONDS
    return stripped, {"ssl_context": context, "timeout": socket_timeout}


def build_engine(url: str, timeout_seconds: float | None = None) -> Engine:
    """A new engine for `url`, configured for its backend."""
    target, connect_args = engine_arguments(url, timeout_seconds)
    if url.startswith("sqlite"):
        engine = create_engine(target, connect_args=connect_args)
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
        return engine
    # A Lambda container serves one request at a time: a small pool, checked before use
    # because RDS (Proxy) closes idle connections between warm invocations.
    engine = create_engine(
        target,
        connect_args=connect_args,
        pool_size=2,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=300,
    )
    event.listen(engine, "handle_error", _socket_failure_is_a_lost_connection)
    return engine


def _socket_failure_is_a_lost_connection(context: ExceptionContext) -> BaseException | None:
    """pg8000 lets some errors through unwrapped, raised while it was writing or reading a
    message: its socket's own (a read past `timeout_seconds`), or a parameter it could not
    encode (text with a lone surrogate). The connection is then mid-message: it is dropped,
    never back in the pool, where the next statements would have read the wrong answers.
    A socket error becomes an `OperationalError` of a lost connection, as pg8000 reports other
    network errors; any other stays what it is (a 500: no retry would succeed)."""
    error = context.original_exception
    if context.sqlalchemy_exception is not None:  # pg8000's own error: the exchange ended
        return None
    context.is_disconnect = True
    if not isinstance(error, OSError):
        return None
    return OperationalError(
        str(context.statement), context.parameters, error, connection_invalidated=True
    )


def get_engine(url: str, timeout_seconds: float | None = None) -> Engine:
    """The engine of this container for `url`, created on first use and then reused."""
    key = (url, timeout_seconds)
    engine = _engines.get(key)
    if engine is None:
        with _lock:
            engine = _engines.get(key)
            if engine is None:
                engine = _engines[key] = build_engine(url, timeout_seconds)
    return engine


def session_factory(url: str, timeout_seconds: float | None = None) -> Callable[[], Session]:
    """Opens sessions on this container's engine for `url` (see `engine_arguments`)."""
    return functools.partial(Session, get_engine(url, timeout_seconds))


def dispose_engines() -> None:
    """Close every pooled connection (tests and shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
