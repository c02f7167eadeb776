"""The `notes` collection: every query is keyed by owner and answered from an index."""

from __future__ import annotations

import asyncio
import secrets
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from smartnote.clock import utcnow
from smartnote.config import Settings
from smartnote.cursors import Scalar, decode_cursor, encode_cursor, fingerprint
from smartnote.db import mongo
from smartnote.domain.attachments import oldest_waiting_edit
from smartnote.domain.reminders import due_at
from smartnote.errors import Conflict, NotFound, PreconditionFailed
from smartnote.invocation import LAMBDA_PAYLOAD_BYTES
from smartnote.models.notes import canonical_tags
from smartnote.models.text import as_one_line
from smartnote.search import index_terms, terms_filter

Document = dict[str, Any]
COLLECTION = "notes"
NOTE_ID_LENGTH = 24
# A write without If-Match that lost a race to another write of the note is retried after a
# random pause (exponential, full jitter): writers that collided spread out instead of
# colliding again, so that a burst on one note (a multi-file upload announces each file at
# once) is absorbed. The retries stop after the budget, well inside the API functions' 15 s
# timeout; only contention lasting that long is a 409. In seconds:
_RETRY_FIRST_PAUSE = 0.005  # a pause is drawn from [0, p]; p doubles per attempt up to:
_RETRY_MAX_PAUSE = 0.25
_RETRY_BUDGET = 3.0
_jitter = secrets.SystemRandom()

