"""The `notes` collection: every query is keyed by owner and answered from an index."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from smartnote.clock import utcnow
from smartnote.cursors import decode_cursor, encode_cursor, fingerprint
from smartnote.errors import Conflict, NotFound, PreconditionFailed
from smartnote.search import index_terms, terms_filter

Document = dict[str, Any]
COLLECTION = "notes"
NOTE_ID_LENGTH = 24
_UPDATE_ATTEMPTS = 5

# Sort orders, each ending in `_id` so that keyset paging is total. Pinned notes come first
# except when sorting by title (API.md).
SORTS: Mapping[str, list[tuple[str, int]]] = {
    "updated_at": [("pinned", DESCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)],
    "created_at": [("pinned", DESCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
    "title": [("title_key", ASCENDING), ("_id", ASCENDING)],
}

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
# No index on `terms` (the biggest one: every word of every note) nor on updated_at alone: a
# word prefix is a range, which cannot give the sort order, so `q` reads the state index in
# order and checks the words on each note; a sync reads the state index too (_ANY_STATE).
# Both states, written as points: MongoDB then reads each (trashed, archived) range in sort
# order and merges them (SORT_MERGE) instead of sorting; every note has both fields.
_ANY_STATE = {"$in": [False, True]}

# What a client sees of a stored note; search terms and sort keys stay inside.
PUBLIC_PROJECTION = {"terms": 0, "title_key": 0, "owner_id": 0}


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    await database[COLLECTION].create_indexes(INDEXES)


def new_note_id() -> str:
    return secrets.token_hex(NOTE_ID_LENGTH // 2)


def is_note_id(value: str) -> bool:
    return len(value) == NOTE_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


def derived_fields(note: Mapping[str, Any]) -> Document:
    """Fields computed from the editable ones: search terms and the title sort key."""
    ocr_texts = [a.get("ocr_text") or "" for a in note.get("attachments", [])]
    return {
        "terms": index_terms([note["title"], note["content"], *note["tags"], *ocr_texts]),
        "title_key": note["title"].casefold(),
    }


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
        # A sync (`updated_since`) sees trashed and archived notes unless asked otherwise.
        syncing = self.updated_since is not None
        query["trashed"] = _ANY_STATE if self.trashed is None and syncing else bool(self.trashed)
        query["archived"] = _ANY_STATE if self.archived is None and syncing else bool(self.archived)
        if self.updated_since is not None:
            query["updated_at"] = {"$gte": self.updated_since}
        if self.pinned is not None:
            query["pinned"] = self.pinned
        if self.tags:
            query["tags"] = {"$all": self.tags}
        if self.q is not None:
            query.update(terms_filter(self.q))
        return query

    def index_name(self) -> str:
        """The one index that answers this query in its sort order."""
        return f"owner_{'tags' if self.tags else 'state'}_{self.sort}"

    def fingerprint(self) -> str:
        return fingerprint(
            self.q,
            self.tags,
            self.pinned,
            self.archived,
            self.trashed,
            self.updated_since,
            self.sort,
        )


@dataclass(frozen=True)
class ListQuery:
    """Exactly what `NotesRepository.page` sends: filter, sort and the index it must use."""

    filter: Document
    sort: list[tuple[str, int]]
    hint: str


def list_query(owner_id: str, query: NoteQuery, cursor: str | None) -> ListQuery:
    """The find of one page. The index is named (hinted) so that a query with a selective-
    looking filter (`q`'s terms) is still read in sort order and stops at the page size,
    instead of fetching every match and sorting it in memory."""
    spec = SORTS[query.sort]
    mongo_filter = query.to_filter(owner_id)
    if cursor is not None:
        values = decode_cursor(cursor, query.fingerprint(), len(spec))
        mongo_filter = {"$and": [mongo_filter, _after(spec, values)]}
    return ListQuery(mongo_filter, spec, query.index_name())


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
        projection = {"terms": 0, "owner_id": 0}
        found = (
            await self._notes.find(find.filter, projection)
            .sort(spec)
            .hint(find.hint)
            .limit(limit + 1)
            .to_list()
        )
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = page[-1]
            next_cursor = encode_cursor([last[key] for key, _ in spec], query.fingerprint())
        for note in page:
            note.pop("title_key", None)
        return page, next_cursor

    async def update(
        self,
        owner_id: str,
        note_id: str,
        change: Callable[[Document], Document],
        expected_version: int | None = None,
    ) -> Document:
        """Apply `change` (current note -> fields to set) atomically against the version read.

        With `expected_version` a mismatch is a 412; without, a concurrent write is retried.
        """
        if not is_note_id(note_id):
            raise NotFound("Note not found")
        for _ in range(_UPDATE_ATTEMPTS):
            current = await self._notes.find_one({"_id": note_id, "owner_id": owner_id})
            if current is None:
                raise NotFound("Note not found")
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed()
            updates = change(current)
            if not updates:
                return {k: v for k, v in current.items() if k not in PUBLIC_PROJECTION}
            merged = {**current, **updates}
            updates.update(derived_fields(merged))
            updates["updated_at"] = utcnow()
            saved = await self._notes.find_one_and_update(
                {"_id": note_id, "owner_id": owner_id, "version": current["version"]},
                {"$set": updates, "$inc": {"version": 1}},
                projection=PUBLIC_PROJECTION,
                return_document=ReturnDocument.AFTER,
            )
            if saved is not None:
                return saved
            if expected_version is not None:
                raise PreconditionFailed()
        raise Conflict("The note is being changed concurrently; try again")

    async def delete(self, owner_id: str, note_id: str) -> None:
        if not is_note_id(note_id):
            raise NotFound("Note not found")
        result = await self._notes.delete_one({"_id": note_id, "owner_id": owner_id})
        if result.deleted_count == 0:
            raise NotFound("Note not found")

    async def delete_all_of_owner(self, owner_id: str) -> int:
        result = await self._notes.delete_many({"owner_id": owner_id})
        return result.deleted_count

    async def tag_counts(self, owner_id: str) -> list[Document]:
        pipeline: list[Document] = [
            {"$match": {"owner_id": owner_id, "trashed": False}},
            {"$project": {"tags": 1}},
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
            {"$sort": {"count": -1, "_id": 1}},
        ]
        cursor = await self._notes.aggregate(pipeline)
        return [{"name": row["_id"], "count": row["count"]} async for row in cursor]
