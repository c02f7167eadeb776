"""Cases (a) warm invocation overhead and (c) connection reuse, in one Lambda-like container."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

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
from smartnote.auth import AuthService, Principal
from smartnote.db import mongo
from smartnote.local.containers import _init_container, _load_module
from smartnote.local.events import LambdaContext
from smartnote.repositories.notes import NotesRepository

# What-if variants of the same warm GET, for where the own time goes (not what ships):
# "trusted token": the caller's session is not checked in SQL (the access token is trusted
# until it expires), "no database": neither that check nor the Mongo read (the note is the one
# the first call read). Both are measured interleaved with the real handler.
WHAT_IFS = {
    "trusted_token": "token trusted, no SQL check",
    "no_database": "no database call at all",
}


@contextmanager
def _what_if(variant: str, principal: Principal, note: dict[str, Any]) -> Iterator[None]:
    def trusting(self: AuthService, token: str) -> Principal:
        claims = self._tokens.decode_access_token(token)  # the JWT is still checked
        return Principal(user=principal.user, session_id=claims.session_id)

    async def stored(self: NotesRepository, owner_id: str, note_id: str) -> dict[str, Any]:
        return dict(note)

    if variant not in WHAT_IFS:
        raise ValueError(f"unknown what-if {variant!r}")
    with ExitStack() as stack:
        # Both skip the SQL session check; "no_database" also answers without the Mongo read.
        stack.enter_context(mock.patch.object(AuthService, "authenticate", trusting))
        if variant == "no_database":
            stack.enter_context(mock.patch.object(NotesRepository, "get", stored))
        yield


@contextmanager
def _capturing(owner: type, method: str) -> Iterator[list[Any]]:
    """`owner.method` (sync or async) recording what each call returns."""
    original = getattr(owner, method)
    record: list[Any] = []

    def calling(*args: Any, **kwargs: Any) -> Any:
        record.append(original(*args, **kwargs))
        return record[-1]

    async def awaiting(*args: Any, **kwargs: Any) -> Any:
        record.append(await original(*args, **kwargs))
        return record[-1]

    wrapper = awaiting if inspect.iscoroutinefunction(original) else calling
    with mock.patch.object(owner, method, wrapper):
        yield record


def _what_if_timer(
    handler: Callable[[Any, Any], dict[str, Any]], event: Any, context: Any, timer: DbTimer
) -> Callable[[str], float]:
    """A timer of the own seconds (total - DB) of `event` under one what-if variant; the
    variants reuse the principal and the note that a real invocation read, and are warmed."""
    with (
        _capturing(AuthService, "authenticate") as principals,
        _capturing(NotesRepository, "get") as notes,
    ):
        assert handler(event, context)["statusCode"] == 200

    def own_seconds(variant: str) -> float:
        with _what_if(variant, principals[0], notes[0]):
            total, db = timed(lambda: handler(event, context), timer)
        return total - db

    for variant in WHAT_IFS:
        own_seconds(variant)
    return own_seconds


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
            what_if = _what_if_timer(notes_handler, get_note, context, timer)
            notes_total, notes_own, notes_db, bare, users_total = [], [], [], [], []
            what_if_own: dict[str, list[float]] = {v: [] for v in WHAT_IFS}
            for _ in range(iterations):  # interleaved: all see the same machine noise
                total, db = timed(lambda: notes_handler(get_note, context), timer)
                notes_total.append(total)
                notes_db.append(db)
                notes_own.append(total - db)
                bare.append(timed(lambda: hello_app.handler(hello, context))[0])
                users_total.append(timed(lambda: users_handler(read_me, context))[0])
                for variant, samples in what_if_own.items():
                    samples.append(what_if(variant))

            # (c) a fresh container: its first invocation connects, the next 99 must not.
            return {
                "notes_total": notes_total,
                "notes_own": notes_own,
                "notes_db": notes_db,
                "bare": bare,
                "users_total": users_total,
                **{f"own_{variant}": own for variant, own in what_if_own.items()},
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
            "what_if": {
                variant: _vs_bare(summary(samples[f"own_{variant}"]), bare) for variant in WHAT_IFS
            },
            "target_ratio": 1.5,
        },
        "reuse": reuse,
        "raw": {k: [round(v * 1000, 4) for v in vs] for k, vs in samples.items()},
    }


def _vs_bare(own: dict[str, float], bare: dict[str, float]) -> dict[str, Any]:
    return {**own, "ratio_vs_bare_median": round(own["median_ms"] / bare["median_ms"], 2)}


def _delta(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before - 1
