"""`create_app(*routers)`: every function is this app with its own router list."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from smartnote import __version__
from smartnote.config import get_settings
from smartnote.errors import AppError, ServiceUnavailable, UnsupportedMediaType, is_unavailable
from smartnote.logs import configure_logging
from smartnote.middleware import BodyLimitMiddleware, EdgeMiddleware, FormMiddleware
from smartnote.models.common import ErrorResponse

logger = logging.getLogger("smartnote.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}

# Every route may answer these; documented once here so the OpenAPI shows the error shape.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Validation error"},
    503: {"model": ErrorResponse, "description": "A backing service is unavailable"},
}


_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}
# A body of this schema is a note, whose responses carry its version as ETag (routes/notes.py).
_NOTE_SCHEMA = {"$ref": "#/components/schemas/Note"}


# Answers that do not come from a route's own code but from what every route shares: the
# bearer dependency (401), the write limit (429), body parsing and the body limit (400, 413).
def _secured(operation: dict[str, Any], _: str) -> bool:
    return bool(operation.get("security"))


def _secured_write(operation: dict[str, Any], method: str) -> bool:
    counted = operation.get("x-counted-write", True)  # deps.sql.NOT_A_COUNTED_WRITE
    return _secured(operation, method) and method not in ("get", "head") and counted


def _has_body(operation: dict[str, Any], _: str) -> bool:
    return "requestBody" in operation


def _has_json_body(operation: dict[str, Any], _: str) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


# The message of a 415 for a JSON body sent as another media type (`_validation_error`).
NOT_JSON = "The body must be JSON, sent with Content-Type: application/json"

_EDGE_ERRORS: dict[str, tuple[str, Callable[[dict[str, Any], str], bool]]] = {
    "401": ("Not authenticated", _secured),
    "429": ("Too many writes (per-user limit)", _secured_write),
    "400": ("The body could not be parsed", _has_body),
    "413": ("The body is too large", _has_body),
    "415": (NOT_JSON, _has_json_body),
}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


_REQUEST_ID = _header("The request's X-Request-ID if it sent a valid one, else a new id")
_RETRY_AFTER = _header("Seconds to wait before trying again")
_ETAG = _header('The note\'s version, `"<version>"` (for If-Match and If-None-Match)')


def _contract_headers(status: str, response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The headers API.md promises on an answer of `status` like `response`."""
    headers = {"X-Request-ID": _REQUEST_ID}
    if status == "401":
        headers["WWW-Authenticate"] = _header("`Bearer`")
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    # An error answer's; /health's 503 is its own report, sent without one.
    if status == "429" or (status == "503" and schema == _ERROR_SCHEMA):
        headers["Retry-After"] = _RETRY_AFTER
    is_note = schema == _NOTE_SCHEMA
    if is_note or status == "304":
        headers["ETag"] = _ETAG
    if is_note and status == "201":
        headers["Location"] = _header("The path of the new note")
    return headers


