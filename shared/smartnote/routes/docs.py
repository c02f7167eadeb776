"""Self-hosted API docs: Swagger UI, ReDoc, the OpenAPI document and their assets.

Every URL put in the HTML is built from the request's ``root_path`` so the pages work
under an API Gateway stage prefix (``/dev/docs``), and no asset comes from a CDN.
"""

from __future__ import annotations

import copy
import html
import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.types import Receive, Scope, Send

__all__ = ["STATIC_DIR", "build_docs_router"]

# Next to the package's code, so it resolves the same from site-packages, a Lambda
# layer (/opt/python) or an editable install.
STATIC_DIR = (Path(__file__).resolve().parent.parent / "static").resolve()

STATIC_CACHE_CONTROL = "public, max-age=86400"

# Explicit types for what we ship: `mimetypes` depends on the host's tables, and
# JS/CSS with a wrong type are refused by browsers (X-Content-Type-Options: nosniff).
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}

_TITLE = "SmartNote API"


def _policy(*directives: str) -> str:
    """A Content-Security-Policy of these directives, on top of what every docs page denies:
    anything not named (`default-src 'none'`), plugins, a `<base>` that would move the pages'
    relative URLs, and being framed (clickjacking of Authorize)."""
    every_page = ("default-src 'none'", "object-src 'none'", "base-uri 'none'")
    return "; ".join((*every_page, *directives, "frame-ancestors 'none'"))


# Built once per container (the pages' own URLs hold the stage prefix, not their policies).
# 'self' is the page's origin: the stage prefix is part of the path, so it needs no mention.
SWAGGER_UI_CSP = _policy(
    "script-src 'self'",  # the bundle and static/docs/swagger-ui-init.js, no inline script
    "style-src 'self'",  # swagger-ui.css
    "img-src 'self' data:",  # the favicon; swagger-ui.css's icons are data: SVG/PNG/JPEG
    "connect-src 'self'",  # /openapi.json, /auth/token and every "Try it out" request
    "form-action 'self'",  # Swagger UI sends with fetch; no form may post elsewhere
)
# The popup an OAuth2 redirect flow lands in: one script, which hands the result to /docs.
OAUTH2_REDIRECT_CSP = _policy("script-src 'self'", "form-action 'none'")
REDOC_CSP = _policy(
    "script-src 'self'",  # redoc.standalone.js
    # ReDoc styles itself with styled-components, which writes <style> elements at run time
    # (refused, it throws and renders nothing; a nonce would make the policy per request).
    # Scripts stay 'self' only, so injected CSS cannot run code.
    "style-src 'unsafe-inline'",
    # ReDoc's sidebar always loads its logo from cdn.redoc.ly (no option turns it off):
    # images stay local, so the page makes no outside request (the logo does not show; the
    # browser reports that one refusal). data: and blob: as before (images in the spec's
    # Markdown, ReDoc's own).
    "img-src 'self' data: blob:",
    "connect-src 'self'",  # /openapi.json
    "worker-src blob:",  # the search index runs in a web worker the bundle makes from a blob
    "form-action 'none'",
)


def _root_path(request: Request) -> str:
    """The stage prefix (e.g. ``/dev``) without a trailing slash, or ``""``."""
    return str(request.scope.get("root_path", "")).rstrip("/")


