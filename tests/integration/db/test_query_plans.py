"""Every list query shape is answered from one index, in its sort order (issue 7).

`list_query` names the index of each shape; these tests check that the index really serves
the sort (statically, against the index definitions) and, through `explain` on the server,
that it is read (IXSCAN, never COLLSCAN) and not sorted in memory where the server can do so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from smartnote.cursors import encode_cursor
from smartnote.repositories.notes import (
    INDEXES,
    SORTS,
    ListQuery,
    NoteQuery,
    derived_fields,
    list_query,
    new_note_id,
    tag_counts_pipeline,
)

OWNER = "plan-owner"
SINCE = datetime(2026, 1, 1, tzinfo=UTC)
SHAPES: dict[str, NoteQuery] = {
    **{f"default by {sort}": NoteQuery(sort=sort) for sort in SORTS},
    "archived": NoteQuery(archived=True),
    "trash": NoteQuery(trashed=True),
    "archived trash": NoteQuery(trashed=True, archived=True),
    "trash by title": NoteQuery(trashed=True, sort="title"),
    "pinned": NoteQuery(pinned=True),
    "pinned by title": NoteQuery(pinned=True, sort="title"),
    **{f"tag by {sort}": NoteQuery(tags=["work"], sort=sort) for sort in SORTS},
    "two tags": NoteQuery(tags=["work", "home"]),
    "q": NoteQuery(q="meeting"),
    "empty q": NoteQuery(q=" "),
    "q and tag": NoteQuery(q="meet notes", tags=["work"]),
    "sync": NoteQuery(updated_since=SINCE),
    "sync by title": NoteQuery(updated_since=SINCE, sort="title"),
    "sync of the trash": NoteQuery(updated_since=SINCE, trashed=True),
    "tag in the trash": NoteQuery(tags=["work"], trashed=True),
    "unpinned tag by created_at": NoteQuery(tags=["home"], pinned=False, sort="created_at"),
    "tag sync": NoteQuery(tags=["work"], updated_since=SINCE),
    "q in the trash by title": NoteQuery(q="meeting", trashed=True, sort="title"),
}


def _find(name: str, with_cursor: bool) -> ListQuery:
    query = SHAPES[name]
    cursor = None
    if with_cursor:
        values: list[Any] = {
            "updated_at": [False, SINCE, "f" * 24],
            "created_at": [False, SINCE, "f" * 24],
            "title": ["note", "f" * 24],
        }[query.sort]
        cursor = encode_cursor(values, query.fingerprint(OWNER))
    return list_query(OWNER, query, cursor)


def _equality_fields(mongo_filter: dict[str, Any]) -> set[str]:
    """Fields the filter pins to one value or a list of points (top level or in `$and`)."""
    fields = set()
    for clause in [mongo_filter, *mongo_filter.get("$and", [])]:
        for key, value in clause.items():
            if not isinstance(value, dict) or set(value) <= {"$in", "$all"}:
                fields.add(key)
    return fields


@pytest.mark.parametrize("with_cursor", [False, True], ids=["first page", "next page"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_the_named_index_serves_the_sort(name: str, with_cursor: bool) -> None:
    find = _find(name, with_cursor)
    keys = next(index.document["key"] for index in INDEXES if index.document["name"] == find.hint)
    fields = list(keys)
    prefix, rest = fields[: len(fields) - len(find.sort)], fields[len(fields) - len(find.sort) :]
    # Equality (or point) prefix, then exactly the sort keys with their directions.
    assert set(prefix) <= _equality_fields(find.filter), (prefix, find.filter)
    assert [(k, keys[k]) for k in rest] == find.sort


@pytest.fixture(scope="module")
def notes(mongo_uri: str) -> Iterator[Collection[dict[str, Any]]]:
    with MongoClient(mongo_uri, tz_aware=True) as client:
        collection = client["smartnote_plans"]["notes"]
        collection.drop()
        collection.create_indexes(INDEXES)
        documents = []
        for i in range(60):
            stamp = SINCE + timedelta(minutes=i)
            note: dict[str, Any] = {
                "_id": new_note_id(), "owner_id": OWNER if i % 4 else "someone-else",
                "title": f"Note {i}", "content": "meeting notes" if i % 3 else "other",
                "tags": [["work"], ["home"], ["work", "home"]][i % 3], "pinned": i % 5 == 0,
                "archived": i % 7 == 0, "color": None, "reminder": None, "version": 1,
                "created_at": stamp, "updated_at": stamp, "trashed": i % 11 == 0,
                "trashed_at": None, "attachments": [],
            }  # fmt: skip
            note.update(derived_fields(note))
            documents.append(note)
        collection.insert_many(documents)
        yield collection
        collection.drop()


def _stages(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Every stage of a plan tree as (stage, index name)."""
    found = [(str(plan.get("stage")), plan.get("indexName"))]
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        if child:
            found += _stages(child)
    return found


def _plan(notes: Collection[dict[str, Any]], find: ListQuery) -> list[tuple[str, str | None]]:
    cursor = notes.find(find.filter).sort(find.sort).hint(find.hint).limit(21)
    return _stages(cursor.explain()["queryPlanner"]["winningPlan"])


@pytest.mark.parametrize("with_cursor", [False, True], ids=["first page", "next page"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_every_list_shape_reads_its_index(
    notes: Collection[dict[str, Any]], name: str, with_cursor: bool
) -> None:
    stages = _plan(notes, _find(name, with_cursor))
    assert ("IXSCAN", _find(name, with_cursor).hint) in stages, stages
    assert all(stage != "COLLSCAN" for stage, _ in stages), stages


def _all_stages(explained: Any) -> list[tuple[str, str | None]]:
    """Every plan stage anywhere in an explain answer (an aggregate's plan is nested)."""
    if isinstance(explained, list):
        return [stage for item in explained for stage in _all_stages(item)]
    if not isinstance(explained, dict):
        return []
    found = [(str(explained["stage"]), explained.get("indexName"))] if "stage" in explained else []
    return found + [stage for value in explained.values() for stage in _all_stages(value)]


def test_tag_counts_read_the_owners_index_range(notes: Collection[dict[str, Any]]) -> None:
    explained = notes.database.command(
        "explain", {"aggregate": notes.name, "pipeline": tag_counts_pipeline(OWNER), "cursor": {}}
    )
    stages = _all_stages(explained)
    assert any(stage == "IXSCAN" and str(name).startswith("owner_") for stage, name in stages)
    assert all(stage != "COLLSCAN" for stage, _ in stages), stages


def _server_sorts_everything(notes: Collection[dict[str, Any]]) -> bool:
    """Whether the server adds a SORT even to a query its index returns in order."""
    stages = _plan(notes, _find("default by updated_at", with_cursor=False))
    return any(stage == "SORT" for stage, _ in stages)


@pytest.mark.parametrize("with_cursor", [False, True], ids=["first page", "next page"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_no_list_shape_sorts_in_memory(
    notes: Collection[dict[str, Any]], name: str, with_cursor: bool
) -> None:
    if _server_sorts_everything(notes):
        pytest.skip(
            "this server (SecantusDB 0.7) puts a SORT over every IXSCAN, even when the index "
            "gives the order; the index design is checked by test_the_named_index_serves_the_sort"
        )
    stages = _plan(notes, _find(name, with_cursor))
    assert all(stage != "SORT" for stage, _ in stages), stages
