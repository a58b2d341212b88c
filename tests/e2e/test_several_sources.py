"""Several clusters in one deployment, end to end: the sources document in the bucket, each source's days exported
by a child execution of the Distributed Map ``ExportSources`` against its own Kubecost (or OpenCost), each bill
connect's month uploaded once with every member source's day files (``statemachine/export.asl.json`` executed by the
local runner, every task the real handler, the Kubecost and Flexera emulators over HTTP).

The scale of one execution (sources x days against 25,000 history events and 256 KiB a state) is measured in
``test_several_sources_scale.py``.
"""

from __future__ import annotations

import gzip
from collections import Counter
from contextlib import ExitStack
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

from emulators.flexera import DEFAULT_BILL_CONNECT_ID, DEFAULT_REFRESH_TOKEN, FlexeraEmulator, FlexeraEmulatorConfig
from emulators.kubecost import KubecostEmulator, KubecostEmulatorConfig, KubecostFault
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.domain.calendar import use_clock
from local.run import BUCKET, LocalSettings, LocalWorkflow, pinned_clock
from local.runner_report import UPLOAD_FUNCTION
from tests.fixtures.sources_world import DOCUMENT_KEY, Source, days, go_file_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubecost_flexera.domain.records import DayManifest
    from tests.fixtures.sources_world import SourcesRun, SourcesWorld, SourcesWorldFactory

TODAY: Final = date(2025, 3, 3)  # with the previous month left out: Mar 1-3, one (current) month
MONTH: Final = "2025-03"
DAYS: Final = days(date(2025, 3, 1), TODAY)
SHARED: Final = "cbi-oi-kubecost-shared"
ALONE: Final = "cbi-oi-kubecost-alone"
KUBECOST_DAY_ATTEMPTS: Final = 4  # ExportSourceDay: the first invocation and 3 retries of KubecostUnavailable
BEARER: Final = "kubecost-bearer-of-gamma"


def _iso(values: list[date]) -> list[str]:
    return [value.isoformat() for value in values]


def _allocation_days(emulator: KubecostEmulator) -> Counter[str]:
    """The emulator's allocation requests by the day their window starts."""
    return Counter(
        str(request.arg("window", ""))[:10] for request in emulator.requests if "/allocation" in request.path
    )


def _manifests(world: SourcesWorld, source: str) -> dict[date, DayManifest | None]:
    storage = world.storage(source)
    return {day: storage.read_day_manifest(day) for day in DAYS}


# --- the merged upload ---


def test_sources_of_one_bill_connect_go_into_one_bill_upload_each_file_named_by_its_source(
    sources_world: SourcesWorldFactory,
) -> None:
    # Given three clusters with different data: two Kubecost and one OpenCost, prod-eu and prod-us in one bill
    # connect, dev alone in its own
    world = sources_world(
        [
            Source("prod-eu", SHARED, seed=11),
            Source("prod-us", SHARED, seed=22, flavour="opencost"),
            Source("dev", ALONE, seed=33),
        ],
        today=TODAY,
    )
    # When the scheduled run of Mar 3 runs
    run = world.run()
    # Then the plan names every source and each bill connect with its members, in the document's order
    assert run.succeeded, (run.error, run.cause)
    assert [plan["name"] for plan in run.plan["sources"]] == ["prod-eu", "prod-us", "dev"]
    assert [(c["billConnectId"], c["sources"]) for c in run.plan["billConnects"]] == [
        (SHARED, ["prod-eu", "prod-us"]),
        (ALONE, ["dev"]),
    ]
    # And every source's days are written, each asked once of its own Kubecost, under the source's own name
    for name in ("prod-eu", "prod-us", "dev"):
        assert run.statuses(name) == ["written"] * len(DAYS)
        assert _allocation_days(world.kubecost[name]) == Counter(_iso(DAYS)), name
        world.assert_exports_exact(name, DAYS)
    # And each bill connect's month is one bill upload: the shared one with both sources' files named by source,
    # the single-member one with the Go names; every file's rows are its own source's
    assert run.months() == {(SHARED, MONTH): "committed", (ALONE, MONTH): "committed"}
    assert len(world.bill_uploads(SHARED, MONTH)) == len(world.bill_uploads(ALONE, MONTH)) == 1
    world.assert_committed(SHARED, MONTH, {"prod-eu": DAYS, "prod-us": DAYS})
    world.assert_committed(ALONE, MONTH, {"dev": DAYS})
    assert run.month(SHARED, MONTH)["files"] == 2 * len(DAYS)
    # And the upload state is kept per bill connect, beside (not in place of) the single-source records
    keys = {
        item["Key"] for item in world.workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix="state/uploads/")["Contents"]
    }
    assert keys == {
        f"state/uploads/bill-connects/{SHARED}/{MONTH}.json",
        f"state/uploads/bill-connects/{ALONE}/{MONTH}.json",
    }

    # When the same run is made again a day later, Kubecost's data unchanged
    world.a_day_passes()
    again = world.run()
    # Then each bill connect's merged month is seen unchanged and not sent again
    assert again.succeeded, (again.error, again.cause)
    assert again.months() == {(SHARED, MONTH): "skipped-unchanged", (ALONE, MONTH): "skipped-unchanged"}
    assert len(world.bill_uploads(SHARED, MONTH)) == 1


