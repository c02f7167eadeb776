"""Wrap an app for Lambda, keeping its clients across warm invocations.

Mangum 0.22 runs the ASGI lifespan on *every* invocation when it is on (startup and
shutdown around each event; Mangum #361), so nothing long-lived may live in a lifespan:
clients are created on first use per container (`smartnote.db`) and lifespan is off. Mangum
drives each invocation on the thread's event loop, which it creates once, so the loop and
the clients bound to it survive between warm invocations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI
from mangum import Mangum

T = TypeVar("T")


def lambda_handler(app: FastAPI) -> Mangum:
    """The Lambda entry point for `app` (API Gateway REST and HTTP events)."""
    return Mangum(app, lifespan="off", api_gateway_base_path="/")


def run_in_container_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on this container's event loop (created once, kept while warm).

    Event handlers that are not ASGI apps use this, so that their Mongo client (one per loop,
    see `smartnote.db.mongo`) survives between warm invocations like the API functions' do.
    """
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # a thread without a loop
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    if loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(work)
