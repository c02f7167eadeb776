"""/users/me through the gateway: profile, password change, account deletion."""

from __future__ import annotations

import secrets
import threading

import httpx
import pytest

from smartnote import storage
from smartnote.local.services import AwsService
from smartnote.local.template import Template
from tests.conftest import ApiUser, assert_error
from tests.utils.one_line import INVISIBLE, NOT_ONE_LINE, VISIBLE
from tests.utils.openapi_bodies import request_schema_admits


def test_me(api: httpx.Client, user: ApiUser) -> None:
    body = api.get("/users/me", headers=user.headers).json()
    assert body["email"] == user.email
    assert body["id"] == user.id
    assert body["timezone"] == "UTC" and body["email_reminders"] is True


def test_head_me_is_get_without_the_body(api: httpx.Client, user: ApiUser) -> None:
    get, head = (
        api.get("/users/me", headers=user.headers),
        api.head("/users/me", headers=user.headers),
    )
    assert head.status_code == get.status_code == 200  # RFC 9110 9.3.2
    assert head.content == b"" and head.headers["content-length"] == get.headers["content-length"]


def test_405_allows_every_method_of_me(api: httpx.Client, user: ApiUser) -> None:
    response = api.put("/users/me", headers=user.headers)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"  # RFC 9110 15.5.6


def test_patch_me_changes_only_what_is_sent(api: httpx.Client, user: ApiUser) -> None:
    changed = api.patch(
        "/users/me",
        json={"display_name": "  Ada  ", "timezone": "America/New_York"},
        headers=user.headers,
    )
    assert changed.status_code == 200
    assert changed.json()["display_name"] == "Ada"
    again = api.patch("/users/me", json={"email_reminders": False}, headers=user.headers).json()
    assert (again["display_name"], again["timezone"], again["email_reminders"]) == (
        "Ada",
        "America/New_York",
        False,
    )
    cleared = api.patch("/users/me", json={"display_name": None}, headers=user.headers).json()
    assert cleared["display_name"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"timezone": "Not/AZone"},
        {"timezone": "Europe"},  # a folder of the tz database, not a zone
        {"timezone": "localtime"},  # the server's own zone file, not an IANA name
        {"timezone": "posixrules"},
        {"timezone": "posix/Europe/Paris"},  # a system mirror folder of the zones
        {"timezone": None},
        {"email_reminders": "yes"},
        {"email_reminders": None},
        {"display_name": "x" * 101},
        {"display_name": "a\u0000b"},  # PostgreSQL text cannot hold NUL
        {"display_name": "two\nlines"},
        {"display_name": "two\u2028lines"},  # a line separator is a line break too
        {"display_name": "a\u0085b"},  # C1 controls (NEL) are control characters
        {"email": "hijack@example.com"},
        {"id": "another-id"},
        {"password_hash": "x"},
        {"created_at": "2020-01-01T00:00:00Z"},
    ],
)
def test_patch_me_refuses_bad_input_and_changes_nothing(
    api: httpx.Client, user: ApiUser, body: dict[str, object]
) -> None:
    before = api.get("/users/me", headers=user.headers).json()
    assert_error(api.patch("/users/me", json=body, headers=user.headers), 422, "validation_error")
    assert api.get("/users/me", headers=user.headers).json() == before


def test_a_body_of_countless_unknown_keys_is_one_short_422(
    api: httpx.Client, user: ApiUser
) -> None:
    """A megabyte of distinct unknown keys was a detail each, an answer bigger than Lambda
    can return (a 502 from API Gateway): the details list the first few."""
    keys = [b'"%x":0' % i for i in range(110_000)]
    body = b"{" + b",".join(keys) + b"}"
    headers = {**user.headers, "Content-Type": "application/json"}
    before = api.get("/users/me", headers=user.headers).json()
    answer = api.patch("/users/me", content=body, headers=headers)
    error = assert_error(answer, 422, "validation_error")
    assert len(answer.content) < 64 * 1024, len(answer.content)
    assert error["details"][0]["loc"] == ["body", "0"], error
    assert api.get("/users/me", headers=user.headers).json() == before


