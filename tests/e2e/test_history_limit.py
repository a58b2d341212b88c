"""A standard execution's history holds at most 25,000 events: the largest run the plan accepts (366 days) must fit
even when every task uses every retry its definition allows.

The events are counted on moto's engine, which records the same events as Step Functions (state entered/exited,
task scheduled/started/failed/succeeded, map iteration started/succeeded): runs of 1, 2 and 3 worst-case days give
the fixed and the per-day count (checked linear), extrapolated to 366 days. docs/local-world.md states the figure.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

import functions.export_day.app as export_day_app
import functions.plan.app as plan_app
import functions.upload.app as upload_app
from kubecost_flexera.errors import FlexeraThrottled, FlexeraUnavailable, KubecostUnavailable
from local.runner_report import EXPORT_DAY_FUNCTION, PLAN_FUNCTION, UPLOAD_FUNCTION
from local.runner_states import HISTORY_EVENT_LIMIT
from local.runner_template import ROOT

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.workflow import LocalWorkflowFactory

LARGEST_RUN_DAYS: Final = 366
TODAY: Final = date(2025, 3, 31)
# A Lambda service error as the state machine sees it (the errorType is the error's name).
LambdaServiceException = type("Lambda.ServiceException", (Exception,), {})
DOC_FIGURE: Final = re.compile(r"at most \*\*([0-9,]+) events\*\* for a run of 366 days")


def _failing(
    handler: Callable[[dict[str, Any], Any], Any], errors: Sequence[type[Exception]], *, then_succeed: bool
) -> Callable[[dict[str, Any], Any], Any]:
    """``handler`` made to raise ``errors`` one after the other on the attempts of each execution (and day)."""
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    def wrapped(event: dict[str, Any], context: Any) -> Any:
        key = f"{event.get('executionId')}/{event.get('day', '')}"
        with lock:
            attempt = attempts[key]
            attempts[key] += 1
        if attempt < len(errors):
            raise errors[attempt]("worst case")
        if not then_succeed:
            raise errors[-1]("worst case")
        return handler(event, context)

    return wrapped


def _worst_case_handlers() -> dict[str, Callable[[dict[str, Any], Any], Any]]:
    """Every retrier of each task exhausted: 6 Lambda service errors, then each task's own retried errors."""
    lambda_errors: list[type[Exception]] = [LambdaServiceException] * 6
    return {
        PLAN_FUNCTION: _failing(plan_app.lambda_handler, lambda_errors, then_succeed=True),
        EXPORT_DAY_FUNCTION: _failing(
            export_day_app.lambda_handler, [*lambda_errors, *[KubecostUnavailable] * 4], then_succeed=False
        ),
        UPLOAD_FUNCTION: _failing(
            upload_app.lambda_handler,
            [*lambda_errors, *[FlexeraUnavailable] * 3, *[FlexeraThrottled] * 5],
            then_succeed=True,
        ),
    }


def test_the_largest_run_fits_the_history_limit_with_every_retry_used(
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> None:
    kubecost, flexera = kubecost_emulator(allocations_per_day=1, today=TODAY), flexera_emulator()
    workflow = local_workflow(kubecost, flexera, handlers=_worst_case_handlers())
    # Given runs of 1, 2 and 3 days in which every task uses all its retries
    measured = {}
    for days in (1, 2, 3):
        first = TODAY - timedelta(days=days - 1)
        run = workflow.run({"start": first.isoformat(), "end": TODAY.isoformat(), "today": TODAY.isoformat()})
        assert run.error == "ExportFailed", (run.error, run.cause)  # every day failed, the upload still ran
        measured[days] = run.history_events
    per_day = measured[2] - measured[1]
    fixed = measured[1] - per_day
    # Then the count grows by the same number of events per day
    assert measured[3] - measured[2] == per_day, measured
    # And the largest run the plan accepts stays under the limit, with room to spare
    largest = fixed + per_day * LARGEST_RUN_DAYS
    assert largest < HISTORY_EVENT_LIMIT * 0.8, (fixed, per_day, largest)
    # And docs/local-world.md states that figure
    documented = DOC_FIGURE.search((ROOT / "docs" / "local-world.md").read_text())
    assert documented is not None, "docs/local-world.md must state the history figure"
    assert int(documented.group(1).replace(",", "")) == largest, f"{fixed} + {per_day} x 366 = {largest}"
