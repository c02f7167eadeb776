"""The one error hierarchy of SmartNote; `app.py` maps it to HTTP in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class AppError(Exception):
    """An error a client may see: it carries its HTTP status, code and message."""

    status_code = 500
    code = "internal_error"
    message = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = details or []
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    message = "The request is malformed"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Not authenticated"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    """Authenticated, but the confirmation the action needs (a password) was wrong.

    Not a 401: the caller's token is fine, and a client must not log out over a typo.
    """

    status_code = 403
    code = "forbidden"
    message = "Forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    message = "The resource has changed since you read it (stale If-Match)"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    message = "This type of content is not accepted"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request is invalid"


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "A backing service is unavailable, try again later"

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


# Driver errors that mean "a backing service is unreachable" (503 with Retry-After). Each db
# module declares its own driver's, so the app maps them without importing any driver: a
# function that never loads PyMongo or SQLAlchemy cannot raise their errors either.
_unavailable: list[type[Exception]] = []
# Tests for errors whose class alone does not tell (a SQL error says it in its code).
_unavailable_checks: list[Callable[[BaseException], bool]] = []


def unavailable_on(*errors: type[Exception]) -> None:
    """Declare driver exceptions that answer 503 (called by `smartnote.db` at import)."""
    _unavailable.extend(error for error in errors if error not in _unavailable)


def unavailable_when(check: Callable[[BaseException], bool]) -> None:
    """Declare a test of driver exceptions that answer 503 when it holds."""
    if check not in _unavailable_checks:
        _unavailable_checks.append(check)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` is a declared driver error (service unreachable, timed out, dropped)."""
    return isinstance(exc, tuple(_unavailable)) or any(check(exc) for check in _unavailable_checks)
