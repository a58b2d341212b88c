"""A standard execution's history holds at most 25,000 events: the largest run the plan accepts (366 days) must fit
even when every task uses every retry its definition allows.

The events are counted on moto's engine, which records the same events as Step Functions (state entered/exited,
task scheduled/started/failed/succeeded, map iteration started/succeeded): runs of 1, 2 and 3 worst-case days give
the fixed and the per-day count (checked linear), extrapolated to 366 days. docs/local-world.md states the figure.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

import functions.export_day.app as export_day_app
from kubecost_flexera.errors import KubecostUnavailable
from local.runner_states import HISTORY_EVENT_LIMIT
from local.runner_template import ROOT
from tests.fixtures.workflow import every_retry_used

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.workflow import LocalWorkflowFactory

LARGEST_RUN_DAYS: Final = 366
TODAY: Final = date(2025, 3, 31)
DOC_FIGURE: Final = re.compile(r"at most \*\*([0-9,]+) events\*\* for a run of 366 days")


def test_the_largest_run_fits_the_history_limit_with_every_retry_used(
    local_workflow: LocalWorkflowFactory,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: Callable[..., FlexeraEmulator],
) -> None:
    kubecost, flexera = kubecost_emulator(allocations_per_day=1, today=TODAY), flexera_emulator()
    workflow = local_workflow(
        kubecost, flexera, handlers=every_retry_used(export_day_app.lambda_handler, KubecostUnavailable)
    )
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
