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

A run stops before its invocation's deadline, however big the backlog (a mass purge, a
`DERIVED_VERSION` bump that re-derives every note, many unrecorded objects): each step goes
an item (a note, an account, a page of a listing) at a time, with a fair share of the run's
time (`time_shares`), and starts an item only if the slowest one of that step
(`cleanup_steps`) and writing the metrics and the log (AFTER_STEPS) still fit. Every step
has its turn, so the cheap ones (sessions, login failures) run whatever the trash holds. A
run that stopped short succeeds (no retry, no dead-letter queue): it logs its counts and the
steps it left (`unfinished`), writes `CleanupUnfinished` 1, and the next run goes on, since
what it left is still due. An S3 deletion with more objects than its item's time allows
stops at the deadline too: the objects of a purged note or a dropped upload it left are swept
once settled, as after a crash; a deleted account keeps its tombstone for the next run.
The sweep of unrecorded objects goes on where the run before left it (`SweepPosition`): a
bucket too big to list in one run's time is swept over several.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pymongo.errors import PyMongoError

from smartnote import aws, metrics, storage
from smartnote.config import Settings
from smartnote.db.sql import Session, session_factory
from smartnote.domain import attachments
from smartnote.errors import NotFound
from smartnote.invocation import Invocation
from smartnote.jobs.time_shares import RunTime, Step, StepTime, run_in_turns
from smartnote.repositories.deleted_accounts import DeletedAccountsRepository
from smartnote.repositories.job_positions import JobPositionsRepository, job_positions_repository
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.notes import NotesRepository, notes_repository
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.write_limits import WriteLimiter

logger = logging.getLogger("smartnote.jobs.cleanup")

Clock = Callable[[], datetime]
Document = attachments.Document
# A run's failures as metrics (`smartnote.metrics`), each watched by an alarm in template.yaml:
# a run that succeeds while it cleans nothing would otherwise alarm no one.
NOTE_FAILURES_METRIC = "CleanupNoteFailures"
REDERIVE_FAILURES_METRIC = "CleanupRederiveFailures"
# 1 for a run that stopped short of its work before the invocation's deadline, 0 otherwise:
# normal progress on one day, a backlog that does not shrink when it is 1 day after day.
UNFINISHED_METRIC = "CleanupUnfinished"
# What a run needs once its steps stopped: its metrics record and log line, on stdout.
AFTER_STEPS = timedelta(seconds=5)
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
    page_size: int = 1000  # keys per page of a listing

    def delete_prefixes(self, prefixes: list[str], has_time: storage.HasTime) -> int:
        return storage.delete_prefixes(self.s3, self.name, prefixes, has_time)

    def delete_keys(self, keys: list[str], has_time: storage.HasTime) -> int:
        return storage.delete_keys(self.s3, self.name, keys, has_time)

    def attachment_objects(self, top: str, start_after: str | None) -> Iterator[storage.ListedPage]:
        return storage.attachment_objects(self.s3, self.name, top, start_after, self.page_size)


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
    # Steps that stopped short, out of time: their work is still due, for the next run.
    unfinished: int = 0


@dataclass(frozen=True)
class Turn:
    """What a step works with at one of its turns: the stores, the run's counts, the step's
    share of the run's time, and what failed in its earlier turns (`failed`: a note or an
    account that fails is tried, logged and counted once a run)."""

    notes: NotesRepository
    bucket: Bucket
    batch: int  # notes read per query
    counts: CleanupCounts
    time: StepTime
    failed: list[str]

    def s3_has_time(self) -> bool:
        """Whether one more S3 call of an item still ends before the run must stop; when
        not, the deletion stops (`storage.DeletionUnfinished`) and so does the step."""
        return self.time.fits(aws.S3_CALLS.worst_case)

    def delete_prefixes(self, prefixes: list[str]) -> int:
        return self.bucket.delete_prefixes(prefixes, self.s3_has_time)

    async def each_note(
        self,
        find: Callable[[list[str]], Awaitable[list[Document]]],
        work: Callable[[Document], Awaitable[None]],
    ) -> int:
        """`_each_note` within this turn's time, passing over what failed before."""
        return await _each_note(find, work, self.time, self.failed)


