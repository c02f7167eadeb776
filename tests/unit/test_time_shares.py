"""jobs/time_shares.py: a run's time shared between its steps, by a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from smartnote.clock import utcnow
from smartnote.invocation import Invocation
from smartnote.jobs.time_shares import RunTime, Step, StepTime, run_in_turns

START = datetime(2030, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@dataclass
class Clock:
    """Time moves only when an item of work moves it."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Backlog:
    """A step's work: `items` of `each` long, `done` counting those it did."""

    name: str
    items: int
    each: timedelta = SECOND
    done: int = 0
    turns: list[int] = field(default_factory=list)  # items done in each of its turns

    def step(self, clock: Clock) -> Step:
        async def work(time: StepTime) -> None:
            before = self.done
            while self.done < self.items and time.allows():
                clock.now += self.each
                self.done += 1
            self.turns.append(self.done - before)

        return Step(self.name, self.each, work)


def far_deadline() -> Invocation:
    """An invocation whose real deadline never comes first: the test's clock decides."""
    return Invocation("request", utcnow() + timedelta(days=1))


def run(backlogs: list[Backlog], clock: Clock, seconds: int) -> list[str]:
    time = RunTime(clock, far_deadline(), timedelta(0), clock() + seconds * SECOND)
    steps = [backlog.step(clock) for backlog in backlogs]
    return _run(run_in_turns(steps, time))


def _run(work: Awaitable[list[str]]) -> list[str]:
    async def main() -> list[str]:
        return await work

    return asyncio.run(main())


def test_a_step_without_work_gives_its_share_to_the_later_ones() -> None:
    clock = Clock()
    idle, trash, rederive = Backlog("idle", 0), Backlog("trash", 1000), Backlog("rederive", 1000)
    unfinished = run([idle, trash, rederive], clock, 90)
    assert unfinished == ["trash", "rederive"]
    assert trash.turns[0] == 45 and rederive.turns[0] == 45  # 90 s between the two of them


def test_every_step_has_its_turn_and_one_left_alone_gets_the_rest() -> None:
    clock = Clock()
    trash, sessions, rederive = Backlog("trash", 1000), Backlog("sql", 1), Backlog("re", 3)
    unfinished = run([trash, sessions, rederive], clock, 60)
    assert unfinished == ["trash"]
    assert sessions.done == 1 and rederive.done == 3
    assert trash.turns[0] == 20  # its fair share first: a third of the run
    assert trash.done == 60 - 4  # then everything the others left


def test_no_item_starts_that_may_not_end_before_the_run_must_stop() -> None:
    clock = Clock()
    backlogs = [Backlog(name, 1000, each=7 * SECOND) for name in ("a", "b", "c")]
    ends = START + 100 * SECOND
    unfinished = run(backlogs, clock, 100)
    assert unfinished == ["a", "b", "c"]
    assert clock.now <= ends < clock.now + 7 * SECOND  # stopped in time, with no time wasted
    assert sum(backlog.done for backlog in backlogs) == 14


def test_each_step_does_one_item_per_turn_even_when_its_share_is_shorter() -> None:
    clock = Clock()
    backlogs = [Backlog(name, 2, each=10 * SECOND) for name in "abcd"]
    assert run(backlogs, clock, 80) == []  # a share of 20 s each
    assert [backlog.turns[0] for backlog in backlogs] == [2, 2, 2, 2]
    clock, backlogs = Clock(), [Backlog(name, 2, each=10 * SECOND) for name in "abcd"]
    # Shares of 10 s: each still does its first item, none starves.
    assert run(backlogs, clock, 40) == ["a", "b", "c", "d"]
    assert [backlog.turns for backlog in backlogs] == [[1]] * 4


def test_once_a_step_time_says_no_it_stays_no() -> None:
    clock = Clock()
    time = RunTime(clock, far_deadline(), timedelta(0), START + 10 * SECOND)
    step_time = time.share(1, 20 * SECOND)
    assert not step_time.allows() and step_time.stopped
    clock.now = START - timedelta(hours=1)
    assert not step_time.allows()


def test_a_call_within_an_item_that_may_not_end_in_time_stops_the_step() -> None:
    clock = Clock()
    time = RunTime(clock, far_deadline(), timedelta(0), START + 10 * SECOND)
    step_time = time.share(1, SECOND)
    assert step_time.allows() and step_time.fits(9 * SECOND) and not step_time.stopped
    assert not step_time.fits(11 * SECOND) and step_time.stopped


@pytest.mark.parametrize("deadline", [None, "in a minute"])
def test_the_run_time_of_an_invocation(deadline: str | None) -> None:
    clock = Clock()
    invocation = Invocation("request", None if deadline is None else utcnow() + 60 * SECOND)
    time = RunTime.of(invocation, clock, 5 * SECOND)
    if deadline is None:  # unbounded: every step goes to its end
        assert time.ends is None
        backlogs = [Backlog("a", 500), Backlog("b", 500)]
        assert _run(run_in_turns([b.step(clock) for b in backlogs], time)) == []
        return
    assert time.ends is not None
    assert START + 50 * SECOND < time.ends <= START + 55 * SECOND  # less the reserve
    clock.now = time.ends
    assert not time.fits(SECOND)
