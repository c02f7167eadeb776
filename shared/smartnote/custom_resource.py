"""CloudFormation custom resources: run an action, then PUT the outcome to the ResponseURL.

CloudFormation waits (up to an hour) for that PUT, so every path ends in one, including
failures; a Delete that fails would block deleting the stack, so actions usually ignore it.
A function killed by its timeout sends nothing: an action gets a time budget, what Lambda
leaves it minus the time to answer, and must give up within it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from smartnote.invocation import Invocation

logger = logging.getLogger("smartnote.custom_resource")

# action(request type, resource properties, time budget in seconds or None: unbounded)
Action = Callable[[str, Mapping[str, Any], float | None], Mapping[str, str]]
REASON_LIMIT = 300  # CloudFormation shows the reason in the console; keep it short
RESPONSE_TIMEOUT_SECONDS = 30
# Kept from the action's budget to answer: the PUT, and the action's own way out.
RESPONSE_MARGIN_SECONDS = RESPONSE_TIMEOUT_SECONDS + 5.0


def send_response(
    event: Mapping[str, Any],
    status: str,
    data: Mapping[str, str] | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """PUT the custom resource response (SUCCESS/FAILED) to the event's pre-signed URL."""
    body = {
        "Status": status,
        "Reason": reason[:REASON_LIMIT] or status,
        # Stable across updates: a new id would make CloudFormation delete the old resource.
        "PhysicalResourceId": event.get("PhysicalResourceId") or event["LogicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": dict(data or {}),
    }
    request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's pre-signed S3 URL
        event["ResponseURL"],
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": ""},  # the pre-signed URL is signed without a content type
    )
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as response:  # noqa: S310
        response.read()
    return body


def time_budget(context: Any) -> float | None:
    """Seconds an action may take and still answer before Lambda stops the invocation (at
    least 1); None without a deadline."""
    left = Invocation.of(context).time_left()
    if left == timedelta.max:
        return None
    return max(1.0, left.total_seconds() - RESPONSE_MARGIN_SECONDS)


def custom_resource_handler(action: Action) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """A Lambda handler running `action(request_type, properties, budget)` for each request."""

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        request_type = str(event["RequestType"])
        budget = time_budget(context)
        try:
            data = action(request_type, event.get("ResourceProperties") or {}, budget)
        except Exception as exc:
            logger.exception("custom resource %s failed", request_type)
            # The type and message, never a traceback (it may quote connection strings).
            return send_response(event, "FAILED", reason=f"{type(exc).__name__}: {exc}")
        return send_response(event, "SUCCESS", data)

    return handler