@pytest.mark.parametrize("body", [{"timezone": None}, {"email_reminders": None}])
def test_the_document_does_not_offer_the_nulls_a_patch_refuses(
    api: httpx.Client, user: ApiUser, body: dict[str, object]
) -> None:
    assert_error(api.patch("/users/me", json=body, headers=user.headers), 422, "validation_error")
    assert not request_schema_admits("PATCH", "/users/me", body)
    assert request_schema_admits("PATCH", "/users/me", {"display_name": None})


@pytest.mark.parametrize("name", NOT_ONE_LINE + INVISIBLE)
def test_a_display_name_is_one_visible_line_of_text(
    api: httpx.Client, user: ApiUser, name: str
) -> None:
    """As a filename: no control, line-break or bidi override characters, and not made of
    invisible characters alone (a zero-width space is no name)."""
    before = api.get("/users/me", headers=user.headers).json()
    answer = api.patch("/users/me", json={"display_name": name}, headers=user.headers)
    (detail,) = assert_error(answer, 422, "validation_error")["details"]
    assert detail["loc"] == ["body", "display_name"]
    assert "one line" in detail["msg"] or "invisible" in detail["msg"], detail
    assert api.get("/users/me", headers=user.headers).json() == before
    body = {"email": f"{secrets.token_hex(6)}@example.com", "password": "tulip-orbit-7-canyon"}
    registered = api.post("/auth/register", json={**body, "display_name": name})
    assert_error(registered, 422, "validation_error")


