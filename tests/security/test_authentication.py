"""Authentication under attack: guessing is throttled across cold starts, sessions die when
they should, and nothing tells an attacker whether an account exists."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable

import httpx

from smartnote.routes import auth, users
from tests.conftest import ApiUser, assert_error, register_and_login
from tests.security.containers import cold_container


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/auth/token", data={"username": email, "password": password})


def test_account_lockout_survives_a_cold_start(api: httpx.Client, user: ApiUser) -> None:
    for _ in range(5):
        assert _login(api, user.email, "wrong-pass-00").status_code == 401
    assert_error(_login(api, user.email, user.password), 429, "rate_limited")
    # A new container (new app, new engine, empty memory) still knows: the state is in SQL.
    with cold_container(auth.router) as fresh:
        throttled = _login(fresh, user.email.upper(), user.password)
    assert_error(throttled, 429, "rate_limited")
    assert 0 < int(throttled.headers["retry-after"]) <= 900


def test_per_client_throttle_spans_accounts_and_cold_starts(stack_env: None) -> None:
    # TestClient's peer is the address "testclient": a client of its own for this test.
    with cold_container(auth.router, login_max_failures_per_client=3) as first:
        for _ in range(3):
            response = _login(first, f"nobody-{uuid.uuid4().hex}@example.com", "wrong-pass-00")
            assert response.status_code == 401
    with cold_container(auth.router, login_max_failures_per_client=3) as second:
        throttled = _login(second, f"fresh-{uuid.uuid4().hex}@example.com", "any-pass-000")
    assert_error(throttled, 429, "rate_limited")
    assert int(throttled.headers["retry-after"]) > 0


def test_revoked_sessions_refresh_token_is_refused(api: httpx.Client, user: ApiUser) -> None:
    sessions = api.get("/auth/sessions", headers=user.headers).json()["items"]
    current = next(s["id"] for s in sessions if s["current"])
    second = _login(api, user.email, user.password).json()
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert api.delete(f"/auth/sessions/{current}", headers=headers).status_code == 204
    assert_error(api.post("/auth/refresh", json={"refresh_token": user.refresh_token}), 401)
    assert_error(api.get("/users/me", headers=user.headers), 401)
    assert api.get("/users/me", headers=headers).status_code == 200


SLOW_HASH = {"argon2_time_cost": 16, "argon2_memory_cost_kib": 65536}  # ~1 s to check


def _race(
    first: Callable[[], httpx.Response], second: Callable[[], httpx.Response], head_start: float
) -> tuple[httpx.Response, httpx.Response]:
    """`second` starts `head_start` seconds after `first`, while `first` checks a password."""
    answers: dict[int, httpx.Response] = {}

    def run(index: int, call: Callable[[], httpx.Response]) -> None:
        answers[index] = call()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate((first, second))]
    threads[0].start()
    time.sleep(head_start)
    threads[1].start()
    for thread in threads:
        thread.join()
    return answers[0], answers[1]


def _slow_account(client: httpx.Client, password: str) -> tuple[str, dict[str, str], float]:
    """A new account's email, the headers of a login, and how long a password check takes."""
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    assert client.post("/auth/register", json={"email": email, "password": password}).is_success
    started = time.perf_counter()
    tokens = _login(client, email, password).json()
    check_time = time.perf_counter() - started
    return email, {"Authorization": f"Bearer {tokens['access_token']}"}, check_time


def _password_change(
    client: httpx.Client, headers: dict[str, str], current: str, new: str
) -> Callable[[], httpx.Response]:
    return lambda: client.post(
        "/users/me/password",
        json={"current_password": current, "new_password": new},
        headers=headers,
    )


def test_a_login_with_the_old_password_does_not_outlive_a_password_change(
    stack_env: None,
) -> None:
    """A login that read the account before a password change committed, and checked the
    old password meanwhile, started its session after the change had ended the others:
    whoever knew the old password kept the account."""
    old, new = "tulip-orbit-old-1", "tulip-orbit-new-2"
    with cold_container(auth.router, users.router, **SLOW_HASH) as client:
        email, headers, check_time = _slow_account(client, old)
        changed, login = _race(
            _password_change(client, headers, old, new),
            lambda: _login(client, email, old),
            check_time * 0.3,
        )
        assert changed.status_code == 204
        if login.status_code == 200:  # it ended first: the change then ended its session
            stale = {"Authorization": f"Bearer {login.json()['access_token']}"}
            assert_error(client.get("/users/me", headers=stale), 401)
        else:
            assert_error(login, 401, "unauthorized")
        assert _login(client, email, new).status_code == 200
        assert_error(_login(client, email, old), 401)