def document_edge_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Declare on each operation the shared error answers it can give, and on every answer
    the headers of the contract (idempotent)."""
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            if not operation.get("parameters") and "requestBody" not in operation:
                responses.pop("422", None)  # nothing to be invalid (COMMON_RESPONSES has it)
            for status, (description, applies) in _EDGE_ERRORS.items():
                if applies(operation, method) and status not in responses:
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    }
            for status, response in responses.items():
                declared = response.setdefault("headers", {})
                for name, header in _contract_headers(status, response).items():
                    declared.setdefault(name, header)
    return document


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AppError):  # registered for AppError only
        raise exc
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


# The details a 422 lists at most. A body within the size limit can hold a hundred thousand
# mistakes (unknown keys): a detail each, the answer outgrew what Lambda returns (6 MB, then
# API Gateway's 502) and took seconds to encode.
MAX_ERROR_DETAILS = 50


def _is_json(content_type: str) -> bool:
    """Whether FastAPI reads a body of `content_type` as JSON (`application/json`, `+json`)."""
    media_type = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _json_sent_as_another_type(request: Request, errors: Sequence[Any]) -> bool:
    """Whether a JSON route's body came with a media type that is not JSON (`curl -d` sends a
    form's) or with none: FastAPI reads only a JSON type as JSON (`strict_content_type`) and
    hands the route the bytes, which its model refuses whole (`loc` `["body"]`). No body at
    all stays a 422 (`missing`), and so do a form route's missing fields (`["body", <field>]`):
    the login form keeps its 422."""
    content_type = request.headers.get("content-type")
    if content_type is not None and _is_json(content_type):
        return False
    return any(
        tuple(error.get("loc", ())) == ("body",) and error.get("type") != "missing"
        for error in errors
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    errors = exc.errors()
    if _json_sent_as_another_type(request, errors):
        return error_response(415, UnsupportedMediaType.code, NOT_JSON)
    # The offending input is not echoed back: it may be huge or sensitive (passwords).
    details = [
        {
            "loc": list(error.get("loc", ())),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in errors[:MAX_ERROR_DETAILS]
    ]
    message = "The request is invalid"
    if len(errors) > MAX_ERROR_DETAILS:
        message += f" ({len(errors)} errors, the first {MAX_ERROR_DETAILS} listed)"
    return error_response(422, "validation_error", message, details)


def _allowed_methods(request: Request) -> str:
    """Every method of the resource at the request's path (RFC 9110 15.5.6): Starlette names
    only those of the first route matching the path; HEAD wherever GET (EdgeMiddleware)."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", "")) or "/"
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(exc.status_code, code, message, headers=headers)


# What a browser may send and read cross-origin beyond CORS's safelisted headers (template.yaml's
# GatewayResponses expose the same to a browser reading API Gateway's own answers).
_CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = ["ETag", "Location", "Retry-After", "WWW-Authenticate", "X-Request-ID"]


class _CorsMiddleware(CORSMiddleware):
    """Starlette's CORS, refusing a preflight with the one error shape, not plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refusal = error_response(
            response.status_code, _HTTP_CODES[response.status_code], bytes(response.body).decode()
        )
        for name, value in response.headers.items():
            if name not in ("content-type", "content-length"):
                refusal.headers[name] = value
        return refusal


async def _unavailable_as_503(request: Request) -> AsyncIterator[None]:
    """A driver error from the route or its dependencies becomes `ServiceUnavailable`.

    A dependency rather than exception handlers keyed by the drivers' classes: those would
    import every driver into every function (the drivers declare their errors instead, see
    `errors.unavailable_on`). Function scope: it wraps the route and its dependencies and ends
    before the response is sent, so the 503 can still be answered.
    """
    try:
        yield
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        logger.warning(
            "backing service unavailable on %s: %s", request.url.path, type(exc).__name__
        )
        raise ServiceUnavailable() from exc


def _with_edge_errors_documented(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_edge_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    *routers: APIRouter, title: str = "SmartNote API", max_body_bytes: int | None = None
) -> FastAPI:
    """A FastAPI app with SmartNote's error mapping, middleware and the given routers.

    `max_body_bytes` raises the body limit for a function whose valid bodies can be larger
    (uploads, the longest note).
    """
    configure_logging()
    settings = get_settings()
    app = FastAPI(
        title=title,
        version=__version__,
        description="SmartNote: notes, users and image attachments. See /docs.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        responses=COMMON_RESPONSES,
        dependencies=[Depends(_unavailable_as_503, scope="function")],
    )
    for router in routers:
        app.include_router(router)
    _with_edge_errors_documented(app)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(FormMiddleware)  # innermost: the body limit counts the raw bytes
    # Its 413 and 500 answers pass through CORS, so an allowed origin reads them.
    limit = max(settings.max_request_body_bytes, max_body_bytes or 0)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=limit)
    if settings.cors_allow_origins:
        # Named origins only (Settings refuses `*`), so credentials may be allowed.
        app.add_middleware(
            _CorsMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_credentials=True,
            # HEAD too: answered wherever GET is (EdgeMiddleware), and a browser preflights
            # a HEAD that sends Authorization like any other method.
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=_CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    # Added last, so outermost: request id and security headers on every answer, CORS's too.
    app.add_middleware(EdgeMiddleware)
    return app