# --- isolation ---


def test_a_source_down_and_one_refusing_its_credentials_fail_only_their_own_days(
    sources_world: SourcesWorldFactory,
) -> None:
    # Given four clusters: alpha, beta and gamma (behind a bearer token in its own secret) in one bill connect,
    # delta alone; a dry run has exported every day of every source
    world = sources_world(
        [
            Source("alpha", SHARED, seed=1),
            Source("beta", SHARED, seed=2),
            Source("gamma", SHARED, seed=3, bearer=BEARER),
            Source("delta", ALONE, seed=4),
        ],
        today=TODAY,
    )
    dry = world.run({"dry_run": True})
    assert dry.succeeded, (dry.error, dry.cause)
    earlier = {name: _manifests(world, name) for name in ("beta", "gamma")}
    world.a_day_passes()
    # When beta's Kubecost is down and gamma's refuses the token its secret now holds
    world.stop_kubecost("beta")
    world.put_kubecost_token("gamma", "a-revoked-token")
    run = world.run()
    # Then beta's days fail after every retry, gamma's at once (a refusal is not retried); alpha's and delta's are
    # written
    assert run.statuses("alpha") == run.statuses("delta") == ["written"] * len(DAYS)
    for day in DAYS:
        assert run.attempts("beta", day) == KUBECOST_DAY_ATTEMPTS
        assert run.attempts("gamma", day) == 1
    expected_failed = {("beta", d, "KubecostUnavailable") for d in _iso(DAYS)} | {
        ("gamma", d, "KubecostRejected") for d in _iso(DAYS)
    }
    assert {(s, d, r.get("error")) for (s, d), r in run.day_results.items() if r["status"] == "failed"} == (
        expected_failed
    )
    # And the failed days keep their last good export, untouched
    for name, manifests in earlier.items():
        assert _manifests(world, name) == manifests, f"{name}'s earlier exports changed"
    # And the bill connect without them commits as usual, and the shared one commits with the failed days' last good
    # exports: every member's every day, exact
    assert run.months() == {(SHARED, MONTH): "committed", (ALONE, MONTH): "committed"}
    world.assert_committed(ALONE, MONTH, {"delta": DAYS})
    world.assert_committed(SHARED, MONTH, {"alpha": DAYS, "beta": DAYS, "gamma": DAYS})
    # And the execution fails after the upload, naming each source and day that failed
    assert (run.status, run.error) == ("FAILED", "ExportFailed")
    assert (
        run.failed_days()
        == run.failed_days_in_cause()
        == {
            ("beta", "KubecostUnavailable", "2025-03-01..2025-03-03"),
            ("gamma", "KubecostRejected", "2025-03-01..2025-03-03"),
        }
    )

    # When beta is back and gamma's secret holds the right token again
    world.restart_kubecost("beta")
    world.put_kubecost_token("gamma", BEARER)
    world.a_day_passes()
    recovered = world.run()
    # Then the next run succeeds, every source's every day written and exact, the shared month whole
    assert recovered.succeeded, (recovered.error, recovered.cause)
    for name in ("alpha", "beta", "gamma", "delta"):
        assert recovered.statuses(name) == ["written"] * len(DAYS)
        world.assert_exports_exact(name, DAYS)
    world.assert_committed(SHARED, MONTH, {"alpha": DAYS, "beta": DAYS, "gamma": DAYS})


