"""Unit tests for the self-hosted docs router (smartnote.routes.docs)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
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

# The URL attributes of the pages' elements, and the URLs of Swagger UI's settings.
_URL_ATTRIBUTES = {"src", "href", "spec-url"}
_URL_SETTINGS = ("url", "oauth2RedirectUrl")


class _Page(HTMLParser):
    """What a docs page holds: its elements (tag, attributes) and the text of its inline
    `<script>` and `<style>` elements, by tag."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.inline: dict[str, list[str]] = {"script": [], "style": []}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        tag = self.elements[-1][0] if self.elements else ""
        if tag in self.inline and data.strip():
            self.inline[tag].append(data)

    def swagger_config(self) -> dict[str, Any]:
        """The settings /docs hands Swagger UI (its container's `data-config`)."""
        config = next(a["data-config"] for t, a in self.elements if a.get("id") == "swagger-ui")
        assert config is not None
        loaded: dict[str, Any] = json.loads(config)
        return loaded


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


def _urls(text: str) -> list[str]:
    page = _Page(text)
    urls = [v for _, attrs in page.elements for k, v in attrs.items() if k in _URL_ATTRIBUTES and v]
    if any(attrs.get("id") == "swagger-ui" for _, attrs in page.elements):
        urls += [page.swagger_config()[name] for name in _URL_SETTINGS]
    return urls


def _directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as {directive: its sources}."""
    pairs = (d.strip().partition(" ") for d in policy.split(";"))
    return {name: sources for name, _, sources in pairs}


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
    assert "/static/docs/swagger-ui-init.js" in urls
    assert "/openapi.json" in urls
    # The only absolute URL is our own OAuth2 redirect page.
    assert [u for u in urls if u.startswith("http")] == ["http://testserver/docs/oauth2-redirect"]
    config = _Page(page).swagger_config()
    assert config["persistAuthorization"] is True
    assert config["tryItOutEnabled"] is True
    assert config["validatorUrl"] is None


@pytest.mark.parametrize(
    ("path", "content_type", "min_size"),
    [
        ("swagger-ui/swagger-ui-bundle.js", "text/javascript", 500_000),
        ("swagger-ui/swagger-ui.css", "text/css", 50_000),
        ("swagger-ui/favicon-32x32.png", "image/png", 200),
        ("swagger-ui/oauth2-redirect.js", "text/javascript", 500),
        ("swagger-ui/oauth2-redirect.html", "text/html", 50),
        ("docs/swagger-ui-init.js", "text/javascript", 200),
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
    assert "img-src 'self' data: blob:" in r.headers["content-security-policy"]
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com"):
        assert cdn not in r.text


def test_docs_routes_are_not_in_the_schema() -> None:
    app = FastAPI()
    app.include_router(build_docs_router(lambda: OPENAPI), prefix="/x")
    assert not any(p.startswith("/x") for p in app.openapi()["paths"])


# Each page's policy, directive by directive (routes/docs.py says why each source is there).
_EVERY_PAGE = {
    "default-src": "'none'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}
_POLICIES = {
    "/docs": {
        **_EVERY_PAGE,
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "form-action": "'self'",
    },
    "/docs/oauth2-redirect": {**_EVERY_PAGE, "script-src": "'self'", "form-action": "'none'"},
    "/redoc": {
        **_EVERY_PAGE,
        "script-src": "'self'",
        "style-src": "'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "connect-src": "'self'",
        "worker-src": "blob:",
        "form-action": "'none'",
    },
}


@pytest.mark.parametrize("path", list(_POLICIES))
def test_each_docs_page_sends_its_content_security_policy(
    client: TestClient, staged: TestClient, path: str
) -> None:
    """The same policy with or without a stage prefix: 'self' is the origin, not the path."""
    policies = [c.get(path).headers.get_list("content-security-policy") for c in (client, staged)]
    assert policies[0] == policies[1]
    assert len(policies[0]) == 1
    assert _directives(policies[0][0]) == _POLICIES[path]


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc"])
def test_docs_pages_have_no_inline_script(staged: TestClient, path: str) -> None:
    """Their policies run scripts from 'self' only: an inline one would not run."""
    page = _Page(staged.get(path).text)
    scripts = [attrs for tag, attrs in page.elements if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert page.inline["script"] == []
    handlers = [k for _, attrs in page.elements for k in attrs if k.startswith("on")]
    assert handlers == []


def test_swagger_ui_page_has_no_inline_style(client: TestClient) -> None:
    """Its policy takes styles from 'self' only (swagger-ui.css)."""
    page = _Page(client.get("/docs").text)
    assert page.inline["style"] == []
    assert [tag for tag, attrs in page.elements if "style" in attrs] == []


def test_swagger_ui_settings_reach_its_script_whole_under_a_stage(staged: TestClient) -> None:
    """The settings once written in the inline script are JSON in `data-config`, escaped for
    the attribute: the stage prefix and the absolute OAuth2 redirect URL come back as sent."""
    config = _Page(staged.get("/docs").text).swagger_config()
    assert config["url"] == "/dev/openapi.json"
    assert config["oauth2RedirectUrl"] == "http://testserver/dev/docs/oauth2-redirect"
    assert config["dom_id"] == "#swagger-ui"
    script = (STATIC_DIR / "docs" / "swagger-ui-init.js").read_text()
    assert 'getAttribute("data-config")' in script and "SwaggerUIBundle(config)" in script


def test_every_other_answer_of_the_docs_function_sends_the_api_policy() -> None:
    """The document, the assets and the errors are no pages: nothing may run in them."""
    api_policy = "default-src 'none'; frame-ancestors 'none'"
    with TestClient(create_app(build_docs_router(lambda: OPENAPI))) as api:
        answers = [
            api.get("/openapi.json"),
            api.get("/static/swagger-ui/swagger-ui-bundle.js"),
            api.get("/static/docs/swagger-ui-init.js"),
            api.get("/static/nope.js"),
            api.get("/docs/nowhere"),
        ]
        pages = [api.get(path) for path in _POLICIES]
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 404]
    for answer in answers:
        assert answer.headers.get_list("content-security-policy") == [api_policy], answer.url
    for page in pages:  # their own, not the API's beside it
        assert page.headers.get_list("content-security-policy") != [api_policy], page.url
        assert len(page.headers.get_list("content-security-policy")) == 1, page.url
