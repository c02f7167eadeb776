"""A JSON body sent as another media type: a 415 that says to send JSON, nothing stored changes.

`curl -d '{"title": "x"}'` sends `application/x-www-form-urlencoded`; FastAPI reads only a
JSON type as JSON, and hands the route the raw bytes, which its model refuses whole ("Input
should be a valid dictionary"): a 422 that said nothing of the cause. So does a body sent with
no Content-Type. A JSON body that is not an object is still a 422 (the type was right, the
value was not), and so is no body at all.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from smartnote.openapi import merged_openapi
from tests.conftest import ApiUser, assert_error

NOT_JSON = [
    None,
    "application/x-www-form-urlencoded",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/xml",
    "multipart/form-data; boundary=x",
]


@pytest.fixture
def note(api: httpx.Client, user: ApiUser) -> dict[str, Any]:
    created = api.post(
        "/notes", json={"title": "kept", "content": "as it was"}, headers=user.headers
    )
    assert created.status_code == 201
    body: dict[str, Any] = created.json()
    return body


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_a_json_body_sent_as_another_type_is_415_and_changes_nothing(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], content_type: str | None
) -> None:
    body = json.dumps({"title": "changed"}).encode()  # raw bytes: httpx adds no type of its own
    typed = {"content-type": content_type} if content_type else {}
    headers = {**user.headers, **typed}
    writes = [
        ("POST", "/notes"),
        ("PATCH", f"/notes/{note['id']}"),
        ("PUT", f"/notes/{note['id']}"),
        ("PATCH", "/users/me"),
        ("POST", f"/notes/{note['id']}/attachments"),
        ("POST", "/users/me/password"),
    ]
    for method, path in writes:
        response = api.request(method, path, content=body, headers=headers)
        error = assert_error(response, 415, "unsupported_media_type")
        assert "application/json" in error["message"], (method, path)
    for method, path in [("POST", "/auth/register"), ("POST", "/auth/refresh")]:
        response = api.request(method, path, content=body, headers=typed)
        assert_error(response, 415, "unsupported_media_type")
    stored = api.get(f"/notes/{note['id']}", headers=user.headers).json()
    assert (stored["title"], stored["version"]) == ("kept", note["version"])
    listed = api.get("/notes", headers=user.headers).json()["items"]
    assert [n["id"] for n in listed] == [note["id"]]


def test_json_types_are_read_as_json(api: httpx.Client, user: ApiUser) -> None:
    """Guard: what was read as JSON still is."""
    for content_type in ("application/json", "application/json; charset=utf-8"):
        headers = {**user.headers, "content-type": content_type}
        body = json.dumps({"title": f"typed {content_type}"}).encode()
        assert api.post("/notes", content=body, headers=headers).status_code == 201


def test_no_body_at_all_stays_a_422(api: httpx.Client, user: ApiUser) -> None:
    """Guard: nothing sent is a missing body (a validation error), whatever the type."""
    for typed in ({}, {"content-type": "application/x-www-form-urlencoded"}):
        response = api.post("/notes", headers={**user.headers, **typed})
        assert_error(response, 422, "validation_error")


def test_a_json_value_that_is_not_an_object_stays_a_422(api: httpx.Client, user: ApiUser) -> None:
    """Guard: the right type with a wrong value is a validation error, as API.md says."""
    response = api.post("/notes", json=["not", "an", "object"], headers=user.headers)
    assert_error(response, 422, "validation_error")


def test_the_login_form_is_still_a_form(api: httpx.Client, user: ApiUser) -> None:
    """Guard: /auth/token takes a form; a form missing its fields is a 422, not a 415."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert_error(api.post("/auth/token", content=b"username=x", headers=form), 422)
    logged_in = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert logged_in.status_code == 200


def test_every_operation_with_a_json_body_documents_the_415() -> None:
    document = merged_openapi()
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                checked += 1
                assert "415" in operation["responses"], (method, path)
    assert checked >= 8