async def purge_old_trash(turn: Turn, cutoff: datetime) -> None:
    """Notes trashed before `cutoff` and their objects, while the turn's time allows."""
    counts = turn.counts

    async def purge(note: Document) -> None:
        if await turn.notes.purge_trashed(note["_id"], cutoff):
            counts.notes += 1
            counts.note_objects += turn.delete_prefixes(
                storage.note_prefixes(note["owner_id"], note["_id"])
            )

    find = turn.notes.trashed_before
    counts.note_failures += await turn.each_note(lambda skip: find(cutoff, turn.batch, skip), purge)


async def drop_abandoned_uploads(turn: Turn, cutoff: datetime) -> None:
    """Attachments still `pending` since before `cutoff` and their objects, while the turn's
    time allows.

    An ordinary write of the note (`NotesRepository.update`): against the version read, so a
    concurrent edit is never lost, stamped with the time of the write, so that a sync sees it,
    and with the search terms recomputed without the OCR text of what it removes.
    """

    counts = turn.counts

    async def drop(note: Document) -> None:
        removed: list[Document] = []
        change = attachments.drop_stale_pending(cutoff, removed)
        await turn.notes.update(note["owner_id"], note["_id"], change)
        # Empty when another run got there first, or the upload finished.
        for attachment in removed:
            counts.attachments += 1
            prefixes = storage.attachment_prefixes(note["owner_id"], note["_id"], attachment["id"])
            counts.attachment_objects += turn.delete_prefixes(prefixes)

    find = turn.notes.with_stale_pending_attachments
    counts.note_failures += await turn.each_note(lambda skip: find(cutoff, turn.batch, skip), drop)


async def sweep_deleted_accounts(
    turn: Turn, open_session: Callable[[], Session], keep_since: datetime
) -> None:
    """Notes and objects of recently deleted accounts, once more, while the turn's time
    allows.

    Deleting an account removes its notes and objects first, but a request that authenticated
    before, or an upload URL issued before, can still write after that. Every run sweeps each
    tombstone, and forgets those deleted before `keep_since` once swept. One whose sweep fails
    (S3 refusing its objects) is logged, kept and left for the next run, as a note would be
    (not tried again in this run); so is one the run had no time to sweep.
    """
    counts, failed = turn.counts, turn.failed
    if not turn.time.allows():
        return
    with open_session() as session:
        owners = DeletedAccountsRepository(session).user_ids()
    swept: set[str] = set()
    owners = [owner_id for owner_id in owners if owner_id not in failed]

    async def sweep(owner_id: str) -> None:
        counts.deleted_account_notes += await turn.notes.delete_all_of_owner(owner_id)
        counts.deleted_account_objects += turn.delete_prefixes(storage.owner_prefixes(owner_id))

    for position, owner_id in enumerate(owners):
        if position and not turn.time.allows():
            break
        if await _cleaned(f"deleted account {owner_id}", sweep(owner_id)):
            swept.add(owner_id)
        else:
            failed.append(owner_id)
            counts.note_failures += 1
    with open_session() as session, session.begin():
        unswept = [*failed, *(owner_id for owner_id in owners if owner_id not in swept)]
        DeletedAccountsRepository(session).delete_older_than(keep_since, keep=unswept)


async def delete_ended_sql(
    turn: Turn, open_session: Callable[[], Session], settings: Settings, now: datetime
) -> None:
    """`clean_sql`, in one transaction, if the turn's time allows."""
    if not turn.time.allows():
        return
    with open_session() as session, session.begin():
        sessions, login_failures, write_counters = clean_sql(session, settings, now)
    counts = turn.counts
    counts.sessions += sessions
    counts.login_failures += login_failures
    counts.write_counters += write_counters


Find = Callable[[datetime, int, Sequence[str]], Awaitable[list[Document]]]


