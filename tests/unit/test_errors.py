"""Which exceptions mean "a backing service is unavailable" (503): the drivers declare them."""

from __future__ import annotations

import sqlite3
from typing import Any

import pg8000.dbapi
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pymongo.errors import DuplicateKeyError, NetworkTimeout, ServerSelectionTimeoutError
from sqlalchemy.exc import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    NoResultFound,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from smartnote import aws
from smartnote.db import mongo, sql
from smartnote.errors import NotFound, is_unavailable

assert aws and mongo and sql  # importing them is what declares their drivers' errors


def _s3_error(status: int, code: str) -> ClientError:
    answer: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(answer, "PutObject")


@pytest.mark.parametrize(
    "error",
    [
        ServerSelectionTimeoutError("no primary"),
        NetworkTimeout("read timed out"),  # a ConnectionFailure
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        PoolTimeout("QueuePool limit reached"),
        _s3_error(503, "SlowDown"),  # S3 throttling: the route's call, repeated, goes through
        _s3_error(500, "InternalError"),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        # An S3 that does not answer within `aws.S3_CALLS`: its calls' timeouts.
        ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"),  # a body it stopped taking
    ],
)
def test_declared_driver_errors_are_unavailable(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        DuplicateKeyError("E11000"),  # the database answered: a bug or a conflict, not a 503
        NoResultFound(),
        NotFound(),
        ValueError("bad"),
        _s3_error(403, "AccessDenied"),  # a deployment error: retrying never helps
    ],
)
def test_other_errors_are_not(error: Exception) -> None:
    assert not is_unavailable(error)


def _postgres_error(sqlstate: str) -> DatabaseError:
    """A server error as SQLAlchemy wraps pg8000's: the server's fields, "C" its SQLSTATE."""
    fields = {"S": "ERROR", "C": sqlstate, "M": "message"}
    return DatabaseError("SELECT 1", {}, pg8000.dbapi.DatabaseError(fields))


def _sqlite_error(code: int) -> OperationalError:
    error = sqlite3.OperationalError("message")
    error.sqlite_errorcode = code
    return OperationalError("SELECT 1", {}, error)


@pytest.mark.parametrize(
    "error",
    [
        _postgres_error("08006"),  # connection failure
        _postgres_error("25006"),  # read-only: a failover in progress
        _postgres_error("40001"),  # serialization failure
        _postgres_error("40P01"),  # deadlock
        _postgres_error("53300"),  # too many connections
        _postgres_error("55P03"),  # lock not available
        _postgres_error("57014"),  # cancelled (statement timeout)
        _postgres_error("57P01"),  # admin shutdown
        _sqlite_error(5),  # BUSY
        _sqlite_error(5 | 2 << 8),  # BUSY_SNAPSHOT, an extended code
        _sqlite_error(10),  # IOERR
        InterfaceError("SELECT 1", {}, pg8000.dbapi.InterfaceError("network error")),
    ],
)
def test_sql_errors_of_a_database_that_cannot_answer_now_are_unavailable(
    error: Exception,
) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        _postgres_error("42P01"),  # undefined table: the schema is behind the code
        _postgres_error("42601"),  # syntax error
        _postgres_error("23505"),  # a unique violation the repository did not expect
        _postgres_error("22001"),  # value too long
        _sqlite_error(1),  # ERROR: no such table, syntax
        _sqlite_error(19),  # CONSTRAINT
        IntegrityError("INSERT", {}, Exception("constraint")),
    ],
)
def test_sql_errors_of_a_statement_the_database_refuses_are_not(error: Exception) -> None:
    """A bug, not an outage: a 500 that the error alarm sees, not a retry that never heals."""
    assert not is_unavailable(error)
