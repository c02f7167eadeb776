"""API.md: "Timestamps are ISO 8601 with an offset" in every answer, whichever store keeps
them (SQLite keeps no offset; MongoDB returns naive UTC unless told otherwise)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import ApiUser, register_and_login
from tests.utils.notes_api import create

# The fields of API.md's shapes that hold a time: `*_at` and a reminder's `at`.
_TIME_FIELD_SUFFIX = "_at"


def _times(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every non-null time field in a JSON answer."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if (key == "at" or key.endswith(_TIME_FIELD_SUFFIX)) and item is not None:
                yield here, item
            else:
                yield from _times(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _times(item, f"{path}[{index}]")


def _assert_times_have_an_offset(response: httpx.Response) -> set[str]:
    assert response.status_code < 300, response.text
    found = set()
    for path, text in _times(response.json()):
        assert datetime.fromisoformat(text).tzinfo is not None, (path, text)
        found.add(path.rsplit(".", 1)[-1])
    return found


def test_every_time_in_an_answer_carries_an_offset(api: httpx.Client) -> None:
    email = f"offsets-{uuid.uuid4().hex[:10]}@example.com"
    registered = api.post("/auth/register", json={"email": email, "password": "tulip-orbit-99x"})
    user: ApiUser = register_and_login(api)
    h = user.headers
    note = create(api, user, title="t", reminder={"at": "2027-01-01T09:00:00+05:30"})
    url = f"/notes/{note['id']}"
    announced = api.post(
        f"{url}/attachments",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 10},
        headers=h,
    )
    assert api.delete(url, headers=h).status_code == 204
    answers = [
        registered,
        api.get("/users/me", headers=h),
        api.patch("/users/me", json={"display_name": "T"}, headers=h),
        api.get("/auth/sessions", headers=h),
        announced,
        api.get(f"{url}/attachments", headers=h),
        api.get(url, headers=h),
        api.get("/notes", params={"trashed": "true"}, headers=h),
    ]
    found = set().union(*(_assert_times_have_an_offset(answer) for answer in answers))
    # Each kind of time API.md names was among them.
    assert {"created_at", "updated_at", "last_used_at", "trashed_at", "at"} <= found
