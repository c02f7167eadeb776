"""Shapes shared by every route: errors and cursor pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")

EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)
# The start of every date-time text pydantic reads: the date, a separator, hours and minutes.
_ISO_DATE_TIME_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _written_out(value: object) -> object:
    # Pydantic's lax mode reads numbers and digit strings as Unix seconds (or milliseconds):
    # "20300101", ISO 8601's basic date, would be 1970-08-23T22:55:01Z. A client's time is
    # the text API.md describes; the rest of the format, offset included, pydantic checks.
    if isinstance(value, datetime) or (
        isinstance(value, str) and _ISO_DATE_TIME_START.match(value)
    ):
        return value
    raise ValueError("the time must be ISO 8601 with an offset, such as 2026-11-24T09:00:00Z")


def _within_supported_range(moment: datetime) -> datetime:
    # Outside this range a time can leave Python's (year 1 at +01:00 is year 0 in UTC) or
    # BSON's range once converted to UTC or to an owner's zone: a 500, or a reminder that
    # crashes every reminders run.
    try:
        supported = EARLIEST_TIME <= moment.astimezone(UTC) < LATEST_TIME
    except OverflowError:
        supported = False
    if not supported:
        raise ValueError("the time must be from 1970-01-01 to 2999-12-31 (UTC)")
    return moment


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_written_out), AfterValidator(_within_supported_range)
]
"""A client-sent time: ISO 8601 with an offset, from 1970 to 2999."""


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Every error answer: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody


class Page(BaseModel, Generic[T]):
    """A page of a list; pass `next_cursor` back as `?cursor=` for the next one."""

    items: list[T]
    next_cursor: str | None = None


class InputModel(BaseModel):
    """Base of every request body: unknown fields are an error, strings are trimmed of nothing."""

    model_config = ConfigDict(extra="forbid")


OpenApiResponses = dict[int | str, dict[str, Any]]


def refuse_nulls(model: BaseModel, *names: str, prefix: str = "") -> None:
    """A PATCH model's fields that may be left out but not sent as null (ValueError: a 422)."""
    for name in names:
        if name in model.model_fields_set and getattr(model, name) is None:
            raise ValueError(f"{prefix}{name} cannot be null")


def error_responses(*described: tuple[int, str]) -> OpenApiResponses:
    """OpenAPI `responses` for error statuses, each with the error shape."""
    return {status: {"model": ErrorResponse, "description": text} for status, text in described}


# Why a write to a note without If-Match may still answer 409: it is retried through other
# writes of the same note for a few seconds first (`NotesRepository.update`).
KEPT_CHANGING = "the note kept being changed by other writes for seconds (rare; retry)"
