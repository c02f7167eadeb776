"""The merged OpenAPI document of every function's routes (served by the docs function)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from smartnote.app import create_app


@lru_cache(maxsize=1)
def merged_openapi() -> dict[str, Any]:
    """One document for the whole API, as if every function were one app.

    Built on the first request, not at import: the routers load every driver (PyMongo,
    SQLAlchemy, jose), which the docs function's other routes never need.
    """
    from smartnote.routes import attachments, auth, health, notes, users  # noqa: PLC0415

    return create_app(
        auth.router, users.router, notes.router, attachments.router, health.router
    ).openapi()