# --- completeness across sources ---


def test_an_ended_month_is_blocked_by_the_source_that_misses_a_day_and_a_run_of_that_source_completes_it(
    sources_world: SourcesWorldFactory,
) -> None:
    # Given two clusters in one bill connect, a run on Mar 2 with the previous month, and beta's Kubecost refusing
    # Feb 10 (a permanent error: no export of that day exists)
    today, missing = date(2025, 3, 2), date(2025, 2, 10)
    world = sources_world(
        [Source("alpha", SHARED, seed=1), Source("beta", SHARED, seed=2)],
        today=today,
        environ={"INCLUDE_PREVIOUS_MONTH": "true"},
        allocations_per_day=3,
    )
    world.kubecost["beta"].inject(KubecostFault(kind="code_error", days=frozenset({missing}), times=None))
    february, march = days(date(2025, 2, 1), date(2025, 2, 28)), days(date(2025, 3, 1), today)
    # When it runs
    run = world.run()
    # Then February, ended and missing beta's day, is not uploaded, and the report says which source blocks it
    assert run.failed_days() == {("beta", "KubecostRejected", missing.isoformat())}
    outcome = run.month(SHARED, "2025-02")
    assert outcome["status"] == "skipped-incomplete"
    assert outcome["missingBySource"] == {"beta": [missing.isoformat()]}
    assert world.flexera.committed(SHARED, "2025-02") is None
    # And the current month is committed with both sources' days
    world.assert_committed(SHARED, "2025-03", {"alpha": march, "beta": march})
    assert (run.status, run.error) == ("FAILED", "ExportFailed")

    # When, the cause fixed, a manual run exports beta alone
    world.kubecost["beta"].clear_faults()
    for name in ("alpha", "beta"):
        world.kubecost[name].requests.clear()
    world.a_day_passes()
    rerun = world.run({"sources": ["beta"]})
    # Then only beta is planned and asked, and February is committed whole: alpha's kept exports with beta's
    assert rerun.succeeded, (rerun.error, rerun.cause)
    assert [plan["name"] for plan in rerun.plan["sources"]] == ["beta"]
    assert [(c["billConnectId"], c["sources"]) for c in rerun.plan["billConnects"]] == [(SHARED, ["alpha", "beta"])]
    assert world.kubecost["alpha"].requests == []
    assert rerun.attempts("alpha") == 0
    assert rerun.month(SHARED, "2025-02")["status"] == "committed"
    world.assert_committed(SHARED, "2025-02", {"alpha": february, "beta": february})


# --- currencies ---


def test_mixed_currencies_in_one_bill_connect_are_refused_naming_the_sources_while_others_upload(
    sources_world: SourcesWorldFactory,
) -> None:
    # Given alpha (USD) and beta (EUR) in one bill connect, gamma (EUR) alone
    world = sources_world(
        [
            Source("alpha", SHARED, seed=1, currency="USD"),
            Source("beta", SHARED, seed=2, currency="EUR"),
            Source("gamma", ALONE, seed=3, currency="EUR"),
        ],
        today=TODAY,
    )
    # When the run exports and uploads
    run = world.run()
    # Then each source's days are exported in its own Kubecost's currency
    assert {plan["name"]: plan["currency"] for plan in run.plan["sources"]} == {
        "alpha": "USD",
        "beta": "EUR",
        "gamma": "EUR",
    }
    for name in ("alpha", "beta", "gamma"):
        assert run.statuses(name) == ["written"] * len(DAYS)
        world.assert_exports_exact(name, DAYS)
    # And the shared month is refused before any call to Flexera, the error naming each source and its currency
    assert world.bill_uploads(SHARED, MONTH) == []
    assert run.upload_error is not None
    error_type, message = run.upload_error
    assert error_type in {"UploadFailed", "MixedCurrencies"}
    for text in ("MixedCurrencies", SHARED, MONTH, "alpha", "USD", "beta", "EUR"):
        assert text in message, (text, message)
    # And it is never retried, while the other bill connect is committed
    assert run.run.attempts(UPLOAD_FUNCTION) == 1
    world.assert_committed(ALONE, MONTH, {"gamma": DAYS})
    assert run.status == "FAILED"
    assert run.error == error_type


