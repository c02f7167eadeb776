"""What reaches Mangum in an API function: API Gateway REST proxy events that it can read.

Mangum raises on anything else (it cannot infer a handler, or trips over a field of an
unexpected type), which Lambda counts as a function error, API Gateway turns into a bare 502,
and asynchronous invokers (EventBridge, `--invocation-type Event`) retry. Instead:

- a warm-up ping (`{}`, `{"warmer": true}`, a scheduled EventBridge event, Serverless'
  warm-up plugin) is answered at once, touching no database;
- a REST proxy event that is malformed (a field missing or of the wrong type, a body flagged
  base64 that is not) is a 400 in API.md's error shape, logged, when Mangum cannot read it
  (a map of the wrong shape that Mangum reads anyway is served as it reads it);
- any other event (a console test, an S3 or SQS event, an HTTP API payload) is a 400 of the
  same shape saying what came, logged as an error. Nothing is raised, so nothing is retried.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from smartnote.lambda_events import describe
from smartnote.middleware import SECURITY_HEADERS, error_body, request_id

logger = logging.getLogger("smartnote.events")

EntryPoint = Callable[[dict[str, Any], Any], dict[str, Any]]
WARM_UP_RESULT = {"warm_up": True}

# An event with any of these keys was meant as an HTTP request (a REST or HTTP API payload).
_HTTP_KEYS = frozenset({"httpMethod", "resource", "path", "routeKey", "rawPath"})
_SCHEDULED_SOURCES = frozenset({"aws.events", "aws.scheduler"})
# Matched whole (`fullmatch`): a pattern ending in `$` also takes a final line feed.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token
_PORT = re.compile(r"[0-9]{1,5}")


def is_warm_up(event: Mapping[str, Any]) -> bool:
    """A keep-warm ping: empty, `{"warmer": true}`, a scheduled event, or Serverless' plugin."""
    if not event or event.get("warmer") is True:
        return True
    source = event.get("source")
    scheduled = source in _SCHEDULED_SOURCES and event.get("detail-type") == "Scheduled Event"
    return scheduled or source == "serverless-plugin-warmup"


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _is_multi_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(isinstance(item, str) for item in v) for v in value.values()
    )


def _maps_problem(event: Mapping[str, Any]) -> str | None:
    for name in ("headers", "queryStringParameters", "pathParameters", "stageVariables"):
        if event.get(name) is not None and not _is_str_map(event[name]):
            return f"{name} is not an object of strings"
    for name in ("multiValueHeaders", "multiValueQueryStringParameters"):
        if event.get(name) is not None and not _is_multi_map(event[name]):
            return f"{name} is not an object of string lists"
    return None


def _context_problem(context: Any) -> str | None:
    if not isinstance(context, dict):
        return "requestContext is missing or not an object"
    if context.get("path") is not None and not isinstance(context["path"], str):
        return "requestContext.path is not a string"
    identity = context.get("identity", {})
    if not isinstance(identity, dict):
        return "requestContext.identity is not an object"
    if identity.get("sourceIp") is not None and not isinstance(identity["sourceIp"], str):
        return "requestContext.identity.sourceIp is not a string"
    return None


def _server_problem(event: Mapping[str, Any]) -> str | None:
    """Mangum reads the server's port from Host, else X-Forwarded-Port, as an integer."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(values)
    host = headers.get("host", "")
    if ":" in host:
        _, _, port = host.partition(":")
        if not _PORT.fullmatch(port):
            return "the Host header is not host[:port] (an IPv6 literal is not supported)"
    elif "x-forwarded-port" in headers and not _PORT.fullmatch(headers["x-forwarded-port"]):
        return "the X-Forwarded-Port header is not a port number"
    return None


def _body_problem(event: Mapping[str, Any]) -> str | None:
    body, is_base64 = event.get("body"), event.get("isBase64Encoded")
    if body is not None and not isinstance(body, str):
        return "body is not a string"
    if is_base64 is not None and not isinstance(is_base64, bool):
        return "isBase64Encoded is not a boolean"
    if is_base64 and body:
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "body is flagged isBase64Encoded but is not valid base64"
    return None


def problem(event: Mapping[str, Any]) -> str | None:
    """What is wrong with `event` as an API Gateway REST proxy event, or None."""
    if "version" in event or "routeKey" in event:
        return "an HTTP API payload: the functions sit behind a REST API (payload without version)"
    method, resource, path = event.get("httpMethod"), event.get("resource"), event.get("path")
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        return "httpMethod is missing or not an HTTP method"
    if not isinstance(resource, str):
        return "resource is missing or not a string"
    if not isinstance(path, str) or not path.startswith("/"):
        return "path is missing or does not start with /"
    return (
        _context_problem(event.get("requestContext"))
        or _maps_problem(event)
        or _server_problem(event)
        or _body_problem(event)
    )


def bad_event_response(event: Any, message: str) -> dict[str, Any]:
    """The 400 a REST proxy integration returns, with the headers every answer carries."""
    headers = event.get("headers") if isinstance(event, dict) else None
    sent = headers.items() if isinstance(headers, dict) and _is_str_map(headers) else ()
    incoming = next((value for name, value in sent if name.lower() == "x-request-id"), "")
    response_headers = {
        "content-type": "application/json",
        "x-request-id": request_id(incoming),
        **{name.decode(): value.decode() for name, value in SECURITY_HEADERS},
    }
    return {
        "statusCode": 400,
        "headers": response_headers,
        "multiValueHeaders": {},
        "body": error_body("bad_request", message).decode(),
        "isBase64Encoded": False,
    }


class ApiEventGuard:
    """Hands REST proxy events to `adapter` (Mangum) and answers every other event itself.

    A request pays only for telling it from other events (a few key lookups): `problem` reads
    a REST event through only when Mangum raised on it (what Mangum cannot read, it raises
    on), or when its body is flagged base64 (Mangum drops what is not base64 silently).
    """

    def __init__(self, adapter: EntryPoint) -> None:
        self.adapter = adapter

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        if isinstance(event, dict) and is_warm_up(event):
            logger.info("warm-up ping (%s): nothing to serve", describe(event))
            return dict(WARM_UP_RESULT)
        if not isinstance(event, dict) or not _HTTP_KEYS & event.keys():
            kind = describe(event)
            logger.error("not an API Gateway request: %s", kind)
            message = (
                f"Not an API Gateway request: this function takes REST proxy events, not {kind}"
            )
            return bad_event_response(event, message)
        wrong = problem(event) if _read_through_first(event) else None
        if wrong is None:
            try:
                return self.adapter(event, context)
            except Exception:
                wrong = problem(event)
                if wrong is None:
                    raise
        logger.error("malformed API Gateway event: %s", wrong)
        return bad_event_response(event, f"Malformed API Gateway event: {wrong}")


def _read_through_first(event: Mapping[str, Any]) -> bool:
    """Whether `event` is checked before Mangum has it: an HTTP API payload or a method that
    is no HTTP method (both of which Mangum would serve wrongly), or a base64 body."""
    method = event.get("httpMethod")
    return (
        "version" in event
        or "routeKey" in event
        or not isinstance(method, str)
        or not _METHOD.fullmatch(method)
        or event.get("isBase64Encoded") is not False
    )
