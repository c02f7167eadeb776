"""The migrate function as CloudFormation calls it: a custom resource request, a PUT back."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import inspect, text

from smartnote.config import get_settings
from smartnote.custom_resource import RESPONSE_MARGIN_SECONDS
from smartnote.db.migrate import current_head
from smartnote.db.sql import get_engine
from smartnote.local.events import LambdaContext

ROOT = Path(__file__).resolve().parents[3]


class ResponseCatcher:
    """An HTTP server standing in for the pre-signed S3 URL: records each PUT body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                catcher.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def catcher() -> Iterator[ResponseCatcher]:
    running = ResponseCatcher()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
def migrate_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migrate_app", ROOT / "functions/migrate/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def database(empty_sql_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The deploy's database, not migrated yet: SQLite, then (where it runs) PostgreSQL."""
    monkeypatch.setenv("DATABASE_URL", empty_sql_url)
    get_settings.cache_clear()
    yield empty_sql_url
    get_settings.cache_clear()


@contextmanager
def alembic_version_locked(url: str) -> Iterator[None]:
    """Another session holds a lock on alembic_version (an open transaction elsewhere)."""
    with get_engine(url).connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            connection.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
        yield
        connection.rollback()


def _event(kind: str, url: str, physical_id: str | None = None) -> dict[str, Any]:
    event = {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/smartnote/guid",
        "RequestId": f"request-{kind}",
        "ResourceType": "Custom::SchemaMigration",
        "LogicalResourceId": "SchemaMigration",
        "ResourceProperties": {"FunctionVersion": "3"},
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    return event


def test_create_migrates_to_head_and_reports_success(
    migrate_app: ModuleType, catcher: ResponseCatcher, database: str
) -> None:
    migrate_app.handler(_event("Create", catcher.url), None)
    (body,) = catcher.bodies
    assert body["Status"] == "SUCCESS"
    assert body["Data"] == {"Revision": current_head()}
    assert body["PhysicalResourceId"] == "SchemaMigration"
    assert body["RequestId"] == "request-Create"
    tables = set(inspect(get_engine(database)).get_table_names())
    assert {"users", "sessions", "alembic_version"} <= tables


def test_update_keeps_the_physical_id(
    migrate_app: ModuleType, catcher: ResponseCatcher, database: str
) -> None:
    migrate_app.handler(_event("Update", catcher.url, "SchemaMigration"), None)
    assert catcher.bodies[0]["Status"] == "SUCCESS"
    assert catcher.bodies[0]["PhysicalResourceId"] == "SchemaMigration"


def test_unreachable_database_reports_failure_without_raising(
    migrate_app: ModuleType, catcher: ResponseCatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://app:hunter2@127.0.0.1:1/none")
    get_settings.cache_clear()
    try:
        migrate_app.handler(_event("Create", catcher.url), None)
    finally:
        get_settings.cache_clear()
    (body,) = catcher.bodies
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("InterfaceError: ")
    assert "hunter2" not in body["Reason"]
    assert "Traceback" not in body["Reason"]
    assert len(body["Reason"]) <= 300


def test_delete_touches_nothing(
    migrate_app: ModuleType, catcher: ResponseCatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even with no reachable database, deleting the stack must not hang on this resource.
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://app:x@127.0.0.1:1/none")
    get_settings.cache_clear()
    try:
        migrate_app.handler(_event("Delete", catcher.url, "SchemaMigration"), None)
    finally:
        get_settings.cache_clear()
    assert catcher.bodies[0]["Status"] == "SUCCESS"


def test_a_migration_waiting_on_a_lock_fails_while_lambda_still_runs_it(
    migrate_app: ModuleType, catcher: ResponseCatcher, database: str
) -> None:
    # Killed by its timeout, the function would never answer: CloudFormation would wait an
    # hour for this resource, then as long again for the rollback's call.
    migrate_app.handler(_event("Create", catcher.url), None)
    context = LambdaContext("migrate", timeout_seconds=RESPONSE_MARGIN_SECONDS + 2)
    with alembic_version_locked(database):
        call = threading.Thread(
            target=migrate_app.handler,
            args=(_event("Update", catcher.url, "SchemaMigration"), context),
            daemon=True,
        )
        call.start()
        call.join(RESPONSE_MARGIN_SECONDS)  # a bound on a hang, not a measure of speed
        answered = not call.is_alive()
    assert answered, "the migration still waits on the lock, past Lambda's timeout"
    created, updated = catcher.bodies
    assert created["Status"] == "SUCCESS"
    assert updated["Status"] == "FAILED"
    assert "did not answer" in updated["Reason"] or "database is locked" in updated["Reason"]


def test_a_rollback_to_a_release_older_than_the_schema_succeeds(
    migrate_app: ModuleType, catcher: ResponseCatcher, database: str
) -> None:
    # A deploy that migrated to a newer revision fails later on; CloudFormation rolls the
    # function back and calls it again: failing then leaves the stack UPDATE_ROLLBACK_FAILED.
    migrate_app.handler(_event("Create", catcher.url), None)
    with get_engine(database).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_newer'"))
    migrate_app.handler(_event("Update", catcher.url, "SchemaMigration"), None)
    rolled_back = catcher.bodies[-1]
    assert rolled_back["Status"] == "SUCCESS", rolled_back["Reason"]
    assert rolled_back["Data"] == {"Revision": "9999_newer"}
    with get_engine(database).connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert [version for (version,) in versions] == ["9999_newer"]
