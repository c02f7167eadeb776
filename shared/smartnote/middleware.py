"""The outermost ASGI layer of every function: request id, stage prefix, body limit,
security headers, and the last line of defence that turns any crash into a clean 500."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartnote.logs import request_id_var

logger = logging.getLogger("smartnote.requests")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]


class _BodyTooLarge(Exception):
    pass


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "details": details or []}}
    ).encode()


def stage_prefix(scope: Scope) -> str:
    """`/dev` when API Gateway called us as `/dev/notes` (execute-api URL), else ``."""
    event = scope.get("aws.event") or {}
    context_path = (event.get("requestContext") or {}).get("path") or ""
    path = event.get("path") or ""
    if path and context_path != path and context_path.endswith(path.rstrip("/") or "/"):
        return context_path[: len(context_path) - len(path.rstrip("/"))].rstrip("/")
    return ""


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        prefix = stage_prefix(scope)
        if prefix and not scope.get("root_path"):
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        started = False
        too_large = False  # the body limit tripped while the app was reading the body

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                # The app saw the read fail (FastAPI answers 400 "error parsing the body");
                # the client must learn the real reason: 413.
                started = True
                await send_error(413, "payload_too_large", self._too_large_message())
                return
            if too_large:
                return
            if message["type"] == "http.response.start":
                started = True
                extra = [(b"x-request-id", request_id.encode())]
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        async def send_error(status: int, code: str, text: str) -> None:
            headers = [
                (b"content-type", b"application/json"),
                (b"x-request-id", request_id.encode()),
                *SECURITY_HEADERS,
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": error_body(code, text)})

        def on_exceeded() -> None:
            nonlocal too_large
            too_large = True

        try:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await send_error(413, "payload_too_large", self._too_large_message())
                return
            await self.app(scope, self._limited(receive, on_exceeded), send_with_headers)
        except _BodyTooLarge:
            if not started:
                started = True
                await send_error(413, "payload_too_large", self._too_large_message())
        except Exception:
            logger.exception("unhandled error")
            if not started:
                started = True
                await send_error(500, "internal_error", "Internal error")
        finally:
            request_id_var.reset(token)

    def _too_large_message(self) -> str:
        return f"The request body exceeds {self.max_body_bytes} bytes"

    def _limited(self, receive: Receive, on_exceeded: Callable[[], None]) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    on_exceeded()
                    raise _BodyTooLarge()
            return message

        return limited_receive