class _WholeFileResponse(FileResponse):
    """A file sent whole, whatever Range was asked (RFC 9110 14.2: a server MAY ignore it).

    Starlette refuses a Range it cannot serve in plain text (400, or an empty 416), not in
    the one error shape; the assets are small and browsers read them whole.
    """

    def __init__(self, path: Path, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(path, media_type=media_type, headers=headers)
        if "accept-ranges" in self.headers:  # advertised by Starlette's FileResponse
            del self.headers["accept-ranges"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"range"]
        await super().__call__({**scope, "headers": headers}, receive, send)


def _static_file(path: str) -> Path:
    """The file under STATIC_DIR for a URL path, or 404 (also for any traversal)."""
    # Split by hand: PurePosixPath would silently drop "." and empty segments.
    parts = path.split("/")
    if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise HTTPException(status_code=404, detail="Not found")
    candidate = STATIC_DIR.joinpath(*parts).resolve()
    # Resolving also defeats symlinks pointing outside the directory.
    if not candidate.is_relative_to(STATIC_DIR) or not candidate.is_file():
        raise HTTPException(status_code=404, detail="Not found")
    return candidate


def _content_type(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    return mimetypes.guess_type(file.name)[0] or "application/octet-stream"


def _staged(document: dict[str, Any], root: str) -> dict[str, Any]:
    """A copy of `document` served under `root`: that server, and each relative OAuth2
    `tokenUrl` as a path under it. OpenAPI resolves a relative one against the server URL
    (RFC 3986), and `auth/token` against `/prod` is `/auth/token`, outside the stage."""
    staged = {**document, "servers": [{"url": root}]}
    components = document.get("components", {})
    if "securitySchemes" in components:
        schemes = copy.deepcopy(components["securitySchemes"])
        for scheme in schemes.values():
            for flow in scheme.get("flows", {}).values():
                url = flow.get("tokenUrl", "/")
                if not url.startswith("/") and not urlsplit(url).scheme:
                    flow["tokenUrl"] = f"{root}/{url}"
        staged["components"] = {**components, "securitySchemes": schemes}
    return staged


def _swagger_html(root: str, oauth2_redirect_url: str) -> str:
    static = f"{root}/static/swagger-ui"
    config = {
        "url": f"{root}/openapi.json",
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "showExtensions": True,
        "showCommonExtensions": True,
        "persistAuthorization": True,
        "tryItOutEnabled": True,
        "oauth2RedirectUrl": oauth2_redirect_url,
        # The default validator badge would call validator.swagger.io.
        "validatorUrl": None,
    }
    e = html.escape
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{e(_TITLE)} - Swagger UI</title>
<link rel="stylesheet" type="text/css" href="{e(static)}/swagger-ui.css">
<link rel="icon" type="image/png" href="{e(static)}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-config="{e(json.dumps(config))}"></div>
<script src="{e(static)}/swagger-ui-bundle.js"></script>
<script src="{e(root)}/static/docs/swagger-ui-init.js"></script>
</body>
</html>
"""


def _redoc_html(root: str) -> str:
    e = html.escape
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(_TITLE)} - ReDoc</title>
<link rel="icon" type="image/png" href="{e(root)}/static/swagger-ui/favicon-32x32.png">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc requires JavaScript.</noscript>
<redoc spec-url="{e(root)}/openapi.json"></redoc>
<script src="{e(root)}/static/redoc/redoc.standalone.js"></script>
</body>
</html>
"""


def build_docs_router(openapi: Callable[[], dict[str, Any]]) -> APIRouter:
    """Routes for /openapi.json, /docs, /docs/oauth2-redirect, /redoc and /static.

    ``openapi`` returns the merged OpenAPI document; it is called on each request
    to /openapi.json (cache inside it if building is costly).
    """
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi_json(request: Request) -> JSONResponse:
        document = openapi()
        root = _root_path(request)
        if root:
            # A copy: the caller may cache its document and serve other stages.
            document = _staged(document, root)
        return JSONResponse(document)

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        # Absolute, because Swagger UI opens it in a popup window for redirect flows.
        origin = f"{request.url.scheme}://{request.url.netloc}"
        page = _swagger_html(root, f"{origin}{root}/docs/oauth2-redirect")
        return HTMLResponse(page, headers={"Content-Security-Policy": SWAGGER_UI_CSP})

    @router.get("/docs/oauth2-redirect")
    async def swagger_ui_oauth2_redirect(request: Request) -> HTMLResponse:
        page = (STATIC_DIR / "swagger-ui" / "oauth2-redirect.html").read_text("utf-8")
        # The vendored page loads its script relatively, which from /docs/ would
        # resolve to /docs/oauth2-redirect.js; point it at the static copy instead.
        src = html.escape(f"{_root_path(request)}/static/swagger-ui/oauth2-redirect.js")
        return HTMLResponse(
            page.replace('src="oauth2-redirect.js"', f'src="{src}"'),
            headers={"Content-Security-Policy": OAUTH2_REDIRECT_CSP},
        )

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        return HTMLResponse(
            _redoc_html(_root_path(request)), headers={"Content-Security-Policy": REDOC_CSP}
        )

    @router.get("/static/{path:path}")
    async def static(path: str) -> FileResponse:
        file = _static_file(path)
        return _WholeFileResponse(
            file, _content_type(file), headers={"Cache-Control": STATIC_CACHE_CONTROL}
        )

    return router
