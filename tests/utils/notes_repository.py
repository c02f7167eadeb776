"""The notes repository on a fresh database of the real server, for repository tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.mongo_client import AsyncMongoClient

from smartnote.repositories.notes import COLLECTION, NotesRepository, ensure_indexes

Notes = tuple[NotesRepository, AsyncCollection[dict[str, Any]]]


@asynccontextmanager
async def fresh_notes(mongo_uri: str, name: str) -> AsyncIterator[Notes]:
    """The repository on a new database named after `name`, and its collection (on the
    test's event loop); the database is dropped afterwards."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    database = client[f"{name}_{uuid.uuid4().hex[:8]}"]
    await ensure_indexes(database)
    try:
        yield NotesRepository(database[COLLECTION]), database[COLLECTION]
    finally:
        await client.drop_database(database.name)
        await client.close()
