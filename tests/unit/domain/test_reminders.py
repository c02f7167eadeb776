"""Reminder occurrences on the owner's wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from smartnote.domain.reminders import due_at, fired, latest_due, next_occurrence, owner_zone

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("anchor", "repeat", "zone", "after", "expected"),
    [
        # 09:00 Paris stays 09:00 across spring-forward (UTC+1 -> UTC+2) and fall-back.
        (utc(2026, 3, 28, 8), "daily", PARIS, utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),
        (utc(2026, 10, 24, 7), "daily", PARIS, utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
        (utc(2026, 3, 5, 14), "weekly", NEW_YORK, utc(2026, 3, 5, 14), utc(2026, 3, 12, 13)),
        # Month-end clamps and comes back: 31 Jan -> 28 Feb -> 31 Mar (from the anchor).
        (
            utc(2027, 1, 31, 10),
            "monthly",
            ZoneInfo("UTC"),
            utc(2027, 1, 31, 10),
            utc(2027, 2, 28, 10),
        ),
        (
            utc(2027, 1, 31, 10),
            "monthly",
            ZoneInfo("UTC"),
            utc(2027, 2, 28, 10),
            utc(2027, 3, 31, 10),
        ),
        (
            utc(2028, 1, 31, 10),
            "monthly",
            ZoneInfo("UTC"),
            utc(2028, 1, 31, 10),
            utc(2028, 2, 29, 10),
        ),
        # Years of downtime: the next future occurrence, not the first missed one.
        (utc(2020, 1, 1, 9), "daily", ZoneInfo("UTC"), utc(2026, 6, 15, 12), utc(2026, 6, 16, 9)),
        (
            utc(2020, 1, 31, 9),
            "monthly",
            ZoneInfo("UTC"),
            utc(2026, 6, 15, 12),
            utc(2026, 6, 30, 9),
        ),
    ],
)
def test_next_occurrence(
    anchor: datetime, repeat: str, zone: ZoneInfo, after: datetime, expected: datetime
) -> None:
    assert next_occurrence(anchor, repeat, zone, after) == expected


def test_a_local_time_skipped_by_dst_is_taken_with_the_offset_before() -> None:
    # 02:30 does not exist in New York on 8 March 2026: it lands at 03:30 EDT (07:30 UTC).
    anchor = utc(2026, 3, 7, 7, 30)  # 02:30 EST
    assert next_occurrence(anchor, "daily", NEW_YORK, anchor) == utc(2026, 3, 8, 7, 30)
    assert next_occurrence(anchor, "daily", NEW_YORK, utc(2026, 3, 8, 7, 30)) == utc(
        2026, 3, 9, 6, 30
    )


def test_monthly_repeat_from_a_repeated_hour_takes_a_skipped_time_with_the_offset_before() -> None:
    """02:30 on 25 Oct 2026 in Paris, the second one (CET, fold=1), repeats on 25 March 2029,
    a spring-forward day without 02:30: 02:30 at +01:00 = 03:30 CEST, as a daily repeat has
    it, not 01:30 CET (the offset after the change, an hour before the owner's time)."""
    anchor = utc(2026, 10, 25, 1, 30)
    assert anchor.astimezone(PARIS).fold == 1
    assert next_occurrence(anchor, "daily", PARIS, utc(2029, 3, 24, 12)) == utc(2029, 3, 25, 1, 30)
    monthly = next_occurrence(anchor, "monthly", PARIS, utc(2029, 3, 1))
    assert monthly == utc(2029, 3, 25, 1, 30), monthly.astimezone(PARIS)


@pytest.mark.parametrize(
    ("repeat", "handled", "expected"),
    [
        ("daily", utc(2031, 7, 2, 13), utc(2031, 7, 3, 14)),
        ("weekly", utc(2031, 7, 7, 13), utc(2031, 7, 14, 14)),
        ("monthly", utc(2031, 7, 6, 13), utc(2031, 8, 6, 14)),
    ],
)
def test_after_a_time_zone_change_the_next_occurrence_is_one_step_after_the_handled_one(
    repeat: str, handled: datetime, expected: datetime
) -> None:
    """Set for 09:00 in a New York winter (14:00 UTC), handled at 09:00 EDT (13:00 UTC) while
    the owner moved to Phoenix, where the anchor is 07:00 MST = 14:00 UTC all year: the same
    day's 14:00 UTC would be a second email an hour after the first."""
    reminder = {"at": handled, "anchor": utc(2031, 1, 6, 14), "repeat": repeat}
    moved = fired(reminder, ZoneInfo("America/Phoenix"), handled + timedelta(minutes=1), sent=True)
    assert moved["at"] == expected


NUUK = ZoneInfo("America/Nuuk")


@pytest.mark.parametrize(
    ("repeat", "first", "shifted", "following"),
    [
        # Nuuk springs forward at 23:00 on a Saturday (-02:00 -> -01:00): that 23:30 does not
        # exist and falls at 00:30 on the Sunday, whose own 23:30 still comes.
        ("daily", (2026, 3, 27), (2026, 3, 29, 0, 30), (2026, 3, 29, 23, 30)),
        ("weekly", (2026, 3, 21), (2026, 3, 29, 0, 30), (2026, 4, 4, 23, 30)),
        ("monthly", (2026, 2, 28), (2026, 3, 29, 0, 30), (2026, 4, 28, 23, 30)),
    ],
)
def test_an_occurrence_a_dst_gap_moves_past_midnight_skips_none_of_the_next(
    repeat: str,
    first: tuple[int, int, int],
    shifted: tuple[int, ...],
    following: tuple[int, ...],
) -> None:
    """The occurrence of the gap's day is on the next local day once localised: the next one
    is a step after the day it was scheduled for, not after the day it fell on."""
    at = datetime(*first, 23, 30, tzinfo=NUUK).astimezone(UTC)
    reminder = fired({"at": at, "repeat": repeat}, NUUK, at + timedelta(minutes=2), sent=True)
    assert reminder["at"].astimezone(NUUK).replace(tzinfo=None) == datetime(*shifted)
    moved = fired(reminder, NUUK, reminder["at"] + timedelta(minutes=2), sent=True)
    assert moved["at"].astimezone(NUUK).replace(tzinfo=None) == datetime(*following)


def test_a_daily_reminder_at_midnight_comes_the_next_midnight() -> None:
    reminder = {"at": utc(2031, 7, 1, 22), "repeat": "daily"}  # 00:00 CEST
    assert fired(reminder, PARIS, utc(2031, 7, 1, 22, 1), sent=True)["at"] == utc(2031, 7, 2, 22)


def test_due_at() -> None:
    reminder = {"at": utc(2026, 1, 1), "repeat": "none", "last_sent_at": None}
    assert due_at({"reminder": reminder}) == utc(2026, 1, 1)
    assert due_at({"reminder": None}) is None
    assert due_at({"reminder": reminder, "trashed": True}) is None
    done = fired(reminder, ZoneInfo("UTC"), utc(2026, 1, 1, 0, 1), sent=True)
    assert due_at({"reminder": done}) is None
    assert done["last_sent_at"] == utc(2026, 1, 1, 0, 1)


def test_fired_repeat_keeps_its_anchor_and_skipped_ones_are_not_sent() -> None:
    reminder = {"at": utc(2027, 1, 31, 10), "repeat": "monthly", "last_sent_at": None}
    first = fired(reminder, ZoneInfo("UTC"), utc(2027, 1, 31, 10, 1), sent=False)
    assert first["at"] == utc(2027, 2, 28, 10) and first["last_sent_at"] is None
    second = fired(first, ZoneInfo("UTC"), utc(2027, 2, 28, 10, 1), sent=True)
    assert second["at"] == utc(2027, 3, 31, 10)
    assert second["anchor"] == utc(2027, 1, 31, 10)
    assert due_at({"reminder": second}) == utc(2027, 3, 31, 10)


@pytest.mark.parametrize("repeat", ["daily", "weekly", "monthly"])
def test_a_repeat_whose_next_occurrence_is_past_the_accepted_range_ends_as_a_fired_one_off(
    repeat: str,
) -> None:
    """Set for 09:00 in Tokyo on the last day clients may send (UTC): the next occurrence
    would be in year 3000 (UTC), which no client could send back."""
    last = utc(2999, 12, 31, 0)
    reminder = {"at": last, "repeat": repeat, "anchor": utc(2999, 1, 31, 0)}
    ended = fired(reminder, ZoneInfo("Asia/Tokyo"), utc(2999, 12, 31, 0, 1), sent=True)
    assert (ended["at"], ended["repeat"], "anchor" in ended) == (last, "none", False)
    assert due_at({"reminder": ended}) is None


def test_fired_gives_the_next_occurrence_its_own_tries() -> None:
    refused = {"at": utc(2027, 1, 31, 10), "repeat": "daily", "refusals": 2}
    assert "refusals" not in fired(refused, ZoneInfo("UTC"), utc(2027, 1, 31, 10, 1), sent=False)


def test_unknown_zone_falls_back_to_utc() -> None:
    assert owner_zone("Mars/Olympus_Mons").key == "UTC"
    assert owner_zone("Europe").key == "UTC"  # a folder of the tz database
    assert owner_zone(None).key == "UTC"
    assert owner_zone("Asia/Tokyo").key == "Asia/Tokyo"


def test_latest_due_is_the_last_occurrence_missed_and_at_for_a_one_off() -> None:
    monthly = {"at": utc(2034, 1, 31, 8), "repeat": "monthly"}
    # Missed on 31 January, 28 February and 31 March (09:00 CEST, after the DST change).
    assert latest_due(monthly, PARIS, utc(2034, 4, 2, 12)) == utc(2034, 3, 31, 7)
    assert latest_due(monthly, PARIS, utc(2034, 1, 31, 8, 1)) == utc(2034, 1, 31, 8)
    # From the anchor (the 31st), not from the clamped 30 April.
    later = {**monthly, "at": utc(2034, 4, 30, 7), "anchor": utc(2034, 1, 31, 8)}
    assert latest_due(later, PARIS, utc(2034, 6, 1, 0)) == utc(2034, 5, 31, 7)
    once = {"at": utc(2034, 1, 31, 8), "repeat": "none"}
    assert latest_due(once, PARIS, utc(2035, 1, 1, 0)) == utc(2034, 1, 31, 8)
