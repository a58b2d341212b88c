"""Days and months of a run (``GO-DAYS-1`` to ``GO-DAYS-8``): the documented table, the Go defects GO-D7 to GO-D9,
and every date of several years checked against an independent formulation of the rule."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.calendar import (
    MAX_BACKFILL_DAYS,
    Window,
    backfill_window,
    day_ranges,
    scheduled_window,
    utc_today,
)
from kubecost_flexera.errors import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Callable


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _reference_window(today: date, include_previous_month: bool) -> Window:
    """The rule of GO-DAYS-2 and GO-DAYS-3 stated literally, with month arithmetic on integers instead of dates."""
    yesterday = date.fromordinal(today.toordinal() - 1)
    invoice = {_month_index(yesterday)}
    if include_previous_month:
        invoice.add(_month_index(yesterday) - 1)
    earliest = min(invoice)
    first = date(earliest // 12, earliest % 12 + 1, 1)
    days = tuple(
        date.fromordinal(ordinal)
        for ordinal in range(first.toordinal(), today.toordinal() + 1)
        if _month_index(date.fromordinal(ordinal)) in invoice
    )
    return Window(today=today, days=days, months=tuple(_month_name(index) for index in sorted(invoice)))


def _every_day(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


@pytest.mark.parametrize("include_previous_month", [True, False])
def test_scheduled_window_matches_the_literal_rule_on_every_day_of_four_years(include_previous_month: bool) -> None:
    # Given every date from 2023 to 2026 (a leap year included), with and without the previous month
    for today in _every_day(date(2023, 1, 1), date(2026, 12, 31)):
        # When the window is computed
        window = scheduled_window(today, include_previous_month=include_previous_month)
        # Then it equals the rule stated independently
        assert window == _reference_window(today, include_previous_month), today


@pytest.mark.parametrize(
    ("today", "include_previous_month", "first", "last", "months"),
    [
        (date(2025, 7, 15), True, date(2025, 6, 1), date(2025, 7, 15), ("2025-06", "2025-07")),
        (date(2025, 7, 15), False, date(2025, 7, 1), date(2025, 7, 15), ("2025-07",)),
        (date(2025, 9, 1), True, date(2025, 7, 1), date(2025, 8, 31), ("2025-07", "2025-08")),
        (date(2025, 9, 1), False, date(2025, 8, 1), date(2025, 8, 31), ("2025-08",)),
    ],
)
def test_scheduled_window_reproduces_the_reference_table(
    today: date, include_previous_month: bool, first: date, last: date, months: tuple[str, ...]
) -> None:
    # Given a row of the table of GO-DAYS-7
    # When the window is computed
    window = scheduled_window(today, include_previous_month=include_previous_month)
    # Then the days run from the first to the last date of the row, contiguous, and the months match
    assert window.days == tuple(_every_day(first, last))
    assert window.months == months


def test_first_of_month_does_not_export_today() -> None:
    # Given the 1st of a month
    today = date(2025, 9, 1)
    # When the window is computed
    window = scheduled_window(today, include_previous_month=True)
    # Then today is not exported and its month is not an invoice month
    assert today not in window.days
    assert "2025-09" not in window.months


@pytest.mark.parametrize("day", [29, 30, 31])
def test_end_of_march_yields_february_as_previous_month(day: int) -> None:
    # Given yesterday is Mar 29, 30 or 31 of a non-leap year (Go's AddDate overflowed into March: defect GO-D8)
    today = date(2025, 3, day) + timedelta(days=1)
    # When the window is computed with the previous month
    window = scheduled_window(today, include_previous_month=True)
    # Then February is an invoice month and its days are all exported
    assert window.months == ("2025-02", "2025-03")
    assert window.days[0] == date(2025, 2, 1)
    assert date(2025, 2, 28) in window.days


@pytest.mark.parametrize("today", [date(2025, 3, 30), date(2025, 3, 31)])
def test_current_month_only_starts_on_the_first(today: date) -> None:
    # Given Mar 30 or 31 of a non-leap year without the previous month (Go started on Mar 2 or 3: defect GO-D9)
    # When the window is computed
    window = scheduled_window(today, include_previous_month=False)
    # Then the first exported day is Mar 1
    assert window.days[0] == date(2025, 3, 1)


def test_leap_day_is_exported_in_february() -> None:
    # Given Mar 1 of a leap year
    # When the window is computed
    window = scheduled_window(date(2024, 3, 1), include_previous_month=False)
    # Then February is the only month, complete with the 29th
    assert window.months == ("2024-02",)
    assert window.days[-1] == date(2024, 2, 29)
    assert len(window.days) == 29


def test_january_reaches_back_into_the_previous_year() -> None:
    # Given Jan 2 with the previous month
    # When the window is computed
    window = scheduled_window(date(2026, 1, 2), include_previous_month=True)
    # Then December of the year before is included
    assert window.months == ("2025-12", "2026-01")
    assert window.days[0] == date(2025, 12, 1)


def test_utc_today_converts_a_reading_in_another_zone() -> None:
    # Given 23:30 on Jul 15 at UTC-2, which is Jul 16 in UTC (the Go program used the local date: defect GO-D7)
    reading = datetime(2025, 7, 15, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    # When today is derived
    # Then it is the UTC date
    assert utc_today(reading) == date(2025, 7, 16)


def test_utc_today_refuses_a_naive_reading() -> None:
    # Given a clock reading without a zone
    # When today is derived
    # Then it is refused
    with pytest.raises(ValueError, match="time zone"):
        utc_today(datetime(2025, 7, 15, 12, 0))


def test_utc_today_keeps_a_utc_reading() -> None:
    # Given a UTC reading just before midnight
    # When today is derived
    # Then it is that date
    assert utc_today(datetime(2025, 7, 15, 23, 59, 59, tzinfo=UTC)) == date(2025, 7, 15)


def test_backfill_covers_the_range_and_the_months_it_touches() -> None:
    # Given a range from Jan 30 to Mar 2 of a leap year
    # When the backfill window is computed
    window = backfill_window(date(2024, 1, 30), date(2024, 3, 2), today=date(2024, 7, 1))
    # Then every day of the range is there, in order, with the three months touched
    assert window.days == tuple(_every_day(date(2024, 1, 30), date(2024, 3, 2)))
    assert window.months == ("2024-01", "2024-02", "2024-03")
    assert window.today == date(2024, 7, 1)


def test_backfill_of_one_day_is_allowed() -> None:
    # Given start = end = today
    # When the backfill window is computed
    window = backfill_window(date(2025, 7, 15), date(2025, 7, 15), today=date(2025, 7, 15))
    # Then it holds that one day
    assert window.days == (date(2025, 7, 15),)
    assert window.months == ("2025-07",)


def test_backfill_accepts_exactly_the_maximum_length() -> None:
    # Given a range of MAX_BACKFILL_DAYS days
    end = date(2025, 7, 15)
    start = end - timedelta(days=MAX_BACKFILL_DAYS - 1)
    # When the backfill window is computed
    window = backfill_window(start, end, today=end)
    # Then it holds every day
    assert len(window.days) == MAX_BACKFILL_DAYS


def test_backfill_refuses_one_day_more_than_the_maximum() -> None:
    # Given a range one day longer than allowed
    end = date(2025, 7, 15)
    start = end - timedelta(days=MAX_BACKFILL_DAYS)
    # When the backfill window is computed
    # Then the request is refused, naming the limit
    with pytest.raises(InvalidRequest, match="at most 366 days"):
        backfill_window(start, end, today=end)


def test_backfill_refuses_a_reversed_range() -> None:
    # Given start after end
    # When the backfill window is computed
    # Then the request is refused, naming both fields
    with pytest.raises(InvalidRequest, match=r"start=2025-07-02 is after end=2025-07-01"):
        backfill_window(date(2025, 7, 2), date(2025, 7, 1), today=date(2025, 7, 15))


def test_backfill_refuses_an_end_after_today() -> None:
    # Given an end date after today
    # When the backfill window is computed
    # Then the request is refused, naming end
    with pytest.raises(InvalidRequest, match=r"end=2025-07-16 is after today"):
        backfill_window(date(2025, 7, 1), date(2025, 7, 16), today=date(2025, 7, 15))


# --- the clock every function reads ---


def _at(day: int) -> Callable[[], datetime]:
    return lambda: datetime(2025, 7, day, 12, tzinfo=UTC)


def test_use_clock_sets_the_clock_for_the_block_and_restores_the_real_one() -> None:
    with calendar.use_clock(_at(15)):
        assert calendar.now() == datetime(2025, 7, 15, 12, tzinfo=UTC)
    assert abs(calendar.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_block_that_ends_before_an_inner_one_does_not_leave_its_clock_behind() -> None:
    # Given two blocks, the outer ending first (a test's block inside a fixture's lifetime, say)
    stack = ExitStack()
    outer = calendar.use_clock(_at(1))
    outer.__enter__()
    stack.enter_context(calendar.use_clock(_at(2)))
    # When the outer block ends / Then the inner clock still holds
    outer.__exit__(None, None, None)
    assert calendar.now().day == 2
    # And when the inner one ends, the real clock is back
    stack.close()
    assert calendar.now().year == datetime.now(UTC).year


def test_day_ranges_are_runs_of_consecutive_days_and_past_the_most_the_rest_is_counted() -> None:
    july = [date(2025, 7, day) for day in (*range(1, 11), 12, 14, 15, 20, 22, 23, 24, 31)]
    assert day_ranges(july) == "2025-07-01..2025-07-10, 2025-07-12, 2025-07-14..2025-07-15, 2025-07-20, " + (
        "2025-07-22..2025-07-24, 2025-07-31"
    )
    assert day_ranges(july, most=3) == "2025-07-01..2025-07-10, 2025-07-12, 2025-07-14..2025-07-15 and 5 more days"
    assert day_ranges(july[:-1], most=5) == "2025-07-01..2025-07-10, 2025-07-12, 2025-07-14..2025-07-15, " + (
        "2025-07-20, 2025-07-22..2025-07-24"
    )
    assert day_ranges([date(2025, 7, 1), date(2025, 7, 3)], most=1) == "2025-07-01 and 1 more day"
    assert day_ranges([date(2025, 6, 30), date(2025, 7, 1)], joiner=" .. ") == "2025-06-30 .. 2025-07-01"
