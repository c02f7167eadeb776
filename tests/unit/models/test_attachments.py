"""models.attachments: limits that must hold on AWS, not only locally."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from smartnote.invocation import LAMBDA_PAYLOAD_BYTES
from smartnote.models.attachments import (
    MAX_MULTIPART_BYTES,
    MULTIPART_ENVELOPE_BYTES,
    EditRequest,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_the_largest_multipart_upload_fits_in_one_lambda_invocation() -> None:
    # API Gateway base64-encodes a binary body into the event, and Lambda refuses an event
    # over 6 MB (API Gateway then answers 502): at 5 MB, the old limit, no upload got through.
    event = json.loads((EVENTS / "notes-create.json").read_text())
    body = b"\x00" * (MAX_MULTIPART_BYTES + MULTIPART_ENVELOPE_BYTES)
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    event["headers"]["Content-Type"] = "multipart/form-data; boundary=" + "b" * 70
    headroom = 16 * 1024  # more headers than the sample event has (cookies, tracing)
    assert len(json.dumps(event).encode()) + headroom <= LAMBDA_PAYLOAD_BYTES


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "crop", "x": True, "y": 0, "width": 10, "height": 10},
        {"op": "crop", "x": 0, "y": 0, "width": 1e3, "height": 10},
        {"op": "crop", "x": 0, "y": 0, "width": 10.0, "height": 10},
        {"op": "crop", "x": 0, "y": "5", "width": 10, "height": 10},
        {"op": "resize", "width": True},
        {"op": "rotate", "degrees": 90.0},
        {"op": "rotate", "degrees": True},
    ],
)
def test_edit_operations_take_json_integers_only(operation: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="JSON integer"):
        EditRequest.model_validate({"operations": [operation]})


def test_edit_operations_take_json_integers() -> None:
    request = EditRequest.model_validate_json(
        '{"operations": [{"op": "crop", "x": 0, "y": 5, "width": 10, "height": 10},'
        ' {"op": "rotate", "degrees": -90}, {"op": "resize", "height": 20}]}'
    )
    assert request.model_dump()["operations"] == [
        {"op": "crop", "x": 0, "y": 5, "width": 10, "height": 10},
        {"op": "rotate", "degrees": -90},
        {"op": "resize", "width": None, "height": 20},
    ]
