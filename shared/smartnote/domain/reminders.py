"""What a reminder does: when it is due, and when a repeating one comes next.

Repeats follow the owner's wall clock: a daily 09:00 reminder stays at 09:00 local time across
DST changes, and a monthly one on the 31st lands on the last day of shorter months and back
on the 31st after them. Every occurrence is computed from the reminder's first `at` (its
`anchor`), never from the previous occurrence, so clamping never drifts. After an occurrence
is handled, the next one falls at least one step later on the owner's calendar (a later day,
a week, a month), even when the owner changed time zone in between.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from itertools import takewhile
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smartnote.clock import to_stored_time
from smartnote.models.common import LATEST_TIME

Document = dict[str, Any]
ONCE = "none"


def owner_zone(name: str | None) -> ZoneInfo:
    """The owner's IANA time zone; UTC when unknown (a zone dropped from tzdata, say)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a tz folder, as "Europe"
        return ZoneInfo("UTC")


def due_at(note: Mapping[str, Any]) -> datetime | None:
    """When the note's reminder is next to be sent; None when nothing is pending.

    Trashed notes remind nobody, and a one-off reminder is done once it fired.
    """
    reminder = note.get("reminder")
    if not reminder or note.get("trashed"):
        return None
    if reminder.get("repeat", ONCE) == ONCE and reminder.get("fired_at") is not None:
        return None
    at: datetime = reminder["at"]
    return at


def _add_months(wall: datetime, months: int) -> datetime:
    index = wall.month - 1 + months
    year, month = wall.year + index // 12, index % 12 + 1
    day = min(wall.day, calendar.monthrange(year, month)[1])
    return wall.replace(year=year, month=month, day=day)


def _nth(wall: datetime, repeat: str, k: int) -> datetime:
    if repeat == "daily":
        return wall + timedelta(days=k)
    if repeat == "weekly":
        return wall + timedelta(weeks=k)
    if repeat == "monthly":
        return _add_months(wall, k)
    raise ValueError(f"unknown repeat {repeat!r}")


def _schedule(
    anchor: datetime, repeat: str, zone: ZoneInfo, near: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The occurrences of a reminder first set for `anchor`, from about one step before
    `near` on (so that a reminder years old costs a few iterations): each on the local wall
    clock (naive) and as stored (UTC).

    Arithmetic is on the local wall clock, then localised: a time that does not exist on a
    spring-forward day is taken with the offset before the change, and one that occurs twice
    on a fall-back night is the first of the two.
    """
    # An anchor in the repeated hour of a fall-back night carries fold=1; kept, it would put
    # the monthly repeats (`replace` keeps it) on the other side of a later DST change than
    # the daily and weekly ones (arithmetic drops it). The schedule is the wall time alone.
    wall = anchor.astimezone(zone).replace(tzinfo=None, fold=0)
    near_wall = near.astimezone(zone).replace(tzinfo=None)
    if repeat == "monthly":
        months = (near_wall.year - wall.year) * 12 + near_wall.month - wall.month
        k = max(0, months - 1)
    else:
        step_days = 7 if repeat == "weekly" else 1
        k = max(0, (near_wall - wall).days // step_days - 1)
    while True:
        occurrence = _nth(wall, repeat, k)
        yield occurrence, to_stored_time(occurrence.replace(tzinfo=zone).astimezone(UTC))
        k += 1


def next_occurrence(
    anchor: datetime,
    repeat: str,
    zone: ZoneInfo,
    after: datetime,
    *,
    not_before: date | None = None,
) -> datetime:
    """The first occurrence strictly after `after` of a reminder first set for `anchor`,
    and on the local day `not_before` or later when given (see `_schedule`)."""
    return next(
        candidate
        for occurrence, candidate in _schedule(anchor, repeat, zone, after)
        if candidate > after and (not_before is None or occurrence.date() >= not_before)
    )


def latest_due(reminder: Mapping[str, Any], zone: ZoneInfo, now: datetime) -> datetime:
    """The occurrence an email sent at `now` is for: the reminder's `at`, or, when a
    repeating one was missed several times (downtime), the latest occurrence due by `now`.
    The one email stands for them all; dated at the first missed one it would read as days
    or months old."""
    at: datetime = reminder["at"]
    repeat = str(reminder.get("repeat", ONCE))
    if repeat == ONCE or at >= now:
        return at
    schedule = _schedule(reminder.get("anchor") or at, repeat, zone, now)
    due = takewhile(lambda moment: moment <= now, (moment for _, moment in schedule))
    return max([at, *due])


def _one_step_after(anchor: datetime, handled: datetime, repeat: str, zone: ZoneInfo) -> date:
    """The first local day the occurrence after `handled` may fall on: a later day for daily,
    a week later for weekly, a month later (clamped) for monthly.

    Counted from the day the schedule set `handled` for: an occurrence in a spring-forward
    gap that ends at midnight (Nuuk's 23:00 to 00:00) falls on the next day, whose own
    occurrence must still come. When `handled` is no occurrence in `zone` (the owner changed
    zone since), from the day it falls on there.
    """
    day = handled.astimezone(zone).replace(tzinfo=None)
    for occurrence, moment in _schedule(anchor, repeat, zone, handled):
        if moment >= handled:
            if moment == handled:
                day = occurrence
            break
    return _nth(day, repeat, 1).date()


def fired(reminder: Mapping[str, Any], zone: ZoneInfo, now: datetime, *, sent: bool) -> Document:
    """The reminder after its due occurrence was handled at `now` (emailed, or skipped
    because the owner turned emails off): one-offs are done, repeats move to the next
    future occurrence - after downtime that is one email, then on schedule again.

    That next occurrence is also at least one step after the handled one on the owner's
    current calendar. The schedule follows the anchor's wall time in the owner's *current*
    zone: after a change of zone (or of DST rules) its occurrences move by an hour or so,
    and the one just after `now` may be the handled one's own, moved - a second email the
    same day. So the next one is a day, a week or a month after the day the schedule set
    the handled one for (`_one_step_after`), or after a change of zone after the local day
    it fell on: a daily reminder then comes at most once a local day. An occurrence that a
    spring-forward gap pushes past midnight (Nuuk's 23:30, at 00:30) does not take the next
    day's own.

    A repeat whose next occurrence would be at or after `LATEST_TIME` (year 3000, the end of
    the times clients may send) ends instead: it stays at the occurrence handled, a one-off.
    """
    updated: Document = dict(reminder)
    updated.pop("refusals", None)  # each occurrence gets its own tries
    updated["fired_at"] = now
    if sent:
        updated["last_sent_at"] = now
    repeat = str(reminder.get("repeat", ONCE))
    if repeat != ONCE:
        anchor: datetime = reminder.get("anchor") or reminder["at"]
        updated["anchor"] = anchor
        handled: datetime = reminder["at"]
        following = next_occurrence(
            anchor, repeat, zone, now, not_before=_one_step_after(anchor, handled, repeat, zone)
        )
        if following >= LATEST_TIME:
            # Clients may send no time from LATEST_TIME on: moved there, the note could not
            # be saved back as read. The repeat ends at its last occurrence, a fired one-off.
            updated.pop("anchor")
            updated["repeat"] = ONCE
        else:
            updated["at"] = following
    return updated
