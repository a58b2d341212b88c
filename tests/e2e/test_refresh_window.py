"""The refresh window end to end (``REFRESH_DAYS``): a second scheduled run asks Kubecost only for the days that can
still change, keeps the others, and the upload still commits complete months from the manifests."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest

from local.runner_report import format_summary
from tests.fixtures.workflow import BILL_CONNECT

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.flexera_emulator import FlexeraEmulator
    from local.kubecost_emulator import KubecostEmulator
    from tests.fixtures.workflow import LocalWorkflowFactory

ALLOCATIONS = 5
COST_TOLERANCE = 0.01


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(allocations_per_day=ALLOCATIONS, today=date(2025, 3, 10))


@pytest.fixture
def flexera(flexera_emulator: Callable[..., FlexeraEmulator]) -> FlexeraEmulator:
    return flexera_emulator()


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def allocation_requests_per_day(kubecost: KubecostEmulator) -> Counter[str]:
    """Allocation API requests by the day their window starts (a day is one window of one UTC day)."""
    return Counter(
        str(request.arg("window", ""))[:10] for request in kubecost.requests if request.path.endswith("/allocation")
    )


def test_second_scheduled_run_asks_kubecost_only_for_recent_days_and_commits_complete_months(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given REFRESH_DAYS=3 and a first run on Mar 2 (a dry run: it exports Feb 1 - Mar 2 and uploads nothing)
    workflow = local_workflow(kubecost, flexera, REFRESH_DAYS="3")
    first = workflow.run({"today": "2025-03-02", "dry_run": True})
    assert first.succeeded, format_summary(first)
    assert first.plan is not None
    assert (first.plan["days"], first.plan["keptDays"]) == (_days(date(2025, 2, 1), date(2025, 3, 2)), [])
    kubecost.requests.clear()

    # When the scheduled run of Mar 5 runs
    second = workflow.run({"today": "2025-03-05"})

    # Then it asks Kubecost for Mar 3, 4 and 5 only (the most recent days, none of them exported yet), one page each
    assert second.succeeded, format_summary(second)
    assert allocation_requests_per_day(kubecost) == Counter({"2025-03-03": 1, "2025-03-04": 1, "2025-03-05": 1})
    assert second.plan is not None
    assert second.plan["days"] == ["2025-03-03", "2025-03-04", "2025-03-05"]
    assert second.plan["keptDays"] == _days(date(2025, 2, 1), date(2025, 3, 2))
    # And both months are committed complete: February entirely from kept exports, March from kept and new ones,
    # with the rows and cost Kubecost has for every day
    assert [(month.month, month.status) for month in second.months] == [
        ("2025-02", "committed"),
        ("2025-03", "committed"),
    ]
    for month, days in (
        ("2025-02", _days(date(2025, 2, 1), date(2025, 2, 28))),
        ("2025-03", _days(date(2025, 3, 1), date(2025, 3, 5))),
    ):
        committed = flexera.committed(BILL_CONNECT, month)
        assert committed is not None
        assert sorted(committed.files) == [f"kubecost-{day}.csv.gz" for day in days]
        expected = [kubecost.expected(date.fromisoformat(day)) for day in days]
        assert len(committed.rows) == 8 * sum(day.allocations for day in expected)
        assert committed.total_cost == pytest.approx(math.fsum(day.total_cost for day in expected), abs=COST_TOLERANCE)
    # And the summary shows which days were refreshed and which were kept
    summary = format_summary(second)
    assert "refreshed (exported now): 3 day(s) 2025-03-03 .. 2025-03-05" in summary
    assert "kept (current export stays): 30 day(s) 2025-02-01 .. 2025-03-02" in summary


def test_unchanged_kept_month_is_skipped_and_a_forced_upload_exports_every_day(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given REFRESH_DAYS=2 and a first scheduled run on Mar 2 that committed both months
    workflow = local_workflow(kubecost, flexera, REFRESH_DAYS="2")
    first = workflow.run({"today": "2025-03-02"})
    assert [month.status for month in first.months] == ["committed", "committed"], format_summary(first)
    kubecost.requests.clear()

    # When the run of Mar 3 refreshes Mar 2 and 3 only
    second = workflow.run({"today": "2025-03-03"})

    # Then February, kept entirely, is skipped as unchanged, and March (a new day) is committed
    assert second.succeeded, format_summary(second)
    assert set(allocation_requests_per_day(kubecost)) == {"2025-03-02", "2025-03-03"}
    assert [(month.month, month.status) for month in second.months] == [
        ("2025-02", "skipped-unchanged"),
        ("2025-03", "committed"),
    ]

    # When a forced upload runs the same day
    kubecost.requests.clear()
    forced = workflow.run({"today": "2025-03-03", "force_upload": True})

    # Then it ignores the window: every day is asked again and both months are committed
    assert forced.succeeded, format_summary(forced)
    assert set(allocation_requests_per_day(kubecost)) == set(_days(date(2025, 2, 1), date(2025, 3, 3)))
    assert [month.status for month in forced.months] == ["committed", "committed"]
