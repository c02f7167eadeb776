"""Shapes shared by every route: errors and cursor pages."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


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


def error_responses(*described: tuple[int, str]) -> OpenApiResponses:
    """OpenAPI `responses` for error statuses, each with the error shape."""
    return {status: {"model": ErrorResponse, "description": text} for status, text in described}
