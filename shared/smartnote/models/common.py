"""Shapes shared by every route: errors and cursor pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")

EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)
# The start of every date-time text pydantic reads: the date, a separator, hours and minutes
# (and seconds, when sent).
_ISO_DATE_TIME_START = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
)


def _written_out(value: object) -> object:
    # Pydantic's lax mode reads numbers and digit strings as Unix seconds (or milliseconds):
    # "20300101", ISO 8601's basic date, would be 1970-08-23T22:55:01Z. A client's time is
    # the text API.md describes; the rest of the format, offset included, pydantic checks.
    if isinstance(value, datetime):
        return value
    start = _ISO_DATE_TIME_START.match(value) if isinstance(value, str) else None
    if start is None:
        raise ValueError("the time must be ISO 8601 with an offset, such as 2026-11-24T09:00:00Z")
    _check_time_of_day(start)
    return value


def _check_time_of_day(start: re.Match[str]) -> None:
    # Pydantic reads a time of day out of range as a date followed by "unexpected extra
    # characters"; say which part is wrong instead.
    if int(start["hour"]) > 23:
        raise ValueError("the hour must be 00 to 23")
    if int(start["minute"]) > 59:
        raise ValueError("the minutes must be 00 to 59")
    second = int(start["second"] or 0)
    if second == 60:  # RFC 3339 allows it; Python's datetime has no second 60
        raise ValueError("a leap second (second 60) cannot be stored: send 59 or the next minute")
    if second > 60:
        raise ValueError("the seconds must be 00 to 59")


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


class OutputModel(BaseModel):
    """Base of every answer's body. Each field is always sent (`null` included), so the
    OpenAPI document marks each required: a field with a default is not optional there."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class ErrorBody(OutputModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorResponse(OutputModel):
    """Every error answer: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody


class Page(OutputModel, Generic[T]):
    """A page of a list; pass `next_cursor` back as `?cursor=` for the next one."""

    items: list[T]
    next_cursor: str | None = None


class InputModel(BaseModel):
    """Base of every request body: unknown fields are an error, strings are trimmed of nothing."""

    model_config = ConfigDict(extra="forbid")


OpenApiResponses = dict[int | str, dict[str, Any]]


def _without_null(schema: dict[str, Any]) -> None:
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        schema.clear()
        schema.update({**branches[0], **rest})


NOT_NULL = Field(json_schema_extra=_without_null)
"""For a PATCH field `Annotated[X | None, NOT_NULL] = None` that `refuse_nulls` checks: None
only stands for "left out", so the document says X alone (not X or null, which clients and
fuzzers would then send, to get a 422)."""


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
