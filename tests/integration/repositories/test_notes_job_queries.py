"""The jobs' queries read one index range: their cost follows what is due, not the notes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from smartnote.repositories.notes import (
    DERIVED_VERSION,
    DUE_REMINDERS_INDEX,
    INDEXES,
    OLD_TRASH_INDEX,
    OUTDATED_INDEX,
    STALE_UPLOADS_INDEX,
    WAITING_EDITS_INDEX,
    due_reminders_filter,
    old_trash_filter,
    outdated_filter,
    stale_pending_filter,
    stuck_processing_filter,
    waiting_edits_filter,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LIVE_NOTES = 300


@pytest.fixture
def notes(mongo_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    database = client[f"job_queries_{uuid.uuid4().hex[:8]}"]
    collection = database["notes"]
    collection.create_indexes(INDEXES)
    old = NOW - timedelta(days=60)
    collection.insert_many(
        [
            {
                "_id": uuid.uuid4().hex,
                "trashed": False,
                "trashed_at": None,
                # Future and already-sent reminders are not in the due range.
                "reminder_due_at": NOW + timedelta(days=1) if i % 2 else None,
                # Edits asked for a minute ago are not stuck yet; most notes have none.
                "edit_waiting_since": NOW - timedelta(minutes=1) if i % 3 == 0 else None,
                "attachments": [{"id": "a", "status": "ready", "created_at": old}],
                "derived_version": DERIVED_VERSION,
            }
            for i in range(LIVE_NOTES)
        ]
        + [
            {
                "_id": f"due-{i}",
                "trashed": False,
                "reminder_due_at": NOW - timedelta(minutes=i),
                "attachments": [{"id": "p", "status": "pending", "created_at": old}],
            }
            for i in range(3)
        ]
        + [{"_id": f"trash-{i}", "trashed": True, "trashed_at": old} for i in range(2)]
        + [
            {
                "_id": "stuck",
                "attachments": [
                    {"id": "s", "status": "processing", "created_at": old, "processing_since": old}
                ],
            }
        ]
        + [{"_id": f"edit-{i}", "edit_waiting_since": old} for i in range(2)]
        + [
            {
                "_id": "released",  # made long ago, its new version's processing failed lately
                "attachments": [
                    {"id": "r", "status": "pending", "created_at": old, "pending_since": NOW}
                ],
            }
        ]
    )
    yield collection
    client.drop_database(database.name)
    client.close()


def _examined(
    collection: Collection[dict[str, Any]], query: dict[str, Any], index: str
) -> tuple[str, int]:
    """The index a job's query (filter + its hint) reads, and how many notes it examines."""
    explained = collection.find(query).hint(index).explain()
    stage = explained["queryPlanner"]["winningPlan"]
    while "inputStage" in stage:
        stage = stage["inputStage"]
    stats = explained["executionStats"]
    assert stats["nReturned"] <= stats["totalDocsExamined"]
    return stage.get("indexName", stage["stage"]), int(stats["totalDocsExamined"])


def test_due_reminders_are_an_index_range(notes: Collection[dict[str, Any]]) -> None:
    assert _examined(notes, due_reminders_filter(NOW), DUE_REMINDERS_INDEX) == (
        "reminder_due",
        3,
    )


def test_old_trash_is_an_index_range(notes: Collection[dict[str, Any]]) -> None:
    assert _examined(notes, old_trash_filter(NOW - timedelta(days=30)), OLD_TRASH_INDEX) == (
        "trashed_at",
        2,
    )


def test_stale_uploads_are_an_index_range(notes: Collection[dict[str, Any]]) -> None:
    query = {"attachments": {"$elemMatch": stale_pending_filter(NOW - timedelta(days=1))}}
    # The three stale ones, and at most the one released lately (in the range, not returned).
    index, examined = _examined(notes, query, STALE_UPLOADS_INDEX)
    assert (index, examined in (3, 4)) == ("attachment_status", True)
    found = notes.find(query).hint(STALE_UPLOADS_INDEX)
    assert sorted(note["_id"] for note in found) == ["due-0", "due-1", "due-2"]


def test_stuck_processing_is_an_index_range(notes: Collection[dict[str, Any]]) -> None:
    query = {"attachments": {"$elemMatch": stuck_processing_filter(NOW - timedelta(days=1))}}
    assert _examined(notes, query, STALE_UPLOADS_INDEX) == ("attachment_status", 1)


def test_stuck_edits_are_an_index_range(notes: Collection[dict[str, Any]]) -> None:
    query = waiting_edits_filter(NOW - timedelta(days=1))
    assert _examined(notes, query, WAITING_EDITS_INDEX) == ("edit_waiting_since", 2)


def test_notes_written_by_an_older_version_are_an_index_range(
    notes: Collection[dict[str, Any]],
) -> None:
    """The live notes are up to date; the nine others were written before versions."""
    assert _examined(notes, outdated_filter(), OUTDATED_INDEX) == ("derived_version", 9)
