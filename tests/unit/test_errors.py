"""Which exceptions mean "a backing service is unavailable" (503): the drivers declare them."""

from __future__ import annotations

import pytest
from pymongo.errors import DuplicateKeyError, NetworkTimeout, ServerSelectionTimeoutError
from sqlalchemy.exc import IntegrityError, NoResultFound, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from smartnote.db import mongo, sql
from smartnote.errors import NotFound, is_unavailable

assert mongo and sql  # importing them is what declares their drivers' errors


@pytest.mark.parametrize(
    "error",
    [
        ServerSelectionTimeoutError("no primary"),
        NetworkTimeout("read timed out"),  # a ConnectionFailure
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        PoolTimeout("QueuePool limit reached"),
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
    ],
)
def test_other_errors_are_not(error: Exception) -> None:
    assert not is_unavailable(error)


def test_integrity_errors_stay_unavailable_as_before() -> None:
    # A DBAPIError the repositories do not translate (they turn the expected ones into
    # Conflict) answers 503 like any other database failure, as it did before.
    assert is_unavailable(IntegrityError("INSERT", {}, Exception("constraint")))
