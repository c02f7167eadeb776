"""What makes a password acceptable: long enough and not a common one."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

MIN_PASSWORD_LENGTH = 10
# No password we accept is longer: argon2 hashes anything, this caps the work per request.
MAX_PASSWORD_LENGTH = 1024


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("smartnote.data").joinpath("common-passwords.txt").read_text("utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_password_strength(password: str) -> str:
    """Return the password if acceptable, else raise ValueError saying why."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) < 4:
        raise ValueError("password is too common or too simple; choose another")
    return password
