"""EventBridge, locally: fire each function's `Schedule`/`ScheduleV2` events from the template.

`rate(...)` schedules fire every interval from the moment the stack started (like a rule
counted from its creation); `cron(...)` ones (AWS's six fields, UTC) at the times
aws-croniter computes. Each firing hands the event AWS would send to `dispatch`; the stack
passes Lambda's asynchronous invocation (`async_invoke`), which EventBridge uses: a failed
run is retried and then parked in the on-failure destination. After a pause (a laptop
asleep) a schedule fires once and then keeps to its times - no burst of the missed ones.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_croniter import AwsCroniter

from smartnote.local.events import (
    LOCAL_ACCOUNT_ID,
    build_scheduled_event,
    render_scheduler_input,
)
from smartnote.local.template import Template

Clock = Callable[[], datetime]
Dispatch = Callable[[str, dict[str, Any]], None]  # (function name, event)

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_WAIT_SECONDS = 30.0  # wake up at least this often (stop requests, clock jumps)


class ScheduleError(ValueError):
    """A schedule expression EventBridge would refuse."""


def parse_rate(expression: str) -> timedelta:
    """`rate(5 minutes)` -> 5 minutes; AWS wants the singular unit for 1 and plural above."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise ScheduleError(f"not a rate expression: {expression!r}")
    value, unit = int(match[1]), match[2]
    if value < 1:
        raise ScheduleError(f"a rate must be positive: {expression!r}")
    if (value == 1) != (not unit.endswith("s")):
        raise ScheduleError(f"use 'rate(1 {unit.rstrip('s')})' or a plural unit: {expression!r}")
    return timedelta(seconds=value * _UNIT_SECONDS[unit.rstrip("s")])


def parse_cron(expression: str) -> AwsCroniter:
    match = _CRON.match(expression.strip())
    if match is None:
        raise ScheduleError(f"not a cron expression: {expression!r}")
    try:
        return AwsCroniter(match[1].strip())
    except Exception as exc:  # aws-croniter raises plain Exceptions of its own kinds
        raise ScheduleError(f"{expression!r}: {exc}") from exc


@dataclass(frozen=True)
class Schedule:
    """One schedule event of a function."""

    function: str  # folder name
    name: str  # event name in the template
    kind: str  # "Schedule" (EventBridge rule) or "ScheduleV2" (EventBridge Scheduler)
    expression: str
    input: str | None = None

    @property
    def arn(self) -> str:
        if self.kind == "ScheduleV2":
            return f"arn:aws:scheduler:us-east-1:{LOCAL_ACCOUNT_ID}:schedule/default/{self.name}"
        return f"arn:aws:events:us-east-1:{LOCAL_ACCOUNT_ID}:rule/{self.function}-{self.name}"

    def validate(self) -> None:
        if self.expression.startswith("rate("):
            parse_rate(self.expression)
        else:
            parse_cron(self.expression)

    def next_after(self, moment: datetime, origin: datetime) -> datetime:
        """The first firing strictly after `moment`; rates count from `origin`."""
        if self.expression.startswith("rate("):
            interval = parse_rate(self.expression)
            elapsed = max(moment - origin, timedelta(0))
            return origin + interval * (elapsed // interval + 1)
        (following,) = parse_cron(self.expression).get_next(moment.astimezone(UTC))
        if following is None:
            return datetime.max.replace(tzinfo=UTC)  # a cron whose years have all passed
        result: datetime = following
        return result

    def event(self, at: datetime) -> dict[str, Any]:
        """What EventBridge sends the function for the firing at `at`."""
        if self.input is not None:
            rendered: dict[str, Any] = render_scheduler_input(self.input, self.arn, at)
            return rendered
        source = "aws.scheduler" if self.kind == "ScheduleV2" else "aws.events"
        return build_scheduled_event(self.arn, at, source=source)


def _resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A literal, or `!Ref Parameter` resolved to the parameter's default."""
    if isinstance(value, Mapping) and set(value) == {"Ref"}:
        parameter = parameters.get(value["Ref"]) or {}
        if "Default" not in parameter:
            raise ScheduleError(f"cannot resolve {value!r} locally (no parameter default)")
        return parameter["Default"]
    return value


def _enabled(kind: str, props: Mapping[str, Any]) -> bool:
    if kind == "Schedule" and props.get("Enabled") in (False, "false", "False"):
        return False
    return str(props.get("State", "ENABLED")).upper() != "DISABLED"


def schedules(template: Template) -> list[Schedule]:
    """The enabled schedule events of every function in the template."""
    parameters = template.raw.get("Parameters") or {}
    found: list[Schedule] = []
    for fn in template.functions.values():
        for event in fn.events_of_type("Schedule", "ScheduleV2"):
            props = event.properties
            if not _enabled(event.type, props):
                continue
            key = "Schedule" if event.type == "Schedule" else "ScheduleExpression"
            expression = str(_resolve(props[key], parameters)).strip()
            raw_input = _resolve(props.get("Input"), parameters)
            schedule = Schedule(fn.name, event.name, event.type, expression, raw_input)
            schedule.validate()
            found.append(schedule)
    return found


class Scheduler:
    """Fires the template's schedules on `clock` time through `dispatch`."""

    def __init__(
        self,
        template: Template,
        dispatch: Dispatch,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.schedules = schedules(template)
        self._dispatch = dispatch
        self._clock = clock
        self.origin = clock()
        self.next_fire = {s: s.next_after(self.origin, self.origin) for s in self.schedules}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, now: datetime) -> list[tuple[Schedule, dict[str, Any]]]:
        """Fire every schedule whose time has come (once each); returns what was fired."""
        fired = []
        for schedule, at in list(self.next_fire.items()):
            if at > now:
                continue
            event = schedule.event(at)
            self._dispatch(schedule.function, event)
            fired.append((schedule, event))
            self.next_fire[schedule] = schedule.next_after(now, self.origin)
        return fired

    def seconds_to_next(self, now: datetime) -> float:
        if not self.next_fire:
            return MAX_WAIT_SECONDS
        soonest = min(self.next_fire.values())
        return min(max((soonest - now).total_seconds(), 0.0), MAX_WAIT_SECONDS)

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds_to_next(self._clock())):
            self.tick(self._clock())

    def start(self) -> None:
        if self._thread is None and self.schedules:
            self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
