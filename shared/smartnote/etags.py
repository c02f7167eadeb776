"""ETags of versioned resources: `"<version>"`, and the If-Match / If-None-Match rules."""

from __future__ import annotations

import re

from smartnote.errors import PreconditionFailed

# A version is a small ASCII integer: longer digit strings are no version of ours (and past
# 4300 digits int() refuses them, which was a 500).
_VERSION = re.compile(r'"([0-9]{1,18})"')


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match demands (None: no condition); a malformed one can never match."""
    if if_match is None or if_match.strip() == "*":
        return None
    tags = _tags(if_match)
    for tag in tags:
        if version := _VERSION.fullmatch(tag):
            return int(version.group(1))
    raise PreconditionFailed("If-Match does not name a version of this note")


def matches_none(if_none_match: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (answer 304)."""
    if if_none_match is None:
        return False
    return if_none_match.strip() == "*" or etag(version) in _tags(if_none_match)
