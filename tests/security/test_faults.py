"""Faults: a backing service lost mid-request, racing writers, crashing handlers.

Nothing is lost or half-done, the client gets a 503 it can retry (error shape +
Retry-After), and the details go to the log with the request id, never to the client.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pymongo.uri_parser import parse_uri
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from smartnote import storage
from smartnote.app import create_app
from smartnote.config import get_settings
from smartnote.db.migrate import upgrade_to_head
from smartnote.local.services import AwsService, free_port
from smartnote.logs import JsonFormatter
from smartnote.routes import auth, notes, users
from tests.conftest import ApiUser, assert_error, postgres_database, register_and_login
from tests.security.containers import cold_container
from tests.security.faults import CuttableProxy, MongoHoldingProxy


def assert_unavailable(response: httpx.Response) -> None:
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0
    for internal in ("mongodb", "postgres", "127.0.0.1", "timeout", "errno"):
        assert internal not in response.text.lower()


@pytest.fixture
def mongo_proxy(stack_env: None, mongo_uri: str) -> Iterator[CuttableProxy]:
    host, port = parse_uri(mongo_uri)["nodelist"][0]
    with CuttableProxy(host, port) as proxy:
        yield proxy


def _through(proxy: CuttableProxy, *routers: APIRouter) -> Any:
    uri = f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true"
    return cold_container(*routers, mongodb_uri=uri, mongodb_timeout_ms=400)


def test_note_create_that_loses_mongo_leaves_nothing(
    api: httpx.Client, user: ApiUser, mongo_proxy: CuttableProxy
) -> None:
    with _through(mongo_proxy, notes.router) as container:
        assert container.get("/notes", headers=user.headers).status_code == 200  # warm
        mongo_proxy.cut()  # after authentication (SQL), before the insert
        assert_unavailable(container.post("/notes", json={"title": "lost"}, headers=user.headers))
        mongo_proxy.restore()
    assert api.get("/notes", params={"trashed": "true"}, headers=user.headers).json()["items"] == []
    assert api.get("/notes", headers=user.headers).json()["items"] == []


def test_a_mongo_operation_never_answered_is_a_503_before_the_function_timeout(
    api: httpx.Client, user: ApiUser, mongo_uri: str
) -> None:
    """The server answers its heartbeats but never one operation (a lock, a stuck node): the
    request gives up after MONGODB_TIMEOUT_MS with a 503 it can retry. Without the client's
    operation timeout it waited until Lambda killed it at 15 s (a 502 from API Gateway, not
    our error shape); here, for ever."""
    created = api.post("/notes", json={"title": "kept"}, headers=user.headers).json()
    host, port = parse_uri(mongo_uri)["nodelist"][0]
    answers: list[httpx.Response] = []
    with MongoHoldingProxy(host, port) as proxy, _through(proxy, notes.router) as container:
        assert container.get("/notes", headers=user.headers).status_code == 200  # warm
        proxy.held.add("find")
        asking = threading.Thread(
            target=lambda: answers.append(container.get("/notes", headers=user.headers))
        )
        asking.start()
        asking.join(timeout=30)  # a bound on waiting for ever, far past the 0.4 s timeout
        answered_in_time = bool(answers)
        proxy.held.clear()
        proxy.cut()  # what still waits (without the timeout) gets its answer now
        asking.join()
        proxy.restore()  # answered again: the same container lists the note
        listed = container.get("/notes", headers=user.headers)
    assert proxy.held_seen.is_set()  # the listing reached the server's side, held there
    assert answered_in_time, "the request waited for MongoDB past 30 s"
    assert_unavailable(answers[0])
    assert listed.status_code == 200, listed.text
    assert [note["id"] for note in listed.json()["items"]] == [created["id"]]


def test_index_creation_at_a_containers_first_use_may_outlast_the_mongo_timeout(
    user: ApiUser, mongo_uri: str
) -> None:
    """A deployment that adds an index builds it at each new container's first request: a
    build cut off at MONGODB_TIMEOUT_MS would fail that request and be tried (and cut off)
    again at the next, for ever. It gets a deadline of its own."""
    host, port = parse_uri(mongo_uri)["nodelist"][0]
    with MongoHoldingProxy(host, port) as proxy, _through(proxy, notes.router) as container:
        proxy.slowed["createIndexes"] = 1.0  # past the container's 0.4 s
        response = container.get("/notes", headers=user.headers)
    assert response.status_code == 200, response.text


def test_account_deletion_that_fails_halfway_is_resumable(
    api: httpx.Client, user: ApiUser, aws: AwsService, mongo_proxy: CuttableProxy
) -> None:
    settings = get_settings()
    s3 = aws.client("s3")
    key = storage.upload_key(user.id, "0" * 24, "a1", "page.png")
    s3.put_object(Bucket=settings.uploads_bucket, Key=key, Body=b"png")
    note = api.post("/notes", json={"title": "keep until deleted"}, headers=user.headers)
    assert note.status_code == 201
    confirm = {"password": user.password}

    with _through(mongo_proxy, users.router, notes.router) as container:
        assert container.get("/notes", headers=user.headers).status_code == 200  # warm
        mongo_proxy.cut()  # S3 objects go first, then Mongo fails, the user row stays
        assert_unavailable(
            container.request("DELETE", "/users/me", json=confirm, headers=user.headers)
        )
        mongo_proxy.restore()

    # Halfway: the account still works, so the same call can finish the job.
    assert api.get("/users/me", headers=user.headers).status_code == 200
    resumed = api.request("DELETE", "/users/me", json=confirm, headers=user.headers)
    assert resumed.status_code == 204
    assert "Contents" not in s3.list_objects_v2(Bucket=settings.uploads_bucket, Prefix=key)
    login = {"username": user.email, "password": user.password}
    assert_error(api.post("/auth/token", data=login), 401)


def test_sql_unreachable_answers_503(user: ApiUser, stack_env: None) -> None:
    dead = f"postgresql+pg8000://postgres@127.0.0.1:{free_port()}/smartnote"
    with cold_container(auth.router, users.router, database_url=dead) as container:
        assert_unavailable(container.get("/users/me", headers=user.headers))
        login = {"username": user.email, "password": user.password}
        assert_unavailable(container.post("/auth/token", data=login))


def test_sql_lost_mid_request_changes_nothing(
    api: httpx.Client, user: ApiUser, sql_url: str
) -> None:
    if not sql_url.startswith("postgresql"):
        pytest.skip("SQLite is a file, not a connection that can drop")
    url = make_url(sql_url)
    with CuttableProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with cold_container(users.router, database_url=proxied) as container:
            assert container.get("/users/me", headers=user.headers).status_code == 200  # warm
            proxy.cut()
            response = container.patch(
                "/users/me", json={"display_name": "lost"}, headers=user.headers
            )
            assert_unavailable(response)
    assert api.get("/users/me", headers=user.headers).json()["display_name"] != "lost"


def test_a_query_held_past_the_sql_timeout_is_a_503_before_the_function_timeout(
    user: ApiUser, sql_url: str
) -> None:
    """Another transaction holds the sessions table (a migration, a stuck job): the request
    gives up after SQL_TIMEOUT_SECONDS with a 503 it can retry, instead of waiting until
    Lambda kills it at 15 s (a 502, and its container abandoned)."""
    if not sql_url.startswith("postgresql"):
        pytest.skip("SQLite's lock wait is bounded by its busy timeout (the test below)")
    locker = create_engine(sql_url).connect()
    locker.execute(text("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE"))
    answers: list[httpx.Response] = []
    try:
        with cold_container(users.router, sql_timeout_seconds=1) as container:
            asking = threading.Thread(
                target=lambda: answers.append(container.get("/users/me", headers=user.headers))
            )
            asking.start()
            asking.join(timeout=8)
            answered_in_time = bool(answers)
            locker.rollback()  # what waits without a timeout gets its answer now
            asking.join()
            # The connection that timed out mid-message was dropped, not pooled: the same
            # container answers the next request.
            again = container.get("/users/me", headers=user.headers)
    finally:
        locker.close()
    assert answered_in_time
    assert_unavailable(answers[0])
    assert again.status_code == 200, again.text


def _statements_waiting_on_a_lock(url: str) -> list[str]:
    """What the server is still running for `url`'s database, blocked on a lock."""
    watcher = create_engine(url, poolclass=NullPool)
    with watcher.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT query FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalars()
        )


