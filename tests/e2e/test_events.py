"""Every workflow input in ``events/`` is accepted by the deployed workflow and does what its name says.

``scheduler.json`` is what the schedule passes (a run for the current UTC date), ``run-today.json`` pins the date,
``backfill.json`` exports a range, ``dry-run.json`` exports without uploading. ``plan.json`` (the plan function's own
event) is checked by ``tests/integration/test_plan_handler.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kubecost_flexera.calendar import scheduled_window

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.flexera_emulator import FlexeraEmulator
    from local.kubecost_emulator import KubecostEmulator
    from local.runner_report import WorkflowRun
    from tests.fixtures.workflow import LocalWorkflowFactory

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(name: str) -> dict[str, Any]:
    body = json.loads((EVENTS / name).read_text())
    assert isinstance(body, dict)
    return body


def _run(
    name: str,
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> WorkflowRun:
    # The emulator keeps every day up to the real date, so the pinned dates of the events have data.
    kubecost = kubecost_emulator(allocations_per_day=2, retention_days=100_000)
    return local_workflow(kubecost, flexera_emulator()).run(_event(name))


def _day_list(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def test_scheduler_event_runs_the_scheduled_window_of_the_current_utc_date(
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> None:
    # Given the scheduler's input
    today = datetime.now(UTC).date()
    # When the workflow runs it
    run = _run("scheduler.json", local_workflow, kubecost_emulator, flexera_emulator)
    # Then it plans today's window (previous month included by default) and commits its months
    assert run.plan is not None
    if run.plan["today"] != today.isoformat():  # the test straddled midnight UTC: nothing to compare with
        pytest.skip("UTC midnight passed during the run")
    window = scheduled_window(today, include_previous_month=True)
    assert run.plan["days"] == [day.isoformat() for day in window.days]
    assert [m.status for m in run.months] == ["committed"] * len(window.months)
    assert run.succeeded, run


def test_run_today_event_pins_the_date(
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> None:
    # Given the pinned-date input (2025-07-15)
    # When the workflow runs it
    run = _run("run-today.json", local_workflow, kubecost_emulator, flexera_emulator)
    # Then it exports June 1 to July 15 and commits June (complete) and July (current)
    assert run.plan is not None
    assert run.plan["days"] == _day_list(date(2025, 6, 1), date(2025, 7, 15))
    assert [(m.month, m.status) for m in run.months] == [("2025-06", "committed"), ("2025-07", "committed")]
    assert run.succeeded, run


def test_backfill_event_exports_the_range(
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> None:
    # Given the backfill input (May 2025)
    # When the workflow runs it
    run = _run("backfill.json", local_workflow, kubecost_emulator, flexera_emulator)
    # Then it exports exactly May and commits it, complete
    assert run.plan is not None
    assert run.plan["days"] == _day_list(date(2025, 5, 1), date(2025, 5, 31))
    assert [(m.month, m.status) for m in run.months] == [("2025-05", "committed")]
    assert run.succeeded, run


def test_dry_run_event_exports_without_uploading(
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> None:
    # Given the dry-run input
    # When the workflow runs it
    run = _run("dry-run.json", local_workflow, kubecost_emulator, flexera_emulator)
    # Then every day is written and every month reports a dry run
    assert run.plan is not None
    assert run.plan["options"] == {"dryRun": True, "forceUpload": False}
    assert {d.status for d in run.days} == {"written"}
    assert {m.status for m in run.months} == {"dry-run"}
    assert run.succeeded, run
