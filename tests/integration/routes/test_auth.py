"""/auth through the gateway and the real auth function: register, token, refresh, sessions."""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid

import httpx
import pytest
from jose import jwt

from tests.conftest import ApiUser, assert_error, register_and_login


def test_register_returns_the_user_without_secrets(api: httpx.Client) -> None:
    response = api.post(
        "/auth/register",
        json={
            "email": "New.Person@Example.com",
            "password": "tulip-orbit-7-canyon",
            "display_name": "New",
            "timezone": "Europe/Paris",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "display_name", "timezone", "email_reminders", "created_at"}
    assert body["email"] == "new.person@example.com"
    assert body["timezone"] == "Europe/Paris"
    assert "password" not in response.text and "argon2" not in response.text


def test_register_same_email_any_case_is_409(api: httpx.Client, user: ApiUser) -> None:
    response = api.post(
        "/auth/register", json={"email": user.email.upper(), "password": "another-long-pass-9"}
    )
    assert_error(response, 409, "conflict")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "tulip-orbit-7-canyon"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "password123"}, "password"),
        ({"email": "a@example.com", "password": "x" * 2000}, "password"),
        (
            {"email": "a@example.com", "password": "tulip-orbit-7-canyon", "timezone": "Mars/Base"},
            "timezone",
        ),
        (
            {"email": "a@example.com", "password": "tulip-orbit-7-canyon", "timezone": "Europe"},
            "timezone",
        ),
        (
            {"email": "a@example.com", "password": "tulip-orbit-7-canyon", "is_admin": True},
            "is_admin",
        ),
        ({"email": ["a@example.com"], "password": "tulip-orbit-7-canyon"}, "email"),
        # EmailStr would keep only the address of a mailbox with a display name
        ({"email": "Someone <a@example.com>", "password": "tulip-orbit-7-canyon"}, "email"),
        (
            {
                "email": "a@example.com",
                "password": "tulip-orbit-7-canyon",
                "display_name": "a\u0000",
            },
            "display_name",
        ),
    ],
)
def test_register_refuses_bad_input(api: httpx.Client, body: dict[str, object], field: str) -> None:
    error = assert_error(api.post("/auth/register", json=body), 422, "validation_error")
    assert any(field in detail["loc"] for detail in error["details"])
    assert "tulip" not in str(error) and "password123" not in str(error)  # input not echoed


def test_register_refuses_malformed_json(api: httpx.Client) -> None:
    response = api.post(
        "/auth/register", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


def test_token_pair_shape(api: httpx.Client, user: ApiUser) -> None:
    response = api.post("/auth/token", data={"username": user.email, "password": user.password})
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 900
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"


def test_unknown_user_and_wrong_password_answer_the_same(api: httpx.Client, user: ApiUser) -> None:
    wrong = api.post("/auth/token", data={"username": user.email, "password": "wrong-password-1"})
    unknown = api.post(
        "/auth/token", data={"username": "nobody-" + user.email, "password": "wrong-password-1"}
    )
    assert_error(wrong, 401, "unauthorized")
    assert_error(unknown, 401, "unauthorized")
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "username", ["x" * 1000 + "@example.com", "nul\u0000@example.com"], ids=["overlong", "nul"]
)
def test_usernames_sql_cannot_hold_are_unknown_users_throttled_like_others(
    api: httpx.Client, username: str
) -> None:
    # Longer than the email column, or with a NUL (PostgreSQL text refuses it): a failure
    # recorded all the same (401, then 429), not a 503.
    for _ in range(5):
        response = api.post("/auth/token", data={"username": username, "password": "wrong-pass"})
        assert_error(response, 401, "unauthorized")
    throttled = api.post("/auth/token", data={"username": username, "password": "wrong-pass"})
    assert_error(throttled, 429, "rate_limited")


@pytest.mark.parametrize(
    "domain", ["xn--bcher-kva.example", "\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com"]
)
def test_login_takes_the_email_exactly_as_registered(api: httpx.Client, domain: str) -> None:
    # Registration stores the address normalised (Unicode domain, full-width letters folded):
    # logging in with the string the user registered with must find that account.
    user = register_and_login(api, email=f"u-{uuid.uuid4().hex[:8]}@{domain}")
    assert user.access_token


