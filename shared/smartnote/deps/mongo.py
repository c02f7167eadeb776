"""Dependencies on MongoDB: the caller's notes repository (loads PyMongo)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from smartnote.deps import SettingsDep
from smartnote.repositories.notes import NotesRepository, notes_repository


async def get_notes_repository(settings: SettingsDep) -> NotesRepository:
    """The notes repository on this container's client (indexes ensured on first use)."""
    return await notes_repository(settings)


Notes = Annotated[NotesRepository, Depends(get_notes_repository)]
