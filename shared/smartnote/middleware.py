"""The ASGI layers of every function. Outermost, `EdgeMiddleware`: request id, stage prefix,
HEAD, security headers on every answer. `BodyLimitMiddleware`: the body limit and the clean
500 for any crash, whose answers then pass through CORS (app.py) like the routes'. Innermost,
`FormMiddleware`: forms read as their clients meant them, or refused (400)."""

from __future__ import annotations

import codecs
import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_from_bytes

from python_multipart.multipart import parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartnote.logs import request_id_var

logger = logging.getLogger("smartnote.requests")

# Whole-string match (`fullmatch`): `$` would also take a final line feed.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,128}")
# Built once per container; an answer that names its own header keeps it (the docs pages send
# their own Content-Security-Policy). Every other answer is data, not a page: a browser that
# opens one (a JSON error, an asset) may run, load and frame nothing from it.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]


def _header(scope: Scope, name: bytes) -> bytes:
    """The value of the request header `name` (lower case), b"" when it was not sent."""
    return next((v for k, v in scope["headers"] if k.lower() == name), b"")


class _BodyTooLarge(Exception):
    pass


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "details": details or []}}
    ).encode()


def request_id(incoming: str) -> str:
    """The client's `X-Request-ID` when it is a sane one, else a new id."""
    return incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def stage_prefix(scope: Scope) -> str:
    """`/dev` when API Gateway called us as `/dev/notes` (execute-api URL), else ``."""
    event = scope.get("aws.event") or {}
    if not event.get("path"):
        return ""
    context_path = (event.get("requestContext") or {}).get("path")
    if not isinstance(context_path, str):  # API Gateway's is; Mangum does not read it
        return ""
    # Compared without their trailing slash: `/notes/` is `/dev/notes/` under the stage.
    path = event["path"].rstrip("/")
    context_path = context_path.rstrip("/")
    if context_path != path and context_path.endswith(path):
        return context_path[: len(context_path) - len(path)]
    return ""


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """Answer an error of the one shape (EdgeMiddleware adds the request id and headers)."""
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": error_body(code, message)})


class EdgeMiddleware:
    """Outermost: what every answer carries, whoever gives it (route, CORS, body limit)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = request_id(incoming.decode("latin-1"))
        token = request_id_var.set(rid)
        prefix = stage_prefix(scope)
        if prefix and not scope.get("root_path"):
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        # HEAD is a GET without the body (RFC 9110 9.3.2); FastAPI routes know only GET.
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [(b"x-request-id", rid.encode())]
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            elif head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # BodyLimitMiddleware answers the app's crashes; this is for the layers above it.
            logger.exception("unhandled error")
            if not started:
                await send_error(send_with_headers, 500, "internal_error", "Internal error")
        finally:
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """The body limit (413) and a clean 500 for any crash of the app."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        too_large = False  # the body limit tripped while the app was reading the body

        async def send_or_413(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                # The app saw the read fail (FastAPI answers 400 "error parsing the body");
                # the client must learn the real reason: 413.
                started = True
                await send_error(send, 413, "payload_too_large", self._too_large_message())
                return
            if too_large:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        def on_exceeded() -> None:
            nonlocal too_large
            too_large = True

        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_error(send, 413, "payload_too_large", self._too_large_message())
            return
        try:
            await self.app(scope, self._limited(receive, on_exceeded), send_or_413)
        except _BodyTooLarge:
            if not started:
                started = True
                await send_error(send, 413, "payload_too_large", self._too_large_message())
        except Exception:
            logger.exception("unhandled error")
            if not started:
                started = True
                await send_error(send, 500, "internal_error", "Internal error")

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


_FORM_TYPE = b"application/x-www-form-urlencoded"
_MULTIPART_TYPE = b"multipart/form-data"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ASCII = bytes(range(0x80))  # left as they are: only the bytes past ASCII are encoded


# What a multipart form may declare as its charset. Starlette decodes the form's fields with
# any Python codec named there, and some make text no UTF-8 encoder takes: `unicode_escape`
# turns `\ud800` into a lone surrogate, which a password hash, a SQL driver or a JSON encoder
# then refuses (a 500). URL-encoded forms are read as UTF-8 whatever they declare.
FORM_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1"})


def _refused_charset(params: dict[bytes, bytes]) -> bool:
    """Whether a multipart form's parameters name a charset outside FORM_CHARSETS (a name that
    is no codec is not refused: Starlette decodes that form as Latin-1)."""
    if b"charset" not in params:
        return False
    try:
        return codecs.lookup(params[b"charset"].decode("latin-1")).name not in FORM_CHARSETS
    except LookupError:
        return False


class FormMiddleware:
    """Forms read as their clients meant them, or refused with a 400.

    URL-encoded: the raw non-ASCII bytes are read as UTF-8, the characters sent. A browser
    percent-encodes them (the WHATWG form serializer, RFC 6749 appendix B), but
    `curl -d 'username=zoë@…'` sends them raw, and Starlette decodes raw bytes as Latin-1:
    the login with the right password failed. Percent-encoding those bytes before the parser
    is unambiguous (a conforming body holds none), and the parser then decodes them as UTF-8;
    bytes that are not UTF-8 become U+FFFD, a failed login. The body limit counts the bytes
    the client sent (this layer sits inside it).

    Multipart: a charset other than FORM_CHARSETS is a 400 before anything is parsed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        # Parsed as Starlette parses it to choose the form's parser.
        media_type, params = parse_options_header(_header(scope, b"content-type"))
        if media_type == _MULTIPART_TYPE and _refused_charset(params):
            message = "A multipart form's text must be UTF-8 (its charset parameter)"
            await send_error(send, 400, "bad_request", message)
            return
        if media_type != _FORM_TYPE:
            await self.app(scope, receive, send)
            return

        async def receive_encoded() -> Message:
            message = await receive()
            body = message.get("body", b"")
            if message["type"] == "http.request" and not body.isascii():
                # Byte by byte, so a character split across two messages is encoded whole.
                message = {**message, "body": quote_from_bytes(body, safe=_ASCII).encode()}
            return message

        await self.app(scope, receive_encoded, send)
