"""CORS on the local gateway's own answers, from template.yaml's GatewayResponses and the
local CorsAllowOrigins (CORS_ALLOW_ORIGINS), as API Gateway sends them on AWS.

Without it a browser app of an allowed origin cannot read a 404 or 5xx of the gateway itself
(nor its X-Request-ID or Retry-After): it sees an opaque network error. The local gateway does
not throttle, so the 429s (THROTTLED, QUOTA_EXCEEDED) are checked in the template only
(tests/security/test_misconfiguration.py); a 504 takes 29 s and is the 502's DEFAULT_5XX. The
413 is API Gateway's own, which no GatewayResponse shapes: no CORS headers on AWS, none here.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from smartnote.app import CORS_RESPONSE_HEADERS
from smartnote.local.gateway import Gateway
from smartnote.local.template import load_template
from tests.utils.local_stack import write_project

REPO = Path(__file__).resolve().parents[3]
ALLOWED = "http://localhost:5173"
ALSO_ALLOWED = "https://app.example.com"
FOREIGN = "https://evil.example"

FUNCTIONS = """
Resources:
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/boom/
      Handler: app.handler
      Timeout: 5
      Events:
        Boom:
          Type: Api
          Properties: {Path: "/boom/{proxy+}", Method: ANY}
"""

BOOM_APP = """
def handler(event, context):
    raise RuntimeError("kaboom")
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """template.yaml's API (its GatewayResponses), parameters and conditions, with a function
    that crashes (API Gateway's 502)."""
    root = tmp_path_factory.mktemp("cors-project")
    real = load_template(REPO / "template.yaml").raw
    resources = yaml.safe_load(FUNCTIONS)["Resources"]
    template = {
        "Parameters": real["Parameters"],
        "Conditions": real["Conditions"],
        "Globals": {"Function": {"Environment": real["Globals"]["Function"]["Environment"]}},
        "Resources": {"Api": real["Resources"]["Api"], **resources},
    }
    return write_project(root, yaml.safe_dump(template), {"boom": BOOM_APP})


def _gateway(project: Path, monkeypatch: pytest.MonkeyPatch, origins: str) -> Iterator[Gateway]:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", origins)
    with Gateway(load_template(project / "template.yaml"), port=0, quiet=True) as running:
        yield running


@pytest.fixture
def one_origin(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    yield from _gateway(project, monkeypatch, ALLOWED)


@pytest.fixture
def two_origins(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    yield from _gateway(project, monkeypatch, f"{ALLOWED},{ALSO_ALLOWED}")


@pytest.fixture
def no_origins(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    yield from _gateway(project, monkeypatch, "")


def _too_large(gateway: Gateway, origin: str) -> httpx.Headers:
    """A body over API Gateway's 10 MB: refused (413) before it is read, so none is sent."""
    connection = http.client.HTTPConnection(gateway.host, gateway.port, timeout=10)
    try:
        connection.putrequest("POST", "/boom/upload")
        connection.putheader("Origin", origin)
        connection.putheader("Content-Length", str(20 * 1024 * 1024))
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 413
        return httpx.Headers(answer.getheaders())
    finally:
        connection.close()


def _own_answers(gateway: Gateway, origin: str) -> dict[int, httpx.Headers]:
    """The headers of the gateway's own 404 (unknown route) and 502 to `origin`."""
    with httpx.Client(base_url=gateway.url, timeout=10, headers={"Origin": origin}) as http:
        unknown = http.get("/nowhere")
        crashed = http.post("/boom/now", json={})
    assert (unknown.status_code, crashed.status_code) == (404, 502)
    return {404: unknown.headers, 502: crashed.headers}


def _names(value: str) -> set[str]:
    return {name.strip().lower() for name in value.split(",") if name.strip()}


def test_the_allowed_origin_reads_the_gateways_own_errors(one_origin: Gateway) -> None:
    """One origin: named statically, with credentials as the functions allow them (only that
    origin can then read, whoever asks)."""
    for status, headers in _own_answers(one_origin, ALLOWED).items():
        assert headers.get("access-control-allow-origin") == ALLOWED, status
        assert headers.get("access-control-allow-credentials") == "true", status
        # What the functions let a browser read: X-Request-ID, Retry-After of a 429...
        exposed = _names(headers.get("access-control-expose-headers", ""))
        assert exposed == {name.lower() for name in CORS_RESPONSE_HEADERS}, status
        assert {"x-request-id", "retry-after"} <= exposed


def test_with_one_origin_another_origin_cannot_read_them(one_origin: Gateway) -> None:
    for status, headers in _own_answers(one_origin, FOREIGN).items():
        # The browser compares it with its own origin: another one reads nothing.
        assert headers.get("access-control-allow-origin") == ALLOWED, status


def test_with_several_origins_the_origin_is_echoed_without_credentials(
    two_origins: Gateway,
) -> None:
    """Several origins: API Gateway cannot choose among them, so it echoes the caller's Origin
    (`Vary: Origin`) and never allows credentials: a request with cookies or HTTP auth is not
    readable by any origin, and one without is what anyone gets without a browser."""
    for origin in (ALLOWED, ALSO_ALLOWED, FOREIGN):
        for status, headers in _own_answers(two_origins, origin).items():
            assert headers.get("access-control-allow-origin") == origin, (origin, status)
            assert "origin" in _names(headers.get("vary", "")), (origin, status)
            assert "access-control-allow-credentials" not in headers, (origin, status)
            exposed = _names(headers.get("access-control-expose-headers", ""))
            assert {"x-request-id", "retry-after"} <= exposed, (origin, status)
    with httpx.Client(base_url=two_origins.url, timeout=10) as http:
        assert "access-control-allow-origin" not in http.get("/nowhere").headers  # no Origin


def test_the_413_carries_no_cors_as_on_aws(one_origin: Gateway) -> None:
    """API Gateway does not let REQUEST_TOO_LARGE be customized: even the allowed origin
    cannot read its 413, on AWS as here."""
    headers = _too_large(one_origin, ALLOWED)
    assert not [name for name in headers if name.startswith("access-control-")]


def test_without_origins_the_gateway_answers_no_cors(no_origins: Gateway) -> None:
    for status, headers in _own_answers(no_origins, ALLOWED).items():
        assert not [name for name in headers if name.startswith("access-control-")], status
        assert headers["x-content-type-options"] == "nosniff"  # its other headers are kept
