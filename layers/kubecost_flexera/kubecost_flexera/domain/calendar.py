"""Which days a run exports and which months it uploads: the Go exporter's rule, in UTC, from one clock reading.

The rule is ``GO-DAYS-1`` to ``GO-DAYS-4`` as intended, not as the Go code computes it:

- *yesterday* is the day before *today*; the invoice months are the month of *yesterday* and, when
  ``INCLUDE_PREVIOUS_MONTH`` is on, the month before it;
- the days are every date from the 1st of the earliest invoice month up to and including *today*, keeping only
  dates inside an invoice month (so on the 1st of a month *today* itself is not exported);
- months are derived from the 1st of a month, never by subtracting a month from an arbitrary date: Go's
  ``AddDate(0, -1, 0)`` normalises Mar 31 minus one month to Mar 3 and skipped the real previous month or its first
  days (defects GO-D8 and GO-D9);
- *today* is the UTC date of a single clock reading taken at the start of the run (defect GO-D7: the Go program used the
  container's time zone and read the clock again at several points). A run may pin another *today* (not a later
  one); the *current month*, the only one uploaded while incomplete, is always the month of the real clock.

Every function reads the real clock through :func:`now`, so a test or the local runner (its ``--today``) sets what
"now" is for all of them at once with :func:`use_clock`.

A backfill replaces the schedule's window with an explicit range of days; its months are the months the range
touches. Days are ``date`` objects; months are ``"YYYY-MM"`` strings, the form the workflow's JSON and Flexera's
billing periods use.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Final

from kubecost_flexera.errors import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    Clock = Callable[[], datetime]

MAX_BACKFILL_DAYS: Final = 366
_ONE_DAY: Final = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """The days to export (ascending) and the invoice months to upload (ascending) of one run."""

    today: date
    days: tuple[date, ...]
    months: tuple[str, ...]


def system_clock() -> datetime:
    return datetime.now(UTC)


# The clocks use_clock set, latest last; each entry is removed by the block that added it, whatever the order in
# which blocks end (a test's block may end before a fixture's), so an ended block never leaves its clock behind.
_CLOCKS: Final[list[tuple[object, Clock]]] = []


def now() -> datetime:
    """The real clock as every function reads it: an aware UTC datetime."""
    return _CLOCKS[-1][1]() if _CLOCKS else system_clock()


@contextmanager
def use_clock(clock: Clock) -> Iterator[None]:
    """Replaces the clock :func:`now` reads, process-wide, for the ``with`` block (tests, local --today)."""
    entry = (object(), clock)
    _CLOCKS.append(entry)
    try:
        yield
    finally:
        _CLOCKS.remove(entry)


def utc_today(now: datetime) -> date:
    """The UTC calendar date of a clock reading; a naive reading is refused because its zone would be a guess."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the clock reading must carry a time zone")
    return now.astimezone(UTC).date()


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def month_before(first: date) -> date:
    """The 1st of the month before the month that starts on ``first``."""
    return first_of_month(first - _ONE_DAY)


def last_of_month(first: date) -> date:
    """The last day of the month that starts on ``first``."""
    return (first + timedelta(days=31)).replace(day=1) - _ONE_DAY


def parse_month(month: str) -> date:
    """The first day of a ``YYYY-MM`` month; ValueError when it is not one."""
    if len(month) != 7 or month[4] != "-":
        raise ValueError(month)
    return date(int(month[:4]), int(month[5:]), 1)


def month_days(month: str, today: date) -> tuple[date, ...]:
    """The days of ``month`` a complete export holds: all of them, or up to ``today`` in the month of ``today``."""
    first = parse_month(month)
    return _date_range(first, today if month == month_of(today) else last_of_month(first))


def scheduled_window(today: date, *, include_previous_month: bool) -> Window:
    """The days and months a scheduled run on ``today`` covers (``GO-DAYS-2``, ``GO-DAYS-3``)."""
    yesterday_month = first_of_month(today - _ONE_DAY)
    earliest = month_before(yesterday_month) if include_previous_month else yesterday_month
    # The invoice months are contiguous and end with yesterday's month, so "dates inside an invoice month" are the
    # dates up to the last day of yesterday's month, or up to today when today is still in that month.
    days = _date_range(earliest, min(today, last_of_month(yesterday_month)))
    months = (month_of(earliest), month_of(yesterday_month)) if include_previous_month else (month_of(earliest),)
    return Window(today=today, days=days, months=months)


def backfill_window(start: date, end: date, *, today: date) -> Window:
    """The days ``start`` to ``end`` inclusive and the months they touch, after checking the range.

    Raises ``InvalidRequest`` naming ``start`` or ``end`` when the range is reversed, reaches past ``today`` or is
    longer than ``MAX_BACKFILL_DAYS``.
    """
    if start > end:
        raise InvalidRequest(f"start={start.isoformat()} is after end={end.isoformat()}: allowed start <= end")
    if end > today:
        raise InvalidRequest(
            f"end={end.isoformat()} is after today ({today.isoformat()}): allowed an end date not after today"
        )
    length = (end - start).days + 1
    if length > MAX_BACKFILL_DAYS:
        raise InvalidRequest(
            f"start={start.isoformat()} to end={end.isoformat()} spans {length} days: "
            f"allowed at most {MAX_BACKFILL_DAYS} days"
        )
    days = _date_range(start, end)
    months = tuple(sorted({month_of(day) for day in days}))
    return Window(today=today, days=days, months=months)


def _date_range(first: date, last: date) -> tuple[date, ...]:
    return tuple(first + timedelta(days=offset) for offset in range((last - first).days + 1))


def day_ranges(days: Iterable[date], *, most: int | None = None, joiner: str = "..") -> str:
    """``2025-06-01..2025-06-30, 2025-07-03``: ascending days as runs of consecutive days; past ``most`` runs the
    other days are counted (``and 12 more days``), so that any set of days is described in a bounded text."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == _ONE_DAY:
            runs[-1].append(day)
        else:
            runs.append([day])
    shown = runs if most is None else runs[:most]
    text = ", ".join(f"{run[0]}{joiner}{run[-1]}" if len(run) > 1 else f"{run[0]}" for run in shown)
    more = sum(len(run) for run in runs[len(shown) :])
    return f"{text} and {more} more day{'s' if more > 1 else ''}" if more else text