def test_the_database_itself_gives_up_a_statement_held_past_the_sql_timeout(
    sql_url: str, stack_env: None
) -> None:
    """The client's give-up answers the request, but the statement it abandoned would stay on
    the server, holding a connection slot (on RDS Proxy, a database connection), until the
    lock ends. PostgreSQL cancels it itself: the migration sets the role's statement_timeout."""
    if not sql_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL server's own timeout")
    with postgres_database() as url:
        upgrade_to_head(url, statement_timeout_seconds=1)
        with cold_container(
            auth.router, users.router, database_url=url, sql_timeout_seconds=1
        ) as container:
            owner = register_and_login(container)
            locker = create_engine(url, poolclass=NullPool).connect()
            locker.execute(text("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE"))
            try:
                response = container.get("/users/me", headers=owner.headers)
                left_waiting = _statements_waiting_on_a_lock(url)
            finally:
                locker.rollback()
                locker.close()
            again = container.get("/users/me", headers=owner.headers)
    assert_unavailable(response)
    assert left_waiting == []
    assert again.status_code == 200, again.text


def test_a_statement_the_database_refuses_is_a_500_not_a_retry(
    user: ApiUser, empty_sql_url: str
) -> None:
    """A schema behind the code (its migration did not run) never heals by itself: a 500 that
    the error alarm sees, not a 503 telling the client to try again."""
    with cold_container(auth.router, users.router, database_url=empty_sql_url) as container:
        response = container.get("/users/me", headers=user.headers)
    assert_error(response, 500, "internal_error")
    assert "retry-after" not in response.headers