# Sort orders, each ending in `_id` so that keyset paging is total. Pinned notes come first
# except when sorting by title (API.md).
SORTS: Mapping[str, list[tuple[str, int]]] = {
    "updated_at": [("pinned", DESCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)],
    "created_at": [("pinned", DESCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
    "title": [("title_key", ASCENDING), ("_id", ASCENDING)],
}
# What each sort key holds: a cursor naming anything else is refused before it is a query.
SORT_KEY_TYPES: Mapping[str, type[Scalar]] = {
    "pinned": bool,
    "updated_at": datetime,
    "created_at": datetime,
    "title_key": str,
    "_id": str,
}

# The jobs name their index: SecantusDB's planner scans the collection when a filter has a
# field outside the index (the lease, `$elemMatch`), while a hint reads the index range on
# both it and MongoDB.
DUE_REMINDERS_INDEX = "reminder_due"
OLD_TRASH_INDEX = "trashed_at"
STALE_UPLOADS_INDEX = "attachment_status"
WAITING_EDITS_INDEX = "edit_waiting_since"
OUTDATED_INDEX = "derived_version"
BY_ID = "_id_"  # the same for the jobs' writes to notes they found, `_id` plus conditions

# Equality prefix then the sort keys: a page is one index range read in order (no SORT
# stage, no skip). Without tags the prefix is (owner, trashed, archived); with tags the
# first tag is one more equality (`$all` on the others is checked on the fetched note).
_STATE = [("owner_id", ASCENDING), ("trashed", ASCENDING), ("archived", ASCENDING)]
_TAGGED = [
    ("owner_id", ASCENDING),
    ("tags", ASCENDING),
    ("trashed", ASCENDING),
    ("archived", ASCENDING),
]
INDEXES = [
    IndexModel([*_STATE, *spec], name=f"owner_state_{name}") for name, spec in SORTS.items()
] + [IndexModel([*_TAGGED, *spec], name=f"owner_tags_{name}") for name, spec in SORTS.items()]
INDEXES += [
    # The scheduled jobs' scans: each reads one index range of what is due or expired.
    IndexModel([("reminder_due_at", ASCENDING)], name=DUE_REMINDERS_INDEX),
    IndexModel([("trashed", ASCENDING), ("trashed_at", ASCENDING)], name=OLD_TRASH_INDEX),
    IndexModel(
        [("attachments.status", ASCENDING), ("attachments.created_at", ASCENDING)],
        name=STALE_UPLOADS_INDEX,
    ),
    IndexModel([("edit_waiting_since", ASCENDING)], name=WAITING_EDITS_INDEX),
    IndexModel([("derived_version", ASCENDING)], name=OUTDATED_INDEX),
]
# No index on `terms` (the biggest one: every word of every note) nor on updated_at alone: a
# word prefix is a range, which cannot give the sort order, so `q` reads the state index in
# order and checks the words on each note; a sync reads the state index too (_ANY_STATE).
# Both states, written as points: MongoDB then reads each (trashed, archived) range in sort
# order and merges them (SORT_MERGE) instead of sorting; every note has both fields.
_ANY_STATE = {"$in": [False, True]}

# What a client sees of a stored note; search terms, sort keys and job state stay inside.
PUBLIC_PROJECTION = {
    "terms": 0,
    "title_key": 0,
    "owner_id": 0,
    "reminder_due_at": 0,
    "edit_waiting_since": 0,
    "derived_version": 0,
    "reminder_claim": 0,
    "reminder_lease_until": 0,
}


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    await database[COLLECTION].create_indexes(INDEXES)


async def notes_database(settings: Settings) -> AsyncDatabase[Document]:
    """The database of this container's client, its notes indexes ensured once per client."""
    return await mongo.get_database(
        settings.mongodb_uri,
        settings.mongodb_db,
        prepare=ensure_indexes,
        timeout_ms=settings.mongodb_timeout_ms,
    )


async def notes_repository(settings: Settings) -> NotesRepository:
    """The notes repository on this container's client (routes and scheduled jobs)."""
    return NotesRepository((await notes_database(settings))[COLLECTION])


def new_note_id() -> str:
    return secrets.token_hex(NOTE_ID_LENGTH // 2)


def is_note_id(value: str) -> bool:
    return len(value) == NOTE_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


# Which version of `derived_fields` and of `canonical_fields` wrote a note; notes written
# before versions have no `derived_version`. Bump it with any change to either: the daily
# cleanup brings every note written by an older version up to date (`rederive`), so that old
# notes are found, sorted and filtered as new ones are, with no migration to run.
# 2: Chinese, Japanese and Thai words as character pairs in `terms`, tags and `title_key`
#    composed (NFC), `edit_waiting_since`.
# 3: dotless i (U+0131) and stroked letters ("ł", "ø", "đ") searched as "i", "l", "o", "d".
# 4: titles one line of text (line breaks as spaces, bidi controls dropped).
# 5: tags one line of text too, those that show nothing dropped.
DERIVED_VERSION = 5


def derived_fields(note: Mapping[str, Any]) -> Document:
    """Fields computed from the editable ones: search terms, the title sort key, when the
    reminder is due and since when the oldest unfinished image edit waits (only notes with a
    pending reminder or edit are in those index ranges)."""
    ocr_texts = [a.get("ocr_text") or "" for a in note.get("attachments", [])]
    return {
        "derived_version": DERIVED_VERSION,
        "terms": index_terms([note["title"], *note["tags"], *ocr_texts, note["content"]]),
        # Composed: a title typed precomposed or decomposed sorts in one place.
        "title_key": unicodedata.normalize("NFC", note["title"].casefold()),
        "reminder_due_at": due_at(note),
        "edit_waiting_since": oldest_waiting_edit(note),
    }


def canonical_fields(note: Mapping[str, Any]) -> Document:
    """The editable fields that an older version stored in another form than the current one,
    which a client could not send back as read: tags composed (NFC), one visible line each
    and unique (`models.notes.canonical_tags`), the title one line of text (`models.text`).
    Empty for a note in the current form."""
    canonical: Document = {}
    tags = canonical_tags(note["tags"])
    if tags != note["tags"]:
        canonical["tags"] = tags
    title = as_one_line(note["title"])
    if title != note["title"]:
        canonical["title"] = title
    return canonical


@dataclass(frozen=True)
class NoteQuery:
    """The filters of `GET /notes`; `None` means "the default" (see `to_filter`)."""

    q: str | None = None
    tags: list[str] = field(default_factory=list)
    pinned: bool | None = None
    archived: bool | None = None
    trashed: bool | None = None
    updated_since: datetime | None = None
    sort: str = "updated_at"

    def to_filter(self, owner_id: str) -> Document:
        query: Document = {"owner_id": owner_id}
        # A sync (`updated_since`) sees trashed and archived notes unless asked otherwise, and
        # so does the trash view archived ones: cleanup purges them all the same.
        syncing = self.updated_since is not None
        query["trashed"] = _ANY_STATE if self.trashed is None and syncing else bool(self.trashed)
        any_archived = self.archived is None and (syncing or bool(self.trashed))
        query["archived"] = _ANY_STATE if any_archived else bool(self.archived)
        if self.updated_since is not None:
            query["updated_at"] = {"$gte": self.updated_since}
        if self.pinned is not None:
            query["pinned"] = self.pinned
        if self.tags:
            query["tags"] = {"$all": sorted(self.tags)}  # a set: the order it was sent in is none
        if self.q and not self.q.isspace():  # an empty search is no filter
            query.update(terms_filter(self.q))
        return query

    def index_name(self) -> str:
        """The one index that answers this query in its sort order."""
        return f"owner_{'tags' if self.tags else 'state'}_{self.sort}"

    def fingerprint(self, owner_id: str) -> str:
        """What a cursor of this query is bound to: the owner's list as `to_filter` reads it
        (tags, words and defaults as understood, not as spelled) and its sort."""
        return _bound_to(self.to_filter(owner_id), self.sort)


def _bound_to(query_filter: Document, sort: str) -> str:
    return fingerprint(query_filter, sort)


@dataclass(frozen=True)
class ListQuery:
    """Exactly what `NotesRepository.page` sends: filter, sort and the index it must use."""

    filter: Document
    sort: list[tuple[str, int]]
    hint: str
    bound_to: str  # what the page's next cursor is bound to (`NoteQuery.fingerprint`)


def list_query(owner_id: str, query: NoteQuery, cursor: str | None) -> ListQuery:
    """The find of one page. The index is named (hinted) so that a query with a selective-
    looking filter (`q`'s terms) is still read in sort order and stops at the page size,
    instead of fetching every match and sorting it in memory."""
    spec = SORTS[query.sort]
    mongo_filter = query.to_filter(owner_id)
    bound_to = _bound_to(mongo_filter, query.sort)
    if cursor is not None:
        kinds = [SORT_KEY_TYPES[key] for key, _ in spec]
        values = decode_cursor(cursor, bound_to, kinds)
        mongo_filter = {"$and": [mongo_filter, _after(spec, values)]}
    return ListQuery(mongo_filter, spec, query.index_name(), bound_to)


def _after(spec: list[tuple[str, int]], values: list[Any]) -> Document:
    """Keyset condition: strictly after `values` in the order `spec`."""
    branches = []
    for i, (key, direction) in enumerate(spec):
        branch: Document = {k: v for (k, _), v in zip(spec[:i], values[:i], strict=True)}
        branch[key] = {"$gt" if direction == ASCENDING else "$lt": values[i]}
        branches.append(branch)
    return {"$or": branches}


class NotesRepository:
    """Notes of one owner at a time; another owner's note is indistinguishable from none."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._notes = collection

    async def create(self, owner_id: str, fields: Mapping[str, Any]) -> Document:
        now = utcnow()
        note: Document = {
            "_id": new_note_id(),
            "owner_id": owner_id,
            **fields,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "trashed": False,
            "trashed_at": None,
            "attachments": [],
        }
        note.update(derived_fields(note))
        await self._notes.insert_one(note)
        return note

    async def get(self, owner_id: str, note_id: str) -> Document:
        if not is_note_id(note_id):
            raise NotFound("Note not found")
        note = await self._notes.find_one({"_id": note_id, "owner_id": owner_id}, PUBLIC_PROJECTION)
        if note is None:
            raise NotFound("Note not found")
        return note

    async def page(
        self, owner_id: str, query: NoteQuery, limit: int, cursor: str | None
    ) -> tuple[list[Document], str | None]:
        find = list_query(owner_id, query, cursor)
        spec = find.sort
        projection = {key: 0 for key in PUBLIC_PROJECTION if key != "title_key"}
        found = (
            await self._notes.find(find.filter, projection)
            .sort(spec)
            .hint(find.hint)
            .limit(limit + 1)
            .to_list()
        )
        page = within_answer_budget(found[:limit])
        next_cursor = None
        if len(found) > len(page):
            last = page[-1]
            next_cursor = encode_cursor([last[key] for key, _ in spec], find.bound_to)
        for note in page:
            note.pop("title_key", None)
        return page, next_cursor

    async def update(
        self,
        owner_id: str,
        note_id: str,
        change: Callable[[Document], Document],
        precondition: Callable[[int], bool] | None = None,
    ) -> Document:
        """Apply `change` (current note -> fields to set) atomically against the version read.

        `precondition` (If-Match) is checked on the version of a note that exists: false is a
        412. With a precondition a concurrent write is a 412; without, it is retried (after a
        jittered pause) for up to `_RETRY_BUDGET` seconds, then a 409. Fields set to what they
        hold are no write: a save that changes nothing is no new version (an autosave must not
        fail other clients' If-Match, nor show a sync a change).
        """
        if not is_note_id(note_id):
            raise NotFound("Note not found")
        give_up_at = time.monotonic() + _RETRY_BUDGET
        pause = _RETRY_FIRST_PAUSE
        while True:
            current = await self._notes.find_one({"_id": note_id, "owner_id": owner_id})
            if current is None:
                raise NotFound("Note not found")
            if precondition is not None and not precondition(current["version"]):
                raise PreconditionFailed()
            updates = _changed(current, change(current))
            if not updates:
                return {k: v for k, v in current.items() if k not in PUBLIC_PROJECTION}
            # A note an older version wrote is brought to the current form with the write.
            updates.update(canonical_fields({**current, **updates}))
            updates.update(derived_fields({**current, **updates}))
            # The time of this write, never before the stored one (another container's clock
            # may be ahead): a note's updated_at only moves forward, as `updated_since` needs.
            updates["updated_at"] = max(current["updated_at"], utcnow())
            saved = await self._notes.find_one_and_update(
                {"_id": note_id, "owner_id": owner_id, "version": current["version"]},
                {"$set": updates, "$inc": {"version": 1}},
                projection=PUBLIC_PROJECTION,
                return_document=ReturnDocument.AFTER,
            )
            if saved is not None:
                return saved
            if precondition is not None:
                raise PreconditionFailed()
            if time.monotonic() >= give_up_at:
                raise Conflict("The note is being changed concurrently; try again")
            await asyncio.sleep(_jitter.uniform(0, pause))
            pause = min(_RETRY_MAX_PAUSE, pause * 2)

    async def delete(
        self, owner_id: str, note_id: str, precondition: Callable[[int], bool] | None = None
    ) -> None:
        """Delete the note; with a `precondition` (If-Match), only the version it holds for
        (412 otherwise, also when a write got in between)."""
        if not is_note_id(note_id):
            raise NotFound("Note not found")
        note: Document = {"_id": note_id, "owner_id": owner_id}
        if precondition is None:
            if (await self._notes.delete_one(note)).deleted_count == 0:
                raise NotFound("Note not found")
            return
        current = await self._notes.find_one(note, {"version": 1})
        if current is None:
            raise NotFound("Note not found")
        if not precondition(current["version"]):
            raise PreconditionFailed()
        result = await self._notes.delete_one({**note, "version": current["version"]})
        if result.deleted_count == 0:
            # Written since it was read (a new version: 412), or deleted meanwhile (404).
            if await self._notes.find_one(note, {"_id": 1}) is not None:
                raise PreconditionFailed()
            raise NotFound("Note not found")

    async def delete_all_of_owner(self, owner_id: str) -> int:
        result = await self._notes.delete_many({"owner_id": owner_id})
        return result.deleted_count

    async def tag_counts(self, owner_id: str) -> list[Document]:
        cursor = await self._notes.aggregate(tag_counts_pipeline(owner_id))
        return [{"name": row["_id"], "count": row["count"]} async for row in cursor]

    # --- the scheduled jobs: across owners, each scan one index range ------------------------

    async def claim_due_reminders(
        self, now: datetime, lease_until: datetime, claim: str, limit: int
    ) -> list[Document]:
        """Claim up to `limit` reminders due at `now` for one run, atomically per note.

        A claim is a lease: notes claimed by a run that is still within its lease are skipped
        by every other run; a lease that ran out (a crashed run) is free again. A lease that
        ends exactly at `now` is not free yet, so a run never re-claims a send it just
        released after a failure (the next run retries it).
        """
        free = due_reminders_filter(now)
        candidates = (
            await self._notes.find(free, {"_id": 1})
            .hint(DUE_REMINDERS_INDEX)
            .sort("reminder_due_at", ASCENDING)
            .limit(limit)
            .to_list()
        )
        if not candidates:
            return []
        ids = [note["_id"] for note in candidates]
        await self._notes.update_many(
            {"_id": {"$in": ids}, **free},
            {"$set": {"reminder_claim": claim, "reminder_lease_until": lease_until}},
            hint=BY_ID,
        )
        projection = {"owner_id": 1, "title": 1, "content": 1, "reminder": 1, "trashed": 1}
        return (
            await self._notes.find({"_id": {"$in": ids}, "reminder_claim": claim}, projection)
            .hint(BY_ID)
            .to_list()
        )

    async def holds_reminder(self, note_id: str, claim: str, reminder: Document) -> bool:
        """Whether this run still holds the claim on the note's reminder as it was claimed
        (not cleared, moved, repeated differently or trashed since): checked before a send."""
        found = await self._notes.find_one(
            claimed_reminder_filter(note_id, claim, reminder), {"_id": 1}, hint=BY_ID
        )
        return found is not None

    async def finish_reminder(
        self, note_id: str, claim: str, claimed: Document, reminder: Document, now: datetime
    ) -> bool:
        """Store the reminder after its occurrence was handled, if this run still holds the
        claim and the owner neither changed the `claimed` reminder nor trashed the note
        meanwhile; otherwise the owner's reminder stays as they made it (only released)."""
        result = await self._notes.update_one(
            claimed_reminder_filter(note_id, claim, claimed),
            {
                "$set": {"reminder": reminder, "reminder_due_at": due_at({"reminder": reminder})},
                # The write's own time, not the run's: a sync must see it after any write of
                # the note stamped earlier, and the stored one is never moved back.
                "$max": {"updated_at": utcnow()},
                "$unset": {"reminder_claim": "", "reminder_lease_until": ""},
                "$inc": {"version": 1},
            },
            hint=BY_ID,
        )
        if result.modified_count == 1:
            return True
        await self.release_reminder(note_id, claim, now)
        return False

    async def count_refusal(self, note_id: str, claim: str, claimed: Document) -> None:
        """Count a refusal of the `claimed` reminder's email in its `refusals`, unless the
        owner changed it meanwhile. The job's own record: no new version for clients (a save
        of the note that read it before may put the count back by one: one more try)."""
        await self._notes.update_one(
            claimed_reminder_filter(note_id, claim, claimed),
            {"$inc": {"reminder.refusals": 1}},
            hint=BY_ID,
        )

    async def release_reminder(self, note_id: str, claim: str, free_after: datetime) -> None:
        """Give a claimed reminder back; other runs may take it once `free_after` is past."""
        await self._notes.update_one(
            {"_id": note_id, "reminder_claim": claim},
            {"$set": {"reminder_lease_until": free_after}, "$unset": {"reminder_claim": ""}},
            hint=BY_ID,
        )

    async def trashed_before(
        self, cutoff: datetime, limit: int, skip_ids: Sequence[str] = ()
    ) -> list[Document]:
        """Notes trashed before `cutoff` (oldest first), but `skip_ids`: `_id`, `owner_id`."""
        return (
            await self._notes.find(_skipping(old_trash_filter(cutoff), skip_ids), {"owner_id": 1})
            .hint(OLD_TRASH_INDEX)
            .sort("trashed_at", ASCENDING)
            .limit(limit)
            .to_list()
        )

    async def purge_trashed(self, note_id: str, cutoff: datetime) -> bool:
        """Delete the note if it is still in the trash since before `cutoff` (not restored)."""
        result = await self._notes.delete_one(
            {"_id": note_id, **old_trash_filter(cutoff)}, hint=BY_ID
        )
        return result.deleted_count == 1

    async def with_stale_pending_attachments(
        self, cutoff: datetime, limit: int, skip_ids: Sequence[str] = ()
    ) -> list[Document]:
        """Notes holding an attachment still `pending` since before `cutoff`."""
        return await self._with_attachment(stale_pending_filter(cutoff), limit, skip_ids)

    async def with_stuck_processing_attachments(
        self, cutoff: datetime, limit: int, skip_ids: Sequence[str] = ()
    ) -> list[Document]:
        """Notes holding an attachment `processing` since before `cutoff` (never finished)."""
        return await self._with_attachment(stuck_processing_filter(cutoff), limit, skip_ids)

    async def with_edits_waiting_since_before(
        self, cutoff: datetime, limit: int, skip_ids: Sequence[str] = ()
    ) -> list[Document]:
        """Notes (`_id`, `owner_id`) with an image edit unfinished since before `cutoff`."""
        query = _skipping(waiting_edits_filter(cutoff), skip_ids)
        return (
            await self._notes.find(query, {"owner_id": 1})
            .hint(WAITING_EDITS_INDEX)
            .limit(limit)
            .to_list()
        )

    async def attachments_of(self, note_ids: Sequence[str]) -> list[Document]:
        """The notes of `note_ids` that exist (`_id`, `owner_id`, `attachments`), trashed
        ones too."""
        query = {"_id": {"$in": list(note_ids)}}
        found = self._notes.find(query, {"owner_id": 1, "attachments": 1}).hint(BY_ID)
        return await found.to_list()

    async def outdated(self, limit: int, skip_ids: Sequence[str] = ()) -> list[Document]:
        """Notes (`_id`) written by an older `DERIVED_VERSION` than this code's, but `skip_ids`."""
        query = _skipping(outdated_filter(), skip_ids)
        return await self._notes.find(query, {"_id": 1}).hint(OUTDATED_INDEX).limit(limit).to_list()

    async def rederive(self, note_id: str) -> bool:
        """Write the note's derived fields (and its editable fields in their current form) as
        this version computes them; False when the note is gone or already up to date.

        Only against the version read: a write of the note meanwhile derived them itself. The
        derived fields are not what a client sees, so only a change of form (a tag composed)
        is a new version of the note, stamped with the time of the write for a sync.
        """
        note = await self._notes.find_one({"_id": note_id, **outdated_filter()}, hint=BY_ID)
        if note is None:
            return False
        canonical = canonical_fields(note)
        updates: Document = {**canonical, **derived_fields({**note, **canonical})}
        change: Document = {"$set": updates}
        if canonical:
            updates["updated_at"] = max(note["updated_at"], utcnow())
            change["$inc"] = {"version": 1}
        result = await self._notes.update_one(
            {"_id": note_id, "version": note["version"]}, change, hint=BY_ID
        )
        return result.modified_count == 1

    async def _with_attachment(
        self, element: Document, limit: int, skip_ids: Sequence[str]
    ) -> list[Document]:
        """Notes (`_id`, `owner_id`) holding an attachment that matches `element`, whose
        status and creation time are a range of the attachments' index; but `skip_ids`."""
        query = _skipping({"attachments": {"$elemMatch": element}}, skip_ids)
        return (
            await self._notes.find(query, {"owner_id": 1})
            .hint(STALE_UPLOADS_INDEX)
            .limit(limit)
            .to_list()
        )


def tag_counts_pipeline(owner_id: str) -> list[Document]:
    """`/tags`: the owner's notes out of the trash (a state indexes' range), counted by tag."""
    return [
        {"$match": {"owner_id": owner_id, "trashed": False}},
        {"$project": {"tags": 1}},
        {"$unwind": "$tags"},
        {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
        {"$sort": {"count": -1, "_id": 1}},
    ]


def _skipping(query: Document, skip_ids: Sequence[str]) -> Document:
    """`query` without the notes of `skip_ids` (a job's failures, left for its next run)."""
    return {**query, "_id": {"$nin": list(skip_ids)}} if skip_ids else query


def _changed(current: Mapping[str, Any], updates: Document) -> Document:
    """The `updates` that set a field to something else than it holds."""
    return {
        key: value for key, value in updates.items() if key not in current or current[key] != value
    }


def outdated_filter() -> Document:
    """Notes written by an older version than `DERIVED_VERSION`, or before versions."""
    return {"derived_version": {"$not": {"$gte": DERIVED_VERSION}}}


def due_reminders_filter(now: datetime) -> Document:
    """Reminders due at `now` and not claimed by a run whose lease is still running.

    An index range on `reminder_due_at`: one key per due reminder, whatever the note count.
    """
    return {
        "reminder_due_at": {"$lte": now},
        "$or": [{"reminder_lease_until": None}, {"reminder_lease_until": {"$lt": now}}],
    }


def claimed_reminder_filter(note_id: str, claim: str, reminder: Mapping[str, Any]) -> Document:
    """The note, claimed by `claim`, not trashed, with exactly `reminder`: every field as
    claimed, so that a reminder cleared, moved or repeated differently meanwhile is not it."""
    return {
        "_id": note_id,
        "reminder_claim": claim,
        "trashed": False,
        **{f"reminder.{key}": value for key, value in reminder.items()},
    }


def old_trash_filter(cutoff: datetime) -> Document:
    return {"trashed": True, "trashed_at": {"$lt": cutoff}}


# A page's notes stay under this in the JSON Lambda returns (6 MB for the whole answer), so a
# page of big notes ends early with a cursor instead of failing (API Gateway's 502).
PAGE_ANSWER_BYTES = LAMBDA_PAYLOAD_BYTES - 1024 * 1024
# A character of a note's text is at most 12 bytes there: an astral one is 4 bytes of UTF-8 in
# the body, and `\ud83d\ude00` in the Lambda result, JSON of the body's JSON.
BYTES_PER_CHAR = 12
ATTACHMENT_SUMMARY_BYTES = 4096  # a filename of 255 characters and a few short fields


def answer_bytes(note: Document) -> int:
    """An upper bound of what `note` adds to a list's answer, as Lambda returns it."""
    texts = [note.get("title", ""), note.get("content", ""), note.get("color") or ""]
    characters = sum(len(text) for text in texts) + sum(len(tag) + 3 for tag in note["tags"])
    attachments = len(note.get("attachments") or [])
    return BYTES_PER_CHAR * characters + 2048 + ATTACHMENT_SUMMARY_BYTES * attachments


def within_answer_budget(notes: list[Document]) -> list[Document]:
    """The first of `notes` that fit in one answer (at least one: a note alone always fits)."""
    kept: list[Document] = []
    left = PAGE_ANSWER_BYTES
    for note in notes:
        size = answer_bytes(note)
        if kept and size > left:
            break
        kept.append(note)
        left -= size
    return kept


def stale_pending_filter(cutoff: datetime) -> Document:
    """An attachment (array element) still `pending` since before `cutoff`, as
    `domain.attachments.stale_pending`: created before it (the index range) and not pending
    again since it (a release; attachments stored before `pending_since` have none)."""
    return {
        "status": "pending",
        "created_at": {"$lt": cutoff},
        "pending_since": {"$not": {"$gte": cutoff}},
    }


def waiting_edits_filter(cutoff: datetime) -> Document:
    """Notes with an image edit unfinished since before `cutoff`, as
    `domain.attachments.fail_stuck_edits`: an index range, one key per note (None, outside
    the range, for every note with no edit waiting)."""
    return {"edit_waiting_since": {"$lt": cutoff}}


def stuck_processing_filter(cutoff: datetime) -> Document:
    """An attachment (array element) `processing` since before `cutoff` (created before it
    too: the index range), as `domain.attachments.stuck_processing`."""
    return {
        "status": "processing",
        "created_at": {"$lt": cutoff},
        "processing_since": {"$lt": cutoff},
    }
