"""Case (d): one user with 1 000 vs 100 000 notes, per embedded MongoDB server candidate.

Each candidate runs in its own process (`python -m bench.scaling <server> <sizes>`): the
server, a local stack pointed at it, notes bulk-inserted in the repository's document shape,
then list queries through the real notes handler with the DB time measured apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from bench.servers import CANDIDATES, EXCLUDED, ServerSkipped, mongo_server

if TYPE_CHECKING:
    from bench.common import DbTimer

ROOT = Path(__file__).resolve().parents[1]
TAGS = [f"t{i}" for i in range(10)]  # each tag on 10 % of the notes
RARE_EVERY = 100  # the word "zephyr" in 1 % of the notes
# A server whose next size would take longer than this (projected linearly from the size
# before: seeding + queries) skips it, and says so, to keep `make bench` bounded.
BUDGET_S = float(os.environ.get("BENCH_SERVER_BUDGET_S", "600"))
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


class ServerUnsupported(RuntimeError):
    """The server cannot run what the notes repository does; the message says what failed."""


def note_document(owner_id: str, i: int) -> dict[str, Any]:
    """Note number `i`, shaped exactly as NotesRepository.create stores it."""
    from smartnote.repositories.notes import derived_fields, new_note_id

    words = "meeting notes about the project" + (" zephyr" if i % RARE_EVERY == 0 else "")
    stamp = BASE_TIME + timedelta(seconds=i)
    note: dict[str, Any] = {
        "_id": new_note_id(),
        "owner_id": owner_id,
        "title": f"Note {i}",
        "content": f"{words} number {i}",
        "tags": [TAGS[i % len(TAGS)]],
        "pinned": i % 50 == 0,
        "archived": False,
        "color": None,
        "reminder": None,
        "version": 1,
        "created_at": stamp,
        "updated_at": stamp,
        "trashed": False,
        "trashed_at": None,
        "attachments": [],
    }
    note.update(derived_fields(note))
    return note


def check_indexes(uri: str) -> None:
    """ServerUnsupported unless a note can be stored under each of the repository's indexes
    (each tried alone on a scratch collection, so the message names the ones that fail)."""
    from smartnote.repositories.notes import INDEXES

    failures: dict[str, list[str]] = {}  # error -> the indexes that cause it
    with MongoClient(uri, tz_aware=True) as client:
        scratch = client["bench_probe"]
        for index in INDEXES:
            name = index.document["name"]
            try:
                scratch[name].create_indexes([index])
                scratch[name].insert_one(note_document("probe", 0))
            except PyMongoError as exc:
                keys = ",".join(f"{k}:{v}" for k, v in index.document["key"].items())
                failures.setdefault(str(exc).split(", full error")[0], []).append(keys)
        client.drop_database("bench_probe")
    if failures:
        raise ServerUnsupported(
            "rejects every insert under the repository's indexes: "
            + "; ".join(
                f"{error!r} under {len(keys)} of {len(INDEXES)} ({' | '.join(keys)})"
                for error, keys in failures.items()
            )
        )


def seed(uri: str, database: str, owner_id: str, count: int) -> float:
    """Insert `count` notes in the repository's shape, under its indexes; seconds."""
    from smartnote.repositories.notes import COLLECTION, INDEXES

    start = time.perf_counter()
    with MongoClient(uri, tz_aware=True) as client:
        notes = client[database][COLLECTION]
        notes.create_indexes(INDEXES)
        for first in range(0, count, 1000):
            batch = [note_document(owner_id, i) for i in range(first, min(count, first + 1000))]
            notes.insert_many(batch, ordered=False)
    return time.perf_counter() - start


