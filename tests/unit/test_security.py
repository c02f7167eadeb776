"""Access tokens and password hashing."""

import base64
import json
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable

import pytest
from jose import jwk, jwt
from passlib.context import CryptContext

from smartnote.config import Settings
from smartnote.errors import Unauthorized
from smartnote.security import (
    PasswordHasher,
    PasswordMatch,
    TokenService,
    hash_token,
    new_refresh_token,
)
from tests.utils.passwords import is_hash_of, unprepared_hash

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


@pytest.mark.parametrize(
    "exp",
    [10**20, 10**400, 1e300, "9999999999", 9999999999.5],
    ids=["past-time_t", "huge", "huge-float", "numeric-string", "float"],
)
def test_signed_tokens_with_an_expiry_no_token_of_ours_has_are_refused(
    tokens: TokenService, exp: object
) -> None:
    # jose takes any exp int() takes: a string or one past time_t was a 500 on every route.
    claims = jwt.get_unverified_claims(tokens.create_access_token("user-1", "session-1"))
    signed = jwt.encode({**claims, "exp": exp}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        tokens.decode_access_token(signed)


@pytest.mark.parametrize("suffix", ["\u00c3\u00a9", "!", "==", " ", "\t", ".."])
def test_a_token_with_characters_beyond_its_base64url_is_refused(
    tokens: TokenService, suffix: str
) -> None:
    # Base64 decoding dropped what is not of its alphabet: `token + "!"` was the token.
    token = tokens.create_access_token("user-1", "session-1")
    for forged in (token + suffix, suffix + token, token.replace(".", suffix + ".", 1)):
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
    assert hasher.verify("tulip-orbit-7-canyon", hashed) is PasswordMatch.PREPARED
    wrong = hasher.verify("tulip-orbit-7-canyoN", hashed)
    assert wrong is PasswordMatch.NONE and not wrong  # false: `if verify(...)` stays safe


def test_unknown_user_verification_still_hashes_and_fails(settings: Settings) -> None:
    assert PasswordHasher(settings).verify("anything-at-all", None) is PasswordMatch.NONE


ZOE = "zo\u00eb-na\u00efve-passphrase"


def test_passwords_are_hashed_prepared(settings: Settings) -> None:
    hashed = PasswordHasher(settings).hash(unicodedata.normalize("NFD", ZOE) + "\u00a0!")
    assert is_hash_of(ZOE + " !", hashed)


@pytest.mark.parametrize(
    ("hashed_as_sent", "typed"),
    [
        (unicodedata.normalize("NFD", ZOE), ZOE),
        (unicodedata.normalize("NFD", ZOE), unicodedata.normalize("NFD", ZOE)),
        (ZOE + "\u00a0!", unicodedata.normalize("NFD", ZOE) + "\u00a0!"),
        ("tulip\u3000orbit-canyon", "tulip\u3000orbit-canyon"),
    ],
)
def test_a_hash_of_the_password_as_sent_matches_unprepared(
    settings: Settings, hashed_as_sent: str, typed: str
) -> None:
    hasher = PasswordHasher(settings)
    older = unprepared_hash(hashed_as_sent, settings)
    assert hasher.verify(typed, older) is PasswordMatch.UNPREPARED
    assert hasher.verify(typed + "x", older) is PasswordMatch.NONE


class _CountedVerifications:
    """passlib's verifications (the time of a password check is theirs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = CryptContext.verify

        def counted(context: CryptContext, *args: object, **kwargs: object) -> object:
            self.count += 1
            return original(context, *args, **kwargs)

        monkeypatch.setattr(CryptContext, "verify", counted)

    def of(self, check: Callable[[], object]) -> int:
        before = self.count
        check()
        return self.count - before


@pytest.mark.parametrize(
    "password",
    [
        "wrong-password-1",
        ZOE,
        unicodedata.normalize("NFD", ZOE),
        "wrong\u00a0pass" + unicodedata.normalize("NFD", "\u00e9") + "\u00e8",
        "p" * 5000,
    ],
    ids=["ascii", "nfc", "nfd", "mixed-with-nbsp", "overlong"],
)
def test_an_unknown_user_costs_the_verifications_of_a_wrong_password(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    # The login of an unknown user checks the password against a dummy hash: as many times
    # as a wrong password of a real account, else the time would tell which emails exist.
    hasher = PasswordHasher(settings)
    account = hasher.hash("tulip-orbit-7-canyon")
    verifications = _CountedVerifications(monkeypatch)
    wrong = verifications.of(lambda: hasher.verify(password, account))
    unknown = verifications.of(lambda: hasher.verify(password, None))
    assert wrong == unknown >= 1


def test_a_password_nfd_makes_longer_than_passlib_takes_is_no_error(settings: Settings) -> None:
    # U+1F82 decomposes into 4 code points: 1024 of them are passlib's 4096 exactly.
    hasher = PasswordHasher(settings)
    account = hasher.hash("tulip-orbit-7-canyon")
    for password in ("\u1f82" * 1024, "\u1f82" * 1025, "\ufb2c" * 1024):
        assert hasher.verify(password, account) is PasswordMatch.NONE


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
