"""The local run's summary says what the execution did, across every attempt of its steps (``runner_report``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kubecost_flexera.domain.calendar import use_clock
from local.runner_report import UPLOAD_FUNCTION, format_summary

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.workflow import LocalWorkflowFactory


def test_a_month_committed_before_a_throttled_retry_is_summarised_as_committed(
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> None:
    # Given Mar 3, 2025, and March committed a moment ago with its first two days (Flexera's cool-off is running)
    flexera = flexera_emulator()
    kubecost = kubecost_emulator(allocations_per_day=2, today=datetime(2025, 3, 3, tzinfo=UTC).date())
    with use_clock(lambda: datetime(2025, 3, 3, 12, tzinfo=UTC)):
        workflow = local_workflow(kubecost, flexera)
        assert workflow.run({"start": "2025-03-01", "end": "2025-03-02"}).month("2025-03").status == "committed"
        # When the scheduled run exports February and March 1-3: February is committed, March throttled (429) and
        # committed by the upload's retry after the cool-off, which finds February unchanged
        run = workflow.run({})
    uploads = [i for i in run.invocations if i.function == UPLOAD_FUNCTION]
    assert [i.error_type for i in uploads] == ["FlexeraThrottled", None]
    assert uploads[-1].result["months"][0]["status"] == "skipped-unchanged"
    # Then the summary shows both months committed by this run, February by the first attempt
    february, march = run.month("2025-02"), run.month("2025-03")
    committed = flexera.committed("cbi-oi-kubecost-1", "2025-02")
    assert committed is not None
    assert (february.status, february.bill_upload_id, february.files) == ("committed", committed.bill_upload_id, 28)
    assert march.status == "committed"
    (february_line,) = [line for line in format_summary(run).splitlines() if line.startswith("2025-02 ")]
    assert "committed (28 file(s)" in february_line
    assert "by an earlier attempt of the upload" in february_line
    assert run.succeeded, run