@pytest.mark.parametrize(
    ("upper", "lower"),
    [
        ("J\u030c", "\u01f0"),  # J with caron: lower-cased, a j and a combining caron
        ("\u0399\u0308\u0301", "\u0390"),  # Greek capital iota, dialytika and tonos
    ],
)
def test_an_address_is_one_account_whatever_its_case(
    api: httpx.Client, upper: str, lower: str
) -> None:
    # Lower-casing after the Unicode normalisation left these letters decomposed, and the
    # login normalises twice: the account could not log in at all, not even as registered,
    # and the lower-case spelling registered a second account.
    local = f"u{uuid.uuid4().hex[:8]}"
    user = register_and_login(api, email=f"{local}{upper}@example.com")
    shown = api.get("/users/me", headers=user.headers).json()["email"]
    assert shown == f"{local}{lower}@example.com"
    for spelling in (f"{local}{upper}@example.com", shown):
        login = api.post("/auth/token", data={"username": spelling, "password": user.password})
        assert login.status_code == 200, spelling
    twin = api.post(
        "/auth/register",
        json={"email": f"{local}{lower}@example.com", "password": "another-long-pass-9"},
    )
    assert_error(twin, 409, "conflict")


@pytest.mark.parametrize("username", ["user", "nobody"])
def test_a_password_longer_than_any_accepted_is_a_failed_login(
    api: httpx.Client, user: ApiUser, username: str
) -> None:
    # passlib refuses passwords over 4096 characters: that was a 500.
    email = user.email if username == "user" else "nobody-" + user.email
    for length in (1025, 4096, 4097, 5000, 100_000):  # five failures, then throttled
        response = api.post("/auth/token", data={"username": email, "password": "p" * length})
        assert_error(response, 401, "unauthorized")
    assert_error(api.post("/auth/token", data={"username": email, "password": "p" * 5000}), 429)


def test_concurrent_wrong_logins_check_no_more_passwords_than_the_limit(
    api_base_url: str, user: ApiUser
) -> None:
    # All at once, across the gateway's containers: counting the failures before the check
    # and recording them after let 7 of 24 through; each attempt is now recorded first.
    attempts = 24
    start = threading.Barrier(attempts)
    statuses: list[int] = []

    def guess(number: int) -> None:
        with httpx.Client(base_url=api_base_url, timeout=60) as client:
            start.wait()
            response = client.post(
                "/auth/token", data={"username": user.email, "password": f"wrong-{number:04d}"}
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) <= 5  # login_max_failures_per_account


def test_repeated_failures_are_throttled_with_retry_after(api: httpx.Client, user: ApiUser) -> None:
    for _ in range(5):
        response = api.post(
            "/auth/token", data={"username": user.email, "password": "wrong-pass-00"}
        )
        assert response.status_code == 401
    throttled = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert_error(throttled, 429, "rate_limited")
    assert 0 < int(throttled.headers["retry-after"]) <= 900


def test_token_form_requires_fields(api: httpx.Client) -> None:
    assert_error(api.post("/auth/token", data={"username": "a@example.com"}), 422)
    assert_error(api.post("/auth/token", json={"username": "a", "password": "b"}), 422)


def _multipart_form(fields: dict[str, bytes], charset: str) -> tuple[bytes, dict[str, str]]:
    parts = [
        b'--b0undary\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
        % (name.encode(), value)
        for name, value in fields.items()
    ]
    content_type = f"multipart/form-data; boundary=b0undary; charset={charset}"
    return b"".join(parts) + b"--b0undary--\r\n", {"Content-Type": content_type}


def test_the_login_form_may_be_multipart_in_utf8(api: httpx.Client, user: ApiUser) -> None:
    fields = {"username": user.email.encode(), "password": user.password.encode()}
    for charset in ("utf-8", "UTF8", "us-ascii"):
        content, headers = _multipart_form(fields, charset)
        assert api.post("/auth/token", content=content, headers=headers).status_code == 200


@pytest.mark.parametrize("charset", ["unicode_escape", "raw_unicode_escape"])
def test_a_form_charset_decoding_to_lone_surrogates_is_a_400(
    api: httpx.Client, user: ApiUser, charset: str
) -> None:
    """Starlette decodes a multipart form's fields with whatever Python codec its charset
    names: `unicode_escape` made `\\ud800` a lone surrogate, which no password hash, SQL
    driver or JSON encoder takes. That was a 500, and on PostgreSQL the pooled connection
    was left mid-message: the next requests served on it failed too."""
    for fields in (
        {"username": user.email.encode(), "password": b"\\ud800-wrong-password"},
        {"username": b"\\ud800" + user.email.encode(), "password": b"wrong-password"},
    ):
        content, headers = _multipart_form(fields, charset)
        response = api.post("/auth/token", content=content, headers=headers)
        assert_error(response, 400, "bad_request")
    for _ in range(5):  # more requests than the pool holds connections
        assert api.get("/auth/sessions", headers=user.headers).status_code == 200
    login = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert login.status_code == 200


