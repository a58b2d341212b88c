"""The refresh window's day selection (``REFRESH_DAYS``): recent days, days without an export, the month-close
refresh, across month boundaries (pure; the manifests' write times are given)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kubecost_flexera.config import PlanSettings
from kubecost_flexera.domain.calendar import scheduled_window
from kubecost_flexera.domain.refresh import DaySelection, month_close_point, select_days

WINDOW_SETTINGS = PlanSettings(include_previous_month=True, refresh_days=3, month_close_refresh_day=3)


def _days(first: date, last: date) -> tuple[date, ...]:
    return tuple(first + timedelta(days=offset) for offset in range((last - first).days + 1))


def _written_at(days: tuple[date, ...], when: datetime) -> dict[date, datetime]:
    return dict.fromkeys(days, when)


def _at(day: date, hour: int = 3) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_without_refresh_days_every_day_is_refreshed_even_when_exported() -> None:
    # Given every day of the window exported yesterday, and no REFRESH_DAYS
    window = scheduled_window(date(2025, 7, 15), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 7, 14)))
    # When the days are selected
    selection = select_days(window, written, PlanSettings(include_previous_month=True))
    # Then every day is exported again, as the Go exporter does
    assert selection == DaySelection(refreshed=window.days, kept=())


def test_only_the_most_recent_days_are_refreshed_when_every_day_has_an_export() -> None:
    # Given Jun 1 - Jul 15 all exported by yesterday's run
    window = scheduled_window(date(2025, 7, 15), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 7, 14)))
    # When the days are selected with REFRESH_DAYS=3
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then today and the two days before are refreshed, and the rest of the window is kept
    assert selection.refreshed == (date(2025, 7, 13), date(2025, 7, 14), date(2025, 7, 15))
    assert selection.kept == _days(date(2025, 6, 1), date(2025, 7, 12))


def test_days_without_an_export_are_refreshed_wherever_they_are() -> None:
    # Given a window where Jun 10 and Jul 1 have no manifest (never exported, or Kubecost had nothing)
    window = scheduled_window(date(2025, 7, 15), include_previous_month=True)
    missing = {date(2025, 6, 10), date(2025, 7, 1)}
    written = _written_at(tuple(day for day in window.days if day not in missing), _at(date(2025, 7, 14)))
    # When the days are selected
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then they are refreshed along with the recent days, in ascending order
    assert selection.refreshed == (
        date(2025, 6, 10),
        date(2025, 7, 1),
        date(2025, 7, 13),
        date(2025, 7, 14),
        date(2025, 7, 15),
    )
    assert set(selection.kept).isdisjoint(selection.refreshed)
    assert sorted((*selection.kept, *selection.refreshed)) == list(window.days)


def test_first_run_exports_the_whole_window() -> None:
    # Given an empty bucket
    window = scheduled_window(date(2025, 7, 15), include_previous_month=True)
    # When the days are selected
    # Then every day is exported, since none has an export yet
    assert select_days(window, {}, WINDOW_SETTINGS) == DaySelection(refreshed=window.days, kept=())


def test_recent_days_cross_into_the_previous_month_at_the_start_of_a_month() -> None:
    # Given a run on Aug 2 (window Jul 1 - Aug 2), every day exported on Aug 1 after 00:00
    window = scheduled_window(date(2025, 8, 2), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 8, 1)))
    # When the days are selected (before the month-close refresh day, the 3rd)
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then the three most recent days include Jul 31, and July is otherwise kept
    assert selection.refreshed == (date(2025, 7, 31), date(2025, 8, 1), date(2025, 8, 2))


def test_on_the_first_the_most_recent_days_are_the_last_days_of_the_closed_month() -> None:
    # Given a run on Aug 1: yesterday's month is July, so the window is Jun 1 - Jul 31 and today is not in it
    window = scheduled_window(date(2025, 8, 1), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 7, 31)))
    # When the days are selected
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then the three most recent days of the window are refreshed
    assert selection.refreshed == (date(2025, 7, 29), date(2025, 7, 30), date(2025, 7, 31))


def test_month_close_refresh_re_exports_the_whole_previous_month_on_its_day() -> None:
    # Given a run on Aug 3 (MONTH_CLOSE_REFRESH_DAY=3) after runs that last exported July on Aug 2 or before
    window = scheduled_window(date(2025, 8, 3), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 8, 2)))
    # When the days are selected
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then every day of July is refreshed, plus the recent days of August; nothing is kept
    assert selection.refreshed == _days(date(2025, 7, 1), date(2025, 8, 3))
    assert selection.kept == ()


def test_month_close_refresh_happens_once_judged_by_when_the_manifests_were_written() -> None:
    # Given the month-close refresh ran on Aug 3 at 03:00 (after 00:00 UTC of the refresh day)
    window = scheduled_window(date(2025, 8, 4), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 8, 3)))
    # When the run of Aug 4 selects its days
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then July is kept: it was re-exported after the month closed
    assert selection.refreshed == (date(2025, 8, 2), date(2025, 8, 3), date(2025, 8, 4))
    assert selection.kept == _days(date(2025, 7, 1), date(2025, 8, 1))


def test_month_close_refresh_catches_up_when_the_refresh_day_had_no_run() -> None:
    # Given no run on Aug 3 (the schedule was off): July was last exported on Aug 2
    window = scheduled_window(date(2025, 8, 6), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 8, 2)))
    written.update(_written_at(_days(date(2025, 8, 3), date(2025, 8, 5)), _at(date(2025, 8, 5))))
    # When the run of Aug 6 selects its days
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then all of July is refreshed now, with the recent days
    assert selection.refreshed == (
        *_days(date(2025, 7, 1), date(2025, 7, 31)),
        *_days(date(2025, 8, 4), date(2025, 8, 6)),
    )


def test_month_close_refresh_retries_only_the_days_whose_refresh_failed() -> None:
    # Given the Aug 3 run refreshed July except Jul 20, whose export failed (its manifest is still from Aug 1)
    window = scheduled_window(date(2025, 8, 4), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 8, 3)))
    written[date(2025, 7, 20)] = _at(date(2025, 8, 1))
    # When the run of Aug 4 selects its days
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then Jul 20 is refreshed again, the rest of July is kept
    assert selection.refreshed == (date(2025, 7, 20), date(2025, 8, 2), date(2025, 8, 3), date(2025, 8, 4))


def test_manifest_written_just_before_midnight_of_the_refresh_day_is_refreshed() -> None:
    # Given Jul 10 last written at 23:59:59 on Aug 2, the others at 00:00:00 on Aug 3
    window = scheduled_window(date(2025, 8, 3), include_previous_month=True)
    written = _written_at(window.days, datetime(2025, 8, 3, tzinfo=UTC))
    written[date(2025, 7, 10)] = datetime(2025, 8, 2, 23, 59, 59, tzinfo=UTC)
    # When the days are selected
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then only Jul 10 is refreshed among July's days: the point is 00:00 UTC of the refresh day, inclusive
    assert selection.refreshed == (date(2025, 7, 10), date(2025, 8, 1), date(2025, 8, 2), date(2025, 8, 3))


def test_month_close_refresh_of_an_earlier_month_catches_up_while_it_is_in_the_window() -> None:
    # Given a run on Aug 1 (window Jun 1 - Jul 31) where June was last exported on Jul 2, before its refresh day
    window = scheduled_window(date(2025, 8, 1), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 7, 31)))
    written.update(_written_at(_days(date(2025, 6, 1), date(2025, 6, 30)), _at(date(2025, 7, 2))))
    # When the days are selected
    selection = select_days(window, written, PlanSettings(include_previous_month=True, refresh_days=1))
    # Then June is refreshed (its last run in a window), and July, whose refresh day has not come, is kept
    assert selection.refreshed == (*_days(date(2025, 6, 1), date(2025, 6, 30)), date(2025, 7, 31))


@pytest.mark.parametrize(
    ("month", "refresh_day", "point"),
    [
        (date(2025, 7, 1), 3, datetime(2025, 8, 3, tzinfo=UTC)),
        (date(2025, 12, 1), 3, datetime(2026, 1, 3, tzinfo=UTC)),
        (date(2025, 2, 1), 1, datetime(2025, 3, 1, tzinfo=UTC)),
        (date(2025, 1, 1), 28, datetime(2025, 2, 28, tzinfo=UTC)),
    ],
)
def test_month_close_point_is_midnight_of_the_refresh_day_of_the_next_month(
    month: date, refresh_day: int, point: datetime
) -> None:
    settings = PlanSettings(include_previous_month=True, refresh_days=3, month_close_refresh_day=refresh_day)
    assert month_close_point(month, settings) == point


def test_a_month_not_yet_at_its_refresh_day_is_not_refreshed_in_full() -> None:
    # Given a run on Aug 2 with July last exported on Jul 31, before July's refresh point (Aug 3)
    window = scheduled_window(date(2025, 8, 2), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 7, 31)))
    # When the days are selected
    selection = select_days(window, written, WINDOW_SETTINGS)
    # Then only the recent days are refreshed
    assert selection.refreshed == (date(2025, 7, 31), date(2025, 8, 1), date(2025, 8, 2))


def test_without_the_previous_month_the_first_is_its_month_close_refresh() -> None:
    # Given INCLUDE_PREVIOUS_MONTH=false: on Aug 1 the window is July only, and July leaves it on Aug 2
    settings = PlanSettings(include_previous_month=False, refresh_days=3, month_close_refresh_day=3)
    window = scheduled_window(date(2025, 8, 1), include_previous_month=False)
    written = _written_at(window.days, _at(date(2025, 7, 31)))
    # When the run of Aug 1 selects its days
    selection = select_days(window, written, settings)
    # Then it re-exports all of July: its last chance after the month closed
    assert selection == DaySelection(refreshed=_days(date(2025, 7, 1), date(2025, 7, 31)), kept=())


def test_refresh_days_longer_than_the_window_refresh_every_day() -> None:
    # Given a window of 35 days and REFRESH_DAYS=62
    window = scheduled_window(date(2025, 7, 5), include_previous_month=True)
    written = _written_at(window.days, _at(date(2025, 7, 5)))
    # When the days are selected
    selection = select_days(window, written, PlanSettings(include_previous_month=True, refresh_days=62))
    # Then every day is refreshed
    assert selection.refreshed == window.days
