"""The scheduled functions, run in Lambda-like containers with an injected clock."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from smartnote.clock import to_stored_time
from smartnote.config import get_settings
from smartnote.jobs import reminders as reminders_job
from smartnote.lambda_runtime import ScheduledHandler
from smartnote.local.containers import FunctionRuntime
from smartnote.local.emails import sent_emails
from smartnote.local.services import AwsService
from smartnote.local.template import Template
from tests.utils.aws_faults import aws_answering

EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class FakeClock:
    """The jobs' clock: set, advanced, never slept on."""

    now: datetime = field(default_factory=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    step: timedelta = timedelta(0)  # how far each reading moves time (a slow run)

    def __call__(self) -> datetime:
        reading = to_stored_time(self.now)
        self.now += self.step
        return reading

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def scheduled_event(name: str, at: datetime | None = None) -> dict[str, Any]:
    """A real scheduled event from tests/events/, its `time` set to `at`."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    if at is not None:
        event["time"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


@dataclass
class ScheduledFunction:
    """One scheduled function: its containers and the clock its job sees."""

    name: str
    containers: FunctionRuntime
    clock: FakeClock

    def run(self) -> dict[str, Any]:
        """Fire the function once, with the event EventBridge would send now."""
        result: dict[str, Any] = self.containers.invoke(scheduled_event(self.name, self.clock()))
        return result


def _scheduled_function(template: Template, name: str) -> Iterator[ScheduledFunction]:
    containers = FunctionRuntime(template.function(name), pool_size=2)
    handler = containers.handler()
    assert isinstance(handler, ScheduledHandler)
    clock = FakeClock()
    saved, handler.clock = handler.clock, clock
    try:
        yield ScheduledFunction(name, containers, clock)
    finally:
        handler.clock = saved
        containers.shutdown()


@pytest.fixture
def reminders(stack_env: None, template: Template) -> Iterator[ScheduledFunction]:
    yield from _scheduled_function(template, "reminders")


@pytest.fixture
def cleanup(
    stack_env: None, template: Template, job_positions: Collection[dict[str, Any]]
) -> Iterator[ScheduledFunction]:
    """The cleanup function; its sweeps start at the beginning of the bucket (`job_positions`:
    a run of an earlier test that stopped short leaves where it got to)."""
    yield from _scheduled_function(template, "cleanup")


@contextlib.contextmanager
def _collection(name: str) -> Iterator[Collection[dict[str, Any]]]:
    """The collection `name` of the stack's database, on a client of the test's own."""
    settings = get_settings()
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongodb_uri, tz_aware=True)
    try:
        yield client[settings.mongodb_db][name]
    finally:
        client.close()


@pytest.fixture
def notes_collection(stack_env: None) -> Iterator[Collection[dict[str, Any]]]:
    """The notes collection, read and prepared directly (what the API cannot set)."""
    with _collection("notes") as notes:
        yield notes


@pytest.fixture
def job_positions(stack_env: None) -> Iterator[Collection[dict[str, Any]]]:
    """Where the jobs' long listings got to, read and set directly; cleared before the test
    (its sweeps start at the beginning) and after it (a later test's sweeps too)."""
    with _collection("job_positions") as positions:
        positions.delete_many({})
        try:
            yield positions
        finally:
            positions.delete_many({})


def emails_to(aws: AwsService, address: str) -> list[dict[str, Any]]:
    """What moto's SES accepted for `address`, oldest first."""
    return [email for email in sent_emails(aws.url) if email["recipient"] == address]


def ses_refusing(
    address: str, code: str, message: str, status: int = 400
) -> contextlib.AbstractContextManager[None]:
    """For the block, SES answers the error `code` to every email to `address`; every other
    email still goes to moto. Moto refuses only a sender it has not verified and an address
    without a domain; SES also refuses a recipient (its sandbox: an unverified one,
    `MessageRejected`) and throttles."""

    def refuse(params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if address not in params["body"].values():
            return None
        return status, {"Error": {"Code": code, "Message": message, "Type": "Sender"}}

    return aws_answering("ses", "SendEmail", refuse, reminders_job.SEND_TIMEOUT_SECONDS)
