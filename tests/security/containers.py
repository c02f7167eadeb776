"""A brand-new function container in the test process: fresh app, fresh connections.

What survives into it is only what lives in the databases, which is the point of the
cold-start tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient

from smartnote.app import create_app
from smartnote.config import get_settings
from smartnote.db.sql import dispose_engines
from smartnote.deps import current_settings


def _env_value(value: Any) -> str:
    return ",".join(value) if isinstance(value, tuple | list) else str(value)


@contextmanager
def cold_container(*routers: APIRouter, **settings: Any) -> Iterator[TestClient]:
    """A TestClient over a new app of `routers`, with `settings` overriding the environment.

    The overrides are in the environment while the app is built (middleware reads settings
    then) and in `get_settings` for its requests.
    """
    dispose_engines()  # no pooled connection or cached engine carries over
    saved = {key.upper(): os.environ.get(key.upper()) for key in settings}
    os.environ.update({key.upper(): _env_value(value) for key, value in settings.items()})
    get_settings.cache_clear()
    try:
        overridden = get_settings()
        app = create_app(*routers)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
    app.dependency_overrides[current_settings] = lambda: overridden
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
