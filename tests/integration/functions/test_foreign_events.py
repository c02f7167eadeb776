"""The API functions' handlers fed events other than a well-formed API Gateway request: warm-up
pings, console tests, other services' events, and malformed REST proxy events."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from smartnote.db import mongo
from smartnote.local.containers import FunctionRuntime
from smartnote.local.gateway import Gateway
from smartnote.local.template import Template
from tests.conftest import ApiUser
from tests.integration.functions.test_handlers import load_event
from tests.utils.lambda_events import FAILURE_RECORD, FOREIGN_EVENTS, event_file

API_FUNCTIONS = ["auth", "users", "notes", "attachments", "docs"]

WARM_UPS: dict[str, Callable[[], Any]] = {
    "empty": dict,
    "warmer": lambda: {"warmer": True, "concurrency": 1},
    "eventbridge-rule": lambda: event_file("reminders"),
    "scheduler": lambda: event_file("cleanup"),
    "serverless-plugin": lambda: {"source": "serverless-plugin-warmup"},
}
FOREIGN: dict[str, Callable[[], Any]] = {
    **FOREIGN_EVENTS,
    "s3-test-event": lambda: event_file("s3-test-event"),
    "s3-object-created": lambda: event_file("s3-object-created"),
}


def _users_event(token: str | None, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    event = load_event("users", token)
    change(event)
    return event


def _set(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.update(fields)


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.pop(name)


def _header(name: str, value: Any, multi: bool = False) -> Callable[[dict[str, Any]], None]:
    return lambda event: event["multiValueHeaders" if multi else "headers"].update({name: value})


def _context(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda event: event["requestContext"].update(fields)


# What Mangum cannot read. A map of the wrong shape that Mangum reads anyway (a string where
# multiValueHeaders has lists) is served as it reads it: API Gateway never sends one, and
# checking every event's maps would cost each request (`ApiEventGuard`).
MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "no-httpMethod": _drop("httpMethod"),
    "httpMethod-number": _set(httpMethod=5),
    "httpMethod-not-a-token": _set(httpMethod="G ET"),
    # A pattern ending in `$` takes a final line feed (served as a 405, not refused).
    "httpMethod-line-feed": _set(httpMethod="GET\n"),
    "no-path": _drop("path"),
    "path-number": _set(path=5),
    "no-requestContext": _drop("requestContext"),
    "requestContext-null": _set(requestContext=None),
    "identity-null": _context(identity=None),
    "body-object": _set(httpMethod="PATCH", body={"display_name": "x"}),
    "body-number": _set(httpMethod="PATCH", body=5),
    "invalid-base64": _set(httpMethod="PATCH", body="!!!not base64", isBase64Encoded=True),
    "base64-with-junk": _set(httpMethod="PATCH", body="e30=!!", isBase64Encoded=True),
    "isBase64Encoded-string": _set(body="e30=", isBase64Encoded="yes"),
    "header-null": _header("X-Extra", None),
    "multi-header-number": _header("X-Extra", [5], multi=True),
    "host-port-not-a-number": _header("Host", ["example.com:abc"], multi=True),
    "forwarded-port-not-a-number": _header("X-Forwarded-Port", ["https"], multi=True),
    "http-api-payload": _set(version="2.0"),
}


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def logged(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records logger `name` writes in the block (SmartNote's loggers do not propagate)."""
    logger, handler = logging.getLogger(name), _Records()
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@contextlib.contextmanager
def sql_statements() -> Iterator[list[str]]:
    """The SQL statements run in the block."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _error(result: dict[str, Any]) -> dict[str, Any]:
    assert result["statusCode"] == 400, result
    assert result["headers"]["content-type"] == "application/json"
    assert result["headers"]["x-request-id"]
    assert result["headers"]["x-content-type-options"] == "nosniff"
    error: dict[str, Any] = json.loads(result["body"])["error"]
    assert error["code"] == "bad_request" and error["details"] == []
    return error


@pytest.mark.parametrize("function", API_FUNCTIONS)
@pytest.mark.parametrize("ping", list(WARM_UPS))
def test_a_warm_up_ping_is_answered_without_touching_a_database(
    gateway: Gateway, template: Template, function: str, ping: str
) -> None:
    container = FunctionRuntime(template.function(function), pool_size=1)  # a new container
    clients_before = mongo.clients_created()
    try:
        with sql_statements() as statements:
            result = container.invoke(WARM_UPS[ping]())
    finally:
        container.shutdown()
    assert result == {"warm_up": True}
    assert mongo.clients_created() == clients_before
    assert statements == []


@pytest.mark.parametrize("function", API_FUNCTIONS)
@pytest.mark.parametrize("kind", list(FOREIGN))
def test_an_event_of_another_kind_is_a_logged_400(
    gateway: Gateway, function: str, kind: str
) -> None:
    with logged("smartnote.events") as records:
        result = gateway.invoke(function, FOREIGN[kind]())
    assert _error(result)["message"].startswith("Not an API Gateway request")
    assert [r.levelname for r in records] == ["ERROR"]
    assert "not an API Gateway request" in records[0].getMessage()


def test_the_400_says_what_came_without_its_values(gateway: Gateway) -> None:
    secret = {"key1": "value1", "password": "tulip-orbit-7-canyon"}
    message = _error(gateway.invoke("auth", secret))["message"]
    assert "[key1, password]" in message
    assert "tulip" not in message
    record = _error(gateway.invoke("auth", FAILURE_RECORD))["message"]
    assert "failure record" in record and "requestPayload" in record


@pytest.mark.parametrize("change", list(MALFORMED))
def test_a_malformed_rest_event_is_a_400_in_the_error_shape(
    gateway: Gateway, user: ApiUser, change: str
) -> None:
    with logged("smartnote.events") as records:
        result = gateway.invoke("users", _users_event(user.access_token, MALFORMED[change]))
    assert _error(result)["message"].startswith("Malformed API Gateway event: ")
    assert [r.levelname for r in records] == ["ERROR"]


def test_the_400_of_a_malformed_event_echoes_a_sane_request_id(
    gateway: Gateway, user: ApiUser
) -> None:
    def malformed(event: dict[str, Any]) -> None:
        event["headers"]["x-request-id"] = "trace-42"
        event["body"] = 5

    result = gateway.invoke("users", _users_event(user.access_token, malformed))
    _error(result)
    assert result["headers"]["x-request-id"] == "trace-42"


@pytest.mark.parametrize(
    "change",
    [_set(headers=None), _set(multiValueHeaders=None), _set(body=None, isBase64Encoded=None)],
    ids=["headers-null", "multiValueHeaders-null", "body-and-flag-null"],
)
def test_null_fields_api_gateway_sends_are_a_request_as_any(
    gateway: Gateway, user: ApiUser, change: Callable[[dict[str, Any]], None]
) -> None:
    """API Gateway sends `null` for a request without headers, query or body: not malformed."""
    result = gateway.invoke("users", _users_event(user.access_token, change))
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["email"] == user.email


def test_a_valid_base64_body_is_still_read(gateway: Gateway, user: ApiUser) -> None:
    body = base64.b64encode(json.dumps({"display_name": "Ada"}).encode()).decode()
    json_type = _header("Content-Type", ["application/json"], multi=True)

    def patch(event: dict[str, Any]) -> None:
        event.update(httpMethod="PATCH", body=body, isBase64Encoded=True)
        json_type(event)

    result = gateway.invoke("users", _users_event(user.access_token, patch))
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["display_name"] == "Ada"
