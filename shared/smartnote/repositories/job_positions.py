"""The `job_positions` collection: where a scheduled job's listing got to, one small
document a listing (by name), so that its next run goes on from there instead of from the
start (`jobs.cleanup.SweepPosition`). A position is a hint, never a record of what is due:
lost, stale or never written, the job only lists more again."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from smartnote.config import Settings
from smartnote.repositories.notes import notes_database

Document = dict[str, Any]
COLLECTION = "job_positions"


class JobPositionsRepository:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._positions = collection

    async def get(self, name: str) -> str | None:
        """The position kept for `name`, or None (the start)."""
        found = await self._positions.find_one({"_id": name})
        after = None if found is None else found.get("after")
        return after if isinstance(after, str) else None

    async def set(self, name: str, after: str | None) -> None:
        """Keep `after` as the position of `name`; None forgets it (the start)."""
        if after is None:
            await self._positions.delete_one({"_id": name})
        else:
            document = {"_id": name, "after": after}
            await self._positions.replace_one({"_id": name}, document, upsert=True)


async def job_positions_repository(settings: Settings) -> JobPositionsRepository:
    """The positions, on this container's client (the notes repository's)."""
    return JobPositionsRepository((await notes_database(settings))[COLLECTION])
