"""A local API Gateway (REST v1) that runs each function's handler in Lambda-like containers."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from smartnote.local.containers import FunctionRuntime, FunctionTimedOut
from smartnote.local.emails import sent_emails
from smartnote.local.events import (
    HttpResponse,
    build_rest_event,
    over_lambda_payload_limit,
    parse_lambda_response,
)
from smartnote.local.gateway_responses import (
    GatewayResponse,
    GatewayResponses,
    gateway_responses,
    header_value,
)
from smartnote.local.template import FunctionSpec, Template, match_route
from smartnote.middleware import SECURITY_HEADERS, request_id

logger = logging.getLogger("smartnote.local.gateway")

LOCAL_PREFIX = "/_local/"  # the local stack's own routes, e.g. GET /_local/emails
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# API Gateway REST stops waiting for a Lambda integration after 29 s and answers 504; the
# function runs on to its own Timeout.
INTEGRATION_TIMEOUT_SECONDS = 29.0
# What API Gateway answers a failed Lambda invocation (a crash, a malformed result, the
# function's Timeout): DEFAULT_5XX's $context.error.messageString.
FUNCTION_FAILED = "Internal server error"
AWS_REQUEST_ID = "x-amzn-RequestId"  # API Gateway's id of the request, on every answer
# Statuses whose answers have no body and no Content-Length (RFC 9110 8.6: MUST NOT on a
# 204; on a 304 only the length the 200 would have, which the gateway does not know).
_BODILESS = (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)


_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")


class _BadFraming(ValueError):
    """A Content-Length or chunk size that is not a number: 400, the body cannot be read."""


class _BodyTooLarge(ValueError):
    """More than API Gateway's payload limit: 413."""


class _ClientGone(ValueError):
    """The connection ended before the body did: no function sees part of a body."""


def request_too_long() -> HttpResponse:
    """API Gateway's 413 to a request over its 10 MB, or whose event is over Lambda's 6 MiB:
    its own default, which no GatewayResponse shapes (REQUEST_TOO_LARGE cannot be customized),
    so none of the template's headers (X-Request-ID, CORS) and not the error envelope."""
    headers = [
        ("Content-Type", "application/json"),
        (AWS_REQUEST_ID, str(uuid.uuid4())),
        ("x-amzn-ErrorType", "BadRequestException"),
    ]
    return HttpResponse(413, headers, b'{"message": "Request Too Long"}')


def error_response(
    status: int,
    code: str,
    message: str,
    answer_request_id: str,
    headers: list[tuple[str, str]] | None = None,
) -> HttpResponse:
    """The project's error envelope, for errors the gateway itself produces."""
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    all_headers = [
        ("Content-Type", "application/json"),
        ("X-Request-ID", answer_request_id),
        *(headers or []),
    ]
    # As the template's GatewayResponses do on AWS: the functions' security headers (those a
    # template's response declares are among `headers` already).
    present = {name.lower() for name, _ in all_headers}
    all_headers += [
        (name.decode(), value.decode())
        for name, value in SECURITY_HEADERS
        if name.decode() not in present
    ]
    return HttpResponse(status, all_headers, body)


