"""The local EventBridge: schedule expressions, firing times and the events sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smartnote.local.scheduler import (
    Schedule,
    ScheduleError,
    Scheduler,
    parse_rate,
    schedules,
)
from smartnote.local.template import Template, load_template
from smartnote.models.events import ScheduledEvent

REPO = Path(__file__).resolve().parents[3]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO / "template.yaml")


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
    ],
)
def test_rates(expression: str, interval: timedelta) -> None:
    assert parse_rate(expression) == interval


@pytest.mark.parametrize(
    "bad", ["rate(5 minute)", "rate(1 minutes)", "rate(0 minutes)", "rate(5 weeks)", "every 5m"]
)
def test_rates_aws_refuses_are_refused(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse_rate(bad)


def test_the_template_schedules(template: Template) -> None:
    found = {s.function: s for s in schedules(template)}
    assert found["reminders"].expression == "rate(5 minutes)"  # the parameter's default
    assert found["reminders"].kind == "Schedule"
    assert found["cleanup"].expression == "cron(15 3 * * ? *)"
    assert found["cleanup"].kind == "ScheduleV2"


def test_rate_fires_every_interval_from_the_start() -> None:
    schedule = Schedule("reminders", "Every5", "Schedule", "rate(5 minutes)")
    origin = utc(2026, 1, 1, 12, 0, 30)
    assert schedule.next_after(origin, origin) == utc(2026, 1, 1, 12, 5, 30)
    assert schedule.next_after(utc(2026, 1, 1, 12, 5, 30), origin) == utc(2026, 1, 1, 12, 10, 30)
    assert schedule.next_after(utc(2026, 1, 1, 13, 2), origin) == utc(2026, 1, 1, 13, 5, 30)


def test_cron_in_aws_six_field_syntax() -> None:
    schedule = Schedule("cleanup", "Daily", "ScheduleV2", "cron(15 3 * * ? *)")
    assert schedule.next_after(utc(2026, 1, 1, 3, 14), utc(2026, 1, 1)) == utc(2026, 1, 1, 3, 15)
    assert schedule.next_after(utc(2026, 1, 1, 3, 15), utc(2026, 1, 1)) == utc(2026, 1, 2, 3, 15)
    weekdays = Schedule("x", "y", "Schedule", "cron(0 9 ? * MON-FRI *)")
    assert weekdays.next_after(utc(2026, 1, 2, 10), utc(2026, 1, 1)) == utc(2026, 1, 5, 9)
    with pytest.raises(ScheduleError):
        Schedule("x", "y", "Schedule", "cron(0 9 * * *)").validate()  # five fields: unix cron


def test_events_are_real_scheduled_events(template: Template) -> None:
    found = {s.function: s for s in schedules(template)}
    at = utc(2026, 3, 8, 3, 15)
    for name in ("reminders", "cleanup"):
        event = found[name].event(at)
        parsed = ScheduledEvent.model_validate(event)
        assert parsed.time == at
        assert parsed.detail_type == "Scheduled Event"
        sample = json.loads((REPO / "tests" / "events" / f"{name}.json").read_text())
        assert set(event) == set(sample)  # the same shape as the sample events
    assert found["reminders"].event(at)["source"] == "aws.events"
    cleanup = found["cleanup"].event(at)
    assert cleanup["source"] == "aws.scheduler"
    assert cleanup["resources"][0].startswith("arn:aws:scheduler:")
    assert "<aws.scheduler" not in json.dumps(cleanup)


def test_tick_fires_what_is_due_once_then_keeps_to_the_schedule(template: Template) -> None:
    fired: list[tuple[str, dict[str, Any]]] = []
    start = utc(2026, 1, 1, 3, 0)
    scheduler = Scheduler(template, lambda fn, event: fired.append((fn, event)), lambda: start)
    assert scheduler.tick(start + timedelta(minutes=4)) == []
    scheduler.tick(start + timedelta(minutes=5))
    assert [(fn, e["time"]) for fn, e in fired] == [("reminders", "2026-01-01T03:05:00Z")]
    fired.clear()
    # Asleep for an hour: each schedule fires once, not once per missed slot.
    scheduler.tick(start + timedelta(hours=1, minutes=1))
    assert sorted((fn, e["time"]) for fn, e in fired) == [
        ("cleanup", "2026-01-01T03:15:00Z"),
        ("reminders", "2026-01-01T03:10:00Z"),
    ]
    assert scheduler.next_fire[
        next(s for s in scheduler.schedules if s.function == "reminders")
    ] == (start + timedelta(hours=1, minutes=5))
    assert scheduler.seconds_to_next(start + timedelta(hours=1, minutes=1)) == 30.0
