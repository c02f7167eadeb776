"""Resource consumption and injection: bounded pages and bodies, per-user write limits,
search text that is never a regex, and Mongo operators that stay plain data."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from smartnote.app import create_app
from smartnote.openapi import merged_openapi
from smartnote.routes import auth, notes, users
from tests.conftest import ApiUser, assert_error, register_and_login
from tests.security.containers import cold_container

DOCUMENT = merged_openapi()


def test_every_limit_parameter_is_capped_at_100() -> None:
    limits = [
        (path, parameter["schema"])
        for path, item in DOCUMENT["paths"].items()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "limit"
    ]
    assert limits
    for path, schema in limits:
        assert schema.get("maximum", 10**9) <= 100, path


# The GETs that answer a bare JSON array: API.md documents `GET /tags` as one (a count per
# distinct tag), and a note holds at most MAX_ATTACHMENTS_PER_NOTE (50) attachments.
BARE_ARRAYS = {"/tags", "/notes/{note_id}/attachments"}


def test_every_other_list_answers_a_cursor_page() -> None:
    """A list whose length the caller grows (notes, sessions: one per login) is a page of at
    most `limit`, so its answer and its cost stay bounded."""
    arrays, pages = set(), set()
    for path, item in DOCUMENT["paths"].items():
        get = item.get("get", {})
        content = get.get("responses", {}).get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if schema.get("type") == "array":
            arrays.add(path)
        elif schema.get("$ref", "").rsplit("/", 1)[-1].startswith("Page_"):
            pages.add(path)
            assert {p["name"] for p in get["parameters"]} >= {"limit", "cursor"}, path
    assert arrays == BARE_ARRAYS
    assert pages >= {"/notes", "/auth/sessions"}


def test_page_size_over_the_cap_is_refused(api: httpx.Client, user: ApiUser) -> None:
    assert_error(api.get("/notes", params={"limit": 101}, headers=user.headers), 422)
    assert api.get("/notes", params={"limit": 100}, headers=user.headers).status_code == 200


def test_streamed_body_over_the_limit_is_cut_off_before_parsing(stack_env: None) -> None:
    """No Content-Length (chunked): the limit is enforced while reading, not by trusting it."""
    app = create_app(notes.router)
    chunk = b"a" * 65536
    chunks = [b'{"title": "', *([chunk] * 20), b'"}']  # ~1.3 MB
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        body = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/notes",
        "raw_path": b"/notes",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "headers": [(b"content-type", b"application/json")],
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
    assert len(chunks) < 10, "the whole body was read before refusing it"


@pytest.mark.parametrize(
    "body",
    [
        {"title": {"$ne": ""}},
        {"title": "x", "tags": [{"$gt": ""}]},
        {"title": "x", "$set": {"owner_id": "someone-else"}},
        {"title": "x", "color": {"$regex": ".*"}},
        {"title": "x", "reminder": {"at": {"$gt": "2020-01-01"}}},
    ],
)
def test_mongo_operators_in_json_are_refused(
    api: httpx.Client, user: ApiUser, body: dict[str, Any]
) -> None:
    created = api.post("/notes", json={"title": "safe"}, headers=user.headers).json()
    assert_error(api.post("/notes", json=body, headers=user.headers), 422)
    assert_error(api.patch(f"/notes/{created['id']}", json=body, headers=user.headers), 422)
    assert api.get(f"/notes/{created['id']}", headers=user.headers).json() == created


@pytest.mark.parametrize(
    "query",
    [
        "tag[$ne]=x",
        "q[$regex]=.*",
        "q=%7B%22%24ne%22%3A+null%7D",
        "pinned[$ne]=true",
        "sort[$ne]=title",
        "tag=%7B%22%24ne%22%3A%22%22%7D",
    ],
)
def test_mongo_operators_in_query_strings_select_nothing_extra(
    api: httpx.Client, user: ApiUser, query: str
) -> None:
    victim = register_and_login(api)
    api.post("/notes", json={"title": "secret", "tags": ["x"]}, headers=victim.headers)
    api.post("/notes", json={"title": "mine", "tags": ["mine"]}, headers=user.headers)
    response = api.get(f"/notes?{query}", headers=user.headers)
    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert {n["title"] for n in response.json()["items"]} <= {"mine"}
    assert "secret" not in response.text


@pytest.mark.parametrize("note_id", ['{"$ne": null}', "$where", "[$ne]"])
def test_mongo_operators_as_ids_find_nothing(
    api: httpx.Client, user: ApiUser, note_id: str
) -> None:
    api.post("/notes", json={"title": "mine"}, headers=user.headers)
    assert_error(api.get(f"/notes/{httpx.URL(note_id)}", headers=user.headers), 404)


def test_search_with_pathological_patterns_answers_and_matches_literally(
    api: httpx.Client, user: ApiUser
) -> None:
    api.post("/notes", json={"title": "aaaa"}, headers=user.headers)
    for q in ["(a+)+$" + "a" * 150, "(.*a){20}", "a" * 200, "\\" * 100]:
        response = api.get("/notes", params={"q": q}, headers=user.headers)
        assert response.status_code == 200, q
        assert response.json()["items"] == []


def _in_one_write_window(window_seconds: int, needed: float = 30) -> None:
    """Return once the next `needed` seconds fall in one window of the write limit: its
    windows are fixed (each starts at a multiple of `window_seconds` since the epoch,
    `WriteLimiter.hit`), and writes that straddle a window's start are counted afresh."""
    left = window_seconds - time.time() % window_seconds
    if left < needed:
        time.sleep(left)