def test_a_database_busy_past_its_wait_is_a_503(
    sql_url: str, stack_env: None, tmp_path: Path
) -> None:
    """SQLite's file locked by another writer for longer than the busy timeout: try again."""
    if not sql_url.startswith("sqlite"):
        pytest.skip("a SQLite file's lock; PostgreSQL's losses are the tests above")
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    with cold_container(auth.router, users.router, database_url=url) as container:
        owner = register_and_login(container)
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            response = container.patch(
                "/users/me", json={"display_name": "busy"}, headers=owner.headers
            )
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert_unavailable(response)
        assert container.get("/users/me", headers=owner.headers).json()["display_name"] != "busy"


def test_a_commit_that_fails_is_a_503_and_changes_nothing(
    api: httpx.Client, user: ApiUser, stack_env: None
) -> None:
    """The request's transaction ends before its answer: a COMMIT lost after the route wrote
    (the connection drops at that moment) cannot hide behind a 200."""
    wrote_user: list[str] = []

    def note_user_write(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE USERS"):
            wrote_user.append(statement)

    def lost_at_commit(_conn: Connection) -> None:
        if wrote_user:  # the route's own change, not the write counter's commit
            raise OperationalError("COMMIT", {}, ConnectionError("connection lost"))

    with cold_container(users.router) as container:
        event.listen(Engine, "before_cursor_execute", note_user_write)
        event.listen(Engine, "commit", lost_at_commit)
        try:
            response = container.patch(
                "/users/me", json={"display_name": "never saved"}, headers=user.headers
            )
        finally:
            event.remove(Engine, "before_cursor_execute", note_user_write)
            event.remove(Engine, "commit", lost_at_commit)
    assert wrote_user  # the fault really hit the route's commit
    assert_unavailable(response)
    assert api.get("/users/me", headers=user.headers).json()["display_name"] != "never saved"


def test_parallel_patches_with_the_same_if_match_have_one_winner(
    api_base_url: str, api: httpx.Client, user: ApiUser
) -> None:
    created = api.post("/notes", json={"title": "v1"}, headers=user.headers)
    note_id, etag = created.json()["id"], created.headers["etag"]
    writers = 8
    barrier = threading.Barrier(writers)
    results: dict[int, httpx.Response] = {}

    def write(i: int) -> None:
        with httpx.Client(base_url=api_base_url, timeout=30) as client:
            barrier.wait()
            results[i] = client.patch(
                f"/notes/{note_id}",
                json={"title": f"writer {i}", "content": f"by {i}"},
                headers={**user.headers, "If-Match": etag},
            )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [r for r in results.values() if r.status_code == 200]
    losers = [r for r in results.values() if r.status_code != 200]
    assert len(winners) == 1, [r.status_code for r in results.values()]
    for loser in losers:
        assert_error(loser, 412, "precondition_failed")
    final = api.get(f"/notes/{note_id}", headers=user.headers)
    assert final.json() == winners[0].json()
    assert final.json()["version"] == 2
    assert final.headers["etag"] == winners[0].headers["etag"]


def test_handler_crash_is_logged_with_the_request_id_and_not_leaked(stack_env: None) -> None:
    crashing = APIRouter()

    @crashing.get("/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2 in /srv/smartnote/secret.py")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("smartnote")
    logger.addHandler(handler)
    try:
        with TestClient(create_app(crashing), raise_server_exceptions=False) as client:
            response = client.get("/boom", headers={"X-Request-ID": "fault-req-1"})
    finally:
        logger.removeHandler(handler)

    assert_error(response, 500, "internal_error")  # type: ignore[arg-type]
    assert "hunter2" not in response.text and "secret.py" not in response.text
    assert response.headers["x-request-id"] == "fault-req-1"
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    crash = next(e for e in entries if "hunter2" in e.get("exception", ""))
    assert crash["request_id"] == "fault-req-1"
    assert crash["level"] == "ERROR"
