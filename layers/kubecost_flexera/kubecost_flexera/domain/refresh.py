"""Which days of a scheduled window a run exports again and which keep their export: the refresh window.

Why: the Go exporter queries Kubecost for every day of the current and the previous month on every run (31 to 62
heavy Allocation queries), the main load it puts on a customer's Kubecost. A day's figures settle within a few days
(Kubecost reconciles them with the cloud bill), and month-end credits and refunds arrive after the month closes.
With ``REFRESH_DAYS`` set, a scheduled run exports:

- the ``REFRESH_DAYS`` most recent days of its window (today included when the window holds it);
- every day of the window without a day manifest (never exported, expired, or never written because Kubecost had
  nothing for it);
- the month-close refresh: a closed month is exported in full once more by the first run on or after day
  ``MONTH_CLOSE_REFRESH_DAY`` of the month after it; precisely, every day of a closed month of the window whose
  manifest was last written before 00:00 UTC of that day. "Once" is a fact of the bucket, not a counter: afterwards
  those manifests are newer than that moment and later runs keep them, while a day whose re-export failed is still
  older and is tried again by the next run (as is a month whose refresh day had no run). Without
  ``INCLUDE_PREVIOUS_MONTH`` the previous month is in the window only on the 1st, so the run of the 1st is its
  month-close refresh.

An empty answer from Kubecost writes no manifest (``export.py``: the previous export stays), so a day Kubecost keeps
answering empty for is asked again by every run while it is due; that costs one request a day, never data.

Every other day keeps its manifest. The upload reads every day of a month from the manifests, so a kept day counts
as present: complete months are uploaded as before, and a month whose files did not change is skipped as unchanged.
Without ``REFRESH_DAYS`` every day is exported (the Go exporter's behaviour) and the bucket is not listed. A backfill
and a forced upload export every day they cover (``PlanRequest.keeps_days``).

A kept manifest is at most about 60 days old while its day is in a window (last exported at the latest on
``MONTH_CLOSE_REFRESH_DAY`` <= 28 of the month after its own), within the bucket's ``RetentionDays`` >= 62.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from kubecost_flexera.domain.calendar import first_of_month, last_of_month

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubecost_flexera.adapters.storage import Storage
    from kubecost_flexera.config import PlanSettings
    from kubecost_flexera.domain.calendar import Window


@dataclass(frozen=True)
class DaySelection:
    """The days of a window this run exports (``refreshed``) and those that keep their manifest (``kept``)."""

    refreshed: tuple[date, ...]
    kept: tuple[date, ...]

    @classmethod
    def every_day(cls, window: Window) -> DaySelection:
        return cls(refreshed=window.days, kept=())


def month_close_point(month: date, settings: PlanSettings) -> datetime:
    """From when the manifests of the month starting on ``month`` count as final: 00:00 UTC of the month-close
    refresh day of the month after it (the 1st without ``INCLUDE_PREVIOUS_MONTH``: its last day in a window)."""
    day = settings.month_close_refresh_day if settings.include_previous_month else 1
    following = last_of_month(month) + timedelta(days=1)
    return datetime.combine(following.replace(day=day), time.min, tzinfo=UTC)


def select_days(window: Window, written: Mapping[date, datetime], settings: PlanSettings) -> DaySelection:
    """The selection for a scheduled ``window``, given when each committed day's manifest was last written."""
    if settings.refresh_days is None:
        return DaySelection.every_day(window)
    recent = frozenset(window.days[-settings.refresh_days :])

    def refreshed(day: date) -> bool:
        when = written.get(day)
        if day in recent or when is None:
            return True
        point = month_close_point(first_of_month(day), settings)
        return point.date() <= window.today and when < point

    return DaySelection(
        refreshed=tuple(day for day in window.days if refreshed(day)),
        kept=tuple(day for day in window.days if not refreshed(day)),
    )


def choose_days(window: Window, settings: PlanSettings, storage: Storage) -> DaySelection:
    """The selection for a scheduled ``window``; lists the window's manifests only when ``REFRESH_DAYS`` is set."""
    if settings.refresh_days is None:
        return DaySelection.every_day(window)
    written = {day: when for month in window.months for day, when in storage.day_manifests_written(month).items()}
    return select_days(window, written, settings)
