"""Authentication under attack: guessing is throttled across cold starts, sessions die when
they should, and nothing tells an attacker whether an account exists."""

from __future__ import annotations

import statistics
import time
import uuid

import httpx

from smartnote.routes import auth
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
    sessions = api.get("/auth/sessions", headers=user.headers).json()
    current = next(s["id"] for s in sessions if s["current"])
    second = _login(api, user.email, user.password).json()
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert api.delete(f"/auth/sessions/{current}", headers=headers).status_code == 204
    assert_error(api.post("/auth/refresh", json={"refresh_token": user.refresh_token}), 401)
    assert_error(api.get("/users/me", headers=user.headers), 401)
    assert api.get("/users/me", headers=headers).status_code == 200


def _comparable(response: httpx.Response) -> tuple[int, str, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "date")}
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
