"""Reminder emails: what they say (plain text + HTML, times in the owner's zone) and sending
them through SES's v1 API (works the same on AWS, LocalStack and moto)."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from smartnote.models.text import as_one_line

SNIPPET_LENGTH = 200
_UNTITLED = "(untitled note)"


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


class Undeliverable(Exception):
    """The provider can never send this email (its address); retrying would not help."""


class QuotaSpent(Exception):
    """SES sends nothing more until the account's 24-hour sending quota renews: every other
    email would be refused alike."""


class Refused(Exception):
    """The provider refused this email for its recipient (SES's sandbox: an address not
    verified), and would again until that changes: worth a few tries, not one every run."""


class Mailer(Protocol):
    def send(self, email: Email) -> str:
        """Send `email`; returns the provider's message id, raises when it was not accepted
        (`Undeliverable` when no retry can succeed, `Refused` when one likely will not)."""
        ...


def ses_address(address: str) -> str | None:
    """`address` as SES v1 takes it: 7-bit ASCII with the domain in Punycode.

    SES supports no SMTPUTF8 (RFC 6531), so a local part (before the @) that is not ASCII
    cannot be sent to at all: None.
    """
    import idna  # noqa: PLC0415 - only the reminders function sends email

    local, _, domain = address.rpartition("@")
    if not local or not local.isascii() or not domain:
        return None
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return None


# SES's codes for "too many at once" (its sending rate is per second). A throttled email was
# refused, so sending it again cannot make a second copy: it is retried on the spot after
# these waits, as botocore would have (the client makes one attempt per call, because
# botocore's retries would also resend an email whose answer was lost).
THROTTLED = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException"})
THROTTLE_WAITS_SECONDS = (0.25, 0.75)


def _error(exc: Exception) -> tuple[str | None, str]:
    """The code and message of botocore's ClientError, read by shape so this module does not
    import botocore; its connection errors have a `response` too, None."""
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    code = error.get("Code")
    return (str(code) if code is not None else None), str(error.get("Message", ""))


class SesMailer:
    """Sends through SES `SendEmail` from a verified sender."""

    def __init__(self, ses: Any, sender: str) -> None:
        self._ses = ses
        self._sender = sender

    def send(self, email: Email) -> str:
        """Send `email` (see `Mailer.send`), once more after each wait of
        `THROTTLE_WAITS_SECONDS` while SES throttles it."""
        for wait in THROTTLE_WAITS_SECONDS:
            try:
                return self._send_once(email)
            except Exception as exc:
                if _error(exc)[0] not in THROTTLED:
                    raise
            time.sleep(wait)
        return self._send_once(email)

    def _send_once(self, email: Email) -> str:
        def part(data: str) -> dict[str, str]:
            return {"Data": data, "Charset": "UTF-8"}

        to = ses_address(email.to)
        if to is None:
            raise Undeliverable("SES cannot send to an address whose local part is not ASCII")
        try:
            response = self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [to]},
                Message={
                    "Subject": part(email.subject),
                    "Body": {"Text": part(email.text), "Html": part(email.html)},
                },
            )
        except Exception as exc:
            code, message = _error(exc)
            # The quota is refused with the code of the per-second rate (SES's "Errors related
            # to sending quotas"); not retried on the spot, it would not renew in a second.
            if code in THROTTLED and "daily message quota" in message.lower():
                raise QuotaSpent(f"SES: {message}") from exc
            # SES refuses an address with this code, and does not say which. The sender is
            # well formed (Settings checks SES_SENDER), so it is the recipient's.
            if code == "InvalidParameterValue":
                raise Undeliverable(f"SES refused the recipient: {code}") from exc
            # SES names the identities it did not verify: the sender's refusal is the
            # account's (every email fails until it is fixed, and each stays due meanwhile);
            # one naming only others is this email's (its recipient, in the sandbox).
            if code == "MessageRejected" and self._sender.lower() not in message.lower():
                raise Refused(f"SES refused the email: {message}") from exc
            raise  # throttled, unavailable, or the account's: retried by the next run
        return str(response["MessageId"])


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """`moment` on the owner's wall clock, e.g. "Monday 9 March 2026, 09:00 CET"."""
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()}"


def snippet(content: str, length: int = SNIPPET_LENGTH) -> str:
    """The start of a note's text on one line, cut at a word where possible."""
    flat = " ".join(as_one_line(content).split())
    if len(flat) <= length:
        return flat
    cut = flat[:length].rsplit(" ", 1)[0] or flat[:length]
    return cut + "…"


def reminder_email(
    *, to: str, title: str, content: str, note_url: str, occurrence: datetime, zone: ZoneInfo
) -> Email:
    """The email of one reminder of the note `title`, due at `occurrence`."""
    # One line, it is also the subject; without control or bidi characters (a title stored
    # before the one-line rule, content with any): garbage or reordered text in a mail
    # reader, and SES may refuse the email as if for its recipient (InvalidParameterValue).
    name = " ".join(as_one_line(title).split()) or _UNTITLED
    when = local_time(occurrence, zone)
    preview = snippet(content)
    text_lines = [f"Reminder: {name}", f"Due {when} ({zone.key})", ""]
    if preview:
        text_lines += [preview, ""]
    text_lines += [
        f"Open the note: {note_url}",
        "",
        "You get this email because reminder emails are on in your SmartNote settings.",
    ]
    e = html.escape
    preview_html = f"<p>{e(preview)}</p>" if preview else ""
    body = (
        "<!doctype html><html><body>"
        f"<h1>{e(name)}</h1>"
        f"<p>Due {e(when)} ({e(zone.key)})</p>"
        f"{preview_html}"
        f'<p><a href="{e(note_url, quote=True)}">Open the note</a></p>'
        "<p><small>You get this email because reminder emails are on in your SmartNote"
        " settings.</small></p>"
        "</body></html>"
    )
    return Email(to=to, subject=f"Reminder: {name}", text="\n".join(text_lines), html=body)
