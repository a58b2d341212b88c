"""The whole workflow, end to end: ``statemachine/export.asl.json`` executed by moto's Step Functions engine, every
task running the real handler, against the Kubecost and Flexera emulators (``local.run.LocalWorkflow``); with the
refresh window (``REFRESH_DAYS``) too: a later run asks Kubecost only for the days that can still change."""

from __future__ import annotations

import math
import threading
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from emulators.kubecost import KubecostFault
from kubecost_flexera.adapters.retry import KUBECOST_RETRY
from kubecost_flexera.config import AGGREGATE_CHAINS
from local.runner_report import EXPORT_DAY_FUNCTION, PLAN_FUNCTION, UPLOAD_FUNCTION, format_summary
from tests.fixtures.workflow import BILL_CONNECT

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.workflow import LocalWorkflowFactory

TODAY = date(2025, 3, 2)  # a run on Mar 2: February (complete) and Mar 1-2 (the current month)
ALLOCATIONS = 5
COST_TOLERANCE = 0.01


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(allocations_per_day=ALLOCATIONS, today=date(2025, 3, 10))


@pytest.fixture
def flexera(flexera_emulator: Callable[..., FlexeraEmulator]) -> FlexeraEmulator:
    return flexera_emulator()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _expected(kubecost: KubecostEmulator, day: date) -> Any:
    """What the exporter's query (default settings: pod level, idle included, nothing shared) returns for ``day``."""
    return kubecost.expected(
        day, aggregate=AGGREGATE_CHAINS["pod"], idle=True, includeIdle=True, idleByNode=False, shareIdle=False
    )


def _day_file(day: date) -> str:
    return f"kubecost-{day.isoformat()}.csv.gz"


def _iso(days: list[date]) -> list[str]:
    return [day.isoformat() for day in days]


def _assert_committed(flexera: FlexeraEmulator, kubecost: KubecostEmulator, month: str, days: list[date]) -> None:
    """``month`` is committed at Flexera with one file per day of ``days``, whose rows and cost are Kubecost's."""
    committed = flexera.committed(BILL_CONNECT, month)
    assert committed is not None
    assert sorted(committed.files) == [_day_file(day) for day in days]
    expected_days = [_expected(kubecost, day) for day in days]
    assert len(committed.rows) == 8 * sum(expected.allocations for expected in expected_days)
    expected_cost = math.fsum(expected.total_cost for expected in expected_days)
    assert committed.total_cost == pytest.approx(expected_cost, abs=COST_TOLERANCE)


def _allocation_requests_per_day(kubecost: KubecostEmulator) -> Counter[str]:
    """Allocation API requests by the day their window starts (each request asks for one UTC day)."""
    return Counter(
        str(request.arg("window", ""))[:10] for request in kubecost.requests if request.path.endswith("/allocation")
    )


