"""Keyset cursors: opaque, round-trippable, refused when tampered or reused elsewhere."""

import base64
import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest

from smartnote.cursors import (
    MAX_CURSOR_LENGTH,
    Scalar,
    decode_cursor,
    encode_cursor,
    fingerprint,
)
from smartnote.errors import ValidationFailed


def _forged(*values: Any) -> str:
    """A cursor bound to "B" holding raw `["v", value]` keys: what a client can send."""
    payload = json.dumps({"k": [["v", value] for value in values], "b": "B"})
    return base64.urlsafe_b64encode(payload.encode()).decode()


def test_round_trip_keeps_types() -> None:
    values = [True, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "abc"]
    bound = fingerprint("updated_at", None)
    assert decode_cursor(encode_cursor(values, bound), bound, [bool, datetime, str]) == values
    assert decode_cursor(_forged(2**63 - 1, -(2**63)), "B", [int, int]) == [2**63 - 1, -(2**63)]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64-%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"k": "x", "b": "B"}').decode(),
        base64.urlsafe_b64encode(b'{"k": [["v", {"$gt": 1}]], "b": "B"}').decode(),
        base64.urlsafe_b64encode(b'{"k": [["d", "yesterday"]], "b": "B"}').decode(),
        base64.urlsafe_b64encode(b'{"k": [["d", "2026-01-01T00:00:00"]], "b": "B"}').decode(),
        base64.urlsafe_b64encode(b'{"k": [["d", "9999-12-31T23:59:59-14:00"]], "b": "B"}').decode(),
        "x" * 2000,
    ],
)
def test_malformed_cursors_are_validation_errors(cursor: str) -> None:
    for kind in (str, datetime):
        with pytest.raises(ValidationFailed) as caught:
            decode_cursor(cursor, "B", [kind])
        assert caught.value.details[0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        # Beyond MongoDB's int64: PyMongo's OverflowError was a 500.
        (10**30, int),
        (2**63, int),
        (-(2**63) - 1, int),
        # Text BSON cannot hold (not UTF-8): PyMongo's UnicodeEncodeError was a 500.
        ("\ud800", str),
        ("a\udfffb", str),
        # Anything but exactly what the sort key holds.
        (1, bool),
        (True, int),
        (None, str),
        (None, bool),
        (10**30, bool),
        ("2026-01-01T00:00:00+00:00", datetime),
        (1.5, int),
        ([], str),
    ],
)
def test_cursor_values_must_be_what_the_sort_key_holds(value: object, kind: type[Scalar]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(_forged(value), "B", [kind])
    assert caught.value.details[0]["loc"] == ["query", "cursor"]


def test_a_date_is_no_text_key() -> None:
    cursor = encode_cursor([datetime(2026, 1, 1, tzinfo=UTC)], "B")
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, "B", [str])


def test_cursor_of_another_query_is_refused() -> None:
    cursor = encode_cursor(["a"], fingerprint("title", "q1"))
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, fingerprint("title", "q2"), [str])


def test_cursor_with_wrong_arity_is_refused() -> None:
    cursor = encode_cursor(["a", "b"], "B")
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, "B", [str, str, str])


def test_the_longest_title_cursor_is_within_the_limit() -> None:
    """The title sort's cursor holds the casefolded, composed title (200 characters, each at
    most 12 bytes of the cursor's JSON: "ῷ" -> "ῶι", U+1D160 -> three 4-byte characters,
    U+0001 -> "\\u0001") and the note id: it must fit the limit the route and
    `decode_cursor` enforce, or the list cannot be paged past that note."""
    for widest in ("\u1ff7", "\U0001f600", "\u0416", "\U0001d160", "\u0001"):
        title_key = unicodedata.normalize("NFC", (widest * 200).casefold())
        cursor = encode_cursor([title_key, "f" * 24], fingerprint("title", "q", ["tag"]))
        assert len(cursor) <= MAX_CURSOR_LENGTH
        assert decode_cursor(cursor, fingerprint("title", "q", ["tag"]), [str, str]) == [
            title_key,
            "f" * 24,
        ]
