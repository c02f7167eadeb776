"""models.attachments: limits that must hold on AWS, not only locally."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from smartnote.invocation import LAMBDA_PAYLOAD_BYTES
from smartnote.models.attachments import MAX_MULTIPART_BYTES, MULTIPART_ENVELOPE_BYTES

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
