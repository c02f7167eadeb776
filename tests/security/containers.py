"""A brand-new function container in the test process: fresh app, fresh connections.

What survives into it is only what lives in the databases, which is the point of the
cold-start tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient

from smartnote.app import create_app
from smartnote.config import get_settings
from smartnote.db.sql import dispose_engines


@contextmanager
def cold_container(*routers: APIRouter, **settings: Any) -> Iterator[TestClient]:
    """A TestClient over a new app of `routers`, with `settings` overriding the environment."""
    dispose_engines()  # no pooled connection or cached engine carries over
    overridden = get_settings().model_copy(update=settings)
    app = create_app(*routers)
    app.dependency_overrides[get_settings] = lambda: overridden
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
