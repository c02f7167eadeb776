"""Reminder emails: local times, escaping, snippets."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from smartnote.email import local_time, reminder_email, ses_address, snippet


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("ada@example.com", "ada@example.com"),
        ("ada@exämple.com", "ada@xn--exmple-cua.com"),  # the domain in Punycode
        ("ada@ÉXAMPLE.com", "ada@xn--xample-9ua.com"),  # UTS 46 maps case first
        ("jürgen@example.com", None),  # no SMTPUTF8 in SES: a non-ASCII local part
        ("no-at-sign", None),
        ("ada@", None),
        ("ada@bad..domain", None),
    ],
)
def test_ses_address_is_ascii_or_none(address: str, expected: str | None) -> None:
    assert ses_address(address) == expected


def test_local_time_names_the_zone_abbreviation() -> None:
    moment = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert local_time(moment, ZoneInfo("Europe/Paris")) == "Wednesday 1 July 2026, 09:00 CEST"
    assert local_time(moment, ZoneInfo("Asia/Tokyo")) == "Wednesday 1 July 2026, 16:00 JST"


def test_snippet_is_one_line_and_cut_at_a_word() -> None:
    assert snippet("a\n\n b  c") == "a b c"
    cut = snippet("word " * 100, length=22)
    assert cut == "word word word word…"


def test_reminder_email_parts() -> None:
    email = reminder_email(
        to="ada@example.com",
        title="  Call\nmum <3 ",
        content="Ask about <the> garden",
        note_url="https://app.example.com/notes/abc?x=1&y=2",
        occurrence=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        zone=ZoneInfo("Europe/Paris"),
    )
    assert email.subject == "Reminder: Call mum <3"  # one line, as typed
    assert "Due Monday 5 January 2026, 09:00 CET (Europe/Paris)" in email.text
    assert "Ask about <the> garden" in email.text
    assert "https://app.example.com/notes/abc?x=1&y=2" in email.text
    assert "<h1>Call mum &lt;3</h1>" in email.html
    assert "Ask about &lt;the&gt; garden" in email.html
    assert 'href="https://app.example.com/notes/abc?x=1&amp;y=2"' in email.html


def test_untitled_note() -> None:
    email = reminder_email(
        to="a@example.com",
        title="",
        content="",
        note_url="u",
        occurrence=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        zone=ZoneInfo("UTC"),
    )
    assert email.subject == "Reminder: (untitled note)"


def test_the_email_carries_no_control_or_bidi_character_of_the_note() -> None:
    """Content may hold any character (NUL, ESC, a line separator, a bidi override); so may a
    title stored before the one-line rule. Mail readers show them as garbage or reorder the
    subject with them, and SES may refuse the email for its recipient (InvalidParameterValue,
    which the job reads as an address it can never send to). A line break or tab between
    words is a space."""
    email = reminder_email(
        to="ada@example.com",
        title="Pay\x00 rent\u202e",
        content="first\u2028second\x1b[31m red\x00 \x85end",
        note_url="https://app.example.com/notes/abc",
        occurrence=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        zone=ZoneInfo("UTC"),
    )
    forbidden = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
    for part in (email.subject, email.text, email.html):
        assert forbidden.search(part) is None, part
    assert email.subject == "Reminder: Pay rent"
    assert "first second[31m red end" in email.text
