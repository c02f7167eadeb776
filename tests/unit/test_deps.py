"""The dependency graph FastAPI resolves on every request of an authenticated route."""

from __future__ import annotations

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from smartnote.routes import notes


def _calls(dependant: Dependant) -> set[str]:
    """Every distinct callable below `dependant` (FastAPI calls each once per request)."""
    found: set[str] = set()
    for sub in dependant.dependencies:
        found.add(getattr(sub.call, "__name__", type(sub.call).__name__))
        found |= _calls(sub)
    return found


def _route(path: str, method: str) -> APIRoute:
    return next(
        route
        for route in notes.router.routes
        if isinstance(route, APIRoute) and route.path == path and method in route.methods
    )


def test_get_note_resolves_five_dependencies() -> None:
    """Each graph node costs every request its resolution: the hot GET keeps only these."""
    assert _calls(_route("/notes/{note_id}", "GET").dependant) == {
        "OAuth2PasswordBearer",  # also what marks the operation as secured in the OpenAPI
        "current_settings",
        "get_sql_session",
        "get_principal",
        "get_notes_repository",
    }
