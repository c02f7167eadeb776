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
SEED_BATCH = 200
SLOW_CALL_S = 2.0
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


class OverBudget(RuntimeError):
    """This size would take longer than BUDGET_S; the message says how it was judged."""


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
    """Insert `count` notes in the repository's shape, under its indexes; seconds.
    OverBudget when that takes longer than BUDGET_S."""
    from smartnote.repositories.notes import COLLECTION, INDEXES

    start = time.perf_counter()
    # Small batches and a patient monitor: a single-threaded server (mongoeco) answers no
    # heartbeat while it inserts, and PyMongo cancels the insert when one times out.
    with MongoClient(uri, tz_aware=True, connectTimeoutMS=120_000) as client:
        notes = client[database][COLLECTION]
        notes.create_indexes(INDEXES)
        for first in range(0, count, SEED_BATCH):
            numbers = range(first, min(count, first + SEED_BATCH))
            notes.insert_many([note_document(owner_id, i) for i in numbers], ordered=False)
            elapsed = time.perf_counter() - start
            if elapsed > BUDGET_S and numbers[-1] + 1 < count:
                raise OverBudget(
                    f"seeding stopped after {numbers[-1] + 1} of {count} notes in"
                    f" {elapsed:.0f} s > budget {BUDGET_S:.0f} s"
                )
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
    bound_to = NoteQuery().fingerprint(owner_id)
    return encode_cursor([found[0][k] for k, _ in spec], bound_to)


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
    token: str, shapes: dict[str, dict[str, str]], repeats: int, timer: DbTimer
) -> dict[str, Any]:
    """Each shape through the notes handler (in a container thread): total, DB and own ms.
    A shape whose warm-up call took over SLOW_CALL_S gets at most 2 timed calls."""
    from bench.common import summary, template, timed
    from bench.events import api_event
    from smartnote.local.containers import _load_module
    from smartnote.local.events import LambdaContext

    handler = _load_module(template().function("notes")).handler
    context = LambdaContext(function_name="notes", memory_limit_in_mb=512, timeout_seconds=60)
    out: dict[str, Any] = {}
    for shape, params in shapes.items():
        path = "/notes" + (f"?{urlencode(params)}" if params else "")
        event = api_event("GET", path, token, "/notes")
        started = time.perf_counter()
        response = handler(event, context)  # warm-up, also checks it answers
        warm_up = time.perf_counter() - started
        if response["statusCode"] != 200:
            raise ServerUnsupported(
                f"GET {path} answered {response['statusCode']}: {response['body'][:200]}"
            )
        totals, dbs = [], []
        for _ in range(repeats if warm_up < SLOW_CALL_S else min(repeats, 2)):
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
    from smartnote.local.containers import _init_container

    timer = DbTimer()  # before any client: only later ones report to it
    results: dict[str, Any] = {}
    # A server's curve wants each answer however long it takes: SecantusDB takes 4-15 s a
    # query at 100 000 notes, past the functions' own bound on an operation (a 503 there).
    os.environ["MONGODB_TIMEOUT_MS"] = str(int(BUDGET_S * 1000))
    with mongo_server(server) as uri:
        check_indexes(uri)
        with local_stack(mongodb_uri=uri) as (gateway, _env):
            database = os.environ.get("MONGODB_DB", "smartnote")
            stop: str | None = None  # why the remaining sizes are skipped
            for index, size in enumerate(sizes):
                if stop is not None:
                    results[str(size)] = {"skipped": stop}
                    continue
                user = register(gateway.url, f"scale{size}@example.com")
                try:
                    seed_s = seed(uri, database, user.id, size)
                except OverBudget as exc:
                    stop = f"{exc} (at {size})"
                    results[str(size)] = {"skipped": stop}
                    continue
                shapes = query_shapes(deep_cursor(uri, database, user.id, size))
                started = time.perf_counter()
                with ThreadPoolExecutor(1, initializer=_init_container, initargs=([],)) as pool:
                    queries = pool.submit(time_queries, user.token, shapes, repeats, timer).result()
                results[str(size)] = {"seed_s": round(seed_s, 1), "queries": queries}
                if index + 1 < len(sizes):
                    grow = sizes[index + 1] / size
                    projected = (seed_s + time.perf_counter() - started) * grow
                    if projected > BUDGET_S:
                        stop = (
                            f"projected {projected:.0f} s (linear, from {size} notes)"
                            f" > budget {BUDGET_S:.0f} s"
                        )
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
            out[server] = {"error": crash_summary(proc.stderr, proc.returncode)}
            continue
        out[server] = json.loads(proc.stdout.strip().splitlines()[-1])
        out[server]["wall_s"] = round(time.perf_counter() - started, 1)
    out.update({name: {"excluded": reason} for name, reason in EXCLUDED.items()})
    return out


def crash_summary(stderr: str, returncode: int) -> str:
    """The exception and the last line of ours it passed through, from a traceback."""
    lines = stderr.strip().splitlines() or [f"exit code {returncode}"]
    ours = [line.strip() for line in lines if f'"{ROOT}/bench/' in line]
    where = f" ({ours[-1].replace(str(ROOT) + '/', '')})" if ours else ""
    return lines[-1][:600] + where


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
