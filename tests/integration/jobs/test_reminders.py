"""The reminders function, fed real EventBridge events, over SecantusDB, SQL and moto SES."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ConnectionClosedError
from pydantic import ValidationError
from pymongo.collection import Collection
from sqlalchemy.exc import OperationalError

import smartnote.jobs.reminders as reminders_job
from smartnote.clock import utcnow
from smartnote.config import get_settings
from smartnote.db import mongo
from smartnote.local.containers import FunctionRuntime
from smartnote.local.services import AwsService
from smartnote.local.template import Template
from tests.conftest import ApiUser, assert_error, register_and_login
from tests.integration.jobs.conftest import (
    ScheduledFunction,
    emails_to,
    scheduled_event,
    ses_refusing,
)
from tests.utils.aws_faults import aws_answer_lost, aws_answered, aws_answering, aws_silent
from tests.utils.emf import emf_records, metric_names, record_of
from tests.utils.notes_api import put_back

Notes = Collection[dict[str, Any]]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def create_note(
    api: httpx.Client, user: ApiUser, at: datetime, repeat: str = "none", **fields: Any
) -> str:
    body = {"title": "Water the plants", "content": "The ficus & the fern", **fields}
    body["reminder"] = {"at": at.isoformat(), "repeat": repeat}
    response = api.post("/notes", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    note_id: str = response.json()["id"]
    return note_id


def reminder_of(api: httpx.Client, user: ApiUser, note_id: str) -> dict[str, Any]:
    response = api.get(f"/notes/{note_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    reminder: dict[str, Any] = response.json()["reminder"]
    return reminder


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def paris_user(api: httpx.Client) -> ApiUser:
    return register_and_login(api, timezone="Europe/Paris")


def test_a_due_reminder_is_emailed_once_and_a_later_one_waits(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    due = create_note(api, user, utc(2030, 1, 1, 9, 0), title="Due one")
    later = create_note(api, user, utc(2030, 1, 1, 9, 10), title="Later one")
    reminders.clock.set(utc(2030, 1, 1, 9, 5))

    result = reminders.run()

    assert result["scheduled_time"] == "2030-01-01T09:05:00+00:00"
    emails = emails_to(aws, user.email)
    assert [e["subject"] for e in emails] == ["Reminder: Due one"]
    email = emails[0]
    assert "Due Tuesday 1 January 2030, 09:00 UTC (UTC)" in email["text"]
    assert "The ficus & the fern" in email["text"]
    assert f"/notes/{due}" in email["text"] or "Open the note" in email["text"]
    assert email["sent_at"]
    assert reminder_of(api, user, due)["last_sent_at"] is not None
    assert reminder_of(api, user, later)["last_sent_at"] is None

    reminders.run()  # the same time again: nothing new
    assert len(emails_to(aws, user.email)) == 1
    reminders.clock.advance(minutes=5)
    reminders.run()
    assert [e["subject"] for e in emails_to(aws, user.email)] == [
        "Reminder: Due one",
        "Reminder: Later one",
    ]


def test_sending_bumps_the_version_so_stale_writes_are_refused(
    api: httpx.Client, user: ApiUser, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2030, 2, 1, 9, 0))
    before = api.get(f"/notes/{note_id}", headers=user.headers)
    reminders.clock.set(utc(2030, 2, 1, 9, 1))
    reminders.run()
    after = api.get(f"/notes/{note_id}", headers=user.headers)
    assert after.json()["version"] == before.json()["version"] + 1
    stale = api.patch(
        f"/notes/{note_id}",
        json={"title": "x"},
        headers={**user.headers, "If-Match": before.headers["etag"]},
    )
    assert stale.status_code == 412


def test_owners_with_emails_off_get_nothing_and_the_reminder_moves_on(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    off = api.patch("/users/me", json={"email_reminders": False}, headers=user.headers)
    assert off.status_code == 200
    once = create_note(api, user, utc(2030, 3, 1, 9, 0))
    daily = create_note(api, user, utc(2030, 3, 1, 9, 0), repeat="daily")
    reminders.clock.set(utc(2030, 3, 1, 9, 1))
    reminders.run()
    assert emails_to(aws, user.email) == []
    assert reminder_of(api, user, once)["last_sent_at"] is None
    assert parse(reminder_of(api, user, daily)["at"]) == utc(2030, 3, 2, 9, 0)

    # Turning emails back on sends the next occurrence, never a backlog of skipped ones.
    api.patch("/users/me", json={"email_reminders": True}, headers=user.headers)
    reminders.clock.set(utc(2030, 3, 2, 9, 1))
    reminders.run()
    assert len(emails_to(aws, user.email)) == 1


def test_daily_reminder_keeps_local_time_across_dst(
    api: httpx.Client, paris_user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    # 09:00 in Paris on the Saturday before the clocks go forward (CET, UTC+1).
    note_id = create_note(api, paris_user, utc(2031, 3, 29, 8, 0), repeat="daily")
    reminders.clock.set(utc(2031, 3, 29, 8, 1))
    reminders.run()
    # Sunday 09:00 is now CEST (UTC+2): 07:00 UTC.
    assert parse(reminder_of(api, paris_user, note_id)["at"]) == utc(2031, 3, 30, 7, 0)
    reminders.clock.set(utc(2031, 3, 30, 7, 1))
    reminders.run()
    assert parse(reminder_of(api, paris_user, note_id)["at"]) == utc(2031, 3, 31, 7, 0)
    texts = [e["text"] for e in emails_to(aws, paris_user.email)]
    assert "Due Saturday 29 March 2031, 09:00 CET (Europe/Paris)" in texts[0]
    assert "Due Sunday 30 March 2031, 09:00 CEST (Europe/Paris)" in texts[1]


def test_a_daily_reminder_is_emailed_once_a_day_after_its_owner_changes_time_zone(
    api: httpx.Client, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """A daily 09:00 set in a New York winter (14:00 UTC) runs at 13:00 UTC in summer (EDT).
    In Phoenix (MST all year) the same anchor is 07:00 = 14:00 UTC: once the 13:00 UTC
    occurrence went out, the next one is the next local day's, not the same day's an hour
    later."""
    owner = register_and_login(api, timezone="America/New_York")
    note_id = create_note(api, owner, utc(2031, 1, 6, 14, 0), repeat="daily")
    reminders.clock.set(utc(2031, 7, 1, 13, 30))
    reminders.run()  # one catch-up email, then on schedule at 09:00 EDT
    assert parse(reminder_of(api, owner, note_id)["at"]) == utc(2031, 7, 2, 13, 0)
    moved = api.patch("/users/me", json={"timezone": "America/Phoenix"}, headers=owner.headers)
    assert moved.status_code == 200, moved.text

    reminders.clock.set(utc(2031, 7, 2, 13, 1))
    reminders.run()
    assert parse(reminder_of(api, owner, note_id)["at"]) == utc(2031, 7, 3, 14, 0)
    reminders.clock.set(utc(2031, 7, 2, 14, 1))
    reminders.run()
    reminders.clock.set(utc(2031, 7, 3, 14, 1))
    reminders.run()
    dues = [email["text"].splitlines()[1] for email in emails_to(aws, owner.email)]
    assert dues == [
        "Due Tuesday 1 July 2031, 09:00 EDT (America/New_York)",  # the latest one missed
        "Due Wednesday 2 July 2031, 06:00 MST (America/Phoenix)",
        "Due Thursday 3 July 2031, 07:00 MST (America/Phoenix)",
    ]


@pytest.mark.parametrize(
    ("repeat", "first", "expected"),
    [
        ("weekly", utc(2032, 1, 5, 10, 0), [utc(2032, 1, 12, 10, 0), utc(2032, 1, 19, 10, 0)]),
        # Month-end: the 31st clamps to 29 February (2032 is a leap year), then back to 31.
        ("monthly", utc(2032, 1, 31, 10, 0), [utc(2032, 2, 29, 10, 0), utc(2032, 3, 31, 10, 0)]),
    ],
)
def test_repeats_advance_to_the_next_occurrence(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    repeat: str,
    first: datetime,
    expected: list[datetime],
) -> None:
    note_id = create_note(api, user, first, repeat=repeat)
    at = first
    for following in expected:
        reminders.clock.set(at + timedelta(minutes=1))
        reminders.run()
        at = parse(reminder_of(api, user, note_id)["at"])
        assert at == following
    assert len(emails_to(aws, user.email)) == len(expected)


def test_after_downtime_one_email_then_back_on_schedule(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2033, 5, 1, 10, 0), repeat="daily")
    reminders.clock.set(utc(2033, 5, 10, 12, 0))  # nine days late
    reminders.run()
    assert len(emails_to(aws, user.email)) == 1
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2033, 5, 11, 10, 0)


@pytest.mark.parametrize(
    ("repeat", "first", "run_at", "due", "following"),
    [
        (
            "daily",
            utc(2033, 5, 1, 10, 0),
            utc(2033, 5, 10, 12, 0),
            "Due Tuesday 10 May 2033, 12:00 CEST (Europe/Paris)",
            utc(2033, 5, 11, 10, 0),
        ),
        (
            "monthly",  # missed 31 January, 28 February and 31 March, across the DST change
            utc(2034, 1, 31, 8, 0),
            utc(2034, 4, 2, 12, 0),
            "Due Friday 31 March 2034, 09:00 CEST (Europe/Paris)",
            utc(2034, 4, 30, 7, 0),
        ),
    ],
)
def test_after_downtime_the_one_email_is_for_the_latest_missed_occurrence(
    api: httpx.Client,
    paris_user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    repeat: str,
    first: datetime,
    run_at: datetime,
    due: str,
    following: datetime,
) -> None:
    """The email of a catch-up stands for every occurrence missed: it gives the latest one's
    time, the one the owner expects now, not the first missed one's (days or months ago)."""
    note_id = create_note(api, paris_user, first, repeat=repeat)
    reminders.clock.set(run_at)
    reminders.run()
    (email,) = emails_to(aws, paris_user.email)
    assert email["text"].splitlines()[1] == due
    assert parse(reminder_of(api, paris_user, note_id)["at"]) == following


