"""Writes through the notes repository on the real server: many writers of one note all get
in, and a note's `updated_at` never moves back (a sync relies on it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from smartnote.clock import utcnow
from smartnote.domain import attachments
from tests.utils.notes_repository import fresh_notes

OWNER = "writes-owner"


def _fields(**fields: Any) -> dict[str, Any]:
    defaults = {"title": "", "content": "", "tags": [], "pinned": False, "archived": False}
    return {**defaults, "color": None, "reminder": None, **fields}


async def test_every_attachment_of_a_multi_file_upload_gets_in(mongo_uri: str) -> None:
    """A client announces its photos at once: every writer reads the same version, one wins
    each round and the others retry; none is refused while the note is far from its cap."""
    async with fresh_notes(mongo_uri, "writes") as (repository, collection):
        note = await repository.create(OWNER, _fields(title="trip"))
        files = 16

        async def announce(i: int) -> None:
            attachment = attachments.new_attachment(f"{i:016x}", f"k/{i}", "p.jpg", "image/jpeg", 1)
            await repository.update(OWNER, note["_id"], attachments.add(attachment))

        await asyncio.gather(*(announce(i) for i in range(files)))
        stored = await collection.find_one({"_id": note["_id"]})
        assert stored is not None
        assert len(stored["attachments"]) == files
        assert stored["version"] == 1 + files


async def test_a_write_never_moves_updated_at_back(mongo_uri: str) -> None:
    """The last write was stamped by a container whose clock is ahead: the next one is not
    stamped before it, or a client syncing from that stamp would never see it."""
    async with fresh_notes(mongo_uri, "writes") as (repository, collection):
        note = await repository.create(OWNER, _fields(title="n"))
        ahead = utcnow() + timedelta(minutes=5)
        await collection.update_one({"_id": note["_id"]}, {"$set": {"updated_at": ahead}})
        saved = await repository.update(OWNER, note["_id"], lambda _: {"title": "later"})
        assert saved["updated_at"] == ahead
        saved = await repository.update(OWNER, note["_id"], lambda _: {"title": "again"})
        assert saved["updated_at"] == ahead