def deep_cursor(uri: str, database: str, owner_id: str, count: int) -> str:
    """A cursor positioned half-way through the default listing (built once, not timed)."""
    from smartnote.cursors import encode_cursor
    from smartnote.repositories.notes import COLLECTION, SORTS, NoteQuery

    spec = SORTS["updated_at"]
    with MongoClient(uri, tz_aware=True) as client:
        found = (
            client[database][COLLECTION]
            .find({"owner_id": owner_id, "trashed": False, "archived": False})
            .sort(spec)
            .skip(count // 2)
            .limit(1)
            .to_list()
        )
    return encode_cursor([found[0][k] for k, _ in spec], NoteQuery().fingerprint())


def query_shapes(cursor: str) -> dict[str, dict[str, str]]:
    """The GET /notes query strings measured at every size."""
    return {
        "first_page": {},
        "deep_page": {"cursor": cursor},
        "tag_filter": {"tag": "t3"},
        "q_common": {"q": "meeting"},
        "q_rare": {"q": "zephyr"},
    }


def time_queries(
    token: str, shapes: dict[str, dict[str, str]], rounds: int, timer: DbTimer
) -> dict[str, Any]:
    """Each shape through the notes handler (in a container thread): total, DB and own ms."""
    from bench.common import api_event, summary, template, timed
    from smartnote.local.events import LambdaContext
    from smartnote.local.gateway import _load_module

    handler = _load_module(template().function("notes")).handler
    context = LambdaContext(function_name="notes", memory_limit_in_mb=512, timeout_seconds=60)
    out: dict[str, Any] = {}
    for shape, params in shapes.items():
        path = "/notes" + (f"?{urlencode(params)}" if params else "")
        event = api_event("GET", path, token, "/notes")
        response = handler(event, context)  # warm-up, also checks it answers
        if response["statusCode"] != 200:
            raise ServerUnsupported(
                f"GET {path} answered {response['statusCode']}: {response['body'][:200]}"
            )
        totals, dbs = [], []
        for _ in range(rounds):
            total, db = timed(partial(handler, event, context), timer)
            totals.append(total)
            dbs.append(db)
        out[shape] = {
            "total": summary(totals),
            "db": summary(dbs),
            "own": summary([t - d for t, d in zip(totals, dbs, strict=True)]),
            "items": len(json.loads(response["body"])["items"]),
        }
    return out


def measure(server: str, sizes: list[int], repeats: int) -> dict[str, Any]:
    """Seed and query each size on one server; later sizes over BUDGET_S are skipped."""
    from bench.common import DbTimer, local_stack, register
    from smartnote.local.gateway import _init_container

    timer = DbTimer()  # before any client: only later ones report to it
    results: dict[str, Any] = {}
    with mongo_server(server) as uri:
        check_indexes(uri)
        with local_stack(mongodb_uri=uri) as (gateway, _env):
            database = os.environ.get("MONGODB_DB", "smartnote")
            projected = 0.0
            for index, size in enumerate(sizes):
                if projected > BUDGET_S:
                    results[str(size)] = {
                        "skipped": f"projected {projected:.0f} s from {sizes[index - 1]} notes"
                        f" (linear) > budget {BUDGET_S:.0f} s"
                    }
                    continue
                started = time.perf_counter()
                user = register(gateway.url, f"scale{size}@example.com")
                seed_s = seed(uri, database, user.id, size)
                shapes = query_shapes(deep_cursor(uri, database, user.id, size))
                # Big sizes take seconds per query on the embedded servers: fewer repeats.
                rounds = repeats if size < 50_000 else min(repeats, 2)
                with ThreadPoolExecutor(1, initializer=_init_container, initargs=([],)) as pool:
                    queries = pool.submit(time_queries, user.token, shapes, rounds, timer).result()
                results[str(size)] = {"seed_s": round(seed_s, 1), "queries": queries}
                if index + 1 < len(sizes):
                    projected = (time.perf_counter() - started) * sizes[index + 1] / size
    return results


def run(sizes: list[int], repeats: int, servers: list[str] = CANDIDATES) -> dict[str, Any]:
    """Every candidate in its own process, one after the other; excluded ones with why."""
    out: dict[str, Any] = {}
    for server in servers:
        started = time.perf_counter()
        argv = [server, ",".join(map(str, sizes)), str(repeats)]
        proc = subprocess.run(
            [sys.executable, "-m", "bench.scaling", *argv],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3000,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
            out[server] = {"error": lines[-1][:1000]}
            continue
        out[server] = json.loads(proc.stdout.strip().splitlines()[-1])
        out[server]["wall_s"] = round(time.perf_counter() - started, 1)
    out.update({name: {"excluded": reason} for name, reason in EXCLUDED.items()})
    return out


def main(server: str, sizes: list[int], repeats: int) -> dict[str, Any]:
    """One server's results, or why it did not run: {"error": ...} or {"skipped": ...}."""
    try:
        return measure(server, sizes, repeats)
    except ServerUnsupported as exc:
        return {"error": f"{server} {exc}"}
    except ServerSkipped as exc:
        return {"skipped": str(exc)}


if __name__ == "__main__":
    name, size_list, repeat_count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(main(name, [int(s) for s in size_list.split(",")], repeat_count)))