def test_refresh_rotates_and_reuse_revokes_the_session(api: httpx.Client, user: ApiUser) -> None:
    first = api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != user.refresh_token

    reused = api.post("/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_error(reused, 401, "unauthorized")
    # The whole family is gone: the newest refresh token and the access tokens too.
    assert_error(api.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]}), 401)
    new_headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert_error(api.get("/users/me", headers=new_headers), 401)


def test_refreshes_racing_with_one_token_have_one_winner_and_end_the_session(
    api_base_url: str, api: httpx.Client, user: ApiUser
) -> None:
    """Refreshes of one token all at once, across the gateway's containers: one spends it,
    every other is a reuse of a spent token (API.md), a 401 that ends the whole session, the
    winner's new pair too. Never two pairs of one token, and never a 5xx."""
    attempts = 6
    start = threading.Barrier(attempts)
    answers: list[httpx.Response] = []

    def refresh() -> None:
        with httpx.Client(base_url=api_base_url, timeout=60) as client:
            start.wait()
            answers.append(client.post("/auth/refresh", json={"refresh_token": user.refresh_token}))

    threads = [threading.Thread(target=refresh) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [401] * (attempts - 1), [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 401:
            assert_error(answer, 401, "unauthorized")
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    assert_error(api.post("/auth/refresh", json={"refresh_token": winner["refresh_token"]}), 401)
    assert_error(
        api.get("/users/me", headers={"Authorization": f"Bearer {winner['access_token']}"}), 401
    )
    assert_error(api.get("/users/me", headers=user.headers), 401)
    again = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert again.status_code == 200  # the account itself is fine


@pytest.mark.parametrize("token", ["", "x" * 600, "unknown-token", None, 12])
def test_refresh_refuses_bad_tokens(api: httpx.Client, token: object) -> None:
    response = api.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (401, 422)
    assert_error(response, response.status_code)


def test_access_and_refresh_tokens_are_not_interchangeable(
    api: httpx.Client, user: ApiUser
) -> None:
    assert_error(api.post("/auth/refresh", json={"refresh_token": user.access_token}), 401)
    refresh_as_bearer = {"Authorization": f"Bearer {user.refresh_token}"}
    assert_error(api.get("/users/me", headers=refresh_as_bearer), 401)
    # Neither mix-up ended anything.
    assert api.get("/users/me", headers=user.headers).status_code == 200
    assert api.post("/auth/refresh", json={"refresh_token": user.refresh_token}).status_code == 200


def test_logout_ends_the_session(api: httpx.Client, user: ApiUser) -> None:
    assert api.post("/auth/logout", headers=user.headers).status_code == 204
    assert_error(api.post("/auth/refresh", json={"refresh_token": user.refresh_token}), 401)
    assert_error(api.get("/users/me", headers=user.headers), 401)


def test_logout_with_refresh_token_ends_that_session_only(api: httpx.Client) -> None:
    first = register_and_login(api)
    second_login = api.post(
        "/auth/token", data={"username": first.email, "password": first.password}
    )
    second_refresh = second_login.json()["refresh_token"]
    response = api.post(
        "/auth/logout", json={"refresh_token": second_refresh}, headers=first.headers
    )
    assert response.status_code == 204
    assert_error(api.post("/auth/refresh", json={"refresh_token": second_refresh}), 401)
    assert api.get("/users/me", headers=first.headers).status_code == 200


def test_logout_with_the_callers_own_refresh_token_ends_its_session(
    api: httpx.Client, user: ApiUser
) -> None:
    response = api.post(
        "/auth/logout", json={"refresh_token": user.refresh_token}, headers=user.headers
    )
    assert response.status_code == 204
    assert_error(api.post("/auth/refresh", json={"refresh_token": user.refresh_token}), 401)
    assert_error(api.get("/users/me", headers=user.headers), 401)


def _ended_session_of(api: httpx.Client, user: ApiUser) -> str:
    """The refresh token of another session of `user`'s, ended since."""
    login = api.post("/auth/token", data={"username": user.email, "password": user.password})
    ended = login.json()
    ended_headers = {"Authorization": f"Bearer {ended['access_token']}"}
    assert api.post("/auth/logout", headers=ended_headers).status_code == 204
    return str(ended["refresh_token"])


@pytest.mark.parametrize(
    "whose", ["another user's", "an ended session's", "unknown"], ids=lambda whose: whose
)
def test_logout_with_a_token_of_no_live_session_of_the_caller_ends_only_the_callers(
    api: httpx.Client, user: ApiUser, other_user: ApiUser, whose: str
) -> None:
    """A token that is not the caller's (or none at all) ends the caller's current session, who
    asked to be logged out, and never the token owner's; the same 204 in every case, so
    whether it is a live token is not told."""
    token = {
        "another user's": other_user.refresh_token,
        "an ended session's": _ended_session_of(api, user),
        "unknown": "not-a-refresh-token",
    }[whose]
    response = api.post("/auth/logout", json={"refresh_token": token}, headers=user.headers)
    assert response.status_code == 204
    assert_error(api.get("/users/me", headers=user.headers), 401)
    assert_error(api.post("/auth/refresh", json={"refresh_token": user.refresh_token}), 401)
    assert api.get("/users/me", headers=other_user.headers).status_code == 200
    theirs = api.post("/auth/refresh", json={"refresh_token": other_user.refresh_token})
    assert theirs.status_code == 200


def test_logout_requires_authentication(api: httpx.Client) -> None:
    assert_error(api.post("/auth/logout"), 401)


def test_sessions_list_and_revoke(api: httpx.Client, user: ApiUser) -> None:
    other = api.post(
        "/auth/token",
        data={"username": user.email, "password": user.password},
        headers={"User-Agent": "phone-app/1.0"},
    ).json()
    sessions = api.get("/auth/sessions", headers=user.headers).json()["items"]
    assert len(sessions) == 2
    assert {s["user_agent"] for s in sessions} >= {"phone-app/1.0"}
    assert [s["current"] for s in sessions].count(True) == 1
    phone = next(s for s in sessions if s["user_agent"] == "phone-app/1.0")

    assert api.delete(f"/auth/sessions/{phone['id']}", headers=user.headers).status_code == 204
    assert_error(api.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401)
    assert len(api.get("/auth/sessions", headers=user.headers).json()["items"]) == 1


def test_revoking_another_users_or_unknown_session_is_404(
    api: httpx.Client, user: ApiUser, other_user: ApiUser
) -> None:
    theirs = api.get("/auth/sessions", headers=other_user.headers).json()["items"][0]["id"]
    assert_error(api.delete(f"/auth/sessions/{theirs}", headers=user.headers), 404, "not_found")
    assert_error(api.delete("/auth/sessions/no-such-session", headers=user.headers), 404)
    assert_error(api.delete("/auth/sessions/a%00b", headers=user.headers), 404)
    # Still alive for its owner.
    assert api.get("/users/me", headers=other_user.headers).status_code == 200


# A JWT header nested past Python's recursion limit: jose's json.loads raised RecursionError,
# which no `except` took (a 500 on every authenticated route, for anyone, from 1.3 kB).
NESTED_HEADER = base64.urlsafe_b64encode(b"[" * 1000).decode().rstrip("=")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not.a.jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "a" * 5000,
        f"Bearer {NESTED_HEADER}.e30.c2ln",
    ],
)
def test_protected_routes_need_a_valid_bearer_token(
    api: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [
        ("GET", "/users/me"),
        ("GET", "/notes"),
        ("GET", "/auth/sessions"),
        ("GET", "/tags"),
    ]:
        response = api.request(method, path, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


def test_token_of_a_deleted_user_is_refused(api: httpx.Client, user: ApiUser) -> None:
    deleted = api.request(
        "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
    )
    assert deleted.status_code == 204
    assert_error(api.get("/notes", headers=user.headers), 401)
    assert_error(api.post("/auth/refresh", json={"refresh_token": user.refresh_token}), 401)


def test_tampered_and_unsigned_tokens_are_refused(api: httpx.Client, user: ApiUser) -> None:
    header, payload, signature = user.access_token.split(".")
    claims = jwt.get_unverified_claims(user.access_token)
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps({**claims, "sub": "someone-else"}).encode())
        .decode()
        .rstrip("=")
    )
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    for token in (
        f"{header}.{forged_payload}.{signature}",
        f"{none_header}.{payload}.",
        f"{header}.{payload}.{signature[::-1]}",
        jwt.encode(claims, "guessed-secret", algorithm="HS256"),
        # Signed with our key, claims no token of ours has: each was a 500 (a NUL in an id,
        # on PostgreSQL).
        *(
            jwt.encode({**claims, **odd}, os.environ["JWT_SECRET"], algorithm="HS256")
            for odd in (
                {"exp": "9999999999"},
                {"exp": 10**20},
                {"sid": claims["sid"] + "\x00"},
                {"sub": claims["sub"] + "\x00"},
            )
        ),
        user.access_token + "==",
    ):
        response = api.get("/notes", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "unauthorized")