def test_trashed_notes_and_cleared_reminders_send_nothing(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    trashed = create_note(api, user, utc(2030, 4, 1, 9, 0))
    cleared = create_note(api, user, utc(2030, 4, 1, 9, 0))
    assert api.delete(f"/notes/{trashed}", headers=user.headers).status_code in (200, 204)
    api.patch(f"/notes/{cleared}", json={"reminder": None}, headers=user.headers)
    reminders.clock.set(utc(2030, 4, 1, 9, 1))
    reminders.run()
    assert emails_to(aws, user.email) == []


@contextlib.contextmanager
def setting(name: str, value: str) -> Iterator[None]:
    """The functions' setting `name` (an environment variable) is `value` for the block, and
    what it was after (unset, or the value the environment gave it)."""
    before = os.environ.get(name)
    os.environ[name] = value
    get_settings.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name)
        else:
            os.environ[name] = before
        get_settings.cache_clear()


def ses_sender(address: str) -> contextlib.AbstractContextManager[None]:
    """The reminders function sends from `address` (its SES_SENDER) for the block."""
    return setting("SES_SENDER", address)


def test_a_failed_send_is_retried_by_the_next_run(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2030, 5, 1, 9, 0))
    reminders.clock.set(utc(2030, 5, 1, 9, 1))
    # SES refuses to send: the sender is not a verified identity.
    with ses_sender("nobody@unverified.example"), pytest.raises(RuntimeError, match="not sent"):
        reminders.run()  # Lambda sees the failure (retries, alarm); the reminder stays due
    assert emails_to(aws, user.email) == []
    assert reminder_of(api, user, note_id)["last_sent_at"] is None

    reminders.run()  # the same instant: a released send is left for the next run
    assert emails_to(aws, user.email) == []
    reminders.clock.advance(minutes=5)
    reminders.run()
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_batch_whose_owners_cannot_be_read_goes_to_the_next_run(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQL failing when the run reads the owners of its batch: the run fails (Lambda retries
    it a minute later, RemindersErrorsAlarm), and the batch it claimed is released for that
    retry or the next run, not held for the lease (10 minutes) while SQL is back."""
    note_id = create_note(api, user, utc(2030, 5, 2, 9, 0))
    reminders.clock.set(utc(2030, 5, 2, 9, 1))
    unreachable = setting("DATABASE_URL", "sqlite:////nonexistent/smartnote.db")
    with unreachable, pytest.raises(OperationalError, match="unable to open"):
        reminders.run()
    assert emails_to(aws, user.email) == []
    told = [r for r in caplog.records if r.getMessage().startswith("reminders: {")]
    assert len(told) == 1 and told[0].counts["failed"] == told[0].counts["claimed"] >= 1
    reminders.clock.advance(minutes=1)  # Lambda's retry, with SQL back
    assert reminders.run()["sent"] == 1
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_malformed_sender_fails_the_run_and_leaves_the_reminders_due(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """SES answers a Source without its domain with `InvalidParameterValue`, the error it
    gives for a recipient it can never send to. Taken for that, every due reminder would be
    consumed without an email by a run that succeeds (no retry, no RemindersErrorsAlarm)."""
    note_id = create_note(api, user, utc(2030, 12, 1, 9, 0), title="Renew passport")
    reminders.clock.set(utc(2030, 12, 1, 9, 1))
    aws.client("ses").verify_email_identity(EmailAddress="noreply")  # only its form is wrong
    with ses_sender("noreply"), pytest.raises(ValidationError, match="SES_SENDER"):
        reminders.run()
    assert emails_to(aws, user.email) == []
    assert reminder_of(api, user, note_id)["last_sent_at"] is None

    reminders.clock.advance(minutes=5)
    reminders.run()  # the sender fixed: the reminder goes out
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Renew passport"]
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_lease_too_short_to_send_in_fails_the_run_and_leaves_the_reminders_due(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """A run stops sending when its lease has less than `SAFETY` (60 s) left: with a lease
    of 60 s, each run would claim the due reminders and release them all, unsent, and
    succeed (no retry, no alarm), run after run."""
    note_id = create_note(api, user, utc(2030, 12, 2, 9, 0), title="Call the bank")
    reminders.clock.set(utc(2030, 12, 2, 9, 1))
    short = str(int(reminders_job.SAFETY.total_seconds()))
    with setting("REMINDER_LEASE_SECONDS", short), pytest.raises(ValidationError, match="lease"):
        reminders.run()
    assert emails_to(aws, user.email) == []
    assert reminder_of(api, user, note_id)["last_sent_at"] is None

    reminders.clock.advance(minutes=5)
    reminders.run()  # the setting fixed: the reminder goes out
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Call the bank"]


def test_a_reminder_that_cannot_be_handled_does_not_hold_up_the_others(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    west = register_and_login(api, timezone="America/New_York")
    broken = create_note(api, west, utc(2030, 5, 1, 8, 0))
    # As the API stored it before client times were bounded: year 1, which New York's clock
    # cannot show (OverflowError); being the earliest, every run claims it first.
    year_one = utc(1, 1, 1)
    notes_collection.update_one(
        {"_id": broken}, {"$set": {"reminder.at": year_one, "reminder_due_at": year_one}}
    )
    fine = create_note(api, user, utc(2030, 5, 1, 9, 0))
    reminders.clock.set(utc(2030, 5, 1, 9, 1))
    try:
        with pytest.raises(RuntimeError, match="not sent"):
            reminders.run()  # Lambda and the alarm see it ...
        assert len(emails_to(aws, user.email)) == 1  # ... and the others still went out
        assert reminder_of(api, user, fine)["last_sent_at"] is not None
        kept = notes_collection.find_one({"_id": broken})
        assert kept is not None and kept["reminder_due_at"] == year_one  # released, not lost
        assert kept.get("reminder_claim") is None
    finally:
        notes_collection.delete_one({"_id": broken})  # due in every later run of this database


def test_an_address_ses_cannot_take_moves_on_without_failing_the_run(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """SES has no SMTPUTF8: a non-ASCII local part can never be sent to. Retrying it would fail
    every run forever; it is skipped like emails-off, and an IDN domain goes as Punycode."""
    tag = os.urandom(4).hex()
    unicode_local = register_and_login(api, email=f"jürgen-{tag}@example.com")
    unicode_domain = register_and_login(api, email=f"ada-{tag}@exämple.com")
    daily = create_note(api, unicode_local, utc(2030, 7, 1, 9, 0), repeat="daily")
    idn = create_note(api, unicode_domain, utc(2030, 7, 1, 9, 0))
    fine = create_note(api, user, utc(2030, 7, 1, 9, 0))
    reminders.clock.set(utc(2030, 7, 1, 9, 1))
    counts = reminders.run()  # no exception: nothing is left to retry
    assert counts["undeliverable"] == 1
    assert parse(reminder_of(api, unicode_local, daily)["at"]) == utc(2030, 7, 2, 9, 0)
    assert reminder_of(api, unicode_local, daily)["last_sent_at"] is None
    assert len(emails_to(aws, f"ada-{tag}@xn--exmple-cua.com")) == 1
    assert reminder_of(api, unicode_domain, idn)["last_sent_at"] is not None
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, fine)["last_sent_at"] is not None


def send_attempts(attempts: int) -> contextlib.AbstractContextManager[None]:
    """The reminders function gives up an email SES refused after `attempts` runs."""
    return setting("REMINDER_SEND_ATTEMPTS", str(attempts))


def not_verified(address: str) -> str:
    """SES's answer to an identity its sandbox has not verified."""
    return (
        "Email address is not verified. The following identities failed the check in region"
        f" US-EAST-1: {address}"
    )


def test_a_recipient_ses_refuses_is_given_up_after_a_few_runs_and_the_others_go_out(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """SES refuses an unverified recipient (its sandbox) with MessageRejected, run after run.
    Retried for ever, every run would fail (Lambda retries, RemindersErrorsAlarm on for good,
    hiding any other failure) and the reminder would never move on."""
    refused = register_and_login(api)
    once = create_note(api, refused, utc(2037, 3, 1, 9, 0), title="Once")
    daily = create_note(api, refused, utc(2037, 3, 1, 9, 0), repeat="daily", title="Daily")
    fine = create_note(api, user, utc(2037, 3, 1, 9, 0), title="Fine")
    reminders.clock.set(utc(2037, 3, 1, 9, 1))
    with (
        send_attempts(3),
        ses_refusing(refused.email, "MessageRejected", not_verified(refused.email)),
    ):
        for _ in range(2):  # refused twice: released, and the run fails (retries, alarm)
            with pytest.raises(RuntimeError, match="not sent"):
                reminders.run()
            assert reminder_of(api, refused, once)["last_sent_at"] is None
            assert parse(reminder_of(api, refused, daily)["at"]) == utc(2037, 3, 1, 9, 0)
            reminders.clock.advance(minutes=5)
        counts = reminders.run()  # the third refusal: given up, the run succeeds
    assert counts["refused"] == 2 and counts["failed"] == 0
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Fine"]
    assert reminder_of(api, user, fine)["last_sent_at"] is not None
    assert emails_to(aws, refused.email) == []
    assert reminder_of(api, refused, once)["last_sent_at"] is None
    assert parse(reminder_of(api, refused, daily)["at"]) == utc(2037, 3, 2, 9, 0)

    reminders.clock.set(utc(2037, 3, 2, 9, 1))
    reminders.run()  # the next occurrence is tried afresh (the address verified meanwhile)
    assert [e["subject"] for e in emails_to(aws, refused.email)] == ["Reminder: Daily"]


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("ServiceUnavailable", 503)])
def test_a_send_ses_cannot_take_now_is_retried_until_it_goes_out(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    code: str,
    status: int,
) -> None:
    note_id = create_note(api, user, utc(2037, 4, 1, 9, 0), title="Later")
    reminders.clock.set(utc(2037, 4, 1, 9, 1))
    with send_attempts(2), ses_refusing(user.email, code, "Try again later", status):
        for _ in range(4):  # more runs than refusals are tried: not one of them counts
            with pytest.raises(RuntimeError, match="not sent"):
                reminders.run()
            reminders.clock.advance(minutes=5)
    reminders.run()
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Later"]
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_an_email_ses_throttles_once_goes_out_in_the_same_run(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """SES refuses a send over its per-second rate (`Throttling`): the email was not taken,
    so it is sent again on the spot, as botocore's retries did before the client made one
    attempt per call; the run neither fails nor waits five minutes for the next."""
    note_id = create_note(api, user, utc(2037, 4, 2, 9, 0), title="Soon")
    reminders.clock.set(utc(2037, 4, 2, 9, 1))
    refusals = iter([True])

    def throttle_once(params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if not next(refusals, False):
            return None
        error = {
            "Code": "Throttling",
            "Message": "Maximum sending rate exceeded.",
            "Type": "Sender",
        }
        return 400, {"Error": error}

    with aws_answering("ses", "SendEmail", throttle_once, reminders_job.SEND_TIMEOUT_SECONDS):
        reminders.run()
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Soon"]
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_spent_daily_quota_stops_the_run_at_its_first_email_and_keeps_every_reminder_due(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """SES says "Daily message quota exceeded." with the code of its per-second throttling.
    No email of the run can go out before the quota renews: retried on the spot and then
    tried one by one, each run spent a second an email up to its time limit, every five
    minutes. The run fails (the alarm) at the first, and every reminder stays due."""
    notes = [create_note(api, user, utc(2037, 4, 3, 9, 0), title=f"Quota {n}") for n in range(3)]
    reminders.clock.set(utc(2037, 4, 3, 9, 1))
    calls: list[dict[str, Any]] = []

    def quota_spent(params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        calls.append(params)
        error = {"Code": "Throttling", "Message": "Daily message quota exceeded.", "Type": "Sender"}
        return 400, {"Error": error}

    with (
        aws_answering("ses", "SendEmail", quota_spent, reminders_job.SEND_TIMEOUT_SECONDS),
        pytest.raises(RuntimeError, match="not sent"),
    ):
        reminders.run()
    assert len(calls) == 1
    assert all(reminder_of(api, user, note)["last_sent_at"] is None for note in notes)

    reminders.clock.advance(minutes=5)
    reminders.run()
    assert sorted(e["subject"] for e in emails_to(aws, user.email)) == [
        f"Reminder: Quota {n}" for n in range(3)
    ]


def test_an_email_whose_answer_is_lost_is_sent_once_by_the_run(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SES took the email, but its answer never came (the connection dropped): retried on the
    spot (botocore's retries), each attempt was one more email of the same reminder."""
    note_id = create_note(api, user, utc(2037, 6, 1, 9, 0), title="Dentist")
    reminders.clock.set(utc(2037, 6, 1, 9, 1))
    lost = aws_answer_lost("ses", "SendEmail", reminders_job.SEND_TIMEOUT_SECONDS)
    with lost, pytest.raises(RuntimeError, match="not sent"):
        reminders.run()  # the run cannot know it went out: released, the run fails
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Dentist"]
    assert reminder_of(api, user, note_id)["last_sent_at"] is None
    # The log tells what failed: the connection, not the job's reading of the error.
    (failure,) = [r for r in caplog.records if note_id in r.getMessage()]
    assert failure.exc_info is not None and failure.exc_info[0] is ConnectionClosedError


def test_a_send_ses_never_answers_ends_before_lambda_stops_the_run(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    template: Template,
    reminders: ScheduledFunction,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run starts a send only with more than `SAFETY` left, so that Lambda never stops it
    mid-send (the claims would then wait for their lease, the email in flight might go twice).
    With botocore's own timeouts (60 s) and retries, one send to an SES that never answers
    outlasted that margin."""
    note_id = create_note(api, user, utc(2037, 7, 1, 9, 0))
    reminders.clock.set(utc(2037, 7, 1, 9, 1))
    margin = int(reminders_job.SAFETY.total_seconds())
    barely = replace(template.function("reminders"), timeout=margin + 30)  # time for one send
    container = FunctionRuntime(barely, pool_size=1)
    try:
        assert container.handler() is reminders.containers.handler()  # the same clock
        with aws_silent(monkeypatch), pytest.raises(reminders_job.RemindersNotSent):
            container.invoke(scheduled_event("reminders", reminders.clock()))
    finally:
        container.shutdown()
    assert emails_to(aws, user.email) == []
    reminders.clock.advance(minutes=5)
    reminders.run()  # released, not held for the lease: the next run sends it
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_sender_ses_refuses_keeps_every_reminder_due_however_many_runs_fail(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """The same MessageRejected for the sender (not verified) is the account's problem, not
    the reminder's: given up after a few runs, every due reminder would be lost."""
    note_id = create_note(api, user, utc(2037, 5, 1, 9, 0))
    reminders.clock.set(utc(2037, 5, 1, 9, 1))
    with send_attempts(2), ses_sender("nobody@unverified.example"):
        for _ in range(4):
            with pytest.raises(RuntimeError, match="not sent"):
                reminders.run()
            reminders.clock.advance(minutes=5)
    reminders.run()
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_reminder_claimed_by_another_run_is_left_alone_until_its_lease_ends(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    note_id = create_note(api, user, utc(2030, 6, 1, 9, 0))
    reminders.clock.set(utc(2030, 6, 1, 9, 1))
    lease = get_settings().reminder_lease_seconds
    # A run that claimed it and then died (or is still sending).
    notes_collection.update_one(
        {"_id": note_id},
        {
            "$set": {
                "reminder_claim": "crashed-run",
                "reminder_lease_until": utc(2030, 6, 1, 9, 1) + timedelta(seconds=lease),
            }
        },
    )
    reminders.run()
    assert emails_to(aws, user.email) == []
    reminders.clock.advance(seconds=lease + 1)
    reminders.run()
    assert len(emails_to(aws, user.email)) == 1
    stored = notes_collection.find_one({"_id": note_id})
    assert stored is not None
    assert "reminder_claim" not in stored and "reminder_lease_until" not in stored
    assert stored["reminder_due_at"] is None


def test_overlapping_runs_send_each_reminder_once(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    notes = [create_note(api, user, utc(2030, 7, 1, 9, 0), title=f"n{i}") for i in range(12)]
    reminders.clock.set(utc(2030, 7, 1, 9, 1))
    with ThreadPoolExecutor(max_workers=2) as pool:  # two containers at once
        results = list(pool.map(lambda _: reminders.run(), range(2)))
    emails = emails_to(aws, user.email)
    assert sorted(e["subject"] for e in emails) == sorted(f"Reminder: n{i}" for i in range(12))
    assert sum(r["sent"] for r in results) >= len(notes)
    for note_id in notes:
        assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_html_is_escaped_and_the_text_part_is_plain(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    create_note(api, user, utc(2030, 8, 1, 9, 0), title="<b>bold</b>", content="a <script>")
    reminders.clock.set(utc(2030, 8, 1, 9, 1))
    reminders.run()
    (email,) = emails_to(aws, user.email)
    assert email["subject"] == "Reminder: <b>bold</b>"
    assert "<b>bold</b>" in email["text"]  # the HTML part escaped it: it reads as typed
    assert "a <script>" in email["text"]


def test_a_scheduled_event_is_required(reminders: ScheduledFunction) -> None:
    with pytest.raises(ValueError, match="detail-type"):
        reminders.containers.invoke({"hello": "world"})


def test_a_run_stops_before_its_lease_ends_and_leaves_the_rest(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2030, 9, 1, 9, 0))
    reminders.clock.set(utc(2030, 9, 1, 9, 1))
    lease = get_settings().reminder_lease_seconds
    reminders.clock.step = timedelta(seconds=lease)  # every reading is a lease later
    result = reminders.run()
    assert result["released"] >= 1 and result["sent"] == 0
    assert emails_to(aws, user.email) == []
    reminders.clock.step = timedelta(0)
    reminders.clock.advance(minutes=5)
    reminders.run()
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_run_stops_before_lambda_stops_it_and_releases_the_rest(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    template: Template,
    reminders: ScheduledFunction,
) -> None:
    # A run sending past its invocation's deadline is killed: the claims it holds wait for
    # the lease (10 minutes), and the email in flight may go out twice. With less time left
    # than a send may take, it sends nothing and releases what it claimed.
    note_id = create_note(api, user, utc(2030, 10, 1, 9, 0))
    reminders.clock.set(utc(2030, 10, 1, 9, 1))
    short = replace(template.function("reminders"), timeout=30)  # below the 60 s margin
    container = FunctionRuntime(short, pool_size=1)
    try:
        assert container.handler() is reminders.containers.handler()  # the same clock
        result = container.invoke(scheduled_event("reminders", reminders.clock()))
    finally:
        container.shutdown()
    assert result["claimed"] >= 1 and result["released"] == result["claimed"]
    assert result["sent"] == 0 and emails_to(aws, user.email) == []
    reminders.clock.advance(minutes=5)
    reminders.run()  # the next run, with the function's own timeout, sends it
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, note_id)["last_sent_at"] is not None


def test_a_warm_container_keeps_its_mongo_client(
    stack_env: None, template: Template, reminders: ScheduledFunction
) -> None:
    container = FunctionRuntime(template.function("reminders"), pool_size=1)
    try:
        before = mongo.clients_created()
        for _ in range(3):
            container.invoke(scheduled_event("reminders", reminders.clock()))
        assert mongo.clients_created() - before == 1
    finally:
        container.shutdown()


def test_saving_a_note_with_its_sent_reminder_unchanged_sends_nothing_again(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2036, 4, 1, 9, 0), title="Pay rent")
    reminders.clock.set(utc(2036, 4, 1, 9, 1))
    reminders.run()
    sent_at = reminder_of(api, user, note_id)["last_sent_at"]
    assert sent_at is not None

    saved = put_back(api, user, note_id, title="Pay rent (edited)")
    assert saved["reminder"]["last_sent_at"] == sent_at
    same = {"at": saved["reminder"]["at"], "repeat": "none"}
    patched = api.patch(f"/notes/{note_id}", json={"reminder": same}, headers=user.headers)
    assert patched.json()["reminder"]["last_sent_at"] == sent_at

    reminders.clock.advance(minutes=5)
    reminders.run()
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Pay rent"]


def test_saving_a_note_keeps_the_month_end_schedule_of_its_reminder(
    api: httpx.Client, user: ApiUser, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2036, 1, 31, 10, 0), repeat="monthly")
    reminders.clock.set(utc(2036, 1, 31, 10, 1))
    reminders.run()
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2036, 2, 29, 10, 0)

    put_back(api, user, note_id, title="Rent")  # the clamped 29 Feb sent back as it was

    reminders.clock.set(utc(2036, 2, 29, 10, 1))
    reminders.run()
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2036, 3, 31, 10, 0)


def test_a_reminder_moved_or_repeated_differently_is_a_new_one(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2036, 5, 1, 9, 0), title="Call Bob")
    reminders.clock.set(utc(2036, 5, 1, 9, 1))
    reminders.run()

    moved = put_back(api, user, note_id, reminder={"at": "2036-05-02T09:00:00Z"})
    assert moved["reminder"]["last_sent_at"] is None
    reminders.clock.set(utc(2036, 5, 2, 9, 1))
    reminders.run()
    assert len(emails_to(aws, user.email)) == 2

    # Same time, now weekly: the new one's first occurrence is the one-off's, already
    # emailed; the next is a week on.
    repeated = api.patch(
        f"/notes/{note_id}",
        json={"reminder": {"at": "2036-05-02T09:00:00Z", "repeat": "weekly"}},
        headers=user.headers,
    )
    assert repeated.json()["reminder"]["last_sent_at"] is not None
    reminders.run()
    assert len(emails_to(aws, user.email)) == 2
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2036, 5, 9, 9, 0)


def fired_one_off_made_daily(
    api: httpx.Client, user: ApiUser, reminders: ScheduledFunction, at: datetime
) -> str:
    """A one-off reminder at `at`, emailed a minute later, then PATCHed to repeat daily."""
    note_id = create_note(api, user, at, title="Take the pills")
    reminders.clock.set(at + timedelta(minutes=1))
    reminders.run()
    sent_at = reminder_of(api, user, note_id)["last_sent_at"]
    assert sent_at is not None
    url = f"/notes/{note_id}"
    daily = api.patch(url, json={"reminder": {"repeat": "daily"}}, headers=user.headers)
    assert daily.status_code == 200, daily.text
    assert daily.json()["reminder"]["last_sent_at"] == sent_at
    return note_id


def test_a_one_off_made_repeating_after_it_fired_is_not_emailed_again(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """ "Remind me at 9", emailed at 9; at 10, "make it daily": the next email is tomorrow's,
    not a second one for today's 9 o'clock."""
    note_id = fired_one_off_made_daily(api, user, reminders, utc(2036, 7, 1, 9, 0))
    reminders.clock.set(utc(2036, 7, 1, 10, 0))
    result = reminders.run()

    assert len(emails_to(aws, user.email)) == 1
    assert result["already_handled"] == 1
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2036, 7, 2, 9, 0)
    reminders.clock.set(utc(2036, 7, 2, 9, 1))
    reminders.run()
    assert len(emails_to(aws, user.email)) == 2


def test_a_one_off_made_repeating_after_it_fired_emails_the_occurrences_missed_since(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """Only the occurrence already handled is left out: after a downtime the one email for
    the missed ones still goes out."""
    note_id = fired_one_off_made_daily(api, user, reminders, utc(2036, 8, 1, 9, 0))
    reminders.clock.set(utc(2036, 8, 3, 9, 30))  # the runs of two days missed
    reminders.run()

    emails = emails_to(aws, user.email)
    assert len(emails) == 2
    assert "3 August 2036, 09:00" in emails[-1]["text"]
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2036, 8, 4, 9, 0)


def test_a_repeat_made_a_one_off_fires_at_its_next_occurrence(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    note_id = create_note(api, user, utc(2036, 9, 1, 9, 0), repeat="daily", title="Stand up")
    reminders.clock.set(utc(2036, 9, 1, 9, 1))
    reminders.run()
    url = f"/notes/{note_id}"
    once = api.patch(url, json={"reminder": {"repeat": "none"}}, headers=user.headers)
    assert once.status_code == 200, once.text
    assert parse(once.json()["reminder"]["at"]) == utc(2036, 9, 2, 9, 0)

    reminders.clock.set(utc(2036, 9, 2, 9, 1))
    reminders.run()
    reminders.clock.set(utc(2036, 9, 3, 9, 1))
    reminders.run()
    assert len(emails_to(aws, user.email)) == 2


def test_a_patch_of_the_reminder_time_alone_keeps_its_repeat(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """PATCH changes only the fields sent, inside the reminder too: moving a daily reminder
    to another time leaves it daily, and changing its repeat alone leaves its time."""
    note_id = create_note(api, user, utc(2036, 6, 1, 9, 0), repeat="daily", title="Stretch")
    url = f"/notes/{note_id}"
    moved = api.patch(url, json={"reminder": {"at": "2036-06-01T18:00:00Z"}}, headers=user.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["reminder"]["repeat"] == "daily"
    reminders.clock.set(utc(2036, 6, 1, 18, 1))
    reminders.run()
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2036, 6, 2, 18, 0)

    weekly = api.patch(url, json={"reminder": {"repeat": "weekly"}}, headers=user.headers)
    assert weekly.status_code == 200, weekly.text
    assert (parse(weekly.json()["reminder"]["at"]), weekly.json()["reminder"]["repeat"]) == (
        utc(2036, 6, 2, 18, 0),
        "weekly",
    )
    reminders.clock.set(utc(2036, 6, 2, 18, 1))
    reminders.run()
    assert parse(reminder_of(api, user, note_id)["at"]) == utc(2036, 6, 9, 18, 0)
    assert len(emails_to(aws, user.email)) == 2


def test_a_reminder_patch_without_its_time_needs_a_reminder_to_change(
    api: httpx.Client, user: ApiUser
) -> None:
    created = api.post("/notes", json={"title": "No reminder"}, headers=user.headers)
    url = f"/notes/{created.json()['id']}"
    refused = api.patch(url, json={"reminder": {"repeat": "daily"}}, headers=user.headers)
    error = assert_error(refused, 422, "validation_error")
    assert ["body", "reminder", "at"] in [d["loc"] for d in error["details"]], error
    assert api.get(url, headers=user.headers).json() == created.json()
    null_time = api.patch(url, json={"reminder": {"at": None}}, headers=user.headers)
    assert_error(null_time, 422, "validation_error")


def test_a_patch_that_leaves_the_reminder_out_keeps_its_state_and_sends_nothing_again(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    once = create_note(api, user, utc(2036, 7, 1, 9, 0), title="Once")
    monthly = create_note(api, user, utc(2036, 1, 31, 9, 0), repeat="monthly", title="Month")
    reminders.clock.set(utc(2036, 7, 1, 9, 1))
    reminders.run()
    sent = {note_id: reminder_of(api, user, note_id) for note_id in (once, monthly)}
    assert parse(sent[monthly]["at"]) == utc(2036, 7, 31, 9, 0)
    for note_id in (once, monthly):
        renamed = api.patch(f"/notes/{note_id}", json={"title": "Renamed"}, headers=user.headers)
        assert renamed.json()["reminder"] == sent[note_id]
    reminders.clock.set(utc(2036, 7, 31, 9, 1))
    reminders.run()  # the one-off is not re-armed, the monthly one keeps its anchor (31st)
    assert [e["subject"] for e in emails_to(aws, user.email)].count("Reminder: Once") == 1
    assert parse(reminder_of(api, user, monthly)["at"]) == utc(2036, 8, 31, 9, 0)


CHANGED_AT = utc(2030, 11, 1, 9, 0)
# The owner's change of a claimed reminder: the repeat it had, the reminder they set instead.
REMINDER_CHANGES: dict[str, tuple[str, dict[str, str] | None]] = {
    "cleared": ("daily", None),
    "moved": ("daily", {"at": "2040-01-01T09:00:00+00:00", "repeat": "daily"}),
    "repeat dropped": ("daily", {"at": CHANGED_AT.isoformat(), "repeat": "none"}),
    "repeat added": ("none", {"at": CHANGED_AT.isoformat(), "repeat": "daily"}),
}


def owner_changes(api: httpx.Client, user: ApiUser, note_id: str, change: str) -> None:
    """The owner's change (or trash), acknowledged before the job goes on."""
    with httpx.Client(base_url=str(api.base_url), timeout=30) as client:  # a client of its own
        if change == "trashed":
            answer = client.delete(f"/notes/{note_id}", headers=user.headers)
        else:
            body = {"reminder": REMINDER_CHANGES[change][1]}
            answer = client.patch(f"/notes/{note_id}", json=body, headers=user.headers)
    assert answer.status_code in (200, 204), answer.text


def assert_owners_reminder(api: httpx.Client, user: ApiUser, note_id: str, change: str) -> None:
    """The note holds the reminder exactly as the owner set it: a new one, never sent."""
    got = api.get(f"/notes/{note_id}", headers=user.headers).json()["reminder"]
    expected = REMINDER_CHANGES[change][1]
    if expected is None:
        assert got is None
    else:
        assert (parse(got["at"]), got["repeat"], got["last_sent_at"]) == (
            parse(expected["at"]),
            expected["repeat"],
            None,
        )


@contextlib.contextmanager
def around_sends(
    before: Callable[[str], None] = lambda subject: None,
    after: Callable[[], None] = lambda: None,
) -> Iterator[None]:
    """Pause points at SES's boundary (botocore's client, as AWS answers): `before` each
    reminder's email goes to SES (given its subject), and `after` SES accepted it, before the
    job records it on the note."""

    def asked(params: dict[str, Any]) -> None:  # no answer of its own: on to SES (moto)
        before(params["body"]["Message.Subject.Data"])

    with (
        aws_answering("ses", "SendEmail", asked, reminders_job.SEND_TIMEOUT_SECONDS),
        aws_answered("ses", "SendEmail", lambda _: after(), reminders_job.SEND_TIMEOUT_SECONDS),
    ):
        yield


@pytest.mark.parametrize("change", [*REMINDER_CHANGES, "trashed"])
def test_a_reminder_changed_after_its_claim_is_not_emailed(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    change: str,
) -> None:
    repeat = REMINDER_CHANGES.get(change, ("none",))[0]
    notes = {create_note(api, user, CHANGED_AT, repeat, title=t): t for t in ("one", "two")}
    changed: list[str] = []

    def change_the_other(subject: str) -> None:
        # While the batch's first email goes out, the owner changes the other reminder (the
        # batch has no order: "the other" is whichever is not sent first).
        if not changed:
            (other,) = {n for n, title in notes.items() if subject != f"Reminder: {title}"}
            owner_changes(api, user, other, change)
            changed.append(other)

    reminders.clock.set(CHANGED_AT + timedelta(minutes=1))
    with around_sends(before=change_the_other):
        counts = reminders.run()
    (other,) = changed
    (sent,) = set(notes) - {other}
    assert [e["subject"] for e in emails_to(aws, user.email)] == [f"Reminder: {notes[sent]}"]
    assert (counts["sent"], counts["changed"], counts["failed"]) == (1, 1, 0)
    if change != "trashed":
        assert_owners_reminder(api, user, other, change)


@pytest.mark.parametrize("change", list(REMINDER_CHANGES))
def test_a_reminder_changed_while_it_is_emailed_stays_as_the_owner_made_it(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    change: str,
) -> None:
    note_id = create_note(api, user, CHANGED_AT, REMINDER_CHANGES[change][0])
    reminders.clock.set(CHANGED_AT + timedelta(minutes=1))
    # SES took the email, the note is not updated yet: the owner's change is acknowledged.
    with around_sends(after=lambda: owner_changes(api, user, note_id, change)):
        assert reminders.run()["sent"] == 1
    assert len(emails_to(aws, user.email)) == 1
    assert_owners_reminder(api, user, note_id, change)


def test_a_sent_reminder_is_stamped_with_the_time_of_its_write(
    api: httpx.Client, user: ApiUser, reminders: ScheduledFunction
) -> None:
    """The run started (its clock read) before the owner's last edit: the job's write is
    still later than that edit, so a sync from the edit sees it."""
    started = utcnow()
    note_id = create_note(api, user, started - timedelta(hours=1))
    edited = api.patch(f"/notes/{note_id}", json={"title": "Edited"}, headers=user.headers)
    watermark = edited.json()["updated_at"]
    reminders.clock.set(started)
    assert reminders.run()["sent"] == 1
    after = api.get(f"/notes/{note_id}", headers=user.headers).json()
    assert after["version"] == edited.json()["version"] + 1
    assert parse(after["updated_at"]) >= parse(watermark)
    synced = api.get("/notes", params={"updated_since": watermark}, headers=user.headers)
    assert note_id in [n["id"] for n in synced.json()["items"]]


def test_a_run_writes_its_failures_as_one_metric_record(
    api: httpx.Client,
    user: ApiUser,
    reminders: ScheduledFunction,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One reminder given up (refused), one SES can never take, one left for the next run:
    the run fails for the last, and its record still counts all three, as the run did."""
    tag = os.urandom(4).hex()
    refused = register_and_login(api)
    undeliverable = register_and_login(api, email=f"jürgen-{tag}@example.com")
    for owner in (refused, undeliverable, user):
        create_note(api, owner, utc(2039, 1, 1, 9, 0))
    reminders.clock.set(utc(2039, 1, 1, 9, 1))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "RemindersFunction")  # as on Lambda
    capsys.readouterr()
    with (
        send_attempts(1),
        ses_refusing(refused.email, "MessageRejected", not_verified(refused.email)),
        ses_refusing(user.email, "Throttling", "Rate exceeded"),
        pytest.raises(RuntimeError, match="not sent"),
    ):
        reminders.run()
    record = record_of(capsys.readouterr().out, reminders_job.FAILED_METRIC)
    logged = [r for r in caplog.records if r.getMessage().startswith("reminders: ")]
    counts = logged[-1].counts  # the run's counts, as its log line gives them
    assert metric_names(record) == {
        reminders_job.FAILED_METRIC,
        reminders_job.REFUSED_METRIC,
        reminders_job.UNDELIVERABLE_METRIC,
    }
    assert record[reminders_job.FAILED_METRIC] == counts["failed"] >= 1
    assert record[reminders_job.REFUSED_METRIC] == counts["refused"] >= 1
    assert record[reminders_job.UNDELIVERABLE_METRIC] == counts["undeliverable"] >= 1
    assert (record["function_name"], record["service"]) == ("RemindersFunction", "smartnote")

    reminders.clock.advance(minutes=5)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")  # the local stack: its console stays clean
    reminders.run()  # the throttled one goes out
    assert emf_records(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("repeat", "last"),
    [
        ("daily", utc(2999, 12, 31, 9, 0)),
        ("weekly", utc(2999, 12, 27, 9, 0)),
        ("monthly", utc(2999, 12, 15, 9, 0)),
    ],
)
def test_a_repeat_whose_next_occurrence_leaves_the_accepted_range_ends_and_can_be_saved_back(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    reminders: ScheduledFunction,
    repeat: str,
    last: datetime,
) -> None:
    """Clients send times up to 2999-12-31: the job never moves a reminder past that, so a
    note read after a run is always accepted back as read. The last occurrence is emailed,
    then the reminder is a one-off that fired (nothing more is sent)."""
    note_id = create_note(api, user, last, repeat=repeat, title="Millennium")
    reminders.clock.set(last + timedelta(minutes=1))
    reminders.run()  # (other tests' reminders are due by then too)
    assert [e["subject"] for e in emails_to(aws, user.email)] == ["Reminder: Millennium"]

    ended = reminder_of(api, user, note_id)
    saved = put_back(api, user, note_id)  # as read: a 200
    assert saved["reminder"] == ended
    assert (parse(ended["at"]), ended["repeat"]) == (last, "none")
    assert ended["last_sent_at"] is not None
    reminders.clock.advance(days=40)
    reminders.run()
    assert len(emails_to(aws, user.email)) == 1
    assert reminder_of(api, user, note_id) == ended
