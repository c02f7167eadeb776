"""Daily cleanup: purge old trash with its S3 objects, abandoned uploads, what was written for
deleted accounts after their deletion, ended sessions and old login failures; bring notes
written by an older version of the code up to date; and delete the attachment objects no
record points at: image outputs of image function runs that died between writing and
recording them, and uploads whose record went without them.

Every deletion is conditional on what made it due (still trashed since before the cutoff,
still pending since before the cutoff), so two runs at once, a retried run or a user
restoring a note meanwhile are all safe: each note is purged by exactly one run, and a live
or recently trashed note is never touched. A note's document goes first and its objects
after: a crash in between, or S3 refusing the deletion, leaves objects no record leads to,
never a note without its files; the sweep of unrecorded objects deletes them once settled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from smartnote import aws, metrics, storage
from smartnote.config import Settings
from smartnote.db.sql import Session, session_factory
from smartnote.domain import attachments
from smartnote.errors import NotFound
from smartnote.invocation import Invocation
from smartnote.repositories.deleted_accounts import DeletedAccountsRepository
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.notes import NotesRepository, notes_repository
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.write_limits import WriteLimiter

logger = logging.getLogger("smartnote.jobs.cleanup")

Clock = Callable[[], datetime]
DeleteObjects = Callable[[list[str]], int]  # prefixes -> objects deleted
Document = attachments.Document
# A run's failures as metrics (`smartnote.metrics`), each watched by an alarm in template.yaml:
# a run that succeeds while it cleans nothing would otherwise alarm no one.
NOTE_FAILURES_METRIC = "CleanupNoteFailures"
REDERIVE_FAILURES_METRIC = "CleanupRederiveFailures"
# An image output is written and recorded by one attempt of the image function, before that
# attempt's deadline; Lambda's retry of the attempt (the same request id: the same keys) writes
# it again before recording it, and comes within the event's maximum age. By Lambda's own
# limits (an event's age at most 6 hours, an invocation's at most 15 minutes), whatever
# template.yaml sets, an output older than this that no record points at never will be.
OUTPUTS_SETTLED_AFTER = (
    timedelta(hours=6) + attachments.LONGEST_INVOCATION + attachments.CLAIM_MARGIN
)


@dataclass(frozen=True)
class Bucket:
    """The uploads bucket, as the steps use it."""

    s3: Any
    name: str

    def delete_prefixes(self, prefixes: list[str]) -> int:
        return storage.delete_prefixes(self.s3, self.name, prefixes)

    def delete_keys(self, keys: list[str]) -> int:
        return storage.delete_keys(self.s3, self.name, keys)

    def attachment_objects(self, top: str) -> Iterator[list[storage.AttachmentObject]]:
        return storage.attachment_objects(self.s3, self.name, top)


@dataclass
class CleanupCounts:
    notes: int = 0
    note_objects: int = 0
    attachments: int = 0
    attachment_objects: int = 0
    stuck_attachments: int = 0  # notes whose attachments never finished processing: failed
    stuck_edits: int = 0  # notes whose image edits never finished: failed
    deleted_account_notes: int = 0
    deleted_account_objects: int = 0
    sessions: int = 0
    login_failures: int = 0
    write_counters: int = 0
    rederived: int = 0  # notes written by an older version, brought up to date
    rederive_failures: int = 0
    unrecorded_outputs: int = 0  # image outputs of runs that died, deleted
    unrecorded_uploads: int = 0  # uploads and edit requests whose record went, deleted
    # Notes (and deleted accounts) the steps above could not clean: logged, left for next run.
    note_failures: int = 0


async def purge_old_trash(
    notes: NotesRepository, delete_objects: DeleteObjects, cutoff: datetime, batch: int
) -> tuple[int, int, int]:
    """Notes trashed before `cutoff` and their objects; returns (notes, objects) deleted and
    the notes that failed."""
    purged = objects = 0

    async def purge(note: Document) -> None:
        nonlocal purged, objects
        if await notes.purge_trashed(note["_id"], cutoff):
            purged += 1
            objects += delete_objects(storage.note_prefixes(note["owner_id"], note["_id"]))

    failed = await _each_note(lambda skip: notes.trashed_before(cutoff, batch, skip), purge)
    return purged, objects, failed


async def drop_abandoned_uploads(
    notes: NotesRepository, delete_objects: DeleteObjects, cutoff: datetime, batch: int
) -> tuple[int, int, int]:
    """Attachments still `pending` since before `cutoff` and their objects; returns how many
    of each, and the notes that failed.

    An ordinary write of the note (`NotesRepository.update`): against the version read, so a
    concurrent edit is never lost, stamped with the time of the write, so that a sync sees it,
    and with the search terms recomputed without the OCR text of what it removes.
    """
    dropped = objects = 0

    async def drop(note: Document) -> None:
        nonlocal dropped, objects
        removed: list[Document] = []
        change = attachments.drop_stale_pending(cutoff, removed)
        await notes.update(note["owner_id"], note["_id"], change)
        # Empty when another run got there first, or the upload finished.
        for attachment in removed:
            dropped += 1
            objects += delete_objects(
                storage.attachment_prefixes(note["owner_id"], note["_id"], attachment["id"])
            )

    find = notes.with_stale_pending_attachments
    failed = await _each_note(lambda skip: find(cutoff, batch, skip), drop)
    return dropped, objects, failed


async def sweep_deleted_accounts(
    notes: NotesRepository,
    delete_objects: DeleteObjects,
    open_session: Callable[[], Session],
    keep_since: datetime,
) -> tuple[int, int, int]:
    """Notes and objects of recently deleted accounts, once more; returns (notes, objects)
    deleted and the accounts that failed.

    Deleting an account removes its notes and objects first, but a request that authenticated
    before, or an upload URL issued before, can still write after that. Every run sweeps each
    tombstone, and forgets those deleted before `keep_since` once swept. One whose sweep fails
    (S3 refusing its objects) is logged, kept and left for the next run, as a note would be.
    """
    with open_session() as session:
        owners = DeletedAccountsRepository(session).user_ids()
    swept = objects = 0
    failed: list[str] = []

    async def sweep(owner_id: str) -> None:
        nonlocal swept, objects
        swept += await notes.delete_all_of_owner(owner_id)
        objects += delete_objects(storage.owner_prefixes(owner_id))

    for owner_id in owners:
        if not await _cleaned(f"deleted account {owner_id}", sweep(owner_id)):
            failed.append(owner_id)
    with open_session() as session, session.begin():
        DeletedAccountsRepository(session).delete_older_than(keep_since, keep=failed)
    return swept, objects, len(failed)


Find = Callable[[datetime, int, Sequence[str]], Awaitable[list[Document]]]


async def _change_each(
    notes: NotesRepository, find: Find, change: attachments.Change, cutoff: datetime, batch: int
) -> tuple[int, int]:
    """Apply `change` to every note `find` returns for `cutoff`, a batch at a time, until it
    returns none (the change takes each note out of what `find` matches); returns how many
    it changed (not those another run changed first), and how many failed."""
    changed = 0

    async def apply(note: Document) -> None:
        nonlocal changed
        applied: list[bool] = []  # whether the last call, the write made, changed anything

        def recorded(current: Document) -> Document:
            fields = change(current)
            applied[:] = [bool(fields)]
            return fields

        await notes.update(note["owner_id"], note["_id"], recorded)
        changed += applied == [True]

    failed = await _each_note(lambda skip: find(cutoff, batch, skip), apply)
    return changed, failed


async def _each_note(
    find: Callable[[list[str]], Awaitable[list[Document]]],
    work: Callable[[Document], Awaitable[None]],
) -> int:
    """Run `work` on each note `find` returns (given the ids to leave out), until it returns
    none; returns how many failed. A note deleted meanwhile is passed over. One whose work
    fails otherwise (S3 refusing its objects' deletion, a write contended past the retries,
    what no code wrote) is logged and left for the next run, and the others go on: one note
    must not keep every later step from running, day after day."""
    failed: list[str] = []
    while found := await find(failed):
        for note in found:
            if not await _cleaned(f"note {note['_id']}", work(note)):
                failed.append(note["_id"])
    return len(failed)


async def _cleaned(subject: str, work: Awaitable[None]) -> bool:
    """Whether `work` on `subject` ("note <id>", "deleted account <id>") ended (or found the
    note deleted meanwhile, with its objects); when it fails, it is logged and False: left
    for the next run. S3 throttling, failing or not answering (`aws.unavailable`) fails the
    run instead: every later note would fail the same way, each with its record deleted and
    its objects left behind."""
    try:
        await work
    except NotFound:
        return True
    except Exception as exc:
        if aws.unavailable(exc):
            raise
        logger.exception("cleanup: %s failed, left for the next run", subject)
        return False
    return True


async def fail_stuck_processing(
    notes: NotesRepository, cutoff: datetime, batch: int
) -> tuple[int, int]:
    """Attachments left `processing` since before `cutoff` (every attempt killed): `failed`,
    with a reason, so that every upload ends ready or failed; returns how many notes, and how
    many failed."""
    find = notes.with_stuck_processing_attachments
    return await _change_each(notes, find, attachments.fail_stuck(cutoff), cutoff, batch)


async def fail_stuck_edits(notes: NotesRepository, cutoff: datetime, batch: int) -> tuple[int, int]:
    """Image edits unfinished since before `cutoff` (never delivered, or every attempt
    killed): `failed`, with a reason; returns how many notes, and how many failed."""
    find = notes.with_edits_waiting_since_before
    return await _change_each(notes, find, attachments.fail_stuck_edits(cutoff), cutoff, batch)


async def rederive_outdated(notes: NotesRepository, batch: int) -> tuple[int, int]:
    """Notes written by an older version of the code get what this one derives (search terms,
    sort keys, the jobs' fields) and stores (`repositories.notes.DERIVED_VERSION`); returns
    (notes brought up to date, notes that failed). A note that fails is logged and left for
    the next run, and this run goes on with the others."""
    rederived = 0

    async def rederive(note: Document) -> None:
        nonlocal rederived
        if await notes.rederive(note["_id"]):
            rederived += 1

    failed = await _each_note(lambda skip: notes.outdated(batch, skip), rederive)
    return rederived, failed


async def delete_unrecorded(
    notes: NotesRepository, bucket: Bucket, top: str, cutoff: datetime
) -> tuple[int, int]:
    """The attachment objects under `top` (`storage.DERIVED`, `storage.UPLOADS`) written
    before `cutoff` that no attachment or edit record of any note (trashed too) points at;
    returns (objects deleted, notes that failed). Only the names the layout gives
    (`storage.attachment_object`): never a key of any other layout.

    Under derived/: the image outputs of a run killed between writing and recording them (its
    retries killed too, or never come), or left when their attachment or note was deleted.
    Under uploads/: the originals and edit requests of a record deleted before its objects,
    whose deletion S3 refused or the run did not live to make (a purged note, a dropped
    upload), of a record undone by a route whose S3 write was taken after all, and the
    requests of edits a later edit replaced.

    The records are read after the listing, and `cutoff` is, for each prefix, older than any
    moment when a record may still come to point at an object that exists
    (`outputs_cutoff`, `uploads_cutoff`)."""
    deleted = failed = 0

    async def delete(keys: list[str]) -> None:
        nonlocal deleted
        deleted += bucket.delete_keys(keys)

    for page in bucket.attachment_objects(top):
        old: dict[str, list[str]] = {}  # by note
        for found in page:
            if found.written_before(cutoff):
                old.setdefault(found.note_id, []).append(found.key)
        if not old:
            continue
        recorded = {key for note in await notes.attachments_of(sorted(old)) for key in _keys(note)}
        for note_id, keys in old.items():
            unrecorded = [key for key in keys if key not in recorded]
            if unrecorded and not await _cleaned(f"note {note_id}", delete(unrecorded)):
                failed += 1
    return deleted, failed


def _keys(note: Document) -> Iterator[str]:
    """Every key the note's records point at: its attachments' (`attachments.stored_keys`)
    and the requests of their edits, finished ones too (an edit marked failed by the
    cleanup may still be replayed from the dead-letter queue, and reads its request)."""
    for attachment in note.get("attachments") or []:
        yield from attachments.stored_keys(attachment)
        for edit in attachment.get("derived") or []:
            ids = (note["owner_id"], note["_id"], attachment["id"], edit["id"])
            yield storage.edit_request_key(*ids)


def outputs_cutoff(settings: Settings, now: datetime) -> datetime:
    """Before when an unrecorded image output was written to be deleted: once a run is taken
    for dead (`pending_attachment_max_age_hours`), and never sooner than OUTPUTS_SETTLED_AFTER."""
    age = max(timedelta(hours=settings.pending_attachment_max_age_hours), OUTPUTS_SETTLED_AFTER)
    return now - age


def uploads_cutoff(settings: Settings, now: datetime) -> datetime:
    """Before when an unrecorded upload or edit request was written to be deleted: as image
    outputs (the image function's runs of an upload, which discard one whose record is gone
    themselves; a pending upload's day, after which the cleanup drops its record with its
    objects), and never sooner than an upload URL issued before its record went may still
    write, nor than an account's tombstone is swept (`late_write_horizon`).

    The routes write a record, with an id of its own, before its object can be written (the
    presigned POST is handed out, the PUT made, after it; the record is undone only when the
    PUT failed): no record comes to point at an object that exists already. The age is a
    margin for what is in flight, as an original is the one copy of the user's image."""
    return min(outputs_cutoff(settings, now), now - late_write_horizon(settings))


def clean_sql(session: Session, settings: Settings, now: datetime) -> tuple[int, int, int]:
    """Sessions that expired or were revoked, failures outside the throttle window, and
    write counters of windows that are over."""
    sessions = SessionsRepository(session).delete_ended(now)
    window_start = LoginFailuresRepository.window_start(now, settings.login_failure_window_seconds)
    failures = LoginFailuresRepository(session).delete_older_than(window_start)
    limiter = WriteLimiter(session, settings.write_rate_limit, settings.write_rate_window_seconds)
    return sessions, failures, limiter.delete_before(now)


def late_write_horizon(settings: Settings) -> timedelta:
    """How long after an account's deletion something may still be written for it: an upload
    URL issued just before lives `upload_url_ttl_seconds`, and the image function then works
    on the upload; an hour covers that and any request in flight."""
    return timedelta(seconds=settings.upload_url_ttl_seconds) + timedelta(hours=1)


async def clean_up(
    notes: NotesRepository,
    bucket: Bucket,
    open_session: Callable[[], Session],
    settings: Settings,
    clock: Clock,
    counts: CleanupCounts,
) -> None:
    """Run every step, adding to `counts` as each ends: a run that fails part-way still
    tells what it did and what it could not."""
    now = clock()
    delete_objects = bucket.delete_prefixes
    trash_cutoff = now - timedelta(days=settings.trash_retention_days)
    batch = settings.cleanup_batch_size
    counts.notes, counts.note_objects, failed = await purge_old_trash(
        notes, delete_objects, trash_cutoff, batch
    )
    counts.note_failures += failed
    upload_cutoff = now - timedelta(hours=settings.pending_attachment_max_age_hours)
    counts.attachments, counts.attachment_objects, failed = await drop_abandoned_uploads(
        notes, delete_objects, upload_cutoff, batch
    )
    counts.note_failures += failed
    counts.stuck_attachments, failed = await fail_stuck_processing(notes, upload_cutoff, batch)
    counts.note_failures += failed
    counts.stuck_edits, failed = await fail_stuck_edits(notes, upload_cutoff, batch)
    counts.note_failures += failed
    (
        counts.deleted_account_notes,
        counts.deleted_account_objects,
        failed,
    ) = await sweep_deleted_accounts(
        notes, delete_objects, open_session, now - late_write_horizon(settings)
    )
    counts.note_failures += failed
    with open_session() as session, session.begin():
        counts.sessions, counts.login_failures, counts.write_counters = clean_sql(
            session, settings, now
        )
    # After a deployment that bumped the version it may take long, and it resumes.
    counts.rederived, counts.rederive_failures = await rederive_outdated(notes, batch)
    # Last: they list the whole derived/ and uploads/ prefixes, and what they leave waits a
    # day unharmed.
    counts.unrecorded_outputs, failed = await delete_unrecorded(
        notes, bucket, storage.DERIVED, outputs_cutoff(settings, now)
    )
    counts.note_failures += failed
    counts.unrecorded_uploads, failed = await delete_unrecorded(
        notes, bucket, storage.UPLOADS, uploads_cutoff(settings, now)
    )
    counts.note_failures += failed


def failure_metrics(counts: CleanupCounts) -> dict[str, int]:
    """What of a run's `counts` is written as metrics."""
    return {
        NOTE_FAILURES_METRIC: counts.note_failures,
        REDERIVE_FAILURES_METRIC: counts.rederive_failures,
    }


async def run(settings: Settings, clock: Clock, invocation: Invocation) -> dict[str, int]:
    """The cleanup function's job, with this container's clients.

    It runs until done or stopped: every step is conditional and resumes on the next run, so
    being stopped at the invocation's deadline loses nothing.
    """
    del invocation
    counts = CleanupCounts()
    try:
        await clean_up(
            await notes_repository(settings),
            # Bounded calls: an S3 that does not answer fails the run at its first note
            # (`_cleaned`) within seconds, not after botocore's 60 s a try, several tries.
            Bucket(aws.client("s3", settings, aws.S3_CALLS), settings.uploads_bucket),
            session_factory(settings.database_url, settings.sql_timeout_seconds),
            settings,
            clock,
            counts,
        )
    finally:  # what it did, also when it failed part-way
        metrics.write_counts(failure_metrics(counts))
        logger.info("cleanup: %s", asdict(counts), extra={"counts": asdict(counts)})
    return asdict(counts)
