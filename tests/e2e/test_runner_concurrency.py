"""The local runner runs the Map's days concurrently, up to MaxConcurrency, each invocation with its own log keys.

moto's Map starts ``MaxConcurrency`` worker threads; the runner must neither serialise them nor let concurrent
invocations share Powertools state (``local/runner_lambda.py``), or local runs would be slower than AWS and their log
lines would name the wrong day.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import pytest

from emulators.flexera import DEFAULT_REFRESH_TOKEN
from functions.export_day.app import lambda_handler as export_day_handler
from local.run import LocalSettings, LocalWorkflow
from local.runner_report import EXPORT_DAY_FUNCTION
from tests.fixtures.logs import capture_powertools_logs
from tests.fixtures.workflow import BILL_CONNECT

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from local.runner_report import WorkflowRun
    from tests.fixtures.flexera import FlexeraEmulatorFactory

MAX_CONCURRENCY: Final = 3
DAYS: Final = ("2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06")
BARRIER_TIMEOUT_SECONDS: Final = 10.0


class Gate:
    """Wraps ExportDay: the first ``parties`` invocations wait for each other (so they must run at once) and the
    largest number running at the same moment is recorded."""

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT_SECONDS)
        self._lock = threading.Lock()
        self._started = 0
        self._running = 0
        self.peak = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self._started += 1
            first_wave = self._started <= self._barrier.parties
            self._running += 1
            self.peak = max(self.peak, self._running)
        try:
            if first_wave:
                self._barrier.wait()
            return export_day_handler(event, context)
        finally:
            with self._lock:
                self._running -= 1


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(allocations_per_day=5, today=date(2025, 3, 10), latency_seconds=0.02)


@pytest.fixture
def flexera(flexera_emulator: FlexeraEmulatorFactory) -> FlexeraEmulator:
    return flexera_emulator()


def run_backfill(kubecost: KubecostEmulator, flexera: FlexeraEmulator, gate: Gate) -> tuple[WorkflowRun, str]:
    """A backfill of ``DAYS`` at ``MAX_CONCURRENCY`` with INFO logs; returns the run and the JSON log lines."""
    settings = LocalSettings(
        kubecost_url=kubecost.url,
        flexera_url=flexera.url,
        flexera_secret={"refresh_token": DEFAULT_REFRESH_TOKEN},
        environ={"ORG_ID": flexera.config.org_id, "BILL_CONNECT_ID": BILL_CONNECT, "POWERTOOLS_LOG_LEVEL": "INFO"},
        retry_sleep=flexera.clock.advance,
        handlers={EXPORT_DAY_FUNCTION: gate},
        max_concurrency=MAX_CONCURRENCY,
    )
    with capture_powertools_logs() as logs, LocalWorkflow(settings) as workflow:
        run = workflow.run({"today": "2025-03-10", "start": DAYS[0], "end": DAYS[-1], "dry_run": True})
    return run, logs.text()


def test_map_runs_max_concurrency_days_at_once_and_never_more(
    kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given ExportDay invocations whose first MaxConcurrency must all be running before any of them proceeds
    gate = Gate(MAX_CONCURRENCY)
    # When a backfill of six days runs at MaxConcurrency 3
    run, _ = run_backfill(kubecost, flexera, gate)
    # Then it succeeds (the first three met at the gate) and never ran more than three days at once
    assert run.succeeded, run
    assert [day.status for day in run.days] == ["written"] * len(DAYS)
    assert gate.peak == MAX_CONCURRENCY


def test_concurrent_invocations_log_their_own_day(kubecost: KubecostEmulator, flexera: FlexeraEmulator) -> None:
    # Given three ExportDay invocations forced to run at once
    gate = Gate(MAX_CONCURRENCY)
    # When the backfill runs
    run, logs = run_backfill(kubecost, flexera, gate)
    # Then each day's "Day exported" line carries that day, once per day, with the execution as correlation id
    assert run.succeeded, run
    exported = [entry for entry in map(json.loads, logs.splitlines()) if entry["message"] == "Day exported"]
    assert sorted(entry["day"] for entry in exported) == list(DAYS)
    assert {entry["correlation_id"] for entry in exported} == {run.execution_arn}
    assert {entry["function_name"] for entry in exported} == {"kubecost-flexera-local-ExportDayFunction"}
