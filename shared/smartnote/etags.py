"""ETags of versioned resources: `"<version>"`, and the If-Match / If-None-Match rules of
RFC 9110 §13.1.1-2."""

from __future__ import annotations

import re
from collections.abc import Callable

# What If-Match asks of the current version of a resource that exists.
Precondition = Callable[[int], bool]

# One element of an entity-tag list: `[W/]"opaque"`, or an empty element (RFC 9110 §5.6.1).
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([^"]*)")?[ \t]*(?:,|\Z)')


def etag(version: int) -> str:
    return f'"{version}"'


def _entity_tags(header: str) -> list[tuple[bool, str]]:
    """(weak, opaque tag) of each listed entity-tag; none when the list is malformed."""
    tags = []
    position = 0
    while position < len(header):
        element = _ELEMENT.match(header, position)
        if element is None:
            return []
        if element.group(2) is not None:
            tags.append((element.group(1) is not None, element.group(2)))
        position = element.end()
    return tags


def precondition(if_match: str | None, if_none_match: str | None = None) -> Precondition | None:
    """The condition a write's If-Match and If-None-Match set (None: none).

    If-Match: absent or `*` (which any existing resource meets) sets none; else strong
    comparison, true when any listed strong entity-tag is the current one (a weak or
    malformed tag never matches). If-None-Match: false when it is `*` or lists the current
    one (weak comparison), for a write as for a read (RFC 9110 §13.1.2: a 412 instead of the
    304 of a GET). Evaluate it only once the resource is known to exist, so that a missing
    one answers 404 whatever the headers say."""
    match: Precondition | None = None
    if if_match is not None and if_match.strip() != "*":
        strong = {tag for weak, tag in _entity_tags(if_match) if not weak}
        match = lambda version: str(version) in strong  # noqa: E731
    if if_none_match is None:
        return match
    unless = if_none_match

    def both(version: int) -> bool:
        return (match is None or match(version)) and not matches_none(unless, version)

    return both


def matches_none(if_none_match: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (answer 304); weak comparison."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag == str(version) for _, tag in _entity_tags(if_none_match))
