"""Email due reminders, each at most once: claim, send, then record (or release on failure).

A run claims a batch of due reminders with a lease (`NotesRepository.claim_due_reminders`),
so overlapping runs and retried invocations never pick the same ones. A send that fails is
released and retried by the next run; a run that crashes mid-way leaves its claims to expire.
Only if the process dies between SES accepting a message and the note being updated, or SES's
answer is lost on the way back, can a reminder go out twice (once more, by the next run) - the
outside world allows no better without a transactional outbox.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from smartnote import aws, metrics
from smartnote.config import Settings
from smartnote.db.sql import session_factory
from smartnote.domain.reminders import fired, latest_due, owner_zone
from smartnote.email import (
    Mailer,
    QuotaSpent,
    Refused,
    SesMailer,
    Undeliverable,
    reminder_email,
)
from smartnote.invocation import Invocation
from smartnote.repositories.notes import NotesRepository, notes_repository
from smartnote.repositories.users import UsersRepository

logger = logging.getLogger("smartnote.jobs.reminders")

Clock = Callable[[], datetime]
Outcome = Literal["sent", "skipped", "already_handled", "undeliverable", "refused"]
# Stop sending this long before the lease ends, so that no claim is used after another run
# may have taken it over, and before Lambda stops the invocation, so that the claims left are
# released for the next run (five minutes later) instead of held for the lease, and no email
# is cut off between SES accepting it and the note recording it (which would send it twice).
SAFETY = timedelta(seconds=60)
# Each email is one SES call that gives up after this long without an answer (to connect, then
# to read): a send ends well within SAFETY. botocore's own timeouts (60 s) and retries would
# outlast it, and a retry resends an email whose answer was lost though SES may have sent it;
# a failed send is released to the next run instead.
SEND_TIMEOUT_SECONDS = 10.0
# A run's failures as metrics (`smartnote.metrics`). Failed sends also fail the run (Lambda's
# Errors); those given up succeed, and only these metrics' alarm tells of them.
FAILED_METRIC = "RemindersFailed"
REFUSED_METRIC = "RemindersRefused"
UNDELIVERABLE_METRIC = "RemindersUndeliverable"


@dataclass(frozen=True)
class Owner:
    """What the job needs of a note's owner."""

    email: str
    timezone: str
    email_reminders: bool


OwnerLoader = Callable[[Collection[str]], Mapping[str, Owner]]


@dataclass
class ReminderCounts:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0  # emails off or owner gone: the reminder moves on without an email
    # Due at an occurrence it was handled at already (a one-off that fired, then made
    # repeating): moves on without a second email.
    already_handled: int = 0
    changed: int = 0  # cleared, moved or trashed by the owner once claimed: theirs, no email
    undeliverable: int = 0  # the address can never be sent to: moves on without an email
    refused: int = 0  # SES refused it run after run (REMINDER_SEND_ATTEMPTS): moves on too
    failed: int = 0  # released for the next run
    released: int = 0  # not attempted: the lease or the invocation's time was running out


class RemindersNotSent(RuntimeError):
    """Some sends failed; they are retried by the next run. Raised so the failure shows."""


def sql_owner_loader(settings: Settings) -> OwnerLoader:
    """Owners from SQL, one query per batch."""

    def load(user_ids: Collection[str]) -> Mapping[str, Owner]:
        with session_factory(settings.database_url, settings.sql_timeout_seconds)() as session:
            users = UsersRepository(session).by_ids(user_ids)
            return {
                uid: Owner(user.email, user.timezone, user.email_reminders)
                for uid, user in users.items()
            }

    return load


async def send_due_reminders(
    notes: NotesRepository,
    owners: OwnerLoader,
    mailer: Mailer,
    settings: Settings,
    clock: Clock,
    invocation: Invocation,
    counts: ReminderCounts,
) -> None:
    """Handle every reminder due at the start of the run, adding what happened to `counts`
    as it goes (a run that fails part-way still tells what it did)."""
    now = clock()
    lease_until = now + timedelta(seconds=settings.reminder_lease_seconds)
    claim = secrets.token_hex(12)

    async def release(held: list[dict[str, Any]]) -> None:
        """Give claimed reminders back, due as they were, for the next run."""
        for note in held:
            await notes.release_reminder(note["_id"], claim, now)

    while True:
        batch = await notes.claim_due_reminders(
            now, lease_until, claim, settings.reminder_batch_size
        )
        if not batch:
            return
        counts.claimed += len(batch)
        try:
            by_id = owners({note["owner_id"] for note in batch})
        except Exception:
            # SQL failing fails the run, and its batch goes back at once: to Lambda's retry
            # of the run or the next run, not held for the lease while SQL is back.
            await release(batch)
            counts.failed += len(batch)
            raise
        for index, note in enumerate(batch):
            if clock() >= lease_until - SAFETY or invocation.time_left() <= SAFETY:
                await release(batch[index:])
                counts.released += len(batch) - index
                logger.warning(
                    "time running out; %d reminders left for the next run", counts.released
                )
                return
            try:
                await _handle(
                    note, by_id.get(note["owner_id"]), notes, mailer, settings, clock, claim, counts
                )
            except QuotaSpent:
                # No email goes out before the quota renews: the run stops (and fails, for
                # the alarm) at the first, and every reminder stays due.
                logger.exception("SES's sending quota is spent; the reminders stay due")
                await release(batch[index:])
                counts.failed += 1
                counts.released += len(batch) - index - 1
                return
            except Exception:  # whatever failed (the send, a bad stored time), nothing is lost
                # and the other reminders of the batch still go out.
                logger.exception("the reminder of note %s failed; retried next run", note["_id"])
                await release([note])
                counts.failed += 1


