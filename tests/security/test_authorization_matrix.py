"""Object-level authorization, generated from the merged OpenAPI document.

Every operation x every caller: the owner succeeds, another user gets 404 (or only their
own data) and changes nothing, and every missing, forged or dead token gets 401. New routes
join the matrix by appearing in `merged_openapi()`; their path parameters need an entry in
`objects.ID_FACTORIES` (checked below).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smartnote.openapi import merged_openapi
from tests.conftest import ApiUser, assert_error, register_and_login
from tests.security.checks import assert_clean
from tests.security.objects import (
    ID_FACTORIES,
    BodyBuilder,
    Deliver,
    field_hints,
    fill,
    path_parameters,
)
from tests.security.objects import (
    real_ids as make_ids,
)
from tests.security.principals import REFUSED_KINDS, refused_callers

DOCUMENT = merged_openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]
SECURED = [(m, p, o) for m, p, o in OPERATIONS if o.get("security")]
PUBLIC = [(m, p, o) for m, p, o in OPERATIONS if not o.get("security")]


def _id(op: tuple[str, str, Any]) -> str:
    return f"{op[0]} {op[1]}"


def test_every_path_parameter_has_an_id_factory() -> None:
    missing = {
        (name, path)
        for _, path, _ in OPERATIONS
        for name in path_parameters(path)
        if name not in ID_FACTORIES
    }
    assert not missing, f"add these to tests/security/objects.py ID_FACTORIES: {missing}"


def test_the_matrix_covers_the_api() -> None:
    # Guards the generator itself: an empty or truncated matrix would pass vacuously.
    assert len(SECURED) >= 15 and {"/notes/{note_id}", "/users/me"} <= {p for _, p, _ in SECURED}


@pytest.fixture(scope="module")
def module_api(api_base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def refused(module_api: httpx.Client) -> dict[str, dict[str, str]]:
    victim = register_and_login(module_api)
    other = register_and_login(module_api)
    return refused_callers(module_api, victim, other)


def _send(
    api: httpx.Client, method: str, path: str, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return api.request(method, path, headers=headers, **body)


@pytest.mark.parametrize("kind", REFUSED_KINDS)
@pytest.mark.parametrize("operation", SECURED, ids=_id)
def test_refused_callers_get_401_everywhere(
    module_api: httpx.Client,
    refused: dict[str, dict[str, str]],
    operation: tuple[str, str, dict[str, Any]],
    kind: str,
) -> None:
    method, path, spec = operation
    # Well-formed ids of nobody: the 401 must come before any lookup.
    url = fill(path, {name: "0" * 24 for name in path_parameters(path)})
    hints = {"password": "tulip-orbit-guess", "current_password": "x" * 12}
    body = BodyBuilder(DOCUMENT, hints).request(spec)
    response = _send(module_api, method, url, refused[kind], body)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_clean(response)


@pytest.mark.parametrize("operation", SECURED, ids=_id)
def test_another_user_cannot_touch_the_owners_objects(
    api: httpx.Client,
    user: ApiUser,
    other_user: ApiUser,
    deliver_upload: Deliver,
    operation: tuple[str, str, dict[str, Any]],
) -> None:
    method, path, spec = operation
    ids = make_ids(api, user, path, deliver_upload)
    url = fill(path, ids)
    body = BodyBuilder(DOCUMENT, field_hints(user)).request(spec)
    owners_secrets = [user.id, user.email, *ids.values()]

    # The other user knows the owner's ids (and even the owner's body), not their token.
    attempt = _send(api, method, url, other_user.headers, body)
    assert_clean(attempt, secrets=owners_secrets)
    if ids:
        assert_error(attempt, 404, "not_found")

    # The owner's object is still there and the owner's request works: nothing was changed.
    body = BodyBuilder(DOCUMENT, field_hints(user)).request(spec)
    owned = _send(api, method, url, user.headers, body)
    assert owned.status_code < 400, f"owner got {owned.status_code}: {owned.text}"
    assert_clean(owned, secrets=[other_user.id, other_user.email])


@pytest.mark.parametrize("operation", PUBLIC, ids=_id)
def test_public_routes_ignore_any_token_and_leak_nothing(
    module_api: httpx.Client,
    refused: dict[str, dict[str, str]],
    operation: tuple[str, str, dict[str, Any]],
) -> None:
    method, path, spec = operation
    for headers in refused.values():
        body = BodyBuilder(DOCUMENT, {"password": "tulip-orbit-guess"}).request(spec)
        assert_clean(_send(module_api, method, path, headers, body))
