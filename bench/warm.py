"""Cases (a) warm invocation overhead and (c) connection reuse, in one Lambda-like container."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from pymongo import MongoClient
from sqlalchemy import Engine, event

from bench import hello_app
from bench.common import (
    DbTimer,
    local_stack,
    register,
    secantus_process,
    summary,
    template,
    timed,
)
from bench.events import api_event
from smartnote.db import mongo
from smartnote.local.events import LambdaContext
from smartnote.local.gateway import _init_container, _load_module


def _server_connections(uri: str) -> int | None:
    """Connections the Mongo server has accepted so far (None if it does not say)."""
    with MongoClient(uri, serverSelectionTimeoutMS=3000) as client:
        status = client.admin.command("serverStatus")
    created = (status.get("connections") or {}).get("totalCreated")
    return int(created) if created is not None else None


def run(iterations: int = 2000, reuse_invocations: int = 100) -> dict[str, Any]:
    timer = DbTimer()
    sql_connects = [0]
    event.listen(Engine, "connect", lambda *_: sql_connects.__setitem__(0, sql_connects[0] + 1))
    with secantus_process() as mongo_uri, local_stack(mongo_uri) as (gateway, env):
        user = register(gateway.url, "warm@example.com")
        with httpx.Client(base_url=gateway.url) as api:
            note = api.post(
                "/notes",
                json={"title": "Warm", "content": "x" * 200, "tags": ["a", "b"]},
                headers=user.headers,
            ).json()
        spec = template().function("notes")
        get_note = api_event(
            "GET",
            f"/notes/{note['id']}",
            user.token,
            "/notes/{proxy+}",
            {"proxy": note["id"]},
        )
        list_notes = api_event("GET", "/notes", user.token, "/notes")
        # The users function's warm read: all SQL, no Mongo (its routes are async as well).
        read_me = api_event("GET", "/users/me", user.token, "/users/{proxy+}", {"proxy": "me"})
        users_spec = template().function("users")
        hello = api_event(
            "GET", f"/notes/{note['id']}", None, "/notes/{proxy+}", {"proxy": note["id"]}
        )
        context = LambdaContext(function_name="bench", memory_limit_in_mb=512, timeout_seconds=15)

        def container() -> dict[str, Any]:
            notes_handler = _load_module(spec).handler
            users_handler = _load_module(users_spec).handler
            for _ in range(50):  # warm all (first-use clients, caches, code paths)
                assert notes_handler(get_note, context)["statusCode"] == 200
                assert users_handler(read_me, context)["statusCode"] == 200
                assert hello_app.handler(hello, context)["statusCode"] == 200
            notes_total, notes_own, notes_db, bare, users_total = [], [], [], [], []
            for _ in range(iterations):  # interleaved: all see the same machine noise
                total, db = timed(lambda: notes_handler(get_note, context), timer)
                notes_total.append(total)
                notes_db.append(db)
                notes_own.append(total - db)
                bare.append(timed(lambda: hello_app.handler(hello, context))[0])
                users_total.append(timed(lambda: users_handler(read_me, context))[0])

            # (c) a fresh container: its first invocation connects, the next 99 must not.
            return {
                "notes_total": notes_total,
                "notes_own": notes_own,
                "notes_db": notes_db,
                "bare": bare,
                "users_total": users_total,
            }

        with ThreadPoolExecutor(1, initializer=_init_container, initargs=([],)) as pool:
            samples = pool.submit(container).result()

        def fresh_container() -> dict[str, Any]:
            notes_handler = _load_module(spec).handler
            clients_before, sql_before = mongo.clients_created(), sql_connects[0]
            server_before = _server_connections(env["MONGODB_URI"])
            first = notes_handler(list_notes, context)
            server_after_first = _server_connections(env["MONGODB_URI"])
            statuses = [first["statusCode"]]
            statuses += [
                notes_handler(list_notes, context)["statusCode"]
                for _ in range(reuse_invocations - 1)
            ]
            server_after = _server_connections(env["MONGODB_URI"])
            return {
                "invocations": reuse_invocations,
                "all_200": all(s == 200 for s in statuses),
                "mongo_clients_created": mongo.clients_created() - clients_before,
                "sql_connections_opened": sql_connects[0] - sql_before,
                "mongo_server_connections_first_invocation": _delta(
                    server_before, server_after_first
                ),
                "mongo_server_connections_next_99": _delta(server_after_first, server_after),
                "note": "server counts include this probe's own connection (1 per reading)",
            }

        # The SQL engine is per process (like per container): dispose it so the count starts at 0.
        from smartnote.db.sql import dispose_engines

        dispose_engines()
        with ThreadPoolExecutor(1, initializer=_init_container, initargs=([],)) as pool:
            reuse = pool.submit(fresh_container).result()
    own, bare = summary(samples["notes_own"]), summary(samples["bare"])
    return {
        "warm": {
            "notes_get_total": summary(samples["notes_total"]),
            "notes_get_db": summary(samples["notes_db"]),
            "notes_get_own": own,
            "bare_hello": bare,
            "users_get_me_total": summary(samples["users_total"]),
            "ratio_own_vs_bare_median": round(own["median_ms"] / bare["median_ms"], 2),
            "ratio_own_vs_bare_p95": round(own["p95_ms"] / bare["p95_ms"], 2),
            "target_ratio": 1.5,
        },
        "reuse": reuse,
        "raw": {k: [round(v * 1000, 4) for v in vs] for k, vs in samples.items()},
    }


def _delta(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before - 1