async def _change_each(
    turn: Turn, find: Find, change: attachments.Change, cutoff: datetime
) -> tuple[int, int]:
    """Apply `change` to every note `find` returns for `cutoff`, a batch at a time, until it
    returns none (the change takes each note out of what `find` matches) or `time` runs
    out; returns how many it changed (not those another run changed first), and how many
    failed (`_each_note`)."""
    changed = 0

    async def apply(note: Document) -> None:
        nonlocal changed
        applied: list[bool] = []  # whether the last call, the write made, changed anything

        def recorded(current: Document) -> Document:
            fields = change(current)
            applied[:] = [bool(fields)]
            return fields

        await turn.notes.update(note["owner_id"], note["_id"], recorded)
        changed += applied == [True]

    failures = await turn.each_note(lambda skip: find(cutoff, turn.batch, skip), apply)
    return changed, failures


async def _each_note(
    find: Callable[[list[str]], Awaitable[list[Document]]],
    work: Callable[[Document], Awaitable[None]],
    time: StepTime,
    failed: list[str],
) -> int:
    """Run `work` on each note `find` returns (given the ids to leave out: `failed`, those
    that failed earlier in this run), until it returns none or `time` allows no more (asked
    before each query, which covers its first note, and before each other note); returns
    how many failed now, added to `failed`. A note deleted meanwhile is passed over. One
    whose work fails otherwise (S3 refusing its objects' deletion, a write contended past the
    retries, what no code wrote) is logged and left for the next run, and the others go on:
    one note must not keep every later step from running, day after day."""
    before = len(failed)
    while time.allows() and (found := await find(failed)):
        for position, note in enumerate(found):
            if position and not time.allows():
                return len(failed) - before
            if not await _cleaned(f"note {note['_id']}", work(note)):
                failed.append(note["_id"])
    return len(failed) - before


async def _cleaned(subject: str, work: Awaitable[None]) -> bool:
    """Whether `work` on `subject` ("note <id>", "deleted account <id>") ended (or found the
    note deleted meanwhile, with its objects); when it fails, it is logged and False: left
    for the next run. S3 throttling, failing or not answering (`aws.unavailable`) fails the
    run instead: every later note would fail the same way, each with its record deleted and
    its objects left behind. So does running out of time within the work
    (`storage.DeletionUnfinished`), which ends the step instead (`_step`)."""
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


async def fail_stuck_processing(turn: Turn, cutoff: datetime) -> None:
    """Attachments left `processing` since before `cutoff` (every attempt killed): `failed`,
    with a reason, so that every upload ends ready or failed; while the turn's time allows."""
    find = turn.notes.with_stuck_processing_attachments
    changed, failures = await _change_each(turn, find, attachments.fail_stuck(cutoff), cutoff)
    turn.counts.stuck_attachments += changed
    turn.counts.note_failures += failures


async def fail_stuck_edits(turn: Turn, cutoff: datetime) -> None:
    """Image edits unfinished since before `cutoff` (never delivered, or every attempt
    killed): `failed`, with a reason; while the turn's time allows."""
    find = turn.notes.with_edits_waiting_since_before
    change = attachments.fail_stuck_edits(cutoff)
    changed, failures = await _change_each(turn, find, change, cutoff)
    turn.counts.stuck_edits += changed
    turn.counts.note_failures += failures


async def rederive_outdated(turn: Turn) -> None:
    """Notes written by an older version of the code get what this one derives (search terms,
    sort keys, the jobs' fields) and stores (`repositories.notes.DERIVED_VERSION`), while
    the turn's time allows. A note that fails is logged and left for the next run, and this run goes
    on with the others."""

    async def rederive(note: Document) -> None:
        if await turn.notes.rederive(note["_id"]):
            turn.counts.rederived += 1

    outdated = turn.notes.outdated
    turn.counts.rederive_failures += await turn.each_note(
        lambda skip: outdated(turn.batch, skip), rederive
    )


