"""API Gateway's own answers, as the template's `GatewayResponses` shape them.

A client branches on `error.code`, so the local gateway's own errors carry the codes the
deployed API sends: DEFAULT_4XX and DEFAULT_5XX for whatever the gateway refuses or cannot
get from a function, MISSING_AUTHENTICATION_TOKEN (API Gateway's answer to a path or method
no resource has) for an unknown route. Their X-Request-ID is the client's, as sent, when the
template maps it from the request (`method.request.header.X-Request-ID`), else API Gateway's
own id (`context.requestId`), which every answer carries as `x-amzn-RequestId`. A client that
sends none gets that id here too: on AWS the mapping has no fallback, and what API Gateway then
sends (no header, an empty one) is not documented. Their other headers are the template's,
resolved with the local parameter values (the CORS headers follow CorsAllowOrigins, read
from CORS_ALLOW_ORIGINS as the functions read it): a quoted literal as it is, a request
header's value when the client sent that header (API Gateway leaves the header out otherwise).
A literal `message` in a response's body template is answered as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smartnote.local.template import Template

API_TYPES = ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi")
_CODE = re.compile(r'"code"\s*:\s*"([^"$]+)"')
# A literal message (a JSON string without `$` variables), as API Gateway answers it as is.
_MESSAGE = re.compile(r'"message"\s*:\s*("(?:[^"\\$]|\\.)*")')
CLIENTS_REQUEST_ID = "method.request.header.X-Request-ID"
_REQUEST_HEADER = "method.request.header."
_LITERAL = re.compile(r"'(.*)'", re.DOTALL)


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str:
    """The value of the header `name` (any case) among `headers`, or ""."""
    return next((value for key, value in headers if key.lower() == name.lower()), "")


@dataclass(frozen=True)
class GatewayResponse:
    """One response type: its status (None: the error's own), its `error.code`, whether its
    X-Request-ID echoes the client's, its other headers as the template maps them, and its
    `error.message` when the template writes a literal one (None: the error's own)."""

    status: int | None
    code: str
    echoes_request_id: bool
    headers: tuple[tuple[str, str], ...] = ()
    message: str | None = None

    def request_id(self, incoming: str, gateways: str) -> str:
        """Its X-Request-ID: the client's as sent (API Gateway copies it unchecked) when it
        echoes one and the client sent one, else API Gateway's own id `gateways`."""
        return incoming if self.echoes_request_id and incoming else gateways

    def headers_for(self, request: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Its other headers in the answer to a request with these headers."""
        answered = []
        for name, source in self.headers:
            literal = _LITERAL.fullmatch(source)
            if literal:
                answered.append((name, literal[1]))
            elif source.startswith(_REQUEST_HEADER):
                value = header_value(request, source.removeprefix(_REQUEST_HEADER))
                if value:
                    answered.append((name, value))
        return answered


# For a response type the template does not declare (a test's template declares none): what
# the project's template gives it, so the gateway's errors keep the project's error shape.
FALLBACK = {
    "DEFAULT_4XX": GatewayResponse(None, "gateway_error", echoes_request_id=True),
    "DEFAULT_5XX": GatewayResponse(None, "gateway_error", echoes_request_id=True),
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(404, "not_found", echoes_request_id=True),
}


@dataclass(frozen=True)
class GatewayResponses:
    """The response types the local gateway produces."""

    default_4xx: GatewayResponse
    default_5xx: GatewayResponse
    missing_route: GatewayResponse

    def for_status(self, status: int) -> GatewayResponse:
        """The DEFAULT_4XX or DEFAULT_5XX response for an error of this status."""
        return self.default_5xx if status >= 500 else self.default_4xx


def _parse(raw: Mapping[str, Any], fallback: GatewayResponse) -> GatewayResponse:
    body = str(((raw.get("ResponseTemplates") or {}).get("application/json")) or "")
    code = _CODE.search(body)
    message = _MESSAGE.search(body)
    status = raw.get("StatusCode")
    headers = (raw.get("ResponseParameters") or {}).get("Headers") or {}
    request_id = next((v for k, v in headers.items() if str(k).lower() == "x-request-id"), None)
    others = tuple((str(k), str(v)) for k, v in headers.items() if str(k).lower() != "x-request-id")
    return GatewayResponse(
        int(status) if status is not None else fallback.status,
        code[1] if code else fallback.code,
        echoes_request_id=(
            fallback.echoes_request_id if request_id is None else request_id == CLIENTS_REQUEST_ID
        ),
        headers=others,
        message=json.loads(message[1]) if message else fallback.message,
    )


def gateway_responses(template: Template, environ: Mapping[str, str]) -> GatewayResponses:
    """The template's GatewayResponses (of its first API that declares some), its parameters
    given their local values from `environ` (see `Template.resolver`)."""
    declared: Mapping[str, Any] = next(
        (
            resource.properties["GatewayResponses"]
            for resource in template.resources.values()
            if resource.type in API_TYPES and resource.properties.get("GatewayResponses")
        ),
        {},
    )
    resolver = template.resolver(environ)

    def response(kind: str) -> GatewayResponse:
        raw = resolver.resolve(declared.get(kind))
        return _parse(raw, FALLBACK[kind]) if isinstance(raw, Mapping) else FALLBACK[kind]

    return GatewayResponses(
        default_4xx=response("DEFAULT_4XX"),
        default_5xx=response("DEFAULT_5XX"),
        missing_route=response("MISSING_AUTHENTICATION_TOKEN"),
    )
