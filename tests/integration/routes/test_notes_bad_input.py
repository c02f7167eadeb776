"""Bad input to /notes: a clear 4xx in API.md's error shape, and nothing stored changes."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from smartnote.models.notes import (
    MAX_CONTENT,
    MAX_NOTE_BODY_BYTES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TITLE,
)
from tests.conftest import ApiUser, assert_error
from tests.utils.one_line import INVISIBLE, NOT_ONE_LINE, VISIBLE
from tests.utils.openapi_bodies import request_schema_admits


@pytest.fixture
def note(api: httpx.Client, user: ApiUser) -> dict[str, Any]:
    response = api.post(
        "/notes",
        json={"title": "original", "content": "body", "tags": ["keep"]},
        headers=user.headers,
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


BAD_BODIES: list[tuple[object, str]] = [
    ({"title": 123}, "title"),
    ({"title": None}, "title"),
    ({"content": ["not", "text"]}, "content"),
    ({"pinned": "yes"}, "pinned"),
    ({"archived": 1}, "archived"),
    ({"tags": "work"}, "tags"),
    ({"tags": [1, 2]}, "tags"),
    ({"tags": [""]}, "tags"),
    ({"tags": ["x" * 51]}, "tags"),
    ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
    ({"title": "t" * 201}, "title"),
    ({"content": "c" * 100_001}, "content"),
    ({"color": "url(javascript:alert(1))"}, "color"),
    ({"reminder": {"at": "tomorrow"}}, "reminder"),
    ({"reminder": {"at": "2026-12-01T09:00:00"}}, "reminder"),
    # Numbers and digit strings, which pydantic would read as Unix times ("20300101", ISO
    # 8601's basic date, as 1970-08-23): a time is written out, with its offset.
    ({"reminder": {"at": "20300101"}}, "reminder"),
    ({"reminder": {"at": "2030"}}, "reminder"),
    ({"reminder": {"at": 1893488400}}, "reminder"),
    ({"reminder": {"at": "1893488400000"}}, "reminder"),
    ({"reminder": {"at": "2026-12-01T09:00:00Z", "repeat": "yearly"}}, "reminder"),
    # Times that leave the datetime range in UTC or in an owner's zone (were 500s, and a
    # stored year-1 reminder crashed every reminders run).
    ({"reminder": {"at": "0001-01-01T00:30:00+01:00"}}, "reminder"),
    ({"reminder": {"at": "9999-12-31T23:59:59-14:00"}}, "reminder"),
    ({"reminder": {"at": "0001-01-01T00:00:00Z", "repeat": "monthly"}}, "reminder"),
    ({"reminder": {"at": "1969-12-31T23:59:59Z"}}, "reminder"),
    ({"reminder": {"at": "3000-01-01T00:00:00Z"}}, "reminder"),
    (
        {"reminder": {"at": "2026-12-01T09:00:00Z", "last_sent_at": "2026-12-01T09:00:00Z"}},
        "reminder",
    ),
    ({"owner_id": "someone-else"}, "owner_id"),
    ({"id": "aaaaaaaaaaaaaaaaaaaaaaaa"}, "id"),
    ({"version": 99}, "version"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ({"trashed_at": None}, "trashed_at"),
    ({"title": {"$ne": None}}, "title"),
    ({"$set": {"owner_id": "x"}}, "$set"),
    ([{"title": "a list"}], "body"),
    ("just a string", "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_create_refuses_bad_bodies(
    api: httpx.Client, user: ApiUser, body: object, field: str
) -> None:
    error = assert_error(
        api.post("/notes", json=body, headers=user.headers), 422, "validation_error"
    )
    assert any(field in map(str, d["loc"]) for d in error["details"]), error
    assert api.get("/notes", headers=user.headers).json()["items"] == []


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_patch_and_put_refuse_bad_bodies_and_keep_the_note(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], body: object, field: str
) -> None:
    url = f"/notes/{note['id']}"
    assert_error(api.patch(url, json=body, headers=user.headers), 422, "validation_error")
    assert_error(api.put(url, json=body, headers=user.headers), 422, "validation_error")
    assert api.get(url, headers=user.headers).json() == note


# Fields a PATCH may leave out but not send as null (only color and reminder clear).
REFUSED_NULLS: list[dict[str, Any]] = [
    {"title": None},
    {"content": None},
    {"tags": None},
    {"pinned": None},
    {"archived": None},
    {"reminder": {"at": None, "repeat": "daily"}},
    {"reminder": {"at": "2030-01-01T09:00:00Z", "repeat": None}},
]


@pytest.mark.parametrize("body", REFUSED_NULLS, ids=json.dumps)
def test_the_document_does_not_offer_the_nulls_a_patch_refuses(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], body: dict[str, Any]
) -> None:
    response = api.patch(f"/notes/{note['id']}", json=body, headers=user.headers)
    assert_error(response, 422, "validation_error")
    assert not request_schema_admits("PATCH", "/notes/{note_id}", body)
    assert request_schema_admits("PATCH", "/notes/{note_id}", {"color": None, "reminder": None})


@pytest.mark.parametrize("title", NOT_ONE_LINE)
def test_a_title_is_one_line_of_text(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], title: str
) -> None:
    """A title is shown as one line (lists, the reminder email's subject): the rule of
    filenames and display names. The content, Markdown, holds lines."""
    url = f"/notes/{note['id']}"
    for answer in (
        api.post("/notes", json={"title": title}, headers=user.headers),
        api.patch(url, json={"title": title}, headers=user.headers),
        api.put(url, json={"title": title}, headers=user.headers),
    ):
        (detail,) = assert_error(answer, 422, "validation_error")["details"]
        assert detail["loc"] == ["body", "title"] and "one line" in detail["msg"], detail
    assert [n["id"] for n in api.get("/notes", headers=user.headers).json()["items"]] == [
        note["id"]
    ]
    assert api.get(url, headers=user.headers).json() == note


@pytest.mark.parametrize("tag", NOT_ONE_LINE + INVISIBLE)
def test_a_tag_is_one_visible_line_of_text(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], tag: str
) -> None:
    """A tag is a name, shown as one line (a chip, `/tags`): the rule of titles, filenames
    and display names. A bidi override ("invoice\u202egpj.exe"), a line break or NUL, or a
    tag of invisible characters alone (an empty chip) is refused, in a note and a filter."""
    url = f"/notes/{note['id']}"
    body = {"tags": ["fine", tag]}
    for answer in (
        api.post("/notes", json=body, headers=user.headers),
        api.patch(url, json=body, headers=user.headers),
        api.put(url, json=body, headers=user.headers),
        api.get("/notes", params={"tag": tag}, headers=user.headers),
    ):
        (detail,) = assert_error(answer, 422, "validation_error")["details"]
        assert detail["loc"][-2:] == ["tags", 1] or detail["loc"] == ["query", "tag", 0], detail
    assert [n["id"] for n in api.get("/notes", headers=user.headers).json()["items"]] == [
        note["id"]
    ]
    assert api.get(url, headers=user.headers).json() == note
    assert api.get("/tags", headers=user.headers).json() == [{"name": "keep", "count": 1}]


@pytest.mark.parametrize("tag", VISIBLE)
def test_a_tag_keeps_what_scripts_and_emoji_need(
    api: httpx.Client, user: ApiUser, tag: str
) -> None:
    created = api.post("/notes", json={"tags": [tag]}, headers=user.headers)
    assert created.status_code == 201, created.text
    assert created.json()["tags"] == [tag.lower()]


@pytest.mark.parametrize("title", ["", *VISIBLE])
def test_a_title_keeps_what_scripts_and_emoji_need(
    api: httpx.Client, user: ApiUser, title: str
) -> None:
    created = api.post("/notes", json={"title": title, "content": "a\nb"}, headers=user.headers)
    assert created.status_code == 201, created.text
    assert (created.json()["title"], created.json()["content"]) == (title, "a\nb")


@pytest.mark.parametrize("sent", ["2026-12-31T23:59:60Z", "2026-12-31T23:59:60+02:00"])
def test_a_leap_second_is_refused_as_such(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], sent: str
) -> None:
    """Python's datetime has no second 60 (RFC 3339 allows it): refused, and the message says
    so rather than pydantic's "unexpected extra characters at the end of the input"."""
    url = f"/notes/{note['id']}"
    answer = api.patch(url, json={"reminder": {"at": sent}}, headers=user.headers)
    (detail,) = assert_error(answer, 422, "validation_error")["details"]
    assert detail["loc"] == ["body", "reminder", "at"]
    assert "leap second" in detail["msg"] and "extra characters" not in detail["msg"], detail
    listed = api.get("/notes", params={"updated_since": sent}, headers=user.headers)
    (detail,) = assert_error(listed, 422, "validation_error")["details"]
    assert "leap second" in detail["msg"], detail
    assert api.get(url, headers=user.headers).json() == note


def test_malformed_json_and_wrong_content_type(api: httpx.Client, user: ApiUser) -> None:
    broken = api.post(
        "/notes",
        content=b'{"title": "x"',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert_error(broken, 422)
    form = api.post("/notes", data={"title": "x"}, headers=user.headers)
    assert_error(form, 415, "unsupported_media_type")  # test_content_types.py
    assert api.get("/notes", headers=user.headers).json()["items"] == []


def test_oversized_body_is_413_before_parsing(api: httpx.Client, user: ApiUser) -> None:
    huge = b'{"title": "x", "content": "' + b"a" * MAX_NOTE_BODY_BYTES + b'"}'
    response = api.post(
        "/notes", content=huge, headers={**user.headers, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")
    assert api.get("/notes", headers=user.headers).json()["items"] == []


def _many_unknown_keys(limit: int) -> bytes:
    """A JSON object of as many distinct unknown keys as fit in `limit` bytes."""
    keys = []
    size = 2
    while size < limit - 64:
        keys.append(b'"%x":0' % len(keys))
        size += len(keys[-1]) + 1
    return b"{" + b",".join(keys) + b"}"


def test_a_body_of_countless_errors_is_one_short_422(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    """A body within the limit can hold over a hundred thousand mistakes (unknown keys, tags
    that are no text): each was a detail of the 422, whose answer outgrew what Lambda can
    return (a 502 from API Gateway), or whose making outlasted the function's timeout. The
    details list the first few and the message counts them all."""
    headers = {**user.headers, "Content-Type": "application/json"}
    items = (MAX_NOTE_BODY_BYTES - 64) // 2
    for method, url, body, field in (
        ("POST", "/notes", _many_unknown_keys(MAX_NOTE_BODY_BYTES), "0"),
        ("PATCH", f"/notes/{note['id']}", _many_unknown_keys(MAX_NOTE_BODY_BYTES), "0"),
        ("PUT", f"/notes/{note['id']}", b'{"tags":[' + b",".join([b"1"] * items) + b"]}", "tags"),
        ("POST", "/notes", b'{"tags":[' + b",".join([b'""'] * (items // 2)) + b"]}", "tags"),
    ):
        answer = api.request(method, url, content=body, headers=headers)
        error = assert_error(answer, 422, "validation_error")
        assert len(answer.content) < 64 * 1024, len(answer.content)
        assert error["details"] and field in map(str, error["details"][0]["loc"]), error
    assert api.get("/notes", headers=user.headers).json()["items"] == [note]


# A note at every limit of API.md, in characters that JSON writes longest: an astral one is
# 12 bytes escaped ("\ud83d\ude00"), the form Python's json.dumps (and so `requests`' `json=`)
# gives every character past ASCII.
LONGEST_NOTE = {
    "title": "\U0001d504" * MAX_TITLE,
    "content": "\U0001f600" * MAX_CONTENT,
    "tags": [chr(0x1F600 + i) * MAX_TAG_LENGTH for i in range(MAX_TAGS)],
    "pinned": True,
    "archived": True,
    "color": "#ffcc00",
    "reminder": {"at": "2030-01-31T09:00:00+01:00", "repeat": "monthly"},
}


def _escaped(
    api: httpx.Client, method: str, url: str, user: ApiUser, body: object
) -> httpx.Response:
    """`body` sent as JSON with every character past ASCII escaped (`json.dumps`' default)."""
    headers = {**user.headers, "Content-Type": "application/json"}
    return api.request(method, url, content=json.dumps(body).encode(), headers=headers)


def test_the_longest_note_is_taken_with_every_character_escaped(
    api: httpx.Client, user: ApiUser
) -> None:
    """JSON may escape any character: the longest note API.md allows is a note (201, 200),
    never a 413; one character more in any field is a 422 naming it."""
    created = _escaped(api, "POST", "/notes", user, LONGEST_NOTE)
    assert created.status_code == 201, created.text[:300]
    note = created.json()
    assert {key: note[key] for key in ("title", "content", "tags")} == {
        key: LONGEST_NOTE[key] for key in ("title", "content", "tags")
    }
    url = f"/notes/{note['id']}"
    assert api.get(url, headers=user.headers).json() == note
    replaced = _escaped(api, "PUT", url, user, {**LONGEST_NOTE, "pinned": False})
    assert replaced.status_code == 200, replaced.text[:300]
    patched = _escaped(api, "PATCH", url, user, {"content": LONGEST_NOTE["content"][::-1]})
    assert patched.status_code == 200, patched.text[:300]
    kept = api.get(url, headers=user.headers).json()
    for field, longer in [
        ("title", "\U0001d504" * (MAX_TITLE + 1)),
        ("content", "\U0001f600" * (MAX_CONTENT + 1)),
        ("tags", [*LONGEST_NOTE["tags"][:-1], "\U0001f600" * (MAX_TAG_LENGTH + 1)]),
    ]:
        for method, target in (("POST", "/notes"), ("PUT", url)):
            refused = _escaped(api, method, target, user, {**LONGEST_NOTE, field: longer})
            error = assert_error(refused, 422, "validation_error")
            assert any(field in map(str, d["loc"]) for d in error["details"]), error
    assert api.get(url, headers=user.headers).json() == kept


@pytest.mark.parametrize(
    "note_id",
    [
        "not-an-id",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "%24ne",
        "1" * 500,
        "..%2F..%2Fusers",
    ],
)
def test_bad_or_unknown_ids_are_404(api: httpx.Client, user: ApiUser, note_id: str) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"title": "x"}} if method in ("PATCH", "PUT") else {}
        response = api.request(method, f"/notes/{note_id}", headers=user.headers, **kwargs)
        assert_error(response, 404)
    assert_error(api.post(f"/notes/{note_id}/restore", headers=user.headers), 404)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "sort=owner_id",
        "pinned=maybe",
        "archived=2",
        "updated_since=yesterday",
        "updated_since=2026-01-01T00:00:00",
        "updated_since=1893488400",
        "updated_since=20300101",
        "updated_since=0001-01-01T00:00:00%2B14:00",
        "updated_since=9999-12-31T23:59:59-14:00",
        "cursor=%%%",
        "cursor=eyJrIjogW119",
        # JSON nested deeper than Python's recursion limit: json.loads' RecursionError was a 500
        "cursor=" + base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("="),
        "q=" + "x" * 201,
        "trashed=perhaps",
    ],
)
def test_bad_list_parameters_are_422(api: httpx.Client, user: ApiUser, query: str) -> None:
    assert_error(api.get(f"/notes?{query}", headers=user.headers), 422, "validation_error")


def _with_keys(cursor: str, keys: list[Any]) -> str:
    """`cursor` (same query binding) holding other sort-key values: what a client can forge."""
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return base64.urlsafe_b64encode(json.dumps({**payload, "k": keys}).encode()).decode()


@pytest.mark.parametrize(
    ("position", "value"),
    [
        (0, 10**30),  # beyond int64: PyMongo's OverflowError was a 500
        (0, 2**63),
        (0, -(2**63) - 1),
        (0, 1),  # pinned holds a bool
        (0, None),
        (2, "\ud800"),  # a lone surrogate: PyMongo's UnicodeEncodeError was a 500
        (2, 7),
        (1, "2026-01-01T00:00:00Z"),  # a date is tagged "d"
    ],
)
def test_forged_cursor_values_are_422(
    api: httpx.Client, user: ApiUser, position: int, value: object
) -> None:
    for i in range(2):
        api.post("/notes", json={"title": f"n{i}"}, headers=user.headers)
    cursor = api.get("/notes?limit=1", headers=user.headers).json()["next_cursor"]
    keys = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["k"]
    keys[position] = ["v", value]
    response = api.get(
        "/notes", params={"limit": 1, "cursor": _with_keys(cursor, keys)}, headers=user.headers
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", "cursor"]


def test_unknown_route_and_method_use_the_error_shape(api: httpx.Client, user: ApiUser) -> None:
    assert_error(api.get("/nothing-here", headers=user.headers), 404)
    response = api.request("PATCH", "/tags", headers=user.headers)
    assert response.status_code in (404, 405)
    assert_error(response, response.status_code)


def test_request_id_is_echoed_or_generated(api: httpx.Client, user: ApiUser) -> None:
    echoed = api.get("/notes", headers={**user.headers, "X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = api.get("/notes", headers={**user.headers, "X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    assert len(api.get("/notes", headers=user.headers).headers["x-request-id"]) >= 16


@pytest.mark.parametrize("if_match", ['"' + "9" * 5000 + '"', '"99999999999999999999999"', "W/x"])
def test_if_match_that_names_no_version_is_412_and_keeps_the_note(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], if_match: str
) -> None:
    url = f"/notes/{note['id']}"
    headers = {**user.headers, "If-Match": if_match}
    assert_error(api.patch(url, json={"title": "x"}, headers=headers), 412, "precondition_failed")
    assert api.get(url, headers=user.headers).json() == note


@pytest.mark.parametrize("if_match", ["garbage", '"1"', 'W/"1"', "*", '"1", "2"'])
def test_if_match_on_a_missing_or_foreign_note_is_404(
    api: httpx.Client, user: ApiUser, other_user: ApiUser, if_match: str
) -> None:
    # The note's existence is decided first (404, not leaking it), the precondition after.
    created = api.post("/notes", json={"title": "theirs"}, headers=other_user.headers)
    theirs = created.json()
    headers = {**user.headers, "If-Match": if_match}
    for url in ("/notes/aaaaaaaaaaaaaaaaaaaaaaaa", f"/notes/{theirs['id']}"):
        assert_error(api.patch(url, json={"title": "x"}, headers=headers), 404, "not_found")
        assert_error(api.put(url, json={"title": "x"}, headers=headers), 404, "not_found")
    assert api.get(f"/notes/{theirs['id']}", headers=other_user.headers).json() == theirs
