"""Dependencies on MongoDB: the caller's notes repository (loads PyMongo)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from smartnote.config import Settings
from smartnote.deps import SettingsDep
from smartnote.repositories import notes as notes_repo
from smartnote.repositories.notes import NotesRepository


async def notes_repository(settings: Settings) -> NotesRepository:
    """The notes repository on this container's client (indexes ensured on first use)."""
    database = await notes_repo.notes_database(settings)
    return NotesRepository(database[notes_repo.COLLECTION])


async def get_notes_repository(settings: SettingsDep) -> NotesRepository:
    return await notes_repository(settings)


Notes = Annotated[NotesRepository, Depends(get_notes_repository)]