# --- one source: unchanged ---


def _single_source_stack(
    stack: ExitStack, kubecost: KubecostEmulator, flexera: FlexeraEmulator, environ: Mapping[str, str]
) -> LocalWorkflow:
    settings = LocalSettings(
        kubecost_url=kubecost.url,
        flexera_url=flexera.url,
        flexera_secret={"refresh_token": DEFAULT_REFRESH_TOKEN},
        environ={"ORG_ID": flexera.config.org_id, "INCLUDE_PREVIOUS_MONTH": "false", **environ},
        retry_sleep=flexera.clock.advance,
    )
    stack.enter_context(use_clock(pinned_clock(TODAY)))
    return stack.enter_context(LocalWorkflow(settings))


def _day_exports(storage: Storage) -> dict[str, Any]:
    """What a source's history holds, its export ids aside: per day the manifest's key, parts, rows and bytes."""
    exports: dict[str, Any] = {}
    for day in DAYS:
        manifest = storage.read_day_manifest(day)
        assert manifest is not None
        exports[storage.day_manifest_key(day)] = (
            manifest.source,
            manifest.currency,
            manifest.rows,
            manifest.allocations,
            [(p.file_name, p.rows, gzip.decompress(storage.open_part(p).read())) for p in manifest.parts],
        )
    return exports


def _states_entered(workflow: LocalWorkflow, run: Any) -> set[str]:
    pages = workflow.sfn.get_paginator("get_execution_history").paginate(executionArn=run.execution_arn)
    return {
        event["stateEnteredEventDetails"]["name"]
        for page in pages
        for event in page["events"]
        if "stateEnteredEventDetails" in event
    }


def test_a_source_alone_writes_what_a_single_source_stack_of_that_name_writes(
    sources_world: SourcesWorldFactory,
) -> None:
    # Given a single-source stack (no sources document) with SOURCE_NAME=prod-eu
    kubecost_config = KubecostEmulatorConfig(seed=5, allocations_per_day=6, today=TODAY + timedelta(days=7))
    with ExitStack() as stack:
        kubecost = stack.enter_context(KubecostEmulator(kubecost_config))
        flexera = stack.enter_context(FlexeraEmulator(FlexeraEmulatorConfig()))
        workflow = _single_source_stack(
            stack, kubecost, flexera, {"SOURCE_NAME": "prod-eu", "BILL_CONNECT_ID": DEFAULT_BILL_CONNECT_ID}
        )
        # When it runs
        single = workflow.run({"today": TODAY.isoformat()})
        # Then it is the single-source run, unchanged: the plan has no sources and no state of several runs
        assert single.succeeded, single
        assert single.plan is not None
        assert "sources" not in single.plan
        entered = _states_entered(workflow, single)
        assert {"Plan", "ExportDays", "Upload"} <= entered
        assert not entered & {"ExportSources", "UploadSources"}
        assert workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix="config/")["KeyCount"] == 0
        alone_exports = _day_exports(Storage(workflow.s3, BUCKET, "prod-eu"))
        committed = flexera.committed(DEFAULT_BILL_CONNECT_ID, MONTH)
        assert committed is not None
        alone_files = committed.files
        assert sorted(alone_files) == [go_file_name(day) for day in DAYS]
    # When the same cluster is the only member of its bill connect in a sources document
    world = sources_world([Source("prod-eu", DEFAULT_BILL_CONNECT_ID, seed=5)], today=TODAY)
    assert world.workflow.s3.head_object(Bucket=BUCKET, Key=DOCUMENT_KEY)["ContentLength"] > 0
    run: SourcesRun = world.run()
    # Then its history is the same (same keys, rows and bytes) and Flexera gets the same files under the Go names
    assert run.succeeded, (run.error, run.cause)
    assert _day_exports(world.storage("prod-eu")) == alone_exports
    assert world.committed(DEFAULT_BILL_CONNECT_ID, MONTH).files == alone_files