@dataclass
class SweepPosition:
    """Where the sweep of the objects under `top` got to: the last key of the last page of
    its listing it handled to the end (None: the start). Kept across the run's turns, as
    `_step` keeps what failed, and across runs in `job_positions`: each turn lists after it,
    the first one of a run after where the run before left it.

    Only a page handled to the end moves it: a turn that stopped within a page (out of time
    before one of its notes' deletions) leaves the position before that page, and the next
    turn lists the page again (one S3 call: what was deleted is no longer listed), rather
    than keeping the half-handled page in memory, which a run's first turn, after the run
    before, could not have. A note of the page that failed does not hold it back: that
    note is logged and counted (`failed`), and tried again at the next pass.

    A hint, never a record of what is due: one not under `top/` (lost, or of no sweep) is the
    start, one past every key lists nothing and ends the pass, and MongoDB refusing to keep
    it is logged: the next run then starts from an earlier one. Of two runs at once (a
    retried run) the later write wins: either way a key some run handled up to, and what
    lies behind it is found by the next pass."""

    positions: JobPositionsRepository
    top: str
    longest_write: timedelta  # of a MongoDB call
    after: str | None = None
    read: bool = False

    @property
    def name(self) -> str:
        return f"cleanup.unrecorded.{self.top}"

    async def start(self) -> str | None:
        """Where this turn's listing starts: after the page the last turn handled, and at a
        run's first turn after the one where the run before left the sweep."""
        if not self.read:
            self.read = True
            try:
                stored = await self.positions.get(self.name)
            except PyMongoError:
                logger.warning(
                    "cleanup: position of %s unread, from the start", self.top, exc_info=True
                )
                stored = None
            if stored is not None and stored.startswith(f"{self.top}/"):
                self.after = stored
        return self.after

    async def handled(self, page: storage.ListedPage, time: StepTime) -> None:
        """`page` was handled to its end: the next listing goes on after it. Kept for the
        next run if one more MongoDB call fits in the run's time (if not, the step stops:
        the next run lists the page again)."""
        if page.last_key is not None:
            self.after = page.last_key
            if time.fits(self.longest_write):
                await self._keep()

    async def ended(self) -> None:
        """The listing reached the end: the next pass, from the start, finds what was written
        meanwhile behind the position and what was too young for this one's cutoff."""
        self.after = None
        await self._keep()

    async def _keep(self) -> None:
        try:
            await self.positions.set(self.name, self.after)
        except PyMongoError:
            logger.warning(
                "cleanup: position of %s not kept, the next run starts earlier",
                self.top,
                exc_info=True,
            )


async def delete_unrecorded(turn: Turn, sweep: SweepPosition, cutoff: datetime) -> tuple[int, int]:
    """The attachment objects under `sweep.top` (`storage.DERIVED`, `storage.UPLOADS`)
    written before `cutoff` that no attachment or edit record of any note (trashed too)
    points at, while the turn's time allows (asked before each page of the listing and each
    note's deletion); returns (objects deleted, notes that failed now; those that failed
    earlier in this run are not tried again). Only the names the layout gives
    (`storage.attachment_object`): never a key of any other layout.

    Under derived/: the image outputs of a run killed between writing and recording them (its
    retries killed too, or never come), or left when their attachment or note was deleted.
    Under uploads/: the originals and edit requests of a record deleted before its objects,
    whose deletion S3 refused or the run did not live to make (a purged note, a dropped
    upload), of a record undone by a route whose S3 write was taken after all, and the
    requests of edits a later edit replaced.

    The records are read after the listing, and `cutoff` is, for each prefix, older than any
    moment when a record may still come to point at an object that exists
    (`outputs_cutoff`, `uploads_cutoff`). The listing goes on after the last page handled
    (`SweepPosition`), in the turn before or the run before, so a prefix too big to list in
    one run's time is swept over several: a pass. Each run deletes by its own cutoff: an
    object an earlier run of the pass listed and kept as too young, or one written behind
    the position meanwhile, is found by the next pass, which starts from the beginning once
    a run reached the end."""
    deleted = failures = 0
    time, failed = turn.time, turn.failed

    async def delete(keys: list[str]) -> None:
        nonlocal deleted
        deleted += turn.bucket.delete_keys(keys, turn.s3_has_time)

    async def handle(page: storage.ListedPage) -> bool:
        """Whether the turn's time allowed the page to its end."""
        nonlocal failures
        old: dict[str, list[str]] = {}  # by note
        for found in page.objects:
            if found.written_before(cutoff):
                old.setdefault(found.note_id, []).append(found.key)
        if not old:
            return True
        recorded = {
            key for note in await turn.notes.attachments_of(sorted(old)) for key in _keys(note)
        }
        for note_id, keys in old.items():
            unrecorded = [key for key in keys if key not in recorded]
            if not unrecorded or note_id in failed:
                continue
            if not time.allows():
                return False
            if not await _cleaned(f"note {note_id}", delete(unrecorded)):
                failed.append(note_id)
                failures += 1
        return True

    pages: Iterator[storage.ListedPage] | None = None
    while time.allows():
        if pages is None:  # within the first item, the position read with it
            pages = turn.bucket.attachment_objects(sweep.top, await sweep.start())
        if (page := next(pages, None)) is None:
            await sweep.ended()
            break
        if not await handle(page):
            break
        await sweep.handled(page, time)
    return deleted, failures


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


