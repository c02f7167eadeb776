"""A scheduled run's time, shared fairly between its steps, so that none starves the others.

Each step works an item at a time (a note, a page of a listing) and asks its `StepTime`
before each one. It gets a fair share of the time left (that time divided between it and
the steps after it in the turn), so a step that finishes early gives the rest of its share
to the later ones; once every step had its turn, those that stopped short share what is left
again, turn after turn. A step never starts an item that may not end before the run must
stop (`RunTime.ends`: the invocation's deadline, less what the run needs after its steps),
whatever its share: every step stops cleanly, and what it left stays due for the next run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from smartnote.invocation import Invocation

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RunTime:
    """Until when a run's steps may work: `ends` by the run's clock (None: unbounded)."""

    clock: Clock
    invocation: Invocation
    reserve: timedelta  # what the run needs once its steps stopped (metrics, logs)
    ends: datetime | None

    @classmethod
    def of(cls, invocation: Invocation, clock: Clock, reserve: timedelta) -> RunTime:
        """The time of `invocation`, less `reserve`, as `clock` counts it."""
        if invocation.deadline is None:
            return cls(clock, invocation, reserve, None)
        return cls(clock, invocation, reserve, clock() + invocation.time_left() - reserve)

    def left(self, now: datetime) -> timedelta:
        """How long the steps may still work at `now`, by the run's clock and by the real
        time (the same on Lambda; a test's clock makes time pass without sleeping)."""
        if self.ends is None:
            return timedelta.max
        return min(self.ends - now, self.invocation.time_left() - self.reserve)

    def fits(self, longest: timedelta) -> bool:
        """Whether work that takes at most `longest` ends before the steps must stop."""
        return self.left(self.clock()) >= longest

    def share(self, steps: int, longest_item: timedelta) -> StepTime:
        """The time of the next of `steps` steps still to run in this turn, whose items each
        take at most `longest_item`: a fair part of what is left."""
        now = self.clock()
        left = self.left(now)
        until = None if left == timedelta.max else now + max(left, timedelta(0)) / steps
        return StepTime(self, until, longest_item)


class StepTime:
    """One step's turn: before each item, `allows()` says whether to start it."""

    def __init__(self, run: RunTime, until: datetime | None, longest_item: timedelta) -> None:
        self.run = run
        self.until = until  # the end of the step's share
        self.longest_item = longest_item
        self.stopped = False  # it said no: the step has work left
        self._asked = False

    def allows(self) -> bool:
        """Whether to start one more item: within the step's share (its first item whatever
        the share, so that every step moves on at each turn) and only if the item ends
        before the run must stop. Once it says no, it stays no."""
        if self.stopped:
            return False
        now = self.run.clock()
        in_share = not self._asked or self.until is None or now < self.until
        self._asked = True
        if in_share and self.run.left(now) >= self.longest_item:
            return True
        self.stopped = True
        return False

    def fits(self, longest: timedelta) -> bool:
        """Whether one call within an item (at most `longest`) still ends in time; when not,
        the step stops (`stopped`) and so does the item (a `storage.HasTime`)."""
        if self.run.fits(longest):
            return True
        self.stopped = True
        return False


@dataclass(frozen=True)
class Step:
    """One step of a run: `work` goes through its items while its `StepTime` allows."""

    name: str
    longest_item: timedelta
    work: Callable[[StepTime], Awaitable[None]]


async def run_in_turns(steps: Sequence[Step], time: RunTime) -> list[str]:
    """Run `steps` in order, each with a fair share of the time left, then those that
    stopped short again with what is left, until all are done or none has time for an item;
    returns the names of those that stopped short, in order. A step that raises ends the
    run (the exception propagates)."""
    unfinished = list(steps)
    while unfinished:
        stopped: list[Step] = []
        for position, step in enumerate(unfinished):
            step_time = time.share(len(unfinished) - position, step.longest_item)
            await step.work(step_time)
            if step_time.stopped:
                stopped.append(step)
        unfinished = stopped
        if not any(time.fits(step.longest_item) for step in unfinished):
            break
    return [step.name for step in unfinished]
