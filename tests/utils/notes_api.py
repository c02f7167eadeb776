"""The notes API as tests use it: create a note, save it back, the titles of a list, every
page of a list."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ApiUser


def create(api: httpx.Client, user: ApiUser, **fields: Any) -> dict[str, Any]:
    response = api.post("/notes", json=fields, headers=user.headers)
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()
    return note


def put_back(api: httpx.Client, user: ApiUser, note_id: str, **changes: Any) -> dict[str, Any]:
    """What a client's save does: read the note and PUT every editable field back, the
    reminder as read (`at`, `repeat`) unless `changes` say otherwise; the PUT must be a 200."""
    got = api.get(f"/notes/{note_id}", headers=user.headers)
    note = got.json()
    editable = ("title", "content", "tags", "pinned", "archived", "color")
    body = {key: note[key] for key in editable}
    reminder = note["reminder"]
    body["reminder"] = reminder and {"at": reminder["at"], "repeat": reminder["repeat"]}
    body.update(changes)
    headers = {**user.headers, "If-Match": got.headers["etag"]}
    saved = api.put(f"/notes/{note_id}", json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    result: dict[str, Any] = saved.json()
    return result


def titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [note["title"] for note in response.json()["items"]]


def page_all(api: httpx.Client, user: ApiUser, **params: Any) -> list[dict[str, Any]]:
    """Every note of the list, following next_cursor; each page must be a 200."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get("/notes", params=query, headers=user.headers)
        assert response.status_code == 200, (len(seen), response.text)
        body = response.json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging never ended")