TurnOf = Callable[[StepTime, list[str]], Turn]


def _step(
    name: str, longest_item: timedelta, work: Callable[[Turn], Awaitable[None]], turn_of: TurnOf
) -> Step:
    """A step of the run, given at each of its turns (`turn_of`) what failed in its earlier
    ones (so a note or an account that fails is tried, logged and counted once a run).
    Running out of time within an item (S3 having more objects to delete than the item's
    time allows: `storage.DeletionUnfinished`) only stops the step. A record goes before its
    objects: the objects left are swept once settled."""
    failed: list[str] = []

    async def until_out_of_time(time: StepTime) -> None:
        try:
            await work(turn_of(time, failed))
        except storage.DeletionUnfinished:
            logger.warning("cleanup: %s ran out of time within an item", name)

    return Step(name, longest_item, until_out_of_time)


def cleanup_steps(
    notes: NotesRepository,
    positions: JobPositionsRepository,
    bucket: Bucket,
    open_session: Callable[[], Session],
    settings: Settings,
    now: datetime,
    counts: CleanupCounts,
) -> list[Step]:
    """Every step of a run at `now`, in order, each adding to `counts`, with the longest one
    of its items may take: from the longest a call may take, an S3 one
    (`aws.S3_CALLS.worst_case`), an SQL statement (`sql_timeout_seconds`) and a MongoDB
    operation (`mongodb_timeout_ms`, which the client enforces). Each step's
    query for the next batch counts with its first item."""
    mongo = timedelta(milliseconds=settings.mongodb_timeout_ms)
    sql = timedelta(seconds=settings.sql_timeout_seconds)
    # A note's, an attachment's or an account's objects: a listing and a deletion under each
    # of its two prefixes (uploads/, derived/).
    objects = 4 * aws.S3_CALLS.worst_case
    write = 3 * mongo  # a note's write, retried against concurrent ones (NotesRepository.update)
    trash_cutoff = now - timedelta(days=settings.trash_retention_days)
    upload_cutoff = now - timedelta(hours=settings.pending_attachment_max_age_hours)
    keep_since = now - late_write_horizon(settings)
    turn_of: TurnOf = partial(Turn, notes, bucket, settings.cleanup_batch_size, counts)

    def step(name: str, longest_item: timedelta, work: Callable[[Turn], Awaitable[None]]) -> Step:
        return _step(name, longest_item, work, turn_of)

    # Kept across the sweeps' turns, as `failed` is (`_step`).
    outputs_swept = SweepPosition(positions, storage.DERIVED, mongo)
    uploads_swept = SweepPosition(positions, storage.UPLOADS, mongo)

    async def unrecorded_outputs(turn: Turn) -> None:
        deleted, failures = await delete_unrecorded(
            turn, outputs_swept, outputs_cutoff(settings, now)
        )
        counts.unrecorded_outputs += deleted
        counts.note_failures += failures

    async def unrecorded_uploads(turn: Turn) -> None:
        deleted, failures = await delete_unrecorded(
            turn, uploads_swept, uploads_cutoff(settings, now)
        )
        counts.unrecorded_uploads += deleted
        counts.note_failures += failures

    return [
        step("old_trash", 2 * mongo + objects, lambda turn: purge_old_trash(turn, trash_cutoff)),
        step(
            "abandoned_uploads",
            mongo + write + objects,
            lambda turn: drop_abandoned_uploads(turn, upload_cutoff),
        ),
        step(
            "stuck_attachments",
            mongo + write,
            lambda turn: fail_stuck_processing(turn, upload_cutoff),
        ),
        step("stuck_edits", mongo + write, lambda turn: fail_stuck_edits(turn, upload_cutoff)),
        step(
            "deleted_accounts",
            2 * sql + mongo + objects,
            lambda turn: sweep_deleted_accounts(turn, open_session, keep_since),
        ),
        step(
            "sessions_and_login_failures",
            4 * sql,  # a connection and three statements
            lambda turn: delete_ended_sql(turn, open_session, settings, now),
        ),
        # After a deployment that bumped the version it may take long, and it resumes.
        step("rederive", 3 * mongo, rederive_outdated),
        # Last: they list the whole derived/ and uploads/ prefixes, over several runs when big,
        # and what they leave waits unharmed. An item: a page of the listing and its records
        # (at a run's first turn, the position read with it), or one deletion.
        step("unrecorded_outputs", aws.S3_CALLS.worst_case + 2 * mongo, unrecorded_outputs),
        step("unrecorded_uploads", aws.S3_CALLS.worst_case + 2 * mongo, unrecorded_uploads),
    ]


