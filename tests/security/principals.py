"""Callers that must be refused: every way an access token can be missing, forged or dead."""

from __future__ import annotations

import base64
import json
import time

import httpx
from jose import jwt

from smartnote.config import get_settings
from tests.conftest import ApiUser, register_and_login

# Each of these must get 401 from every authenticated route.
REFUSED_KINDS = (
    "anonymous",
    "malformed",
    "expired",
    "tampered_signature",
    "forged_subject",
    "alg_none",
    "deleted_user",
    "revoked_session",
)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused_callers(
    api: httpx.Client, victim: ApiUser, other: ApiUser
) -> dict[str, dict[str, str]]:
    """Authorization headers of every refused kind, built around a live `victim` session."""
    header, payload, signature = victim.access_token.split(".")
    claims = jwt.get_unverified_claims(victim.access_token)
    now = int(time.time())
    secret = get_settings().jwt_secret.get_secret_value()  # the real key: only expiry is wrong
    expired = jwt.encode({**claims, "iat": now - 3600, "exp": now - 60}, secret, algorithm="HS256")
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")

    deleted = register_and_login(api)
    gone = api.request(
        "DELETE", "/users/me", json={"password": deleted.password}, headers=deleted.headers
    )
    assert gone.status_code == 204, gone.text

    login = {"username": victim.email, "password": victim.password}
    second = api.post("/auth/token", data=login).json()
    ended = api.post("/auth/logout", headers=_bearer(second["access_token"]))
    assert ended.status_code == 204, ended.text

    return {
        "anonymous": {},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "expired": _bearer(expired),
        "tampered_signature": _bearer(f"{header}.{payload}.{flipped}"),
        "forged_subject": _bearer(f"{header}.{_b64({**claims, 'sub': other.id})}.{signature}"),
        "alg_none": _bearer(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."),
        "deleted_user": deleted.headers,
        "revoked_session": _bearer(second["access_token"]),
    }
