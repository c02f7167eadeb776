"""Property-level authorization: clients set only editable fields and see only their own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from smartnote.openapi import merged_openapi
from tests.conftest import ApiUser, assert_error
from tests.security.checks import leaks

DOCUMENT = merged_openapi()
SCHEMAS = DOCUMENT["components"]["schemas"]


def _json_bodies() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((f"{method.upper()} {path}", content["application/json"]["schema"]))
    return found


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in schema:
        return _objects(SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]])
    if "anyOf" in schema:
        return [o for option in schema["anyOf"] for o in _objects(option)]
    return [schema] if schema.get("type") == "object" else []


@pytest.mark.parametrize(("operation", "schema"), _json_bodies(), ids=lambda v: str(v)[:40])
def test_every_json_body_refuses_unknown_fields(operation: str, schema: dict[str, Any]) -> None:
    # Generated from the document, so new routes are held to it: a body model must be an
    # `InputModel` (extra="forbid"), or a client could smuggle in fields like owner or version.
    objects = _objects(schema)
    assert objects, operation
    for body in objects:
        assert body.get("additionalProperties") is False, f"{operation} accepts unknown fields"


SERVER_OWNED = {
    "id": "0" * 24,
    "owner_id": "someone-else",
    "version": 99,
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "trashed_at": "2020-01-01T00:00:00Z",
    "attachments": [{"id": "x", "filename": "a", "content_type": "image/png", "status": "ready"}],
    "terms": ["injected"],
}


@pytest.mark.parametrize(("field", "value"), SERVER_OWNED.items())
def test_server_owned_note_fields_cannot_be_set(
    api: httpx.Client, user: ApiUser, field: str, value: object
) -> None:
    created = api.post("/notes", json={"title": "mine"}, headers=user.headers).json()
    assert_error(api.post("/notes", json={"title": "x", field: value}, headers=user.headers), 422)
    for method in ("PATCH", "PUT"):
        response = api.request(
            method,
            f"/notes/{created['id']}",
            json={"title": "x", field: value},
            headers=user.headers,
        )
        assert_error(response, 422)
    stored = api.get(f"/notes/{created['id']}", headers=user.headers).json()
    assert stored == created
    assert len(api.get("/notes", headers=user.headers).json()["items"]) == 1


@pytest.mark.parametrize(
    "field",
    [
        {"email": "new@example.com"},
        {"password_hash": "$argon2id$v=19$forged"},
        {"id": "someone-else"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"is_admin": True},
    ],
)
def test_server_owned_user_fields_cannot_be_set(
    api: httpx.Client, user: ApiUser, field: dict[str, object]
) -> None:
    before = api.get("/users/me", headers=user.headers).json()
    assert_error(api.patch("/users/me", json=field, headers=user.headers), 422)
    assert api.get("/users/me", headers=user.headers).json() == before
    login = {"username": user.email, "password": user.password}
    assert api.post("/auth/token", data=login).status_code == 200


def test_responses_carry_no_hashes_internal_fields_or_other_users_ids(
    api: httpx.Client, user: ApiUser, other_user: ApiUser
) -> None:
    api.post("/notes", json={"title": "theirs", "tags": ["shared"]}, headers=other_user.headers)
    note = api.post("/notes", json={"title": "mine", "tags": ["shared"]}, headers=user.headers)
    responses = [
        note,
        api.get("/users/me", headers=user.headers),
        api.get("/notes", headers=user.headers),
        api.get(f"/notes/{note.json()['id']}", headers=user.headers),
        api.get("/tags", headers=user.headers),
        api.get("/auth/sessions", headers=user.headers),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        assert leaks(response, secrets=[other_user.id, other_user.email, user.password]) == []
    # Notes do not even carry their owner's id: ownership is implied by the token.
    assert user.id not in note.text
    assert api.get("/tags", headers=user.headers).json() == [{"name": "shared", "count": 1}]


def test_stored_markup_comes_back_as_inert_json_data(api: httpx.Client, user: ApiUser) -> None:
    # Clients render Markdown; the API only ever returns it as a JSON string that a browser
    # will not sniff into HTML (nosniff) nor frame.
    payload = "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    created = api.post(
        "/notes", json={"title": "<b>t</b>", "content": payload}, headers=user.headers
    )
    fetched = api.get(f"/notes/{created.json()['id']}", headers=user.headers)
    assert fetched.headers["content-type"] == "application/json"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.json()["content"] == payload  # stored verbatim: data, not sanitised markup
