"""``docs/reliability.md`` is what the fault matrix renders: the check, and the rendering's own rules.

The check runs after every fault case of the session (``tests/fixtures/fault_matrix.py`` moves it last; under
pytest-xdist it waits for the cases other workers still run, each case's result being a file of the session). It only
compares; with ``UPDATE_RELIABILITY_DOC=1`` it writes the document first (see the document's header).
"""

from __future__ import annotations

import difflib
import os
from typing import TYPE_CHECKING

import pytest

from local.runner_lambda import Invocation
from local.runner_report import EXPORT_DAY_FUNCTION, PLAN_FUNCTION, UPLOAD_FUNCTION, WorkflowRun
from tests.e2e.reliability_report import (
    DOC_PATH,
    REGENERATE_COMMAND,
    UPDATE_VARIABLE,
    CaseResult,
    FaultCase,
    describe_run,
    render,
)
from tests.fixtures.fault_matrix import END_WAIT_SECONDS

if TYPE_CHECKING:
    from tests.fixtures.fault_matrix import FaultMatrixRecorder

PLAN = {"today": "2025-03-03", "days": ["2025-03-01", "2025-03-02"], "months": ["2025-03"], "currency": "USD"}


@pytest.mark.reliability_doc
def test_reliability_doc_is_what_the_fault_matrix_renders(fault_matrix: FaultMatrixRecorder) -> None:
    # Given the results every fault case of this session recorded
    if not fault_matrix.collected:
        pytest.skip(f"no fault case ran in this session; run {REGENERATE_COMMAND.split('=1 ', 1)[1]}")
    assert fault_matrix.unended() == [], f"these fault cases did not end within {END_WAIT_SECONDS:g} s"
    missing, results = fault_matrix.outcome()
    assert missing == [], "these fault cases recorded no result (they failed or were interrupted)"
    # When the matrix is rendered
    rendered = render(results)
    if os.environ.get(UPDATE_VARIABLE) == "1":
        DOC_PATH.write_text(rendered)
    # Then the committed document is exactly that
    committed = DOC_PATH.read_text() if DOC_PATH.exists() else ""
    diff = "".join(difflib.unified_diff(committed.splitlines(True), rendered.splitlines(True), "committed", "rendered"))
    assert committed == rendered, f"docs/reliability.md is out of date; regenerate with `{REGENERATE_COMMAND}`\n{diff}"


def _run(*invocations: Invocation, status: str = "FAILED", error: str | None = "ExportFailed") -> WorkflowRun:
    return WorkflowRun.from_execution("arn:x", status=status, error=error, cause=None, invocations=invocations)


def _upload(day_results: list[dict[str, object]], error: tuple[str, str] | None = None) -> Invocation:
    event = {**PLAN, "dayResults": day_results}
    if error is None:
        months = [
            {"month": "2025-03", "status": "committed", "billUploadId": "u", "files": 2, "bytes": 1, "error": None}
        ]
        return Invocation(UPLOAD_FUNCTION, event, {"months": months, "failedDays": []})
    return Invocation(UPLOAD_FUNCTION, event, None, *error)


def test_description_names_retried_and_failed_days_and_the_month() -> None:
    # Given a run whose second day failed after two attempts and whose month was committed
    failed: dict[str, object] = {"day": "2025-03-02", "status": "failed", "error": {"Error": "KubecostUnavailable"}}
    written: dict[str, object] = {
        "day": "2025-03-01",
        "status": "written",
        "parts": 1,
        "rows": 8,
        "allocations": 1,
        "cost": 1.0,
    }
    run = _run(
        Invocation(PLAN_FUNCTION, {}, PLAN),
        Invocation(EXPORT_DAY_FUNCTION, {"day": "2025-03-01"}, written),
        Invocation(EXPORT_DAY_FUNCTION, {"day": "2025-03-02"}, None, "KubecostUnavailable", "down"),
        Invocation(EXPORT_DAY_FUNCTION, {"day": "2025-03-02"}, None, "KubecostUnavailable", "down"),
        _upload([written, failed]),
    )
    # When it is described
    text = describe_run(run)
    # Then the text has the status, the failed day with its error and attempts, the written day and the month
    assert text == (
        "FAILED (ExportFailed); 2025-03-02 failed (KubecostUnavailable) after 2 attempts; 1 day written; "
        "2025-03 committed (2 files)"
    )


def test_description_of_a_failed_upload_keeps_month_and_error_type_only() -> None:
    # Given a run whose upload raised, its message holding an upload id
    written = {"day": "2025-03-01", "status": "written", "parts": 1, "rows": 8, "allocations": 1, "cost": 1.0}
    message = "1 month(s) failed: 2025-03: FlexeraRejected: uploading kubecost-2025-03-01.csv.gz to 1f2e-..."
    run = _run(
        Invocation(PLAN_FUNCTION, {}, PLAN),
        Invocation(EXPORT_DAY_FUNCTION, {"day": "2025-03-01"}, written),
        _upload([written, written], ("UploadFailed", message)),
        error="UploadFailed",
    )
    # When it is described
    text = describe_run(run)
    # Then nothing run-specific (ids, names) is in it
    assert text == "FAILED (UploadFailed); 2 days written; 2025-03 failed (FlexeraRejected)"


def test_rendered_table_escapes_pipes_and_counts_failed_and_absorbed_faults() -> None:
    # Given an absorbed Flexera case, then a failed Kubecost case with a pipe in a cell
    failed = CaseResult(FaultCase("Kubecost", "a | b", "x"), absorbed=False, fault_run="F", signal="s", next_run="N")
    absorbed = CaseResult(FaultCase("Flexera", "c", "y"), absorbed=True, fault_run="S", signal="t", next_run="N")
    # When the document is rendered
    text = render([absorbed, failed])
    # Then the rows are numbered in area order (Kubecost first), the pipe escaped, and the summary counts both kinds
    assert "| 1 | Kubecost | a \\| b | x | F | s | N |" in text
    assert "| 2 | Flexera | c | y | S | t | N |" in text
    assert "2 faults injected. 1 made the run fail visibly, 1 were absorbed" in text
