"""Case (d): one user with 1 000 vs 100 000 notes, per embedded MongoDB server candidate.

Each candidate runs in its own process (`python -m bench.scaling <server> <sizes>`): the
server, a local stack pointed at it, notes bulk-inserted in the repository's document shape,
then list queries through the real notes handler with the DB time measured apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ["secantusdb", "nx-27017"]
TAGS = [f"t{i}" for i in range(10)]  # each tag on 10 % of the notes
RARE_EVERY = 100  # the word "zephyr" in 1 % of the notes


@contextlib.contextmanager
def mongo_server(name: str) -> Iterator[str]:
    """A running candidate server (in memory), yielding its URI."""
    if name == "secantusdb":
        from bench.common import secantus_process

        with secantus_process() as uri:
            yield uri
        return
    if name == "nx-27017":
        from smartnote.local.services import free_port

        port = free_port()
        with tempfile.TemporaryDirectory() as work:
            process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "nx-27017"),
                    "--db",
                    "memory",
                    "--port",
                    str(port),
                    "--log-file",
                    f"{work}/nx.log",
                    "--pid-file",
                    f"{work}/nx.pid",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
                with MongoClient(uri, serverSelectionTimeoutMS=20000) as client:
                    client.admin.command("ping")
                yield uri
            finally:
                process.terminate()
                process.wait(10)
        return
    raise ValueError(f"unknown server {name}")


def seed(uri: str, database: str, owner_id: str, count: int) -> float:
    """Insert `count` notes shaped exactly as NotesRepository.create stores them; seconds."""
    from smartnote.repositories.notes import COLLECTION, INDEXES, derived_fields, new_note_id

    start = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with MongoClient(uri, tz_aware=True) as client:
        notes = client[database][COLLECTION]
        notes.create_indexes(INDEXES)
        batch: list[dict[str, Any]] = []
        for i in range(count):
            words = "meeting notes about the project" + (" zephyr" if i % RARE_EVERY == 0 else "")
            stamp = base + timedelta(seconds=i)
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
            batch.append(note)
            if len(batch) == 1000:
                notes.insert_many(batch, ordered=False)
                batch = []
        if batch:
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


def measure(server: str, sizes: list[int], repeats: int) -> dict[str, Any]:
    from bench.common import (
        BenchUser,
        DbTimer,
        api_event,
        local_stack,
        register,
        summary,
        template,
        timed,
    )
    from smartnote.local.events import LambdaContext
    from smartnote.local.gateway import _init_container, _load_module

    timer = DbTimer()
    results: dict[str, Any] = {}
    with mongo_server(server) as uri, local_stack(mongodb_uri=uri) as (gateway, _env):
        database = os.environ.get("MONGODB_DB", "smartnote")
        spec = template().function("notes")
        context = LambdaContext(function_name="notes", memory_limit_in_mb=512, timeout_seconds=60)
        for size in sizes:
            user = register(gateway.url, f"scale{size}@example.com")
            seed_s = seed(uri, database, user.id, size)
            cursor = deep_cursor(uri, database, user.id, size)
            shapes = {
                "first_page": {},
                "deep_page": {"cursor": cursor},
                "tag_filter": {"tag": "t3"},
                "q_common": {"q": "meeting"},
                "q_rare": {"q": "zephyr"},
            }

            # Big sizes take seconds per query on the embedded servers: fewer repeats.
            rounds = repeats if size < 50_000 else min(repeats, 2)

            def container(
                user: BenchUser = user, shapes: dict[str, Any] = shapes, rounds: int = rounds
            ) -> Any:
                handler = _load_module(spec).handler
                out: dict[str, Any] = {}
                for shape, params in shapes.items():
                    path = "/notes" + (f"?{urlencode(params)}" if params else "")
                    event = api_event("GET", path, user.token, "/notes")
                    response = handler(event, context)  # warm-up, also checks it answers
                    assert response["statusCode"] == 200, response
                    totals, dbs, owns = [], [], []
                    for _ in range(rounds):
                        total, db = timed(partial(handler, event, context), timer)
                        totals.append(total)
                        dbs.append(db)
                        owns.append(total - db)
                    out[shape] = {
                        "total": summary(totals),
                        "db": summary(dbs),
                        "own": summary(owns),
                        "items": len(json.loads(response["body"])["items"]),
                    }
                return out

            with ThreadPoolExecutor(1, initializer=_init_container, initargs=([],)) as pool:
                results[str(size)] = {
                    "seed_s": round(seed_s, 1),
                    "queries": pool.submit(container).result(),
                }
    return results


def run(sizes: list[int], repeats: int, servers: list[str] = SERVERS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for server in servers:
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.scaling",
                server,
                ",".join(map(str, sizes)),
                str(repeats),
            ],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3000,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if proc.returncode != 0:
            out[server] = {"error": proc.stderr.strip().splitlines()[-1][:400]}
            continue
        out[server] = json.loads(proc.stdout.strip().splitlines()[-1])
        out[server]["wall_s"] = round(time.perf_counter() - started, 1)
    return out


if __name__ == "__main__":
    name, size_list, repeat_count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(measure(name, [int(s) for s in size_list.split(",")], repeat_count)))
