"""CloudFormation custom resources: run an action, then PUT the outcome to the ResponseURL.

CloudFormation waits (up to an hour) for that PUT, so every path ends in one, including
failures; a Delete that fails would block deleting the stack, so actions usually ignore it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger("smartnote.custom_resource")

Action = Callable[[str, Mapping[str, Any]], Mapping[str, str]]
REASON_LIMIT = 300  # CloudFormation shows the reason in the console; keep it short


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
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
    return body


def custom_resource_handler(action: Action) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """A Lambda handler running `action(request_type, properties)` for each request."""

    def handler(event: Mapping[str, Any], _context: Any) -> dict[str, Any]:
        request_type = str(event["RequestType"])
        try:
            data = action(request_type, event.get("ResourceProperties") or {})
        except Exception as exc:
            logger.exception("custom resource %s failed", request_type)
            # The type and message, never a traceback (it may quote connection strings).
            return send_response(event, "FAILED", reason=f"{type(exc).__name__}: {exc}")
        return send_response(event, "SUCCESS", data)

    return handler