class _HttpServer(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: forty load-test users ramping up at once got
    # connection resets on their first request.
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (reset, broken pipe) is no error of the gateway's: no
        traceback on the stack's console for it; anything else as socketserver prints it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Gateway:
    """Serves the template's Api events over HTTP on `host:port` (port 0 picks a free one)."""

    def __init__(
        self,
        template: Template,
        host: str = "127.0.0.1",
        port: int = 3000,
        pool_size: int = 4,
        *,
        quiet: bool = False,
        stage: str = "local",
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        """`environ` gives the template's parameters their local values (CORS_ALLOW_ORIGINS the
        CORS headers of the gateway's own answers), as `AwsService.provision` does."""
        self.template = template
        self.host = host
        self.port = port
        self.pool_size = pool_size
        self.quiet = quiet
        self.stage = stage
        self.responses: GatewayResponses = gateway_responses(template, environ)
        self._runtimes: dict[str, FunctionRuntime] = {}
        self._runtimes_lock = threading.Lock()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def runtime(self, function_name: str) -> FunctionRuntime:
        """The containers of a function (by folder name or logical id), created on first use."""
        spec = self.template.function(function_name)
        with self._runtimes_lock:
            if spec.name not in self._runtimes:
                self._runtimes[spec.name] = FunctionRuntime(spec, self.pool_size)
            return self._runtimes[spec.name]

    def invoke(
        self, function_name: str, event: dict[str, Any], request_id: str | None = None
    ) -> Any:
        """Invoke a function directly with any event, in its container pool, and wait; raises
        what the handler raised, or `FunctionTimedOut` at the function's Timeout."""
        return self.runtime(function_name).invoke(event, request_id=request_id)

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> tuple[HttpResponse, str | None]:
        """Route one HTTP request and run it; returns the response and the function's name."""
        path = raw_path.split("?", 1)[0] or "/"
        if path.startswith(LOCAL_PREFIX):
            return self._local(method, path, headers), None
        # As API Gateway: HEAD reaches a function only through a HEAD or ANY method, and a
        # method the resource lacks is as unknown as a path no resource has.
        match = match_route(self.template.routes, method, path)
        if match is None:
            return self._missing_route(method, path, headers), None
        fn = match.function
        event = build_rest_event(
            method,
            raw_path,
            headers,
            body,
            resource=match.resource,
            path_parameters=match.path_parameters,
            source_ip=source_ip,
            stage=self.stage,
        )
        return self._run(fn, event, headers), fn.name

    def _run(
        self, fn: FunctionSpec, event: dict[str, Any], headers: Sequence[tuple[str, str]]
    ) -> HttpResponse:
        """Invoke `fn` with a request's event and answer what API Gateway would."""
        method, path = event["httpMethod"], event["path"]
        size = over_lambda_payload_limit(event)
        if size is not None:  # Lambda refuses the invocation: the function never runs
            logger.warning("%s: a %d-byte event is over Lambda's 6 MiB", fn.logical_id, size)
            return request_too_long()
        gateways_id: str = event["requestContext"]["requestId"]
        try:
            future = self.runtime(fn.name).start(event)
            result = future.result(timeout=INTEGRATION_TIMEOUT_SECONDS)
            response = parse_lambda_response(result)
            response.headers.append((AWS_REQUEST_ID, gateways_id))
            return response
        except FutureTimeout:
            logger.error(
                "%s still runs after API Gateway's %.0f s on %s %s",
                fn.logical_id,
                INTEGRATION_TIMEOUT_SECONDS,
                method,
                path,
            )
            return self.own_error(504, "Endpoint request timed out", headers, gateways_id)
        except FunctionTimedOut:
            # Lambda stopped it at its Timeout: a failed invocation, which API Gateway answers
            # with a 502 like a crash (the containers logged the timeout).
            return self.own_error(502, FUNCTION_FAILED, headers, gateways_id)
        except Exception:
            # The client gets a generic 502; the traceback goes to stderr (the function's log).
            logger.exception("%s failed on %s %s", fn.logical_id, method, path)
            return self.own_error(502, FUNCTION_FAILED, headers, gateways_id)

    def own_error(
        self,
        status: int,
        message: str,
        request: Sequence[tuple[str, str]] = (),
        gateways_id: str | None = None,
    ) -> HttpResponse:
        """An error of the gateway itself, as the template's DEFAULT_4XX/5XX shapes it for a
        request with these headers (`gateways_id`: the id its event had, if it had one)."""
        response = self.responses.for_status(status)
        return _answer(response, status, message, request, gateways_id)

    def _missing_route(
        self, method: str, path: str, request: Sequence[tuple[str, str]]
    ) -> HttpResponse:
        missing = self.responses.missing_route
        status = missing.status or HTTPStatus.FORBIDDEN  # API Gateway's own status for it
        return _answer(missing, status, f"No route for {method} {path}", request)

    def _local(self, method: str, path: str, request: Sequence[tuple[str, str]]) -> HttpResponse:
        """The local stack's own routes (`/_local/...`); API Gateway on AWS has none."""
        if path.rstrip("/") != f"{LOCAL_PREFIX}emails":
            return self._missing_route(method, path, request)
        # Answered like a function's (middleware.py).
        incoming_id = request_id(header_value(request, "x-request-id"))
        if method not in ("GET", "HEAD"):
            return error_response(
                405,
                "method_not_allowed",
                f"Method {method} not allowed",
                incoming_id,
                [("Allow", "GET, HEAD")],
            )
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            message = "No local AWS endpoint is set"
            return error_response(503, "service_unavailable", message, incoming_id)
        try:
            emails = sent_emails(endpoint)
        except (OSError, ValueError) as exc:
            logger.warning("reading the sent emails from %s failed: %s", endpoint, exc)
            message = "The local SES store cannot be read (not moto?)"
            return error_response(503, "service_unavailable", message, incoming_id)
        body = json.dumps(emails).encode()
        return HttpResponse(200, [("Content-Type", "application/json")], body)

    def start(self) -> None:
        """Bind (OSError when the port is taken) and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("gateway already started")
        server = _HttpServer((self.host, self.port), _make_handler_class(self))
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and retire the containers."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._runtimes_lock:
            for runtime in self._runtimes.values():
                runtime.shutdown()
            self._runtimes.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answer(
    response: GatewayResponse,
    status: int,
    message: str,
    request: Sequence[tuple[str, str]],
    gateways_id: str | None = None,
) -> HttpResponse:
    """An answer of the gateway itself of this response type, to a request with these
    headers: its X-Request-ID, other headers and literal message as the template maps them."""
    gateways_id = gateways_id or str(uuid.uuid4())
    answer_id = response.request_id(header_value(request, "x-request-id"), gateways_id)
    return error_response(
        status,
        response.code,
        message if response.message is None else response.message,
        answer_id,
        [(AWS_REQUEST_ID, gateways_id), *response.headers_for(request)],
    )


def _read_chunked(rfile: Any) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline()
        if not line:
            raise _ClientGone()
        size_field = line.split(b";", 1)[0].strip().decode("latin-1")
        if not _HEX.fullmatch(size_field):
            raise _BadFraming(f"Malformed chunk size {size_field[:20]!r}")
        size = int(size_field, 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise _BodyTooLarge()
        chunks.append(_read_exactly(rfile, size))
        if not rfile.readline():  # the chunk's CRLF
            raise _ClientGone()


def _read_exactly(rfile: Any, size: int) -> bytes:
    data: bytes = rfile.read(size)
    if len(data) < size:
        raise _ClientGone()
    return data


def _content_length(value: str) -> int:
    if not _DECIMAL.fullmatch(value.strip()):
        raise _BadFraming(f"Malformed Content-Length {value[:20]!r}")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise _BodyTooLarge()
    return length


def _make_handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        # Keep-alive: every response carries Content-Length, or has no body (204, 304).
        protocol_version = "HTTP/1.1"
        server_version = "SmartNoteLocalGateway/1.0"
        # Not HTTP/0.9, whose answers have no status line or headers: a request line without
        # a version (or a garbled one) gets an error a client can read.
        default_request_version = "HTTP/1.0"

        def _handle(self) -> None:
            started = time.perf_counter()
            body = self._read_body()
            if body is None:
                return
            headers = [(key, value) for key, value in self.headers.items()]
            response, fn_name = gateway.handle(
                self.command, self.path, headers, body, self.client_address[0]
            )
            gone = ""
            try:
                self._send(response)
            except ConnectionError:  # the client left before its answer
                self.close_connection = True
                gone = " (client gone)"
            if not gateway.quiet:
                elapsed = (time.perf_counter() - started) * 1000
                target = f" -> {fn_name}" if fn_name else ""
                sys.stderr.write(
                    f"{self.command} {self.path} {response.status} {elapsed:.1f}ms{target}{gone}\n"
                )

        def _read_body(self) -> bytes | None:
            try:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    return _read_chunked(self.rfile)
                length = _content_length(self.headers.get("Content-Length") or "0")
                return _read_exactly(self.rfile, length) if length > 0 else b""
            except _ClientGone:
                self.close_connection = True  # no one to answer
            except _BodyTooLarge:
                self.close_connection = True  # the body is left unread
                self._send(request_too_long())
            except _BadFraming as exc:
                self._send_error(400, str(exc))
            return None

        def _send_error(self, status: int, message: str) -> None:
            self.close_connection = True  # an unread body would poison the next request
            # No command: the request line was too long (414), before parse_request.
            request = list(self.headers.items()) if self.command else []
            self._send(gateway.own_error(status, message, request))

        def parse_request(self) -> bool:
            self.headers = HTTPMessage()  # a refusal must not echo the last request's id
            return super().parse_request()

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """http.server's own refusals (bad request line, 414, 431, 501) in the error shape."""
            self._send_error(code, message or HTTPStatus(code).phrase)

        def _send(self, response: HttpResponse) -> None:
            self.send_response(response.status)
            for key, value in response.headers:
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            if response.status in _BODILESS:
                self.end_headers()
                return
            length = str(len(response.body))
            if self.command == "HEAD":  # the function's: the length its GET would have
                length = header_value(response.headers, "content-length") or length
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # _handle writes one concise line per request instead

        def log_message(self, format: str, *args: Any) -> None:
            if not gateway.quiet:
                super().log_message(format, *args)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return RequestHandler
