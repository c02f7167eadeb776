"""What a function does with an event that is not of its kind, for every function.

Each function takes one kind of event: the API functions API Gateway REST proxy events, the
image function S3 events, the jobs EventBridge scheduled events. Anything else (a console
test, a warm-up ping, a misrouted rule, a Lambda failure record replayed whole) is named
without its values, which may hold tokens or passwords, so that a log line or an error says
what came instead.
"""

from __future__ import annotations

from typing import Any

_NAMED_FIELDS = ("source", "detail-type", "Event", "eventSource", "httpMethod", "version")
_SHOWN_KEYS = 12


class UnsupportedEvent(ValueError):
    """An event this function does not take; it says what came and what was expected."""


def describe(event: Any) -> str:
    """What `event` is, by its shape and its identifying fields only (never other values)."""
    if not isinstance(event, dict):
        return f"a JSON {_json_type(event)}, not an object"
    if not event:
        return "an empty object"
    if "requestPayload" in event and "responseContext" in event:
        return "a Lambda failure record (replay its requestPayload: docs/operations.md)"
    keys = sorted(str(key) for key in event)
    shown = ", ".join(keys[:_SHOWN_KEYS]) + (", ..." if len(keys) > _SHOWN_KEYS else "")
    fields = [
        f"{name} {value!r}"
        for name in _NAMED_FIELDS
        if isinstance(value := event.get(name), str) and len(value) <= 100
    ]
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        fields.append(f"Records[0].eventSource {records[0].get('eventSource')!r}")
    return f"an object with keys [{shown}]" + (f" ({', '.join(fields)})" if fields else "")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else type(value).__name__
