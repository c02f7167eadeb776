"""What makes a password acceptable (long enough, not a common one) and the one form it is
compared in."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

MIN_PASSWORD_LENGTH = 10
# No password we accept is longer: argon2 hashes anything, this caps the work per request.
MAX_PASSWORD_LENGTH = 1024


def prepare_password(password: str) -> str:
    """The form a password is hashed, checked and judged in: RFC 8265's OpaqueString in
    spirit, every non-ASCII space (category Zs) as U+0020, then NFC. The same passphrase
    typed where the system sends it decomposed (NFD, as much of macOS does) or composed (NFC,
    as Windows does), or with a no-break space, is then one password.

    Nothing is refused (PRECIS would refuse controls and unassigned code points): passwords
    that were accepted before must still be usable. Idempotent: NFC makes no Zs character.
    """
    if password.isascii():
        return password
    spaced = "".join(" " if unicodedata.category(c) == "Zs" else c for c in password)
    return unicodedata.normalize("NFC", spaced)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("smartnote.data").joinpath("common-passwords.txt").read_text("utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_password_strength(password: str) -> str:
    """Return the password (as given) if acceptable, else raise ValueError saying why.

    Judged prepared, as it is hashed: a decomposed `é` is one character, not two.
    """
    prepared = prepare_password(password)
    if len(prepared) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    lowered = prepared.lower()
    if lowered in common_passwords() or len(set(lowered)) < 4:
        raise ValueError("password is too common or too simple; choose another")
    return password