async def _handle(
    note: dict[str, Any],
    owner: Owner | None,
    notes: NotesRepository,
    mailer: Mailer,
    settings: Settings,
    clock: Clock,
    claim: str,
    counts: ReminderCounts,
) -> None:
    """Email one claimed reminder if its owner can get it, then move it on either way.

    The batch was read when claimed: the owner may have changed the reminder or trashed the
    note since. One read by `_id` just before the send skips those; a change during the send
    is kept by `finish_reminder`, which then only releases the claim.
    """
    reminder = note["reminder"]
    if not await notes.holds_reminder(note["_id"], claim, reminder):
        await notes.release_reminder(note["_id"], claim, clock())
        logger.info("note %s changed since its reminder was claimed; not sent", note["_id"])
        counts.changed += 1
        return
    zone = owner_zone(owner.timezone if owner else None)
    outcome: Outcome
    try:
        outcome = _deliver(note, owner, zone, mailer, settings, clock())
    except Refused as exc:
        refusals = int(reminder.get("refusals", 0)) + 1
        if refusals < settings.reminder_send_attempts:
            await notes.count_refusal(note["_id"], claim, reminder)
            raise  # released: the next run tries again
        # Tried every run, it would fail each of them (and the alarm) until the recipient
        # changes; the next occurrence is tried afresh.
        logger.warning(
            "the reminder of note %s was refused %d times: %s", note["_id"], refusals, exc
        )
        outcome = "refused"
    now = clock()
    if not await notes.finish_reminder(
        note["_id"], claim, reminder, fired(reminder, zone, now, sent=outcome == "sent"), now
    ):
        logger.info(
            "note %s changed while its reminder was handled; the owner's change stands",
            note["_id"],
        )
    setattr(counts, outcome, getattr(counts, outcome) + 1)


def _deliver(
    note: dict[str, Any],
    owner: Owner | None,
    zone: ZoneInfo,
    mailer: Mailer,
    settings: Settings,
    now: datetime,
) -> Literal["sent", "skipped", "already_handled", "undeliverable"]:
    """Send the reminder's email at `now`; raises when a retry may succeed (the run releases
    it)."""
    occurrence = latest_due(note["reminder"], zone, now)
    handled_at = note["reminder"].get("fired_at")
    if handled_at is not None and occurrence <= handled_at:
        return "already_handled"
    if owner is None or not owner.email_reminders:
        return "skipped"
    email = reminder_email(
        to=owner.email,
        title=note.get("title", ""),
        content=note.get("content", ""),
        note_url=f"{settings.app_base_url.rstrip('/')}/notes/{note['_id']}",
        occurrence=occurrence,
        zone=zone,
    )
    try:
        mailer.send(email)
    except Undeliverable as exc:  # a retry cannot help, and would hold the reminder forever
        logger.warning("the reminder of note %s cannot be emailed: %s", note["_id"], exc)
        return "undeliverable"
    return "sent"


def failure_metrics(counts: ReminderCounts) -> dict[str, int]:
    """What of a run's `counts` is written as metrics."""
    return {
        FAILED_METRIC: counts.failed,
        REFUSED_METRIC: counts.refused,
        UNDELIVERABLE_METRIC: counts.undeliverable,
    }


async def run(settings: Settings, clock: Clock, invocation: Invocation) -> dict[str, int]:
    """The reminders function's job, with this container's clients."""
    counts = ReminderCounts()
    try:
        await send_due_reminders(
            await notes_repository(settings),
            sql_owner_loader(settings),
            SesMailer(aws.client("ses", settings, SEND_TIMEOUT_SECONDS), settings.ses_sender),
            settings,
            clock,
            invocation,
            counts,
        )
    finally:  # what it did, also when it failed part-way
        metrics.write_counts(failure_metrics(counts))
        logger.info("reminders: %s", asdict(counts), extra={"counts": asdict(counts)})
    if counts.failed:
        raise RemindersNotSent(f"{counts.failed} reminder(s) not sent; the next run retries")
    return asdict(counts)
