"""Password hashing and tokens, nothing else."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING

from jose import JWTError, jwk, jwt
from jose.backends.base import Key

from smartnote.clock import utcnow
from smartnote.config import Settings
from smartnote.errors import Unauthorized
from smartnote.passwords import MAX_PASSWORD_LENGTH, prepare_password

if TYPE_CHECKING:
    from passlib.context import CryptContext


@lru_cache(maxsize=4)
def _password_context(time_cost: int, memory_cost: int, parallelism: int) -> CryptContext:
    # Imported here: only the routes that hash or verify pay for passlib + argon2 (~30 ms of
    # cold start); every function builds a PasswordHasher, the notes function never uses it.
    from passlib.context import CryptContext  # noqa: PLC0415

    return CryptContext(
        schemes=["argon2"],
        argon2__time_cost=time_cost,
        argon2__memory_cost=memory_cost,
        argon2__parallelism=parallelism,
    )


class PasswordMatch(Enum):
    """How a password matched a stored hash; false only for `NONE`, so that `if verify(...)`
    cannot take a wrong password for a right one."""

    NONE = "none"
    PREPARED = "prepared"
    # Of a form the password was typed in: a hash made before passwords were prepared, to
    # replace with one of the prepared form.
    UNPREPARED = "unprepared"

    def __bool__(self) -> bool:
        return self is not PasswordMatch.NONE


class PasswordHasher:
    """Argon2 through the passlib API (the maintained `libpass` distribution), of passwords
    prepared (`prepare_password`)."""

    def __init__(self, settings: Settings) -> None:
        self._cost = (
            settings.argon2_time_cost,
            settings.argon2_memory_cost_kib,
            settings.argon2_parallelism,
        )

    @property
    def _context(self) -> CryptContext:
        return _password_context(*self._cost)

    def hash(self, password: str) -> str:
        return str(self._context.hash(prepare_password(password)))

    def verify(self, password: str, password_hash: str | None) -> PasswordMatch:
        """Check a password, prepared, then in the forms an older hash may be of.

        With no hash (unknown user) it does the same work against a dummy hash: as many
        verifications as a wrong password of an account, which depend on the password alone.
        A password longer than any we accept matches no account: it is checked against the
        dummy hash too (passlib raises on more than 4096 characters, which was a 500 on the
        login form, whose fields have no length limit; NFD makes at most 4 of one).
        """
        if len(password) > MAX_PASSWORD_LENGTH:
            password, password_hash = password[:MAX_PASSWORD_LENGTH], None
        prepared = prepare_password(password)
        older = _unprepared_forms(password, prepared)
        if password_hash is None:
            for form in (prepared, *older):
                self._context.verify(form, self._dummy_hash())
            return PasswordMatch.NONE
        if self._context.verify(prepared, password_hash):
            return PasswordMatch.PREPARED
        if any(self._context.verify(form, password_hash) for form in older):
            return PasswordMatch.UNPREPARED
        return PasswordMatch.NONE

    def needs_rehash(self, password_hash: str) -> bool:
        return bool(self._context.needs_update(password_hash))

    def _dummy_hash(self) -> str:
        return _dummy_hash_for(self._context)


def _unprepared_forms(password: str, prepared: str) -> list[str]:
    """The forms other than `prepared` a hash made before passwords were prepared may be of:
    the password as the registering client sent it, which may have been the other canonical
    form (registered on a Mac, typed on Windows), non-ASCII spaces as typed."""
    if password.isascii():  # its own NFC and NFD, and prepared already
        return []
    forms = dict.fromkeys(
        (password, unicodedata.normalize("NFC", password), unicodedata.normalize("NFD", password))
    )
    forms.pop(prepared, None)
    return list(forms)


@lru_cache(maxsize=4)
def _dummy_hash_for(context: CryptContext) -> str:
    return str(context.hash(secrets.token_urlsafe(16)))


# A compact JWS: three base64url segments, unpadded (RFC 7515 section 7.1).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# The latest `exp` taken: `datetime` holds no later one (year 9999), on any platform.
_LATEST_EXPIRY = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: datetime


@lru_cache(maxsize=4)
def _verification_key(secret: str, algorithm: str) -> Key:
    """The key object of `secret`, built once per container (jose builds one per token)."""
    return jwk.construct(secret, algorithm)


class TokenService:
    """Issues and checks access JWTs; the algorithm is pinned, never read from a token."""

    def __init__(self, settings: Settings, secret: str) -> None:
        self._secret = secret
        self._algorithm = settings.jwt_algorithm
        self._key = _verification_key(secret, settings.jwt_algorithm)
        self._issuer = settings.jwt_issuer
        self.access_ttl = timedelta(seconds=settings.access_token_ttl_seconds)

    def create_access_token(self, user_id: str, session_id: str) -> str:
        now = utcnow()
        claims = {
            "sub": user_id,
            "sid": session_id,
            "iss": self._issuer,
            "iat": int(now.timestamp()),
            "exp": int((now + self.access_ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        return str(jwt.encode(claims, self._secret, algorithm=self._algorithm))

    def decode_access_token(self, token: str) -> AccessClaims:
        # jose's base64 decoding drops what is not of the alphabet: `token + "=="` would pass.
        if not _COMPACT_JWS.fullmatch(token):
            raise Unauthorized("Invalid or expired access token")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={"require_exp": True, "require_sub": True, "require_iat": True},
            )
        # RecursionError: jose parses the (unsigned) header with json.loads, which a header
        # nested past the recursion limit makes raise it, from anyone's 1.3 kB token.
        except (JWTError, ValueError, TypeError, KeyError, RecursionError) as exc:
            raise Unauthorized("Invalid or expired access token") from exc
        sub, sid, exp = claims.get("sub"), claims.get("sid"), claims.get("exp")
        # jose takes any `exp` int() takes (a string, one past time_t); ours are ints in range.
        if (
            claims.get("typ") != "access"
            or not isinstance(sub, str)
            or not isinstance(sid, str)
            or type(exp) is not int
            or exp > _LATEST_EXPIRY
        ):
            raise Unauthorized("Invalid or expired access token")
        return AccessClaims(
            user_id=sub, session_id=sid, expires_at=datetime.fromtimestamp(exp, UTC)
        )


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token (only its hash is stored)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Refresh tokens are random, so a fast hash suffices (no dictionary to attack)."""
    return hashlib.sha256(token.encode()).hexdigest()
