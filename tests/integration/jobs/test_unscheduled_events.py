"""The scheduled functions fed events that are not their schedule's: they run no job and fail
with an error that says what came (Lambda's retries, then the dead-letter queue and its alarm,
make a misrouted rule or a broken schedule input seen)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from smartnote.lambda_events import UnsupportedEvent
from smartnote.local.services import AwsService
from tests.conftest import ApiUser
from tests.integration.functions.test_handlers import load_event
from tests.integration.jobs.conftest import ScheduledFunction, emails_to, scheduled_event
from tests.utils.lambda_events import FOREIGN_EVENTS, event_file, eventbridge

NOT_SCHEDULED: dict[str, Callable[[], Any]] = {
    **FOREIGN_EVENTS,
    "empty": dict,
    "s3-test-event": lambda: event_file("s3-test-event"),
    "api-request": lambda: load_event("users"),
    "time-without-offset": lambda: {**event_file("reminders"), "time": "2026-03-08T09:00:00"},
}


@pytest.mark.parametrize("kind", list(NOT_SCHEDULED))
@pytest.mark.parametrize("name", ["reminders", "cleanup"])
@pytest.mark.usefixtures("stack_env")  # parametrizes the SQL backend for getfixturevalue
def test_an_event_that_is_not_a_schedules_is_refused_by_name(
    request: pytest.FixtureRequest, name: str, kind: str
) -> None:
    function: ScheduledFunction = request.getfixturevalue(name)
    with pytest.raises(UnsupportedEvent, match="EventBridge scheduled event") as refused:
        function.containers.invoke(NOT_SCHEDULED[kind]())
    assert "input_value" not in str(refused.value)  # pydantic's dump of the event's values


def test_a_rule_on_other_events_does_not_send_reminders(
    api: httpx.Client, user: ApiUser, aws: AwsService, reminders: ScheduledFunction
) -> None:
    """Before, any event with an id, a source, a detail-type and a time ran the job: a rule
    on S3's events targeting the function would have run it on every upload."""
    due = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    body = {"title": "Due", "content": "", "reminder": {"at": due.isoformat(), "repeat": "none"}}
    assert api.post("/notes", json=body, headers=user.headers).status_code == 201
    reminders.clock.set(datetime(2030, 1, 1, 9, 5, tzinfo=UTC))
    with pytest.raises(UnsupportedEvent, match=r"'aws\.s3'"):
        reminders.containers.invoke(eventbridge("aws.s3", "Object Created"))
    assert emails_to(aws, user.email) == []
    assert reminders.containers.invoke(scheduled_event("reminders"))["sent"] == 1
    assert len(emails_to(aws, user.email)) == 1
