"""Passwords through the gateway are compared as RFC 8265's OpaqueString prepares them
(non-ASCII spaces as U+0020, then NFC): one passphrase, typed on macOS (often NFD) or on
Windows (NFC), opens the same account, at login and wherever the password is confirmed."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable

import httpx
import pytest

from smartnote.config import get_settings
from smartnote.security import PasswordHasher
from tests.conftest import ApiUser, assert_error, register_and_login
from tests.utils.passwords import is_hash_of, legacy_account, stored_hash

NFC = "zo\u00eb-na\u00efve-passphrase"
NFD = unicodedata.normalize("NFD", NFC)
NEW_NFC = "cr\u00e8me-br\u00fbl\u00e9e-7"
NEW_NFD = unicodedata.normalize("NFD", NEW_NFC)


def _login(api: httpx.Client, email: str, password: str) -> httpx.Response:
    return api.post("/auth/token", data={"username": email, "password": password})


Account = Callable[[httpx.Client, str, str], ApiUser]


def _registered(api: httpx.Client, sql_url: str, password: str) -> ApiUser:
    return register_and_login(api, password=password)


def _legacy(api: httpx.Client, sql_url: str, password: str) -> ApiUser:
    return legacy_account(sql_url, password)


# (how the account came to be, the password it was made with, the form typed later)
CONFIRMATIONS = [
    pytest.param(_registered, NFD, NFC, id="registered-nfd-typed-nfc"),
    pytest.param(_registered, NFC, NFD, id="registered-nfc-typed-nfd"),
    pytest.param(_legacy, NFD, NFC, id="legacy-nfd-typed-nfc"),
    pytest.param(_legacy, NFD, NFD, id="legacy-nfd-typed-nfd"),
]


@pytest.mark.parametrize(
    ("registered_as", "typed"),
    [
        pytest.param(NFD, NFC, id="nfd-then-nfc"),
        pytest.param(NFC, NFD, id="nfc-then-nfd"),
        pytest.param("tulip\u00a0orbit\u3000canyon", "tulip orbit canyon", id="spaces-then-ascii"),
        pytest.param("tulip orbit canyon", "tulip\u2009orbit\u202fcanyon", id="ascii-then-spaces"),
    ],
)
def test_a_password_logs_in_whatever_the_form_it_is_typed_in(
    api: httpx.Client, registered_as: str, typed: str
) -> None:
    user = register_and_login(api, password=registered_as)
    assert _login(api, user.email, typed).status_code == 200
    assert_error(_login(api, user.email, typed + "!"), 401, "unauthorized")


@pytest.mark.parametrize("typed", [NFD, NFC], ids=["nfd", "nfc"])
def test_a_hash_of_the_unprepared_password_logs_in_and_is_rehashed_prepared(
    api: httpx.Client, sql_url: str, typed: str
) -> None:
    # Registered before passwords were prepared: the hash is of the NFD string as sent.
    user = legacy_account(sql_url, NFD)
    legacy = stored_hash(sql_url, user.id)
    assert is_hash_of(NFD, legacy) and not is_hash_of(NFC, legacy)
    assert not PasswordHasher(get_settings()).needs_rehash(legacy)  # only its form is old

    assert_error(_login(api, user.email, "zoe-naive-passphrase"), 401, "unauthorized")
    assert stored_hash(sql_url, user.id) == legacy  # a failure changes nothing

    assert _login(api, user.email, typed).status_code == 200
    rehashed = stored_hash(sql_url, user.id)
    assert rehashed != legacy and is_hash_of(NFC, rehashed)
    for again in (NFD, NFC):
        assert _login(api, user.email, again).status_code == 200
    assert stored_hash(sql_url, user.id) == rehashed  # prepared already: not hashed again


def test_a_hash_of_a_password_with_non_ascii_spaces_logs_in_as_typed(
    api: httpx.Client, sql_url: str
) -> None:
    user = legacy_account(sql_url, "tulip\u00a0orbit canyon")
    assert _login(api, user.email, "tulip\u00a0orbit canyon").status_code == 200
    assert is_hash_of("tulip orbit canyon", stored_hash(sql_url, user.id))
    assert _login(api, user.email, "tulip orbit\u3000canyon").status_code == 200


@pytest.mark.parametrize(("account", "made_with", "typed"), CONFIRMATIONS)
def test_the_password_change_takes_the_current_password_in_either_form(
    api: httpx.Client, sql_url: str, account: Account, made_with: str, typed: str
) -> None:
    user = account(api, sql_url, made_with)
    change = {"current_password": typed, "new_password": NEW_NFD}
    response = api.post("/users/me/password", json=change, headers=user.headers)
    assert response.status_code == 204, response.text
    assert is_hash_of(NEW_NFC, stored_hash(sql_url, user.id))  # the new one stored prepared
    assert_error(_login(api, user.email, made_with), 401)
    for new in (NEW_NFC, NEW_NFD):
        assert _login(api, user.email, new).status_code == 200


@pytest.mark.parametrize(("account", "made_with", "typed"), CONFIRMATIONS)
def test_the_account_deletion_takes_the_password_in_either_form(
    api: httpx.Client, sql_url: str, account: Account, made_with: str, typed: str
) -> None:
    user = account(api, sql_url, made_with)
    wrong = api.request("DELETE", "/users/me", json={"password": NEW_NFC}, headers=user.headers)
    assert_error(wrong, 403, "forbidden")
    response = api.request("DELETE", "/users/me", json={"password": typed}, headers=user.headers)
    assert response.status_code == 204, response.text
    assert_error(_login(api, user.email, typed), 401)


@pytest.mark.parametrize(
    "password",
    [
        pytest.param(unicodedata.normalize("NFD", "caf\u00e9-th\u00e9!"), id="nfd-11-nfc-9"),
        pytest.param("ab\u00a0ab ab\u00a0ab", id="three-distinct-once-spaces-are-one"),
    ],
)
def test_the_weak_password_rule_counts_the_prepared_password(
    api: httpx.Client, password: str
) -> None:
    email = f"weak-{uuid.uuid4().hex[:10]}@example.com"
    registered = api.post("/auth/register", json={"email": email, "password": password})
    error = assert_error(registered, 422, "validation_error")
    assert any("password" in detail["loc"] for detail in error["details"])