@pytest.mark.parametrize("name", VISIBLE)
def test_a_display_name_keeps_what_scripts_and_emoji_need(
    api: httpx.Client, user: ApiUser, name: str
) -> None:
    answer = api.patch("/users/me", json={"display_name": name}, headers=user.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["display_name"] == name


def test_password_change_ends_other_sessions(api: httpx.Client, user: ApiUser) -> None:
    other = api.post("/auth/token", data={"username": user.email, "password": user.password}).json()
    response = api.post(
        "/users/me/password",
        json={"current_password": user.password, "new_password": "brand-new-secret-42"},
        headers=user.headers,
    )
    assert response.status_code == 204
    assert api.get("/users/me", headers=user.headers).status_code == 200  # this session lives
    assert_error(
        api.get("/users/me", headers={"Authorization": f"Bearer {other['access_token']}"}), 401
    )
    assert_error(api.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401)
    old = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert_error(old, 401)
    new = api.post("/auth/token", data={"username": user.email, "password": "brand-new-secret-42"})
    assert new.status_code == 200


def test_password_change_needs_the_current_password(api: httpx.Client, user: ApiUser) -> None:
    response = api.post(
        "/users/me/password",
        json={"current_password": "not-my-password", "new_password": "brand-new-secret-42"},
        headers=user.headers,
    )
    # 403, not 401: the token is fine, and a client must not take a typo for a lost session.
    assert_error(response, 403)
    assert "www-authenticate" not in response.headers
    weak = api.post(
        "/users/me/password",
        json={"current_password": user.password, "new_password": "short"},
        headers=user.headers,
    )
    assert_error(weak, 422)
    assert (
        api.post(
            "/auth/token", data={"username": user.email, "password": user.password}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [("POST", "/users/me/password", "current_password"), ("DELETE", "/users/me", "password")],
)
def test_password_confirmation_is_throttled_like_a_login(
    api: httpx.Client, user: ApiUser, method: str, path: str, field: str
) -> None:
    # A stolen access token must not allow guessing the password (then taking the account).
    def confirm(password: str) -> httpx.Response:
        body = {field: password, "new_password": "brand-new-secret-42"}
        if method == "DELETE":
            body = {field: password}
        return api.request(method, path, json=body, headers=user.headers)

    for attempt in range(5):
        assert_error(confirm(f"wrong-guess-{attempt}"), 403, "forbidden")
    throttled = assert_error(confirm(user.password), 429, "rate_limited")
    assert throttled["message"]
    assert api.get("/users/me", headers=user.headers).status_code == 200  # nothing changed
    login = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert_error(login, 429, "rate_limited")  # the same account counter as the login's


def test_delete_account_removes_user_notes_and_sessions(
    api: httpx.Client, user: ApiUser, other_user: ApiUser
) -> None:
    api.post("/notes", json={"title": "mine"}, headers=user.headers)
    kept = api.post("/notes", json={"title": "theirs"}, headers=other_user.headers).json()

    wrong = api.request(
        "DELETE", "/users/me", json={"password": "wrong-password-1"}, headers=user.headers
    )
    assert_error(wrong, 403)
    assert api.get("/users/me", headers=user.headers).status_code == 200

    response = api.request(
        "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
    )
    assert response.status_code == 204
    assert_error(
        api.post("/auth/token", data={"username": user.email, "password": user.password}), 401
    )
    # The email is free again and a new account starts empty.
    again = api.post("/auth/register", json={"email": user.email, "password": user.password})
    assert again.status_code == 201
    tokens = api.post(
        "/auth/token", data={"username": user.email, "password": user.password}
    ).json()
    fresh = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert api.get("/notes", headers=fresh).json()["items"] == []
    # Nobody else's data was touched.
    assert api.get(f"/notes/{kept['id']}", headers=other_user.headers).status_code == 200


def test_delete_account_removes_its_s3_objects_only(
    api: httpx.Client, user: ApiUser, other_user: ApiUser, aws: AwsService, template: Template
) -> None:
    s3 = aws.client("s3")
    bucket = template.buckets[0].bucket_name
    mine = [
        storage.upload_key(user.id, "n1", "a1", "photo.jpg"),
        storage.derived_key(user.id, "n1", "a1", "thumbnail.jpg"),
    ]
    theirs = storage.upload_key(other_user.id, "n2", "a2", "photo.jpg")
    for key in [*mine, theirs]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"image bytes")

    response = api.request(
        "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
    )
    assert response.status_code == 204
    remaining = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert not remaining & set(mine)
    assert theirs in remaining


def test_deleting_the_account_twice_at_once_is_204_for_both(
    api_base_url: str, api: httpx.Client, user: ApiUser
) -> None:
    # A client retrying a slow deletion: both requests authenticated before the first ended,
    # the second's tombstone collided with the first's (IntegrityError), a 503 on both backends.
    api.post("/notes", json={"title": "mine"}, headers=user.headers)
    attempts = 3
    start = threading.Barrier(attempts)
    statuses: list[int] = []

    def delete() -> None:
        with httpx.Client(base_url=api_base_url, timeout=60) as client:
            start.wait()
            response = client.request(
                "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=delete) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each one that authenticated before the deletion ended is a 204 (no 503 for the twin
    # tombstone); one that a busy machine delayed past it finds its session gone, a 401.
    assert 204 in statuses and set(statuses) <= {204, 401}, statuses
    assert len(statuses) == attempts
    assert_error(api.get("/users/me", headers=user.headers), 401)
    login = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert_error(login, 401)


@pytest.mark.parametrize("failed_before_deletion", [4, 0], ids=["before", "after"])
def test_a_deleted_accounts_failed_logins_do_not_lock_out_the_next_account_of_its_email(
    api: httpx.Client, user: ApiUser, failed_before_deletion: int
) -> None:
    """An account counts the failed logins of its email since it was created: those made
    while the email had no account, or one since deleted, guessed at no password of it (they
    locked the new owner out for up to 15 minutes)."""
    for _ in range(failed_before_deletion):
        assert_error(
            api.post("/auth/token", data={"username": user.email, "password": "wrong-pass-00"}),
            401,
        )
    deleted = api.request(
        "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
    )
    assert deleted.status_code == 204
    for _ in range(5 - failed_before_deletion):  # an old device still trying the old password
        assert_error(
            api.post("/auth/token", data={"username": user.email, "password": user.password}),
            401,
        )
    password = "a-new-owners-pass-42"
    again = api.post("/auth/register", json={"email": user.email, "password": password})
    assert again.status_code == 201
    login = api.post("/auth/token", data={"username": user.email, "password": password})
    assert login.status_code == 200, login.text


def test_registering_a_taken_email_does_not_lift_its_accounts_lockout(
    api: httpx.Client, user: ApiUser
) -> None:
    for _ in range(5):
        assert_error(
            api.post("/auth/token", data={"username": user.email, "password": "wrong-pass-00"}),
            401,
        )
    for email in (user.email, user.email.upper()):
        taken = api.post("/auth/register", json={"email": email, "password": "attackers-pass-1"})
        assert_error(taken, 409)
    login = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert_error(login, 429, "rate_limited")
