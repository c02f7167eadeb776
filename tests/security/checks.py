"""What every response must satisfy, whoever asked and however it ended."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx
from schemathesis.core.transport import Response

# Hard-coded on purpose: removing a header from the middleware must fail these checks.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}
# The Content-Security-Policy of every answer that is no HTML page (JSON, errors, assets):
# a browser that opens one runs, loads and frames nothing from it.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# What a docs page's own policy (routes/docs.py) keeps of it, whatever else it allows.
PAGE_CSP_DIRECTIVES = {"default-src 'none'", "frame-ancestors 'none'"}

# Internal fields and debug output that must never reach a client.
_FORBIDDEN_KEYS = {"password_hash", "owner_id", "terms", "title_key", "token_hash", "_id"}
_FORBIDDEN_TEXT = re.compile(
    r"\$argon2|traceback|sqlalchemy|pymongo|pg8000|secantus|File \"/|botocore", re.IGNORECASE
)
# A bare S3 key (not inside a presigned URL) of the attachments layout in storage.py.
_STORAGE_KEY = re.compile(r"^(uploads|derived)/")


# httpx responses, or schemathesis' (headers: lower-cased name -> list of values).
AnyResponse = httpx.Response | Response


def header(response: AnyResponse, name: str) -> str | None:
    if isinstance(response, Response):
        values = response.headers.get(name.lower())
        return values[0] if values else None
    return response.headers.get(name)


def _body(response: AnyResponse) -> str:
    if isinstance(response, Response):
        return response.content.decode("utf-8", "replace")
    return response.text


def assert_security_headers(response: AnyResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert header(response, name) == value, f"{name} missing on {response.request.url}"
    assert header(response, "x-request-id")
    policy = header(response, "content-security-policy") or ""
    if (header(response, "content-type") or "").startswith("text/html"):
        directives = {directive.strip() for directive in policy.split(";")}
        assert directives >= PAGE_CSP_DIRECTIVES, f"{policy!r} on {response.request.url}"
    else:
        assert policy == API_CSP, f"{policy!r} on {response.request.url}"


def _walk(value: Any) -> Iterable[tuple[str | None, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield None, inner
            yield from _walk(inner)


def _without_upload_form(document: Any) -> Any:
    """The document minus a presigned POST's form `fields`: S3 needs the object key there, so
    the owner's upload answer must carry it (the only place a storage key may appear)."""
    if isinstance(document, dict) and isinstance(document.get("upload"), dict):
        upload = {k: v for k, v in document["upload"].items() if k != "fields"}
        return {**document, "upload": upload}
    return document


def leaks(response: AnyResponse, secrets: Iterable[str] = ()) -> list[str]:
    """Everything in `response` that must not be there (empty when clean)."""
    found: list[str] = []
    text = _body(response)
    if match := _FORBIDDEN_TEXT.search(text):
        found.append(f"debug or hash text {match.group(0)!r}")
    found += [f"secret {secret!r}" for secret in secrets if secret and secret in text]
    if "json" in (header(response, "content-type") or "") and text:
        for key, value in _walk(_without_upload_form(json.loads(text))):
            if key in _FORBIDDEN_KEYS:
                found.append(f"internal field {key!r}")
            if isinstance(value, str) and _STORAGE_KEY.match(value):
                found.append(f"storage key {value!r}")
    return found


def assert_clean(response: AnyResponse, secrets: Iterable[str] = ()) -> None:
    """Security headers present, nothing leaked, and no server error."""
    assert response.status_code < 500, f"{response.status_code}: {_body(response)[:500]}"
    assert_security_headers(response)
    assert leaks(response, secrets) == [], _body(response)[:500]
