"""The login form as clients really send it: percent-encoded, or with raw UTF-8 bytes.

A browser percent-encodes a form's non-ASCII characters; `curl -d 'username=zoë@…'` and
other hand-written clients send them as raw UTF-8 bytes, which Starlette alone would read as
Latin-1 (`zoÃ«@…`): the right password would be a failed login.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import assert_error

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def accented(api: httpx.Client) -> tuple[str, str]:
    """An address and a password, both with letters outside ASCII, registered as JSON."""
    email, password = f"zoë-{uuid.uuid4().hex[:8]}@exämple.com", "pässwört-mit-ümlauten"
    _register(api, email, password)
    return email, password


def _register(api: httpx.Client, email: str, password: str) -> None:
    created = api.post("/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text


def _log_in(api: httpx.Client, body: bytes) -> httpx.Response:
    return api.post("/auth/token", content=body, headers=FORM)


def test_raw_utf8_bytes_in_the_login_form_are_read_as_utf8(
    api: httpx.Client, accented: tuple[str, str]
) -> None:
    email, password = accented
    response = _log_in(api, f"username={email}&password={password}".encode())  # as curl -d
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


def test_percent_encoded_login_form_still_works(
    api: httpx.Client, accented: tuple[str, str]
) -> None:
    email, password = accented
    response = _log_in(api, f"username={quote(email)}&password={quote(password)}".encode())
    assert response.status_code == 200, response.text


def test_percent_encoded_latin1_lookalikes_are_taken_literally(api: httpx.Client) -> None:
    # "Ã«" sent percent-encoded is what the user typed, not mojibake to repair: the password
    # registered as "Ã«..." logs in, and "ë..." does not.
    email = f"lit-{uuid.uuid4().hex[:8]}@example.com"
    password = "Ã«-literally-typed"
    _register(api, email, password)
    literal = api.post("/auth/token", data={"username": email, "password": password})
    assert literal.status_code == 200, literal.text
    repaired = api.post("/auth/token", data={"username": email, "password": "ë-literally-typed"})
    assert_error(repaired, 401, "unauthorized")


def test_bytes_that_are_not_utf8_are_a_failed_login_not_an_error(
    api: httpx.Client, accented: tuple[str, str]
) -> None:
    email, password = accented
    latin1 = f"username={email}&password={password}".encode("latin-1")
    assert_error(_log_in(api, latin1), 401, "unauthorized")