async def clean_up(
    notes: NotesRepository,
    positions: JobPositionsRepository,
    bucket: Bucket,
    open_session: Callable[[], Session],
    settings: Settings,
    clock: Clock,
    time: RunTime,
    counts: CleanupCounts,
) -> None:
    """Run every step within `time`, sharing it between them (`time_shares`), adding to
    `counts` as each goes: a run that fails part-way still tells what it did and what it
    could not. A run that stops short logs the steps it left for the next run."""
    steps = cleanup_steps(notes, positions, bucket, open_session, settings, clock(), counts)
    unfinished = await run_in_turns(steps, time)
    counts.unfinished = len(unfinished)
    if unfinished:
        logger.warning(
            "cleanup: out of time, left for the next run: %s",
            ", ".join(unfinished),
            extra={"unfinished": unfinished},
        )


def failure_metrics(counts: CleanupCounts) -> dict[str, int]:
    """What of a run's `counts` is written as metrics."""
    return {
        NOTE_FAILURES_METRIC: counts.note_failures,
        REDERIVE_FAILURES_METRIC: counts.rederive_failures,
        UNFINISHED_METRIC: int(counts.unfinished > 0),
    }


async def run(settings: Settings, clock: Clock, invocation: Invocation) -> dict[str, int]:
    """The cleanup function's job, with this container's clients.

    It stops before the invocation's deadline, leaving AFTER_STEPS for its metrics and log,
    and succeeds: every step is conditional and what it left is still due for the next run.
    """
    counts = CleanupCounts()
    try:
        await clean_up(
            await notes_repository(settings),
            await job_positions_repository(settings),
            # Bounded calls: an S3 that does not answer fails the run at its first note
            # (`_cleaned`) within seconds, not after botocore's 60 s a try, several tries.
            Bucket(
                aws.client("s3", settings, aws.S3_CALLS),
                settings.uploads_bucket,
                settings.cleanup_listing_page_size,
            ),
            session_factory(settings.database_url, settings.sql_timeout_seconds),
            settings,
            clock,
            RunTime.of(invocation, clock, AFTER_STEPS),
            counts,
        )
    finally:  # what it did, also when it failed part-way
        metrics.write_counts(failure_metrics(counts))
        logger.info("cleanup: %s", asdict(counts), extra={"counts": asdict(counts)})
    return asdict(counts)
