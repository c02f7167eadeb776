"""Access tokens and password hashing."""

import base64
import json
import subprocess
import sys
import time

import pytest
from jose import jwk, jwt

from smartnote.config import Settings
from smartnote.errors import Unauthorized
from smartnote.security import PasswordHasher, TokenService, hash_token, new_refresh_token

SECRET = "unit-test-secret-of-at-least-32-characters"


@pytest.fixture
def settings() -> Settings:
    return Settings(argon2_time_cost=1, argon2_memory_cost_kib=1024)


@pytest.fixture
def tokens(settings: Settings) -> TokenService:
    return TokenService(settings, SECRET)


def test_access_token_round_trip(tokens: TokenService) -> None:
    claims = tokens.decode_access_token(tokens.create_access_token("user-1", "session-1"))
    assert (claims.user_id, claims.session_id) == ("user-1", "session-1")


def test_access_tokens_live_at_most_15_minutes(tokens: TokenService) -> None:
    payload = jwt.get_unverified_claims(tokens.create_access_token("u", "s"))
    assert payload["exp"] - payload["iat"] <= 900


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "forge",
    [
        # wrong key
        lambda t: jwt.encode(jwt.get_unverified_claims(t), "another-secret", algorithm="HS256"),
        # alg: none
        lambda t: (
            _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(jwt.get_unverified_claims(t)) + "."
        ),
        # another HMAC algorithm than the pinned one, same key
        lambda t: jwt.encode(jwt.get_unverified_claims(t), SECRET, algorithm="HS512"),
        # payload changed, signature kept
        lambda t: ".".join(
            [
                t.split(".")[0],
                _b64({**jwt.get_unverified_claims(t), "sub": "admin"}),
                t.split(".")[2],
            ]
        ),
        # expired
        lambda t: jwt.encode(
            {**jwt.get_unverified_claims(t), "exp": int(time.time()) - 1}, SECRET, algorithm="HS256"
        ),
        # not an access token
        lambda t: jwt.encode(
            {**jwt.get_unverified_claims(t), "typ": "refresh"}, SECRET, algorithm="HS256"
        ),
        # no session id
        lambda t: jwt.encode(
            {k: v for k, v in jwt.get_unverified_claims(t).items() if k != "sid"},
            SECRET,
            algorithm="HS256",
        ),
        lambda t: "garbage",
    ],
)
def test_forged_tokens_are_refused(tokens: TokenService, forge) -> None:  # type: ignore[no-untyped-def]
    forged = forge(tokens.create_access_token("user-1", "session-1"))
    with pytest.raises(Unauthorized):
        tokens.decode_access_token(forged)


def test_the_key_is_built_once_not_per_token(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request builds a TokenService; none of them rebuilds the key object."""
    token = TokenService(settings, SECRET).create_access_token("user-1", "session-1")
    built: list[str] = []
    original = jwk.construct

    def counting_construct(key_data: object, algorithm: str | None = None) -> object:
        built.append(str(algorithm))
        return original(key_data, algorithm)

    monkeypatch.setattr(jwk, "construct", counting_construct)
    for _ in range(3):
        assert TokenService(settings, SECRET).decode_access_token(token).user_id == "user-1"
    assert len(built) <= 1, built


def test_password_hashes_are_argon2_and_verify(settings: Settings) -> None:
    hasher = PasswordHasher(settings)
    hashed = hasher.hash("tulip-orbit-7-canyon")
    assert hashed.startswith("$argon2")
    assert hasher.verify("tulip-orbit-7-canyon", hashed)
    assert not hasher.verify("tulip-orbit-7-canyoN", hashed)


def test_unknown_user_verification_still_hashes_and_fails(settings: Settings) -> None:
    assert PasswordHasher(settings).verify("anything-at-all", None) is False


def test_refresh_tokens_are_random_and_stored_hashed() -> None:
    first, second = new_refresh_token(), new_refresh_token()
    assert first != second and len(first) >= 40
    assert hash_token(first) != first and len(hash_token(first)) == 64


# jose signs HMAC tokens with the standard library when cryptography is not installed: the
# case of every Lambda function (the layer does not ship it, deploy/artifacts.py checks).
# Here cryptography is installed (moto needs it), so the child hides it from the import system.
_WITHOUT_CRYPTOGRAPHY = """
import json, sys
sys.modules["cryptography"] = None  # `import cryptography` now raises ImportError
from jose import jwk
from smartnote.config import Settings
from smartnote.security import TokenService
tokens = TokenService(Settings(), sys.argv[1])
claims = tokens.decode_access_token(sys.argv[2])
print(json.dumps({
    "backend": jwk.get_key("HS256").__module__,
    "decoded": [claims.user_id, claims.session_id],
    "issued": tokens.create_access_token("user-2", "session-2"),
    "crypto_loaded": any(name.startswith("cryptography.") for name in sys.modules),
}))
"""


def test_tokens_work_alike_without_the_cryptography_backend(tokens: TokenService) -> None:
    issued_here = tokens.create_access_token("user-1", "session-1")
    child = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CRYPTOGRAPHY, SECRET, issued_here],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(child.stdout.splitlines()[-1])
    assert result["backend"] == "jose.backends.native"
    assert not result["crypto_loaded"]
    # Either side checks the other's tokens: a rollout mixing both is invisible to clients.
    assert result["decoded"] == ["user-1", "session-1"]
    claims = tokens.decode_access_token(result["issued"])
    assert (claims.user_id, claims.session_id) == ("user-2", "session-2")
    # ...and the stdlib backend refuses what it must: a token under another secret.
    forged = TokenService(Settings(), "another-secret-of-at-least-32-characters!")
    refused = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CRYPTOGRAPHY, SECRET, forged.create_access_token("u", "s")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr
