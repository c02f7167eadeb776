"""Keyset cursors: opaque, round-trippable, refused when tampered or reused elsewhere."""

import base64
from datetime import UTC, datetime

import pytest

from smartnote.cursors import decode_cursor, encode_cursor, fingerprint
from smartnote.errors import ValidationFailed


def test_round_trip_keeps_types() -> None:
    values = [True, datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "abc"]
    bound = fingerprint("updated_at", None)
    assert decode_cursor(encode_cursor(values, bound), bound, 3) == values


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
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor, "B", 1)
    assert caught.value.details[0]["loc"] == ["query", "cursor"]


def test_cursor_of_another_query_is_refused() -> None:
    cursor = encode_cursor(["a"], fingerprint("title", "q1"))
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, fingerprint("title", "q2"), 1)


def test_cursor_with_wrong_arity_is_refused() -> None:
    cursor = encode_cursor(["a", "b"], "B")
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, "B", 3)
