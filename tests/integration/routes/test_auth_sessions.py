"""GET /auth/sessions through the gateway: cursor pages of the caller's live sessions."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from smartnote.db.sql import session_factory
from smartnote.repositories.sessions import SessionsRepository
from tests.conftest import ApiUser, assert_error
from tests.utils.sessions import TIED, add_sessions


def _pages(api: httpx.Client, user: ApiUser, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of the caller's sessions, following next_cursor to the end."""
    pages = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get("/auth/sessions", params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` in the listing's order: newest first, ties by id."""
    by_id = sorted(items, key=lambda s: s["id"])
    return sorted(by_id, key=lambda s: datetime.fromisoformat(s["created_at"]), reverse=True)


def test_45_sessions_page_20_20_5_each_once_newest_first_ties_by_id(
    api: httpx.Client, user: ApiUser, sql_url: str
) -> None:
    add_sessions(sql_url, user.id, TIED)
    pages = _pages(api, user, limit=20)
    assert [len(page) for page in pages] == [20, 20, 5]
    listed = [s for page in pages for s in page]
    assert len({s["id"] for s in listed}) == 45
    assert listed == _newest_first(listed)
    # The caller's own login is the newest; each item keeps every field.
    assert [s["current"] for s in listed] == [True] + [False] * 44
    assert all(
        set(s) == {"id", "created_at", "last_used_at", "user_agent", "current"} for s in listed
    )
    assert {s["user_agent"] for s in listed[1:]} == {f"device-{i}" for i in range(44)}


def test_a_page_holds_20_by_default(api: httpx.Client, user: ApiUser, sql_url: str) -> None:
    add_sessions(sql_url, user.id, TIED[:24])
    first = api.get("/auth/sessions", headers=user.headers).json()
    assert len(first["items"]) == 20
    assert first["next_cursor"] is not None
    assert [len(page) for page in _pages(api, user)] == [20, 5]


def test_one_page_of_a_single_session_has_no_cursor(api: httpx.Client, user: ApiUser) -> None:
    body = api.get("/auth/sessions", headers=user.headers).json()
    assert body["next_cursor"] is None
    assert [s["current"] for s in body["items"]] == [True]


def test_sessions_revoked_between_pages_are_skipped_and_nothing_else(
    api: httpx.Client, user: ApiUser, sql_url: str
) -> None:
    add_sessions(sql_url, user.id, TIED)
    first = api.get("/auth/sessions", params={"limit": 20}, headers=user.headers).json()
    everything = [s for page in _pages(api, user, limit=20) for s in page]
    # Ended meanwhile: the one the cursor points at, one further on, one already listed.
    last_listed, further, listed = first["items"][-1], everything[30], first["items"][5]
    for ended in (last_listed, further, listed):
        response = api.delete(f"/auth/sessions/{ended['id']}", headers=user.headers)
        assert response.status_code == 204
    rest = []
    cursor = first["next_cursor"]
    while cursor is not None:
        params = {"limit": 20, "cursor": cursor}
        body = api.get("/auth/sessions", params=params, headers=user.headers).json()
        rest += body["items"]
        cursor = body["next_cursor"]
    assert rest == [s for s in everything[20:] if s["id"] != further["id"]]


def _forged(cursor: str, keys: list[Any] | None = None, bound: str | None = None) -> str:
    """`cursor` with other sort-key values or another binding: what a client can forge."""
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if keys is not None:
        payload["k"] = keys
    if bound is not None:
        payload["b"] = bound
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


FORGED_KEYS: list[list[Any]] = [
    [["d", "2026-11-01T00:00:00+00:00"], ["v", "a\u0000b"]],  # PostgreSQL refuses a NUL
    [["d", "2026-11-01T00:00:00+00:00"], ["v", "not-a-session-id"]],
    [["d", "2026-11-01T00:00:00+00:00"], ["v", 12]],
    [["d", "2026-11-01T00:00:00+00:00"], ["v", "x" * 3000]],
    [["v", "2026-11-01T00:00:00+00:00"], ["v", str(uuid.uuid4())]],
    [["d", "2026-11-01T00:00:00"], ["v", str(uuid.uuid4())]],
    [["d", "9999-12-31T23:59:59-14:00"], ["v", str(uuid.uuid4())]],
    [["d", "yesterday"], ["v", str(uuid.uuid4())]],
    [["d", "2026-11-01T00:00:00+00:00"]],
    [],
]


@pytest.mark.parametrize("keys", FORGED_KEYS)
def test_forged_cursors_are_422(
    api: httpx.Client, user: ApiUser, sql_url: str, keys: list[Any]
) -> None:
    add_sessions(sql_url, user.id, TIED[:2])
    cursor = api.get("/auth/sessions?limit=1", headers=user.headers).json()["next_cursor"]
    response = api.get(
        "/auth/sessions", params={"cursor": _forged(cursor, keys)}, headers=user.headers
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=",
        "cursor=%%%",
        "cursor=not-a-cursor",
        "cursor=eyJrIjogW119",
        "cursor=" + "A" * 5000,
        "cursor=" + base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("="),
    ],
)
def test_bad_limit_or_cursor_is_422(api: httpx.Client, user: ApiUser, query: str) -> None:
    assert_error(api.get(f"/auth/sessions?{query}", headers=user.headers), 422)


def test_a_cursor_of_another_listing_is_refused(
    api: httpx.Client, user: ApiUser, other_user: ApiUser, sql_url: str
) -> None:
    """Another user's cursor (or a notes cursor) is a 422 that tells nothing of its owner:
    the listing is always the caller's."""
    add_sessions(sql_url, other_user.id, TIED[:3])
    theirs = api.get("/auth/sessions?limit=1", headers=other_user.headers).json()["next_cursor"]
    api.post("/notes", json={"title": "a"}, headers=user.headers)
    api.post("/notes", json={"title": "b"}, headers=user.headers)
    of_notes = api.get("/notes?limit=1", headers=user.headers).json()["next_cursor"]
    for cursor in (theirs, of_notes, _forged(theirs, bound="")):
        response = api.get("/auth/sessions", params={"cursor": cursor}, headers=user.headers)
        error = assert_error(response, 422, "validation_error")
        assert other_user.id not in response.text
        assert error["details"][0]["loc"] == ["query", "cursor"]
    mine = api.get("/auth/sessions", headers=user.headers).json()["items"]
    assert [s["current"] for s in mine] == [True]


def test_the_openapi_document_describes_the_page(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    operation = spec["paths"]["/auth/sessions"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["limit"]["schema"] == {
        "type": "integer",
        "maximum": 100,
        "minimum": 1,
        "default": 20,
        "title": "Limit",
    }
    assert params["cursor"]["schema"]["anyOf"][0]["maxLength"] == 4096
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    name = ok["$ref"].rsplit("/", 1)[-1]
    page = spec["components"]["schemas"][name]
    assert set(page["properties"]) == {"items", "next_cursor"}
    assert page["properties"]["items"]["items"]["$ref"].endswith("/SessionOut")
    assert "422" in operation["responses"]


def test_an_expired_session_is_not_live(api: httpx.Client, user: ApiUser, sql_url: str) -> None:
    """API.md: `GET /auth/sessions` lists the caller's *live* sessions. One whose refresh
    token's lifetime has passed has ended without a logout: not listed, and its refresh
    token is a 401."""
    with session_factory(sql_url)() as db, db.begin():
        issued = SessionsRepository(db).start(user.id, "old-laptop", timedelta(seconds=-1))
    listed = api.get("/auth/sessions", headers=user.headers).json()["items"]
    assert [s["current"] for s in listed] == [True]
    assert issued.session.id not in {s["id"] for s in listed}
    refused = api.post("/auth/refresh", json={"refresh_token": issued.token})
    assert_error(refused, 401, "unauthorized")
