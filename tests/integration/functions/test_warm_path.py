"""The warm GET /notes/{id} path in one notes container: what it asks of SQL and of threads.

Each trip off the event loop and each SQL statement is a fixed cost of every warm invocation
(bench/warm.py measures them); these tests pin how many there are, not how long they take.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event

from smartnote.local.containers import FunctionRuntime
from smartnote.local.events import build_rest_event
from smartnote.local.gateway import Gateway
from smartnote.local.template import Template
from tests.conftest import ApiUser

WARM_INVOCATIONS = 5


def get_note_event(note_id: str, token: str) -> dict[str, Any]:
    headers = [("Host", "127.0.0.1"), ("Authorization", f"Bearer {token}")]
    return build_rest_event(
        "GET",
        f"/notes/{note_id}",
        headers,
        resource="/notes/{proxy+}",
        path_parameters={"proxy": note_id},
    )


@pytest.fixture
def note_id(api: httpx.Client, user: ApiUser) -> str:
    created = api.post("/notes", json={"title": "Warm"}, headers=user.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture
def warm_container(gateway: Gateway, template: Template) -> Iterator[FunctionRuntime]:
    container = FunctionRuntime(template.function("notes"), pool_size=1)
    try:
        yield container
    finally:
        container.shutdown()


def _invoke_warm(container: FunctionRuntime, request: dict[str, Any]) -> None:
    for _ in range(2):  # cold: clients, pool connections and executor threads start here
        assert container.invoke(request)["statusCode"] == 200


def test_warm_get_makes_no_trip_off_the_loop(
    warm_container: FunctionRuntime,
    user: ApiUser,
    note_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Lambda invocation has the loop to itself: authentication and the end of its read-only
    transaction run inline (`run_short`), with no executor hop (~0.24 ms each, bench warm)."""
    request = get_note_event(note_id, user.access_token)
    _invoke_warm(warm_container, request)
    hops: list[Any] = []
    original_submit = ThreadPoolExecutor.submit

    def counting_submit(pool: ThreadPoolExecutor, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("lambda-notes"):  # from the container
            hops.append(args[0])
        return original_submit(pool, *args, **kwargs)

    monkeypatch.setattr(ThreadPoolExecutor, "submit", counting_submit)
    for _ in range(WARM_INVOCATIONS):
        assert warm_container.invoke(request)["statusCode"] == 200
    assert hops == []


def test_warm_get_authenticates_with_one_sql_statement(
    warm_container: FunctionRuntime, user: ApiUser, note_id: str
) -> None:
    """User and live session come back from one statement (a round trip each, on RDS)."""
    request = get_note_event(note_id, user.access_token)
    _invoke_warm(warm_container, request)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        for _ in range(WARM_INVOCATIONS):
            assert warm_container.invoke(request)["statusCode"] == 200
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert len(statements) == WARM_INVOCATIONS, statements
