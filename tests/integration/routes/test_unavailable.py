"""A backing service that does not answer: 503 in the error shape, with Retry-After."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import dns.asyncresolver
import pytest
from fastapi.testclient import TestClient

from smartnote.app import create_app
from smartnote.concurrency import CONTAINER_THREADS
from smartnote.config import get_settings
from smartnote.deps import current_settings
from smartnote.local.containers import FunctionRuntime
from smartnote.local.events import build_rest_event
from smartnote.local.services import free_port
from smartnote.local.template import Template
from smartnote.routes import auth, health, notes
from tests.conftest import ApiUser, assert_error
from tests.utils.aws_faults import aws_silent


@pytest.fixture
def mongo_down(stack_env: None) -> Iterator[TestClient]:
    """The notes and health routes with MongoDB pointing at a port where nothing listens."""
    dead = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    settings = get_settings().model_copy(update={"mongodb_uri": dead, "mongodb_timeout_ms": 300})
    app = create_app(auth.router, notes.router, health.router)
    app.dependency_overrides[current_settings] = lambda: settings
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_notes_answer_503_when_mongo_is_down(mongo_down: TestClient, user: ApiUser) -> None:
    response = mongo_down.get("/notes", headers=user.headers)
    error = assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert "27017" not in error["message"] and "mongodb" not in response.text.lower()


def test_health_names_the_failing_check(
    mongo_down: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="smartnote.routes.health"):
        response = mongo_down.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"] == {"mongo": "unavailable", "sql": "ok", "storage": "ok"}
    # Why, for whoever reads the logs (never in the answer).
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["health check mongo failed"]
    assert "ServerSelectionTimeoutError" in caplog.text


@pytest.fixture
def storage_silent(stack_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """S3 behind a route that drops its answers: connections open, nothing ever comes back."""
    with aws_silent(monkeypatch, backlog=64):
        yield


def test_a_check_that_hangs_leaves_the_others_their_answer(
    storage_silent: None, template: Template
) -> None:
    # Each /health left its hung S3 call on one of the container's few threads, for minutes
    # (botocore's timeouts and retries): once they were all held, SQL was "unavailable" too.
    container = FunctionRuntime(template.function("docs"), pool_size=1)  # one Lambda container
    event = build_rest_event("GET", "/health", [("Host", "127.0.0.1")], resource="/health")
    try:
        answers = [container.invoke(event) for _ in range(CONTAINER_THREADS + 1)]
    finally:
        container.shutdown()
    assert {answer["statusCode"] for answer in answers} == {503}
    assert [json.loads(answer["body"])["checks"] for answer in answers] == [
        {"mongo": "ok", "sql": "ok", "storage": "unavailable"}
    ] * len(answers)


@pytest.fixture
def dns_silent(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Name lookups (as PyMongo makes them for `mongodb+srv://`) sent to a DNS server that
    never answers: a Lambda in a VPC whose resolver is slow or throttled."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = silent.getsockname()[1]
        monkeypatch.setattr(dns.asyncresolver, "default_resolver", resolver)
        yield


def test_an_atlas_uri_whose_dns_lookup_times_out_is_a_503(
    stack_env: None, dns_silent: None, user: ApiUser
) -> None:
    """Atlas gives `mongodb+srv://` URIs, looked up in DNS at a container's first Mongo call.
    PyMongo reports a lookup that timed out as a ConfigurationError, like a malformed URI,
    but the next request looks it up again: a 503 (try again), not a 500."""
    atlas = "mongodb+srv://cluster0.example.mongodb.net/"
    settings = get_settings().model_copy(update={"mongodb_uri": atlas, "mongodb_timeout_ms": 300})
    app = create_app(notes.router)
    app.dependency_overrides[current_settings] = lambda: settings
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/notes", headers=user.headers)
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0
