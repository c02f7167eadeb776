"""The notes API as tests use it: create a note, the titles of a list, every page of a list."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ApiUser


def create(api: httpx.Client, user: ApiUser, **fields: Any) -> dict[str, Any]:
    response = api.post("/notes", json=fields, headers=user.headers)
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()
    return note


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