def test_writes_are_limited_per_user_across_containers(
    api: httpx.Client, user: ApiUser, other_user: ApiUser
) -> None:
    limit = {"write_rate_limit": 3, "write_rate_window_seconds": 3600}
    _in_one_write_window(limit["write_rate_window_seconds"])
    with cold_container(notes.router, **limit) as first:
        for _ in range(3):
            assert (
                first.post("/notes", json={"title": "t"}, headers=user.headers).status_code == 201
            )
    # Another container of the same function: the count lives in SQL, not in memory.
    with cold_container(notes.router, **limit) as second:
        refused = second.post("/notes", json={"title": "t"}, headers=user.headers)
        assert_error(refused, 429, "rate_limited")
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        assert second.get("/notes", headers=user.headers).status_code == 200  # reads are free
        other = second.post("/notes", json={"title": "t"}, headers=other_user.headers)
        assert other.status_code == 201  # per user, not global
    assert len(api.get("/notes", headers=user.headers).json()["items"]) == 3


def test_a_spent_write_limit_does_not_keep_the_owner_from_taking_the_account_back(
    api: httpx.Client, user: ApiUser
) -> None:
    # Whoever holds a stolen token can spend the owner's writes; ending sessions and changing
    # the password must still work (the password ones are throttled like a login instead).
    limit = {"write_rate_limit": 1, "write_rate_window_seconds": 3600}
    _in_one_write_window(limit["write_rate_window_seconds"])
    stolen = api.post("/auth/token", data={"username": user.email, "password": user.password})
    stolen_headers = {"Authorization": f"Bearer {stolen.json()['access_token']}"}
    with cold_container(notes.router, **limit) as spender:
        spender.post("/notes", json={"title": "t"}, headers=stolen_headers)
        spent = spender.post("/notes", json={"title": "t"}, headers=user.headers)
        assert_error(spent, 429, "rate_limited")
    with cold_container(auth.router, users.router, **limit) as owner:
        live = owner.get("/auth/sessions", headers=user.headers).json()["items"]
        thief = next(s["id"] for s in live if not s["current"])
        assert owner.delete(f"/auth/sessions/{thief}", headers=user.headers).status_code == 204
        change = {"current_password": user.password, "new_password": "brand-new-secret-42"}
        response = owner.post("/users/me/password", json=change, headers=user.headers)
        assert response.status_code == 204, response.text
        assert owner.post("/auth/logout", headers=user.headers).status_code == 204
        thief_writes = owner.patch("/users/me", json={"display_name": "x"}, headers=stolen_headers)
        assert thief_writes.status_code == 401  # the thief's session is gone
    spec = merged_openapi()["paths"]
    assert "429" not in spec["/auth/logout"]["post"]["responses"]
    assert "429" not in spec["/auth/sessions/{session_id}"]["delete"]["responses"]
    assert "429" in spec["/notes"]["post"]["responses"]
