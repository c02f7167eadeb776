"""Schedules on the local stack: `make invoke FN=reminders` against the running stack, the
scheduler firing a function (and Lambda retrying a failed run), and the sent emails at
GET /_local/emails."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartnote.clock import utcnow
from smartnote.config import get_settings
from smartnote.local import invoke
from smartnote.local.async_invoke import AsyncInvoker
from smartnote.local.gateway import Gateway
from smartnote.local.scheduler import Scheduler
from smartnote.local.services import AwsService
from smartnote.local.stack import Stack
from smartnote.local.template import load_template
from tests.conftest import ApiUser, register_and_login

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_environ: None
) -> Iterator[Stack]:
    """The real template's stack in a scratch folder (its own Mongo, SQLite and moto)."""
    for key in ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL", "MONGODB_DB"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # `invoke` finds the running stack in ./.local
    running = Stack(load_template(ROOT / "template.yaml"), tmp_path / ".local", port=0, quiet=True)
    running.start()
    get_settings.cache_clear()  # the handlers read the stack's settings
    try:
        yield running
    finally:
        running.stop()
        get_settings.cache_clear()


def due_note(client: httpx.Client, user: ApiUser, title: str) -> str:
    at = (utcnow() - timedelta(minutes=1)).isoformat()
    body = {"title": title, "reminder": {"at": at, "repeat": "none"}}
    response = client.post("/notes", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    note_id: str = response.json()["id"]
    return note_id


def emails(client: httpx.Client, address: str) -> list[dict[str, Any]]:
    response = client.get("/_local/emails")
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["recipient"] == address]


def test_invoke_uses_the_running_stack_and_the_email_shows_locally(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        user = register_and_login(client, timezone="America/New_York")
        due_note(client, user, "Pay rent")
        assert emails(client, user.email) == []

        template = str(ROOT / "template.yaml")
        event = str(ROOT / "tests" / "events" / "reminders.json")
        assert invoke.main(["reminders", event, "--template", template]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["sent"] == 1

        (email,) = emails(client, user.email)
        assert email["subject"] == "Reminder: Pay rent"
        assert "(America/New_York)" in email["text"]
        assert email["sent_at"] and email["sender"] == get_settings().ses_sender
        assert set(email) >= {"recipient", "subject", "text", "sent_at"}


def test_the_scheduler_fires_the_function_on_the_running_stack(stack: Stack) -> None:
    assert stack.scheduler is not None
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        user = register_and_login(client)
        due_note(client, user, "Stretch")
        reminders = next(s for s in stack.scheduler.schedules if s.function == "reminders")
        fired = stack.scheduler.tick(stack.scheduler.next_fire[reminders])
        assert [s.function for s, _event in fired] == ["reminders"]
        deadline = time.monotonic() + 20  # the invocation is asynchronous, like EventBridge's
        while not emails(client, user.email) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [e["subject"] for e in emails(client, user.email)] == ["Reminder: Stretch"]


def test_local_routes_are_only_emails(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        assert client.get("/_local/nope").status_code == 404
        assert client.post("/_local/emails").status_code == 405
        assert not any("_local" in route.path for _fn, route in stack.template.routes)
        assert "/_local/emails" in stack.summary()
        assert "reminders" in stack.summary() and "rate(5 minutes)" in stack.summary()


FAILING_SCHEDULE = """
Resources:
  Failures:
    Type: AWS::SQS::Queue
  TickFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/tick/
      Handler: app.handler
      EventInvokeConfig:
        MaximumRetryAttempts: 2
        DestinationConfig:
          OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}
      Events:
        Every:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
"""

TICK_APP = """
import json, pathlib

def handler(event, context):
    with open(pathlib.Path(__file__).parent / "calls.jsonl", "a") as out:
        out.write(json.dumps({"id": context.aws_request_id, "event": event["id"]}) + "\\n")
    raise RuntimeError("the database is down")
"""


def test_a_failed_scheduled_run_is_retried_like_lambdas_async_invoke(tmp_path: Path) -> None:
    """EventBridge invokes the function asynchronously: Lambda retries a failed run
    MaximumRetryAttempts (2) times under one request id, then sends the event to the
    on-failure destination (the schedules' dead-letter queue in template.yaml)."""
    (tmp_path / "template.yaml").write_text(FAILING_SCHEDULE)
    (tmp_path / "functions" / "tick").mkdir(parents=True)
    (tmp_path / "functions" / "tick" / "app.py").write_text(textwrap.dedent(TICK_APP))
    template = load_template(tmp_path / "template.yaml")
    aws = AwsService()
    aws.start()
    try:
        aws.provision(template)
        with Gateway(template, port=0, quiet=True) as gateway:
            runs = AsyncInvoker(template, gateway.invoke, aws)
            start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
            scheduler = Scheduler(template, runs.invoke, clock=lambda: start)
            ((_, event),) = scheduler.tick(start + timedelta(minutes=1))
            sqs = aws.client("sqs")
            url = sqs.get_queue_url(QueueName=template.queue("Failures").queue_name)["QueueUrl"]
            deadline = time.monotonic() + 20
            records: list[dict[str, Any]] = []
            while not records and time.monotonic() < deadline:
                received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
                bodies = [json.loads(m["Body"]) for m in received.get("Messages", [])]
                # moto's state is per process: other tests' records may share the queue.
                records = [r for r in bodies if r["requestPayload"] == event]
            runs.stop()
        log = (tmp_path / "functions" / "tick" / "calls.jsonl").read_text().splitlines()
    finally:
        aws.stop()
    calls = [json.loads(line) for line in log]
    assert [c["event"] for c in calls] == [event["id"]] * 3, calls
    assert len({c["id"] for c in calls}) == 1  # one invocation, retried: one request id
    (record,) = records
    assert record["requestContext"]["requestId"] == calls[0]["id"]
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorMessage"] == "the database is down"
