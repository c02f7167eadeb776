"""Events a function may be invoked with that are not of its kind (tests/events/ and AWS's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import EVENTS

# What Lambda's on-failure destination sends; replaying it whole instead of its
# requestPayload is an easy mistake (docs/operations.md).
FAILURE_RECORD = {
    "version": "1.0",
    "timestamp": "2026-03-08T09:00:05.000Z",
    "requestContext": {"requestId": "r-1", "condition": "RetriesExhausted"},
    "requestPayload": {"Records": []},
    "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
    "responsePayload": {"errorMessage": "boom"},
}


def event_file(name: str) -> dict[str, Any]:
    """The event of tests/events/<name>.json."""
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def eventbridge(source: str, detail_type: str) -> dict[str, Any]:
    """An EventBridge event of a rule matching `source` and `detail_type` (not a schedule)."""
    return {**event_file("reminders"), "source": source, "detail-type": detail_type}


# Events of kinds no function takes, each built afresh (handlers may change them).
FOREIGN_EVENTS: dict[str, Callable[[], Any]] = {
    "console-template": lambda: {"key1": "value1", "key2": "value2", "key3": "value3"},
    "eventbridge-s3": lambda: eventbridge("aws.s3", "Object Created"),
    "eventbridge-ec2": lambda: eventbridge("aws.ec2", "EC2 Instance State-change Notification"),
    "failure-record": lambda: json.loads(json.dumps(FAILURE_RECORD)),
    "array": lambda: [1, 2],
    "string": lambda: "ping",
}
