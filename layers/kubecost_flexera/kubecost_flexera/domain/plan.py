"""The plan of one workflow run: the days and months it chooses from the request, and the guard against a second run.

The plan is the workflow's gate: everything it accepts is executed, so its event is validated before any side
effect (``contracts.PlanEvent``: the accepted requests, a scheduled run or a manual one, are described there).

A scheduled window may keep some of its days (``REFRESH_DAYS``, ``refresh.py``): the plan's ``days`` are the days
this run exports (the Map's items), ``kept_days`` the days of the window whose current export stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubecost_flexera.domain.calendar import Window, backfill_window, scheduled_window
from kubecost_flexera.errors import ConcurrentExecution, InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import date

    from kubecost_flexera.contracts import ManualRun, RunOptions


def keeps_days(request: ManualRun) -> bool:
    """Whether the refresh window applies: a scheduled window; a backfill or a forced upload exports every day."""
    return request.start is None and not request.force_upload


@dataclass(frozen=True)
class Plan:
    """What the workflow does (``contracts.PlanOutput``): the window, the days of it that keep their export, the
    currency, the run options."""

    window: Window
    currency: str
    options: RunOptions
    kept_days: tuple[date, ...] = ()

    @property
    def today(self) -> date:
        return self.window.today

    @property
    def days(self) -> tuple[date, ...]:
        """The days this run exports: the window's, but the kept ones."""
        kept = frozenset(self.kept_days)
        return tuple(day for day in self.window.days if day not in kept)

    @property
    def months(self) -> tuple[str, ...]:
        return self.window.months


def choose_window(request: ManualRun, *, clock_today: date, include_previous_month: bool) -> Window:
    """The scheduled window of the request's day, or its backfill range; ``clock_today`` is the UTC date now."""
    today = request.today or clock_today
    if today > clock_today:
        raise InvalidRequest(
            f"today={today.isoformat()} is invalid: allowed a date not after the current UTC date "
            f"{clock_today.isoformat()}"
        )
    if request.start is not None and request.end is not None:
        return backfill_window(request.start, request.end, today=today)
    return scheduled_window(today, include_previous_month=include_previous_month)


def refuse_concurrent(running_execution_ids: Iterable[str], own_execution_id: str | None) -> None:
    """Raises ``ConcurrentExecution`` when an execution other than this one is running.

    Two executions could upload the same month concurrently; Flexera would see two bill uploads for one period and
    one run would abort the other's (``GO-UP-6``, ``GO-D11``).
    """
    others = sorted(arn for arn in running_execution_ids if arn != own_execution_id)
    if others:
        raise ConcurrentExecution(
            f"Another execution of the workflow is running ({', '.join(others)}); "
            "wait for it to finish, then start this run again"
        )
