"""CORS: off by default; with CORS_ALLOW_ORIGINS the function's responses carry the headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from smartnote.app import create_app
from smartnote.config import Settings, get_settings

router = APIRouter()


@router.get("/ping")
def ping() -> dict[str, str]:
    return {"pong": "yes"}


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.delenv("CORS_ALLOW_ORIGINS", raising=False)
    get_settings.cache_clear()


def test_origins_are_a_comma_separated_list() -> None:
    settings = Settings(cors_allow_origins=" https://app.example , https://b.example,")
    assert settings.cors_origins == ["https://app.example", "https://b.example"]


def test_no_cors_headers_by_default(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.delenv("CORS_ALLOW_ORIGINS", raising=False)
    client = TestClient(create_app(router))
    response = client.get("/ping", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_allowed_origin_gets_the_headers_others_do_not(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("CORS_ALLOW_ORIGINS", "https://app.example")
    client = TestClient(create_app(router))
    allowed = client.get("/ping", headers={"Origin": "https://app.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "X-Request-ID" in allowed.headers["access-control-expose-headers"]
    other = client.get("/ping", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
