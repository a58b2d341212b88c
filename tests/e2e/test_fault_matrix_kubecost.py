"""Fault matrix, Kubecost side: the source of the data misbehaves while the real workflow runs.

Each test: a good run (the earlier export), the run with the fault, the next run without it; the invariants of
``tests/fixtures/fault_matrix.py`` after each; the outcome recorded for ``docs/reliability.md``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
import requests

import functions.export_day.app as export_day_app
from emulators.kubecost import KubecostAuth, KubecostFault, day_window
from kubecost_flexera.adapters.retry import KUBECOST_RETRY
from kubecost_flexera.config import AGGREGATE_CHAINS, load_kubecost
from tests.e2e.reliability_report import FaultCase
from tests.fixtures.fault_matrix import ALLOCATIONS_PER_DAY, DAYS, FAULT_DAY, MONTH, MONTH_KEPT_WHOLE

if TYPE_CHECKING:
    from emulators.kubecost import FaultKind
    from tests.fixtures.fault_matrix import Deployment, DeploymentFactory, MatrixRow, Observed, Snapshot

CLIENT_ATTEMPTS = KUBECOST_RETRY.attempts  # one invocation's requests for one page
STATE_MACHINE_ATTEMPTS = 4  # ExportDay: the first invocation and 3 retries of KubecostUnavailable
SHORT_TIMEOUT_SECONDS = 0.5  # REQUEST_TIMEOUT counts whole minutes; the "slow" fault answers after 2 s
BEARER = "kubecost-matrix-bearer"
PAGE_SIZE = "7"  # much smaller than a day (20 pods plus idle)


def _persistent_day_fault(stack: Deployment, kind: FaultKind, error: str, attempts: int) -> tuple[Observed, Observed]:
    """A good run, then ``kind`` on every request for FAULT_DAY, then the next run without it."""
    before = stack.earlier_export()
    stack.kubecost.inject(KubecostFault(kind=kind, days=frozenset({FAULT_DAY}), times=None))
    faulty = stack.run()
    stack.assert_fault_day_failed(before, faulty, error, attempts)
    stack.kubecost.clear_faults()
    return faulty, stack.next_run()


def _assert_every_day_failed(stack: Deployment, before: Snapshot, faulty: Observed, error: str, attempts: int) -> None:
    """The run fails, every day after ``attempts`` invocations ending in ``error``; the month, whose days all keep
    their earlier export, is not sent again; nothing is lost or partial."""
    assert (faulty.run.status, faulty.run.error) == ("FAILED", "ExportFailed")
    for day in DAYS:
        assert faulty.run.day(day.isoformat()).status == "failed"
        assert faulty.day_error(day) == error
        assert faulty.day_attempts(day) == attempts
    assert faulty.metric("FailedDays") == len(DAYS)
    assert faulty.run.month(MONTH).status == "skipped-unchanged"
    assert faulty.metric("MonthsSkippedUnchanged") == 1
    stack.assert_nothing_lost(before, faulty.run)
    assert stack.snapshot().committed_upload == before.committed_upload


def _kubecost_failures(observed: Observed) -> list[str]:
    return [record["failure"] for record in observed.logs("Kubecost request failed")]


def test_kubecost_down_fails_every_day_keeps_the_exports_and_recovers(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then Kubecost stops answering (connection refused)
    stack = emulated_deployment()
    before = stack.earlier_export()
    stack.stop_kubecost()
    # When the workflow runs
    faulty = stack.run()
    # Then every day fails after the client's and the state machine's retries, and the run fails; the month, whose
    # days all keep their earlier export, is not sent again; nothing is lost or partial
    _assert_every_day_failed(stack, before, faulty, "KubecostUnavailable", STATE_MACHINE_ATTEMPTS)
    # And once Kubecost is back, the next run recovers
    stack.restart_kubecost()
    matrix_row.record(
        FaultCase("Kubecost", "Kubecost down", "emulator stopped: connection refused"),
        fault_run=faulty,
        signal="execution FAILED naming the days; day results failed (KubecostUnavailable)",
        next_run=stack.next_run(),
    )


def test_kubecost_500_on_one_day_fails_that_day_only_and_recovers(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given Kubecost answers HTTP 500 to every request for one day, after a good run
    stack = emulated_deployment()
    # When the workflow runs with the fault, then without it
    faulty, recovered = _persistent_day_fault(stack, "http_500", "KubecostUnavailable", STATE_MACHINE_ATTEMPTS)
    # Then the day is retried by the client and the state machine, then fails; every invariant holds
    assert len(stack.kubecost.requests) > CLIENT_ATTEMPTS * STATE_MACHINE_ATTEMPTS
    matrix_row.record(
        FaultCase("Kubecost", "HTTP 500 for one day", "KubecostFault http_500 on every request for 2025-03-02"),
        fault_run=faulty,
        signal="execution FAILED naming the day; day result failed (KubecostUnavailable)",
        next_run=recovered,
    )


def test_kubecost_html_504_is_retried_by_the_state_machine(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then a proxy answers an HTML 504 to every request of one invocation for one day
    stack = emulated_deployment()
    before = stack.earlier_export()
    stack.kubecost.inject(KubecostFault(kind="html_504", days=frozenset({FAULT_DAY}), times=CLIENT_ATTEMPTS))
    # When the workflow runs
    faulty = stack.run()
    # Then the invocation fails after the client's retries, the state machine invokes the day again, and it succeeds
    stack.assert_absorbed(before, faulty)
    assert faulty.day_attempts(FAULT_DAY) == 2
    failures = _kubecost_failures(faulty)
    assert len(failures) == CLIENT_ATTEMPTS
    assert all(failure.startswith("HTTP 504: <html>") for failure in failures)
    assert faulty.metric("Retries") == CLIENT_ATTEMPTS - 1
    matrix_row.record(
        FaultCase(
            "Kubecost", "HTML 504 from a proxy", f"KubecostFault html_504, {CLIENT_ATTEMPTS} requests (one invocation)"
        ),
        fault_run=faulty,
        signal=f"{len(failures)} WARNING logs 'Kubecost request failed' "
        f"({faulty.failure_kinds('Kubecost request failed')}); the failed attempt in the history",
        next_run=stack.next_run(),
    )


def test_kubecost_timeout_fails_the_day_after_bounded_retries_and_recovers(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a client timeout shorter than the emulator's slow answers (REQUEST_TIMEOUT is whole minutes)
    monkeypatch.setattr(
        export_day_app,
        "load_kubecost",
        lambda environ: replace(load_kubecost(environ), request_timeout_seconds=SHORT_TIMEOUT_SECONDS),
    )
    stack = emulated_deployment()
    # When Kubecost answers every request for one day too late, then recovers
    faulty, recovered = _persistent_day_fault(stack, "slow", "KubecostUnavailable", STATE_MACHINE_ATTEMPTS)
    # Then each attempt timed out and the day failed after bounded retries; every invariant holds
    failures = _kubecost_failures(faulty)
    assert len(failures) == CLIENT_ATTEMPTS * STATE_MACHINE_ATTEMPTS
    assert all("Timeout" in failure for failure in failures)
    matrix_row.record(
        FaultCase(
            "Kubecost",
            "Timeout",
            f"KubecostFault slow (2 s) on every request for 2025-03-02; timeout {SHORT_TIMEOUT_SECONDS} s",
        ),
        fault_run=faulty,
        signal=f"execution FAILED naming the day; {len(failures)} WARNING logs 'Kubecost request failed' "
        f"({faulty.failure_kinds('Kubecost request failed')})",
        next_run=recovered,
    )


@pytest.mark.parametrize(
    ("kind", "fault"),
    [("malformed_json", "Malformed JSON (truncated body)"), ("code_error", "JSON `code` other than 200")],
    ids=["malformed_json", "code_error"],
)
def test_kubecost_refusal_fails_the_day_without_retry_and_recovers(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow, kind: FaultKind, fault: str
) -> None:
    # Given Kubecost answers an unusable body for one day (asking again gives the same answer)
    stack = emulated_deployment()
    # When the workflow runs with the fault, then without it
    faulty, recovered = _persistent_day_fault(stack, kind, "KubecostRejected", 1)
    # Then the day fails at its first attempt, keeps its earlier export, and the next run recovers
    matrix_row.record(
        FaultCase("Kubecost", fault, f"KubecostFault {kind} on every request for 2025-03-02"),
        fault_run=faulty,
        signal="execution FAILED naming the day; day result failed (KubecostRejected)",
        next_run=recovered,
    )


def test_kubecost_dropped_connection_is_retried_by_the_client(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then Kubecost drops the connection of one request for one day
    stack = emulated_deployment()
    before = stack.earlier_export()
    stack.kubecost.inject(KubecostFault(kind="drop_connection", days=frozenset({FAULT_DAY})))
    # When the workflow runs
    faulty = stack.run()
    # Then the client asks again within the same invocation and the day is complete
    stack.assert_absorbed(before, faulty)
    assert faulty.day_attempts(FAULT_DAY) == 1
    failures = _kubecost_failures(faulty)
    assert len(failures) == 1
    assert failures[0].startswith("ConnectionError")
    assert faulty.metric("Retries") == 1
    matrix_row.record(
        FaultCase("Kubecost", "Dropped connection", "KubecostFault drop_connection, once, for 2025-03-02"),
        fault_run=faulty,
        signal=f"1 WARNING log 'Kubecost request failed' ({faulty.failure_kinds('Kubecost request failed')}); "
        "retried by the client",
        next_run=stack.next_run(),
    )


def test_null_numbers_are_read_as_zero_and_the_day_reconciles(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given Kubecost writes NaN as null in some numbers of the day (its Go encoder's way), after a good run
    stack = emulated_deployment()
    before = stack.earlier_export()
    answer = requests.get(
        stack.kubecost.allocation_url,
        params={"window": day_window(FAULT_DAY), "aggregate": AGGREGATE_CHAINS["pod"], "accumulate": "true"},
        timeout=10,
    ).json()
    with_nulls = [name for name, item in answer["data"][0].items() if item.get("cpuCoreUsageAverage") is None]
    assert with_nulls
    # When the workflow runs
    faulty = stack.run()
    # Then the day is written and reconciles exactly with Kubecost's totalCost (a null component counts as 0)
    stack.assert_absorbed(before, faulty)
    assert faulty.run.day(FAULT_DAY.isoformat()).status == "written"
    matrix_row.record(
        FaultCase("Kubecost", "`null` numbers (NaN)", "emulator data: NaN metrics written as null in some pods a day"),
        fault_run=faulty,
        signal="no failure: null read as 0; rows and cost equal Kubecost's answer",
        next_run=stack.next_run(),
    )


def _run_with_small_pages(stack: Deployment) -> tuple[Observed, Counter[str]]:
    """After a good run whose page held a whole day, a run with pages smaller than a day (it must be absorbed), and
    its allocation requests per window."""
    before = stack.earlier_export()
    stack.configure(PAGE_SIZE=PAGE_SIZE)
    seen = len(stack.kubecost.requests)
    faulty = stack.run()
    stack.assert_absorbed(before, faulty)
    windows = (r.arg("window") or "" for r in stack.kubecost.requests[seen:] if r.path.endswith("/allocation"))
    return faulty, Counter(windows)


def test_server_ignoring_paging_gives_each_allocation_once(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given OpenCost, which ignores offset and limit
    stack = emulated_deployment(
        kubecost={"flavour": "opencost"}, environ={"COST_SOURCE": "opencost", "KUBECOST_API_PATH": "/"}
    )
    # When pages become smaller than a day, so the exporter asks for further pages the server does not give
    faulty, pages = _run_with_small_pages(stack)
    # Then each day is asked twice (the second answer brings nothing new), and every allocation is written once
    assert set(pages.values()) == {2}
    matrix_row.record(
        FaultCase(
            "Kubecost", "Paging ignored (OpenCost)", "OpenCost flavour, PAGE_SIZE=7: every page is the whole day"
        ),
        fault_run=faulty,
        signal="no failure: each day read in 2 requests, the 2nd bringing no new item; no duplicate row",
        next_run=stack.next_run(),
    )


def test_server_honouring_limit_but_ignoring_offset_gets_each_day_whole(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a Kubecost that honours limit but answers every offset with the first page
    stack = emulated_deployment(kubecost={"ignore_offset": True})
    # When pages become smaller than a day
    faulty, pages = _run_with_small_pages(stack)
    # Then each day is read in 3 requests (page 0, its repeat, the day unpaged), and every allocation is written once
    assert set(pages.values()) == {3}
    matrix_row.record(
        FaultCase(
            "Kubecost",
            "Offset ignored, limit honoured",
            "Kubecost flavour with ignore_offset, PAGE_SIZE=7: every page is the first page",
        ),
        fault_run=faulty,
        signal="no failure: the repeated full page is detected and the day read once unpaged; no short day",
        next_run=stack.next_run(),
    )


def test_idle_items_repeated_on_every_page_are_written_once(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given Kubecost, which appends the idle items to every page
    stack = emulated_deployment()
    # When pages become smaller than a day
    faulty, pages = _run_with_small_pages(stack)
    # Then each day takes several pages, each repeating the idle items, and every allocation is written once
    assert min(pages.values()) >= math.ceil(ALLOCATIONS_PER_DAY / int(PAGE_SIZE))
    matrix_row.record(
        FaultCase("Kubecost", "Idle items repeated on every page", "Kubecost flavour, PAGE_SIZE=7 (idle on each page)"),
        fault_run=faulty,
        signal=f"no failure: each day read in {min(pages.values())}+ pages; idle items written once",
        next_run=stack.next_run(),
    )


def test_empty_day_keeps_the_earlier_export(emulated_deployment: DeploymentFactory, matrix_row: MatrixRow) -> None:
    # Given a good run, then Kubecost returns no allocation for one day (e.g. after a Prometheus outage)
    stack = emulated_deployment()
    before = stack.earlier_export()
    stack.restart_kubecost(empty_days=frozenset({FAULT_DAY}))
    # When the workflow runs
    faulty = stack.run()
    # Then the day is reported empty and counted, and its earlier export is kept and stays in the month
    assert faulty.run.succeeded, faulty.run
    assert faulty.run.day(FAULT_DAY.isoformat()).status == "empty"
    assert faulty.metric("EmptyDays") == 1
    assert faulty.run.month(MONTH).status in MONTH_KEPT_WHOLE
    stack.assert_nothing_lost(before, faulty.run)
    # And once Kubecost has the day again, the next run writes it
    stack.restart_kubecost(empty_days=frozenset())
    matrix_row.record(
        FaultCase("Kubecost", "Empty day", "emulator restarted with empty_days={2025-03-02}"),
        fault_run=faulty,
        signal="day result empty",
        next_run=stack.next_run(),
    )


def test_refused_kubecost_credentials_fail_every_day_and_recover(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given Kubecost behind a bearer token, a good run, then the token in the secret is no longer accepted
    stack = emulated_deployment(
        kubecost={"auth": KubecostAuth("bearer", BEARER)}, kubecost_secret={"bearer_token": BEARER}
    )
    before = stack.earlier_export()
    stack.put_kubecost_secret({"bearer_token": "kubecost-matrix-revoked"})
    # When the workflow runs
    faulty = stack.run()
    # Then every day is refused at its first attempt (no retry can help) and the run fails; nothing is lost
    _assert_every_day_failed(stack, before, faulty, "KubecostRejected", 1)
    # And with the credentials fixed, the next run recovers
    stack.put_kubecost_secret({"bearer_token": BEARER})
    matrix_row.record(
        FaultCase(
            "Kubecost", "Authentication refused", "KUBECOST_SECRET_ARN rotated to a token Kubecost refuses (401)"
        ),
        fault_run=faulty,
        signal="execution FAILED naming the days; day results failed (KubecostRejected)",
        next_run=stack.next_run(),
    )
