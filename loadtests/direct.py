"""The ceiling: the same function apps served directly by uvicorn, routed by path prefix."""

from __future__ import annotations

import asyncio
from typing import Any

from smartnote.concurrency import equip
from smartnote.local.containers import _load_module
from smartnote.local.template import Template

ASGIApp = Any


def dispatcher(template: Template) -> ASGIApp:
    """One ASGI app sending /auth, /users, /notes + /tags and the rest to their function's app."""
    # Only the functions behind the API: the event-driven ones (image, jobs) have no ASGI app.
    apps = {
        name: _load_module(spec).app
        for name in template.functions
        if (spec := template.function(name)).api_routes
    }
    routes = [
        ("/auth", apps["auth"]),
        ("/users", apps["users"]),
        ("/notes", apps["notes"]),
        ("/tags", apps["notes"]),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            # Every request here shares one loop, where a Lambda container has one request
            # at a time: its blocking SQL needs as many threads as requests may wait on SQL
            # (with 4, those waiting on SQLite's lock starved the commit that would free it).
            equip(asyncio.get_running_loop(), workers=64)
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope.get("path", "")
        target = next((a for prefix, a in routes if path.startswith(prefix)), apps["docs"])
        await target(scope, receive, send)

    return app
