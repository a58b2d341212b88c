"""Fault matrix, several sources: one cluster of a sources document misbehaves, or the merged upload is interrupted.

Each test: a good run (every source's earlier export, each bill connect's month committed), the run with the fault,
the next run without it, on one deployment of three sources: alpha and beta (behind a bearer token) in one bill
connect, gamma alone in another. After the run with the fault and the next run: no source's export lost (a failed
day keeps its earlier export, untouched), every source's every day exact against its own Kubecost, each bill
connect's month at Flexera whole (every member's every day, never a part), the failure visible, and recovery
(``tests/fixtures/sources_world.py``). The outcome is recorded for ``docs/reliability.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pytest

from emulators.flexera import FlexeraFault
from local.runner_report import UPLOAD_FUNCTION
from tests.e2e.reliability_report import FaultCase
from tests.fixtures.fault_matrix import MONTH, MONTH_KEPT_WHOLE, TODAY
from tests.fixtures.sources_world import Source, days

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from tests.fixtures.fault_matrix import MatrixRow
    from tests.fixtures.sources_world import Snapshot, SourcesRun, SourcesWorld, SourcesWorldFactory

SHARED: Final = "cbi-oi-kubecost-shared"
ALONE: Final = "cbi-oi-kubecost-alone"
BEARER: Final = "kubecost-matrix-bearer-of-beta"
DAYS: Final = days(TODAY.replace(day=1), TODAY)
KUBECOST_DAY_ATTEMPTS: Final = 4  # ExportSourceDay: the first invocation and 3 retries of KubecostUnavailable
UPLOAD_ATTEMPTS: Final = 4  # UploadSources: the first invocation and 3 retries of FlexeraUnavailable
SOURCES: Final = (
    Source("alpha", SHARED, seed=1),
    Source("beta", SHARED, seed=2, bearer=BEARER),
    Source("gamma", ALONE, seed=3),
)
INJECTION_PREFIX: Final = "3 sources (alpha and beta in one bill connect, gamma alone): "


def _deployment(sources_world: SourcesWorldFactory) -> SourcesWorld:
    return sources_world(SOURCES, today=TODAY, allocations_per_day=20)


def _earlier_export(world: SourcesWorld) -> Snapshot:
    """A good run, then a day passes: the state the run with the fault is held against."""
    good = world.run()
    assert good.succeeded, (good.error, good.cause)
    assert set(good.months().values()) == {"committed"}
    world.assert_nothing_lost(world.snapshot(DAYS), DAYS, good)
    before = world.snapshot(DAYS)
    world.a_day_passes()
    return before


def _next_run(world: SourcesWorld, request: Mapping[str, Any] | None = None) -> SourcesRun:
    """A day later, the next run without the fault: it succeeds, every day written and exact, every month whole."""
    world.a_day_passes()
    recovered = world.run(request)
    assert recovered.succeeded, (recovered.error, recovered.cause)
    for name in world.sources:
        assert recovered.statuses(name) == ["written"] * len(DAYS)
    assert set(recovered.months().values()) <= MONTH_KEPT_WHOLE
    world.assert_nothing_lost(world.snapshot(DAYS), DAYS, recovered)
    return recovered


def _assert_source_failed(world: SourcesWorld, before: Snapshot, faulty: SourcesRun, error: str, attempts: int) -> None:
    """beta's every day failed after ``attempts`` invocations ending in ``error``, the others' written; each bill
    connect's month held whole, beta's with its earlier exports; the execution fails naming beta's days."""
    assert (faulty.status, faulty.error) == ("FAILED", "ExportFailed")
    assert faulty.statuses("alpha") == faulty.statuses("gamma") == ["written"] * len(DAYS)
    assert faulty.failed_days() == faulty.failed_days_in_cause() == {("beta", error, "2025-03-01..2025-03-03")}
    assert [faulty.attempts("beta", day) for day in DAYS] == [attempts] * len(DAYS)
    assert faulty.metric("FailedDays") == len(DAYS)
    assert set(faulty.months().values()) <= MONTH_KEPT_WHOLE
    world.assert_nothing_lost(before, DAYS, faulty)


@dataclass(frozen=True)
class _SourceFault:
    """A fault of beta alone: how it is brought about and undone, and how its days must end."""

    fault: str
    injection: str
    error: str
    attempts: int
    inject: Callable[[SourcesWorld], None]
    undo: Callable[[SourcesWorld], None]


SOURCE_FAULTS: Final = (
    _SourceFault(
        "One of several sources down",
        "beta's emulator stopped",
        "KubecostUnavailable",
        KUBECOST_DAY_ATTEMPTS,
        lambda world: world.stop_kubecost("beta"),
        lambda world: world.restart_kubecost("beta"),
    ),
    _SourceFault(
        "Credentials of one of several sources refused",
        "beta's secret rotated to a token its Kubecost refuses (401)",
        "KubecostRejected",
        1,  # a refusal is not retried
        lambda world: world.put_kubecost_token("beta", "kubecost-matrix-revoked"),
        lambda world: world.put_kubecost_token("beta", BEARER),
    ),
)


