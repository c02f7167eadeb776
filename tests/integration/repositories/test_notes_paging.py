"""Keyset paging through the notes repository on the real server: notes that tie on every
sort key but `_id` (one instant, one title) come each once, in `_id` order, and a list sorted
by an unchanging key gives every note once while the note a cursor points at is deleted and
others are edited between pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from smartnote.repositories import notes as notes_module
from smartnote.repositories.notes import SORTS, NoteQuery, NotesRepository
from tests.utils.notes_repository import fresh_notes

OWNER = "paging-owner"
INSTANT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _fields(**fields: Any) -> dict[str, Any]:
    defaults = {"title": "same", "content": "", "tags": [], "pinned": False, "archived": False}
    return {**defaults, "color": None, "reminder": None, **fields}


async def _pages(repository: NotesRepository, query: NoteQuery, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        found, cursor = await repository.page(OWNER, query, limit, cursor)
        pages.append([note["_id"] for note in found])
        if cursor is None:
            return pages


@pytest.mark.parametrize("sort", list(SORTS))
async def test_notes_tied_on_every_key_but_id_come_each_once_in_id_order(
    mongo_uri: str, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    monkeypatch.setattr(notes_module, "utcnow", lambda: INSTANT)
    async with fresh_notes(mongo_uri, "ties") as (repository, _):
        pinned = [(await repository.create(OWNER, _fields(pinned=True)))["_id"] for _ in range(3)]
        plain = [(await repository.create(OWNER, _fields()))["_id"] for _ in range(5)]
        pages = await _pages(repository, NoteQuery(sort=sort), limit=2)
    listed = [note_id for page in pages for note_id in page]
    if sort == "title":  # no pinned-first: the title ties, `_id` ascending decides
        assert listed == sorted(pinned + plain)
    else:
        assert listed == sorted(pinned, reverse=True) + sorted(plain, reverse=True)


async def test_paging_by_creation_survives_deletes_and_edits_between_pages(
    mongo_uri: str,
) -> None:
    async with fresh_notes(mongo_uri, "churn") as (repository, _):
        ids = [
            (await repository.create(OWNER, _fields(title=f"n{i}", pinned=i % 4 == 0)))["_id"]
            for i in range(13)
        ]
        query = NoteQuery(sort="created_at")
        seen: list[str] = []
        deleted: set[str] = set()
        cursor: str | None = None
        while True:
            found, cursor = await repository.page(OWNER, query, 3, cursor)
            seen += [note["_id"] for note in found]
            if cursor is None:
                break
            await repository.delete(OWNER, seen[-1])  # the note the cursor points at
            deleted.add(seen[-1])
            for note_id in [i for i in ids if i not in seen][:2]:  # edits of notes to come
                await repository.update(OWNER, note_id, lambda _: {"content": "edited"})
    assert deleted
    assert len(seen) == len(set(seen))
    assert set(seen) == set(ids)
