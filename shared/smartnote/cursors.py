"""Opaque keyset cursors: the sort key of the last item of a page, signed by nothing but
checked for shape and bound to the sort and filters they were made for."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from smartnote.errors import ValidationFailed

# The longest cursor this API issues, with room: the title sort's key is the title casefolded
# and composed (200 characters, at most 12 bytes each in the cursor's JSON: NFC decomposes
# U+1D160 into three 4-byte characters, JSON escapes U+0001 as 6) and the last id, base64'd:
# about 3 300 characters.
MAX_CURSOR_LENGTH = 4096
Scalar = bool | int | str | datetime
# What a BSON int64 holds: a larger int is an OverflowError in the driver.
_INT64 = range(-(2**63), 2**63)


def invalid_cursor(reason: str) -> ValidationFailed:
    """The 422 of a cursor that names no position of its listing."""
    return ValidationFailed(
        "Invalid cursor",
        details=[{"loc": ["query", "cursor"], "msg": reason, "type": "invalid_cursor"}],
    )


def _plain(value: object) -> str:
    # An instant is one instant at any offset.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)


def fingerprint(*parts: object) -> str:
    """A short digest of what a cursor belongs to (sort and filters)."""
    text = json.dumps(parts, default=_plain, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_value(value: Scalar) -> list[Any]:
    if isinstance(value, datetime):
        return ["d", value.isoformat()]
    return ["v", value]


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _decode_value(item: Any, kind: type[Scalar]) -> Scalar:
    """The value of one sort key, refused unless it is exactly what that key holds: its type
    (a bool is no int), an int64, text that is valid UTF-8 (a lone surrogate is not)."""
    if not (isinstance(item, list) and len(item) == 2 and item[0] in ("d", "v")):
        raise invalid_cursor("malformed cursor value")
    tag, raw = item
    if kind is datetime:
        if tag != "d" or not isinstance(raw, str):
            raise invalid_cursor("malformed cursor date")
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise invalid_cursor("malformed cursor date")
        return parsed.astimezone(UTC)  # OverflowError for a forged one beyond year 9999 in UTC
    if tag != "v" or type(raw) is not kind:
        raise invalid_cursor("malformed cursor value")
    if isinstance(raw, str) and not _is_utf8(raw):
        raise invalid_cursor("cursor text is not valid UTF-8")
    if kind is int and raw not in _INT64:
        raise invalid_cursor("cursor number out of range")
    return raw


def encode_cursor(values: list[Scalar], bound_to: str) -> str:
    # UTF-8, not \u escapes: a non-ASCII title costs 2-4 bytes per character, not 6-12.
    payload = json.dumps(
        {"k": [_encode_value(v) for v in values], "b": bound_to}, ensure_ascii=False
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, bound_to: str, kinds: Sequence[type[Scalar]]) -> list[Scalar]:
    """The sort-key values in `cursor`, one of each type in `kinds`; a 422 if it is malformed
    or made for another query."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid_cursor("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    # RecursionError: JSON nested deeper than the interpreter's limit (the length allows it).
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise invalid_cursor("cursor is not one this API issued") from exc
    if not isinstance(payload, dict) or payload.get("b") != bound_to:
        raise invalid_cursor("cursor belongs to another query (sort or filters changed)")
    keys = payload.get("k")
    if not isinstance(keys, list) or len(keys) != len(kinds):
        raise invalid_cursor("malformed cursor")
    try:
        return [_decode_value(item, kind) for item, kind in zip(keys, kinds, strict=True)]
    except (ValueError, OverflowError) as exc:
        raise invalid_cursor("malformed cursor") from exc