@pytest.mark.parametrize("case", SOURCE_FAULTS, ids=["down", "credentials-refused"])
def test_one_source_failing_fails_its_days_only_and_recovers(
    sources_world: SourcesWorldFactory, matrix_row: MatrixRow, case: _SourceFault
) -> None:
    # Given a good run, then beta's Kubecost stops answering, or refuses the token in beta's own secret
    world = _deployment(sources_world)
    before = _earlier_export(world)
    case.inject(world)
    # When the workflow runs
    faulty = world.run()
    # Then beta's days fail (after every retry, or at once for a refusal) while alpha's and gamma's are exported;
    # both months are held whole, beta's days with their earlier exports
    _assert_source_failed(world, before, faulty, case.error, case.attempts)
    # And once beta is fixed, the next run recovers
    case.undo(world)
    matrix_row.record(
        FaultCase("Kubecost", case.fault, f"{INJECTION_PREFIX}{case.injection}"),
        fault_run=faulty,
        signal=f"execution FAILED naming beta's days; its day results failed ({case.error})",
        next_run=_next_run(world),
    )


def test_a_source_changing_currency_is_refused_for_its_bill_connect_only_and_recovers(
    sources_world: SourcesWorldFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run in USD, then beta's Kubecost reports EUR
    world = _deployment(sources_world)
    before = _earlier_export(world)
    shared_uploads = len(world.bill_uploads(SHARED, MONTH))
    world.restart_kubecost("beta", currency="EUR")
    # When the workflow runs
    faulty = world.run()
    # Then every day is exported, beta's in EUR, but the shared month is refused before any call to Flexera, naming
    # the sources and their currencies, and is not retried; gamma's month goes on
    assert {name: faulty.statuses(name) for name in world.sources} == dict.fromkeys(world.sources, ["written"] * 3)
    assert faulty.upload_error is not None
    error_type, message = faulty.upload_error
    assert faulty.error == error_type
    assert all(text in message for text in ("MixedCurrencies", SHARED, "alpha", "USD", "beta", "EUR")), message
    assert faulty.run.attempts(UPLOAD_FUNCTION) == 1
    assert len(world.bill_uploads(SHARED, MONTH)) == shared_uploads
    assert world.snapshot(DAYS).commits[(SHARED, MONTH)] == before.commits[(SHARED, MONTH)]
    world.assert_earlier_exports_survive(before, faulty)
    world.assert_months_whole(DAYS)
    # And once beta reports USD again, the next run recovers
    world.restart_kubecost("beta", currency="USD")
    matrix_row.record(
        FaultCase(
            "Kubecost",
            "Currency of one of several sources changes",
            f"{INJECTION_PREFIX}beta's Kubecost restarted with currency EUR",
        ),
        fault_run=faulty,
        signal=f"execution FAILED ({error_type}) naming the bill connect, each source and its currency",
        next_run=_next_run(world),
    )


def test_merged_upload_interrupted_keeps_each_bill_connect_whole_and_recovers(
    sources_world: SourcesWorldFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then Flexera answers 500 to every file upload after the first
    world = _deployment(sources_world)
    before = _earlier_export(world)
    world.flexera.inject(FlexeraFault(endpoint="file", kind="http_500", on_call=2, times=None))
    # When a forced upload runs (the data is unchanged, so that the months are actually sent)
    faulty = world.run({"force_upload": True})
    # Then every day is exported, the upload fails after its retries, every started bill upload is aborted, and
    # Flexera still holds each bill connect's earlier commit, whole
    assert faulty.upload_error is not None
    assert (faulty.status, faulty.error) == ("FAILED", "FlexeraUnavailable")
    # (each retry after an aborted bill upload may meet Flexera's cool-off first, and waits it out)
    uploads = [i.error_type for i in faulty.run.invocations if i.function == UPLOAD_FUNCTION]
    assert uploads.count("FlexeraUnavailable") == UPLOAD_ATTEMPTS, uploads
    assert set(uploads) == {"FlexeraUnavailable", "FlexeraThrottled"}, uploads
    assert uploads[-1] == "FlexeraUnavailable"
    assert world.snapshot(DAYS).commits == before.commits
    world.assert_nothing_lost(before, DAYS, faulty)
    # And without the fault, the next forced run commits both again
    world.flexera.clear_faults()
    matrix_row.record(
        FaultCase(
            "Flexera",
            "Merged upload interrupted",
            f"{INJECTION_PREFIX}FlexeraFault http_500 on every file upload after the first; force_upload",
        ),
        fault_run=faulty,
        signal="execution FAILED (FlexeraUnavailable) after the upload's retries; bill uploads aborted",
        next_run=_next_run(world, {"force_upload": True}),
    )