def test_full_run_exports_every_day_and_commits_both_months(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a scheduled run pinned to Mar 2 with the previous month included
    workflow = local_workflow(kubecost, flexera)
    # When it runs
    run = workflow.run({"today": TODAY.isoformat()})
    # Then every day of February and Mar 1-2 is written, with the emulator's totals
    assert run.succeeded, run
    days = _days(date(2025, 2, 1), TODAY)
    assert [outcome.day for outcome in run.days] == [day.isoformat() for day in days]
    for day in days:
        outcome, expected = run.day(day.isoformat()), _expected(kubecost, day)
        assert (outcome.status, outcome.allocations) == ("written", expected.allocations)
        assert outcome.cost == pytest.approx(expected.total_cost, abs=COST_TOLERANCE)
    # And both months are committed at Flexera with one file per day whose rows and cost reconcile with Kubecost
    assert [(m.month, m.status) for m in run.months] == [("2025-02", "committed"), ("2025-03", "committed")]
    _assert_committed(flexera, kubecost, "2025-02", days[:-2])
    _assert_committed(flexera, kubecost, "2025-03", days[-2:])


def test_permanently_failing_day_is_reported_while_the_other_days_go_on(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given Kubecost refuses every query for Feb 10 (a permanent error)
    failing = date(2025, 2, 10)
    kubecost.inject(KubecostFault(kind="code_error", days=frozenset({failing}), times=None))
    workflow = local_workflow(kubecost, flexera)
    # When the workflow runs
    run = workflow.run({"today": TODAY.isoformat()})
    # Then the day is tried once (a refusal is not retried) and reported failed with its error
    outcome = run.day(failing.isoformat())
    assert run.attempts(EXPORT_DAY_FUNCTION, failing.isoformat()) == 1
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("KubecostRejected: ")
    # And every other day is written
    assert all(d.status == "written" for d in run.days if d.day != failing.isoformat())
    # And February, now incomplete, is not uploaded, while the current month is
    assert run.month("2025-02").status == "skipped-incomplete"
    assert flexera.committed(BILL_CONNECT, "2025-02") is None
    assert run.month("2025-03").status == "committed"
    # And the execution fails, naming the day
    assert (run.status, run.error) == ("FAILED", "ExportFailed")
    assert run.cause is not None
    assert failing.isoformat() in run.cause


def test_transient_kubecost_error_is_retried_by_the_state_machine(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given Kubecost answers 500 to every attempt the client makes for Mar 2 in one invocation, then recovers
    flaky = date(2025, 3, 2)
    client_attempts = KUBECOST_RETRY.attempts
    kubecost.inject(KubecostFault(kind="http_500", days=frozenset({flaky}), times=client_attempts))
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    # When the workflow runs
    run = workflow.run({"today": "2025-03-03"})
    # Then the state machine invokes the day a second time, which succeeds, and the run succeeds
    assert run.attempts(EXPORT_DAY_FUNCTION, flaky.isoformat()) == 2
    assert run.day(flaky.isoformat()).status == "written"
    assert run.succeeded, run


def test_flexera_throttling_is_waited_out_by_the_state_machine(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a month committed a moment ago (Flexera then refuses a new upload of it for 120 seconds)
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    first = workflow.run({"today": "2025-03-03"})
    assert first.month("2025-03").status == "committed"
    started = flexera.clock.now()
    # When a forced upload of the same month runs at once
    run = workflow.run({"today": "2025-03-03", "force_upload": True})
    # Then the first upload attempt is throttled, the state machine waits out the cool-off and the retry commits
    uploads = [i for i in run.invocations if i.function == UPLOAD_FUNCTION]
    assert [i.error_type for i in uploads] == ["FlexeraThrottled", None]
    assert flexera.clock.now() - started >= timedelta(seconds=flexera.config.cooloff_seconds)
    assert run.month("2025-03").status == "committed"
    assert run.month("2025-03").bill_upload_id != first.month("2025-03").bill_upload_id
    assert run.succeeded, run


def test_concurrent_execution_is_refused(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given an execution held inside its first day export
    from functions.export_day.app import lambda_handler as export_day  # noqa: PLC0415 - the real handler, wrapped

    entered, release = threading.Event(), threading.Event()

    def held_export_day(event: dict[str, Any], context: Any) -> Any:
        entered.set()
        assert release.wait(timeout=30)
        return export_day(event, context)

    workflow = local_workflow(
        kubecost, flexera, handlers={EXPORT_DAY_FUNCTION: held_export_day}, INCLUDE_PREVIOUS_MONTH="false"
    )
    running = workflow.start({"today": "2025-03-03"})
    assert entered.wait(timeout=30)
    try:
        # When a second execution starts
        second = workflow.run({"today": "2025-03-03"})
    finally:
        release.set()
    # Then its plan refuses it, naming the running execution, before any export or upload
    assert (second.status, second.error) == ("FAILED", "ConcurrentExecution")
    assert second.cause is not None
    assert running in second.cause
    assert [i.function for i in second.invocations] == [PLAN_FUNCTION]
    # And the first execution completes normally
    assert workflow.wait(running).succeeded


def test_backfill_exports_only_the_range_and_commits_the_complete_month(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a backfill of January, on Mar 10
    workflow = local_workflow(kubecost, flexera)
    # When it runs
    run = workflow.run({"today": "2025-03-10", "start": "2025-01-01", "end": "2025-01-31"})
    # Then exactly January's days are exported and January alone is committed, complete
    january = [day.isoformat() for day in _days(date(2025, 1, 1), date(2025, 1, 31))]
    assert sorted(str(i.event["day"]) for i in run.invocations if i.function == EXPORT_DAY_FUNCTION) == january
    assert [(m.month, m.status) for m in run.months] == [("2025-01", "committed")]
    committed = flexera.committed(BILL_CONNECT, "2025-01")
    assert committed is not None
    assert len(committed.files) == 31
    assert run.succeeded, run


def test_dry_run_exports_but_uploads_nothing(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a dry run
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    # When it runs
    run = workflow.run({"today": "2025-03-03", "dry_run": True})
    # Then the days are exported to S3, the month reports a dry run and Flexera receives no bill upload
    assert [d.status for d in run.days] == ["written"] * 3
    assert len(workflow.export_keys()) == 3
    assert [(m.month, m.status) for m in run.months] == [("2025-03", "dry-run")]
    assert flexera.bill_uploads == []
    assert run.succeeded, run


def test_rerun_with_unchanged_data_skips_the_upload(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a run that committed the month
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    first = workflow.run({"today": "2025-03-03"})
    assert first.month("2025-03").status == "committed"
    # When the same run is made again, Kubecost's data unchanged
    run = workflow.run({"today": "2025-03-03"})
    # Then the days are exported again but the month is not uploaded again
    assert [d.status for d in run.days] == ["written"] * 3
    assert run.month("2025-03").status == "skipped-unchanged"
    assert len(flexera.bill_uploads) == 1
    assert run.succeeded, run


def test_summary_reports_days_rows_cost_and_upload_per_month(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a completed run
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    run = workflow.run({"today": "2025-03-03"})
    # When it is summarised
    summary = format_summary(run)
    # Then the summary has the status, the plan and the month's days, rows, cost and upload
    rows = sum(d.rows for d in run.days)
    cost = math.fsum(d.cost for d in run.days)
    assert "SUCCEEDED" in summary
    assert "3 day(s) 2025-03-01 .. 2025-03-03" in summary
    month_line = next(line for line in summary.splitlines() if line.startswith("2025-03"))
    assert month_line.split()[1:5] == ["3", "3", "0", "0"]
    assert f"{rows:,}" in month_line
    assert f"{cost:,.2f} USD" in month_line
    assert f"committed (3 file(s), {run.month('2025-03').bytes:,} bytes" in month_line


# --- the refresh window (REFRESH_DAYS) ---


def test_second_scheduled_run_asks_kubecost_only_for_recent_days_and_commits_complete_months(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given REFRESH_DAYS=3 and a first run on Mar 2 (a dry run: it exports Feb 1 - Mar 2 and uploads nothing)
    workflow = local_workflow(kubecost, flexera, REFRESH_DAYS="3")
    first = workflow.run({"today": "2025-03-02", "dry_run": True})
    assert first.succeeded, format_summary(first)
    assert first.plan is not None
    assert (first.plan["days"], first.plan["keptDays"]) == (_iso(_days(date(2025, 2, 1), date(2025, 3, 2))), [])
    kubecost.requests.clear()

    # When the scheduled run of Mar 5 runs
    second = workflow.run({"today": "2025-03-05"})

    # Then it asks Kubecost for Mar 3, 4 and 5 only (the most recent days, none of them exported yet), one page each
    assert second.succeeded, format_summary(second)
    assert _allocation_requests_per_day(kubecost) == Counter({"2025-03-03": 1, "2025-03-04": 1, "2025-03-05": 1})
    assert second.plan is not None
    assert second.plan["days"] == ["2025-03-03", "2025-03-04", "2025-03-05"]
    assert second.plan["keptDays"] == _iso(_days(date(2025, 2, 1), date(2025, 3, 2)))
    # And both months are committed complete: February entirely from kept exports, March from kept and new ones
    assert [(m.month, m.status) for m in second.months] == [("2025-02", "committed"), ("2025-03", "committed")]
    _assert_committed(flexera, kubecost, "2025-02", _days(date(2025, 2, 1), date(2025, 2, 28)))
    _assert_committed(flexera, kubecost, "2025-03", _days(date(2025, 3, 1), date(2025, 3, 5)))
    # And the summary shows which days were refreshed and which were kept
    summary = format_summary(second)
    assert "refreshed (exported now): 3 day(s) 2025-03-03 .. 2025-03-05" in summary
    assert "kept (current export stays): 30 day(s) 2025-02-01 .. 2025-03-02" in summary


def test_kept_unchanged_month_is_skipped_and_a_forced_upload_exports_every_day(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given REFRESH_DAYS=2 and a first scheduled run on Mar 2 that committed both months
    workflow = local_workflow(kubecost, flexera, REFRESH_DAYS="2")
    first = workflow.run({"today": "2025-03-02"})
    assert [m.status for m in first.months] == ["committed", "committed"], format_summary(first)
    kubecost.requests.clear()

    # When the run of Mar 3 refreshes Mar 2 and 3 only
    second = workflow.run({"today": "2025-03-03"})

    # Then February, kept entirely, is skipped as unchanged, and March (a new day) is committed
    assert second.succeeded, format_summary(second)
    assert set(_allocation_requests_per_day(kubecost)) == {"2025-03-02", "2025-03-03"}
    assert [(m.month, m.status) for m in second.months] == [("2025-02", "skipped-unchanged"), ("2025-03", "committed")]

    # When a forced upload runs the same day
    kubecost.requests.clear()
    forced = workflow.run({"today": "2025-03-03", "force_upload": True})

    # Then it ignores the window: every day is asked again and both months are committed
    assert forced.succeeded, format_summary(forced)
    assert set(_allocation_requests_per_day(kubecost)) == set(_iso(_days(date(2025, 2, 1), date(2025, 3, 3))))
    assert [m.status for m in forced.months] == ["committed", "committed"]
