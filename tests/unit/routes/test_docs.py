"""Unit tests for the self-hosted docs router (smartnote.routes.docs)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartnote.app import create_app
from smartnote.routes.docs import STATIC_DIR, build_docs_router

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "SmartNote", "version": "0.1.0"},
    "paths": {"/notes": {"post": {"responses": {"201": {"description": "Created"}}}}},
}

# Every src/href/url the docs pages point at.
_URL_RE = re.compile(
    r"""(?:src|href|spec-url)="([^"]*)"|"(?:url|oauth2RedirectUrl)":\s*"([^"]*)\""""
)


def _app() -> FastAPI:
    # FastAPI's own CDN-based docs off, as in the docs function.
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(build_docs_router(lambda: OPENAPI))
    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(_app())


@pytest.fixture
def staged() -> TestClient:
    """As behind API Gateway's `dev` stage."""
    return TestClient(_app(), root_path="/dev")


def _urls(page: str) -> list[str]:
    return [a or b for a, b in _URL_RE.findall(page)]


def test_swagger_ui_uses_only_local_assets(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "googleapis", "swagger.io"):
        assert cdn not in page
    urls = _urls(page)
    assert "/static/swagger-ui/swagger-ui-bundle.js" in urls
    assert "/static/swagger-ui/swagger-ui.css" in urls
    assert "/static/swagger-ui/favicon-32x32.png" in urls
    assert "/openapi.json" in urls
    # The only absolute URL is our own OAuth2 redirect page.
    assert [u for u in urls if u.startswith("http")] == ["http://testserver/docs/oauth2-redirect"]
    assert '"persistAuthorization": true' in page
    assert '"tryItOutEnabled": true' in page
    assert '"validatorUrl": null' in page


@pytest.mark.parametrize(
    ("path", "content_type", "min_size"),
    [
        ("swagger-ui/swagger-ui-bundle.js", "text/javascript", 500_000),
        ("swagger-ui/swagger-ui.css", "text/css", 50_000),
        ("swagger-ui/favicon-32x32.png", "image/png", 200),
        ("swagger-ui/oauth2-redirect.js", "text/javascript", 500),
        ("swagger-ui/oauth2-redirect.html", "text/html", 50),
        ("redoc/redoc.standalone.js", "text/javascript", 500_000),
        ("swagger-ui/LICENSE", "text/plain", 1000),
        ("redoc/LICENSE", "text/plain", 500),
    ],
)
def test_static_assets_are_served(
    client: TestClient, path: str, content_type: str, min_size: int
) -> None:
    r = client.get(f"/static/{path}")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == content_type
    assert r.headers["cache-control"] == "public, max-age=86400"
    assert len(r.content) >= min_size
    assert r.content == (STATIC_DIR / path).read_bytes()


def test_png_is_a_png(client: TestClient) -> None:
    assert client.get("/static/swagger-ui/favicon-32x32.png").content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "path",
    [
        "/static/swagger-ui/..%2F..%2Froutes%2Fdocs.py",
        "/static/..%2Froutes%2Fdocs.py",
        "/static/%2E%2E/routes/docs.py",
        "/static/%2Fetc%2Fpasswd",
        "/static//etc/passwd",
        "/static/swagger-ui/..%5C..%5Croutes%5Cdocs.py",
        "/static/%2E/swagger-ui/swagger-ui.css",
        "/static/swagger-ui//swagger-ui.css",
        "/static/swagger-ui/swagger-ui.css%00",
        "/static/swagger-ui/nope.js",
        "/static/swagger-ui",
        "/static/swagger-ui/",
        "/static/",
    ],
)
def test_static_rejects_traversal_and_unknown_files(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert "docs.py" not in r.text and "root:" not in r.text


@pytest.mark.parametrize(
    "sent",
    ["bytes=abc", "bytes=5-1", "items=0-1", "bytes=999999999-", "bytes=-0", "bytes=0-1"],
)
def test_static_assets_are_served_whole_whatever_range_is_asked(sent: str) -> None:
    """Starlette refused a Range it could not serve in plain text (400 "Only support bytes
    range", an empty 416), not in API.md's error shape; the assets are small and read whole
    by browsers, so a Range is ignored, as RFC 9110 (14.2) lets a server do."""
    path = "swagger-ui/favicon-32x32.png"
    with TestClient(create_app(build_docs_router(lambda: OPENAPI))) as api:
        r = api.get(f"/static/{path}", headers={"Range": sent})
    assert r.status_code == 200, r.text
    assert r.content == (STATIC_DIR / path).read_bytes()
    assert "accept-ranges" not in r.headers


def test_openapi_without_root_path_is_unchanged(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == OPENAPI
    assert "servers" not in r.json()


def test_root_path_prefixes_every_url(staged: TestClient) -> None:
    page = staged.get("/docs").text
    urls = _urls(page)
    assert len(urls) >= 5
    for url in urls:
        assert url.startswith(("/dev/", "http://testserver/dev/")), url
    assert "http://testserver/dev/docs/oauth2-redirect" in urls
    assert '"/static' not in page and "'/static" not in page

    redoc = staged.get("/redoc").text
    assert _urls(redoc)
    for url in _urls(redoc):
        assert url.startswith("/dev/"), url

    redirect = staged.get("/docs/oauth2-redirect").text
    assert 'src="/dev/static/swagger-ui/oauth2-redirect.js"' in redirect


def test_root_path_sets_servers_on_a_copy(staged: TestClient) -> None:
    doc = staged.get("/openapi.json").json()
    assert doc["servers"] == [{"url": "/dev"}]
    assert doc["paths"] == OPENAPI["paths"]
    assert "servers" not in OPENAPI  # the caller's document is not mutated


def test_assets_served_under_root_path(staged: TestClient) -> None:
    for url in _urls(staged.get("/docs").text):
        if url.startswith("/dev/static/"):
            # TestClient's root_path is the prefix the app is mounted at; the
            # request path it routes on is the one without it.
            assert staged.get(url.removeprefix("/dev")).status_code == 200, url


def test_oauth2_redirect_page(client: TestClient) -> None:
    r = client.get("/docs/oauth2-redirect")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'src="/static/swagger-ui/oauth2-redirect.js"' in r.text


def test_redoc_uses_local_bundle(client: TestClient) -> None:
    r = client.get("/redoc")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'src="/static/redoc/redoc.standalone.js"' in r.text
    assert 'spec-url="/openapi.json"' in r.text
    # Blocks ReDoc's hard-coded remote logo.
    assert r.headers["content-security-policy"] == "img-src 'self' data: blob:"
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com"):
        assert cdn not in r.text


def test_docs_routes_are_not_in_the_schema() -> None:
    app = FastAPI()
    app.include_router(build_docs_router(lambda: OPENAPI), prefix="/x")
    assert not any(p.startswith("/x") for p in app.openapi()["paths"])