def test_of_two_password_changes_at_once_only_one_takes_the_account(stack_env: None) -> None:
    """Two changes confirmed with the same password (the owner, and a thief with a stolen
    access token who knows the old one): both answered 204, the later one's password stood and
    it had ended the owner's session. Now the one that comes second finds the password it
    checked replaced: 403, and the first change stands."""
    old = "tulip-orbit-old-1"
    with cold_container(auth.router, users.router, **SLOW_HASH) as client:
        email, owner, check_time = _slow_account(client, old)
        thief = {"Authorization": f"Bearer {_login(client, email, old).json()['access_token']}"}
        first, second = _race(
            _password_change(client, owner, old, "owner-new-pass-1"),
            _password_change(client, thief, old, "thief-new-pass-2"),
            check_time * 0.3,
        )
        assert sorted([first.status_code, second.status_code]) == [204, 403]
        winner, loser = (owner, thief) if first.status_code == 204 else (thief, owner)
        winning_password = "owner-new-pass-1" if winner is owner else "thief-new-pass-2"
        assert client.get("/users/me", headers=winner).status_code == 200
        assert_error(client.get("/users/me", headers=loser), 401)
        assert _login(client, email, winning_password).status_code == 200


def test_a_login_racing_the_deletion_of_its_account_is_a_401(stack_env: None) -> None:
    """A login that found the account just before its deletion committed started a session
    for a user no longer there: the foreign key refused it, a 503 "try again later"."""
    password = "tulip-orbit-old-1"
    with cold_container(auth.router, users.router, **SLOW_HASH) as client:
        email, headers, check_time = _slow_account(client, password)
        deleted, login = _race(
            lambda: client.request(
                "DELETE", "/users/me", json={"password": password}, headers=headers
            ),
            lambda: _login(client, email, password),
            check_time * 0.3,
        )
        assert deleted.status_code == 204
        assert_error(login, 401, "unauthorized")
        assert_error(_login(client, email, password), 401)


def test_two_logins_that_both_rehash_the_password_both_succeed(
    api: httpx.Client, user: ApiUser
) -> None:
    """A hash of older (here cheaper) parameters is replaced at the next login. Two logins at
    once both checked it; the one that stored its new hash second found the hash it had
    checked replaced, and answered the right password with 401 "Incorrect email or password"."""
    with cold_container(auth.router, **SLOW_HASH) as client:
        first, second = _race(
            lambda: _login(client, user.email, user.password),
            lambda: _login(client, user.email, user.password),
            0,
        )
        assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
        for answer in (first, second):
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            assert client.get("/auth/sessions", headers=headers).status_code == 200


def _comparable(response: httpx.Response) -> tuple[int, str, dict[str, str]]:
    per_request = ("x-request-id", "x-amzn-requestid", "date")
    headers = {k: v for k, v in response.headers.items() if k not in per_request}
    return response.status_code, response.text, headers


def test_unknown_account_and_wrong_password_are_indistinguishable(
    api: httpx.Client, user: ApiUser
) -> None:
    unknown = _login(api, f"ghost-{uuid.uuid4().hex}@example.com", "wrong-pass-00")
    wrong = _login(api, user.email, "wrong-pass-00")
    assert _comparable(unknown) == _comparable(wrong)
    assert_error(unknown, 401, "unauthorized")


def test_unknown_accounts_are_throttled_like_real_ones(api: httpx.Client) -> None:
    # Otherwise the 6th attempt (429 or 401) would tell whether the account exists.
    ghost = f"ghost-{uuid.uuid4().hex}@example.com"
    for _ in range(5):
        assert _login(api, ghost, "wrong-pass-00").status_code == 401
    assert_error(_login(api, ghost, "wrong-pass-00"), 429, "rate_limited")


def test_login_takes_as_long_for_unknown_accounts(api: httpx.Client) -> None:
    """Timing: the unknown-account path also runs a full Argon2 verification.

    Measured with a hash expensive enough (tens of ms) to dominate a request, interleaving
    the two kinds so that machine load hits both alike, and compared by median ratio: without
    the dummy hash the unknown path is ~7x faster; with it the ratio stays near 1.
    """
    known = register_and_login(api)
    with cold_container(
        auth.router,
        argon2_time_cost=2,
        argon2_memory_cost_kib=32768,
        login_max_failures_per_account=1000,
    ) as client:
        # The stored hash has the suite's cheap parameters; log in once so it is rehashed.
        assert _login(client, known.email, known.password).status_code == 200
        unknown_times, known_times = [], []
        for _ in range(9):
            for email, times in (
                (f"ghost-{uuid.uuid4().hex}@example.com", unknown_times),
                (known.email, known_times),
            ):
                started = time.perf_counter()
                assert _login(client, email, "wrong-pass-00").status_code == 401
                times.append(time.perf_counter() - started)
    ratio = statistics.median(unknown_times) / statistics.median(known_times)
    assert 0.4 < ratio < 2.5, f"unknown/known median login time ratio {ratio:.2f}"
