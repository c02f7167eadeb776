"""The emails the local stack "sent": read from moto's SES store, for `GET /_local/emails`.

moto keeps each `SendEmail` message (subject, the HTML body when there is one, recipients)
but no time, so the embedded moto server stamps each message with `sent_at` as it stores it
(`stamp_sent_times`). Only the local stack does any of this; nothing runs on AWS.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

_BLOCKS = {"p", "div", "br", "h1", "h2", "h3", "li", "tr", "title"}
_stamp_lock = threading.Lock()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(body: str) -> str:
    """Readable text of an HTML body (what a mail client shows, roughly)."""
    if "<" not in body:
        return body
    parser = _TextExtractor()
    parser.feed(body)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def stamp_sent_times() -> None:
    """Make moto's SES backend record when each message was sent (idempotent)."""
    from moto.ses.models import SESBackend

    with _stamp_lock:
        if getattr(SESBackend.send_email, "_smartnote_stamped", False):
            return
        original = SESBackend.send_email

        def send_email(self: Any, *args: Any, **kwargs: Any) -> Any:
            message = original(self, *args, **kwargs)
            message.sent_at = datetime.now(UTC).isoformat(timespec="milliseconds")  # type: ignore[attr-defined]
            return message

        send_email._smartnote_stamped = True  # type: ignore[attr-defined]
        SESBackend.send_email = send_email  # type: ignore[method-assign]


def sent_emails(aws_endpoint_url: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every email moto's SES accepted: recipient(s), subject, text, sent_at; oldest first."""
    url = aws_endpoint_url.rstrip("/") + "/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our endpoint
        data = json.loads(response.read())
    messages = data.get("ses", {}).get("Message", [])
    emails = []
    for message in messages:
        destinations = message.get("destinations") or {}
        recipients = [
            address
            for key in ("ToAddresses", "CcAddresses", "BccAddresses")
            for address in destinations.get(key) or []
        ]
        emails.append(
            {
                "id": message.get("id"),
                "recipient": ", ".join(recipients),
                "sender": message.get("source"),
                "subject": message.get("subject"),
                "text": html_to_text(message.get("body") or ""),
                "sent_at": message.get("sent_at"),
            }
        )
    return emails
