"""The upload of a run with a sources document, end to end: each source's day files and manifests in moto S3 as
its exports leave them, the Flexera emulator over HTTP, the upload handler with a ``SourcesUploadEvent``.

The document of these tests: sources ``eu`` and ``us`` in the bill connect ``SHARED``, ``apac`` alone in ``SOLO``.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Final

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from emulators.flexera import DEFAULT_REFRESH_TOKEN, FlexeraEmulator, FlexeraFault
from functions.upload.app import lambda_handler
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.domain.calendar import use_clock
from kubecost_flexera.errors import ConfigurationError, FlexeraUnavailable, InvalidRequest, UploadFailed
from kubecost_flexera.observability import metrics
from tests.fixtures.day_exports import AUGUST, JULY, write_day, write_days
from tests.fixtures.day_exports import UPLOAD_TODAY as TODAY

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

    from kubecost_flexera.domain.records import DayManifest
    from tests.fixtures.aws import FakeLambdaContext, MakeSecret
    from tests.fixtures.flexera import FlexeraEmulatorFactory

SHARED: Final = "cbi-oi-kubecost-shared"
SOLO: Final = "cbi-oi-kubecost-solo"
MEMBERS: Final = {SHARED: ("eu", "us"), SOLO: ("apac",)}
BILL_CONNECT_OF: Final = {source: connect for connect, sources in MEMBERS.items() for source in sources}
EXECUTION: Final = "arn:aws:states:us-east-1:123456789012:execution:ExportStateMachine:sources-run"


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    metrics.clear_metrics()
    yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    metrics.clear_metrics()


@pytest.fixture
def emu(flexera_emulator: FlexeraEmulatorFactory) -> FlexeraEmulator:
    return flexera_emulator(bill_connects=frozenset(MEMBERS))


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, bucket: str, make_secret: MakeSecret, emu: FlexeraEmulator
) -> Iterator[dict[str, Storage]]:
    """The upload function's environment against the emulator, the real clock on TODAY; yields each source's
    storage."""
    arn = make_secret("flexera", {"refresh_token": DEFAULT_REFRESH_TOKEN})
    for name, value in {
        "ORG_ID": emu.config.org_id,
        "BILL_CONNECT_ID": "cbi-oi-kubecost-stack",
        "FLEXERA_SECRET_ARN": arn,
        "FLEXERA_ENDPOINT_URL": emu.url,
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", region_name="us-east-1")
    with use_clock(lambda: datetime.combine(TODAY, time(12), UTC)):
        yield {source: Storage(s3, bucket, source) for source in BILL_CONNECT_OF}


def write_every_source(s3: S3Client, env: dict[str, Storage], days: list[date]) -> None:
    for storage in env.values():
        write_days(s3, storage, days)


def day_result(day: date, error: str | None = None) -> dict[str, Any]:
    if error is None:
        return {"day": day.isoformat(), "status": "written"}
    return {"day": day.isoformat(), "status": "failed", "error": error}


def sources_event(
    days: list[date],
    *,
    months: tuple[str, ...] = ("2025-07", "2025-08"),
    run: tuple[str, ...] = ("eu", "us", "apac"),
    failed: dict[str, dict[date, str]] | None = None,
    **options: bool,
) -> dict[str, Any]:
    """The upload event of a run of the sources ``run`` over ``days``; ``failed`` names each source's failed days."""
    failed = failed or {}
    return {
        "today": TODAY.isoformat(),
        "months": list(months),
        "options": {"dryRun": options.get("dry_run", False), "forceUpload": options.get("force_upload", False)},
        "sources": [
            {
                "name": source,
                "billConnectId": BILL_CONNECT_OF[source],
                "currency": "USD",
                "days": [day.isoformat() for day in days],
                "keptDays": [],
                "settings": {"KUBECOST_HOST": f"https://kubecost-{source}.example.com"},
            }
            for source in run
        ],
        "billConnects": [{"billConnectId": connect, "sources": list(sources)} for connect, sources in MEMBERS.items()],
        "sourceResults": [
            {"source": source, "dayResults": [day_result(day, failed.get(source, {}).get(day)) for day in days]}
            for source in run
        ],
        "executionId": EXECUTION,
    }


def contents(s3: S3Client, manifests: list[DayManifest], *, by_source: bool) -> dict[str, bytes]:
    """The day files as Flexera must hold them: named by source in a bill connect of several sources."""
    files = {}
    for manifest in manifests:
        for part in manifest.parts:
            name = (
                part.file_name.replace("kubecost-", f"kubecost-{manifest.source}-", 1) if by_source else part.file_name
            )
            body = s3.get_object(Bucket="kubecost-exports-test", Key=part.key)["Body"].read()
            files[name] = gzip.decompress(body)
    return files


def outcome(result: dict[str, Any], bill_connect_id: str, month: str) -> dict[str, Any]:
    connect = next(c for c in result["billConnects"] if c["billConnectId"] == bill_connect_id)
    return dict(next(m for m in connect["months"] if m["month"] == month))


def test_one_bill_upload_per_bill_connect_holds_every_member_sources_files_and_rows(
    s3: S3Client, env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given August exported by each source, with different rows (us has a day of two parts)
    eu = write_days(s3, env["eu"], AUGUST, version=1)
    us = [write_day(s3, env["us"], AUGUST[0], version=2), write_day(s3, env["us"], AUGUST[1], version=2, parts=2)]
    apac = write_days(s3, env["apac"], AUGUST, version=3)
    # When the upload runs
    result = lambda_handler(sources_event(AUGUST, months=("2025-08",)), lambda_context)
    # Then each bill connect had exactly one bill upload of August
    assert sorted((u.bill_connect_id, u.billing_period, u.status) for u in emu.bill_uploads) == [
        (SHARED, "2025-08", "complete"),
        (SOLO, "2025-08", "complete"),
    ]
    # And the shared one holds every file of eu and us, named by source, byte for byte; the lone one the Go names
    shared, solo = emu.committed(SHARED, "2025-08"), emu.committed(SOLO, "2025-08")
    assert shared is not None
    assert solo is not None
    assert shared.files == contents(s3, eu + us, by_source=True)
    assert sorted(shared.files) == [
        "kubecost-eu-2025-08-01.csv.gz",
        "kubecost-eu-2025-08-02.csv.gz",
        "kubecost-us-2025-08-01.csv.gz",
        "kubecost-us-2025-08-02-2.csv.gz",
        "kubecost-us-2025-08-02.csv.gz",
    ]
    assert solo.files == contents(s3, apac, by_source=False)
    # And the result says so per bill connect, with the upload state recorded under each bill connect
    assert [(c["billConnectId"], c["sources"]) for c in result["billConnects"]] == [
        (SHARED, ["eu", "us"]),
        (SOLO, ["apac"]),
    ]
    august = outcome(result, SHARED, "2025-08")
    assert (august["status"], august["files"], august["billUploadId"]) == ("committed", 5, shared.bill_upload_id)
    assert (august["missingDays"], august["missingBySource"]) == ([], {})
    assert result["failedDays"] == []
    state = env["eu"].read_upload_state("2025-08", SHARED)
    assert state is not None
    assert state.bill_upload_id == shared.bill_upload_id
    assert (
        env["eu"].upload_state_key("2025-08", SHARED)
        == "state/uploads/bill-connects/cbi-oi-kubecost-shared/2025-08.json"
    )
    assert env["eu"].read_upload_state("2025-08") is None  # nothing under the single-source key
    # And one token served both bill connects
    assert [r.path for r in emu.requests].count("/oidc/token") == 1


def test_a_member_outside_the_run_is_uploaded_with_its_last_exports(
    s3: S3Client, env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given us exported August in an earlier run, and a run of eu only (a manual run with sources ["eu"])
    write_days(s3, env["eu"], AUGUST, version=1)
    us = write_days(s3, env["us"], AUGUST, version=2)
    event = sources_event(AUGUST, months=("2025-08",), run=("eu",))
    event["billConnects"] = [{"billConnectId": SHARED, "sources": ["eu", "us"]}]
    # When the upload runs / Then the shared bill connect's August holds us's files too: a commit replaces the month
    lambda_handler(event, lambda_context)
    shared = emu.committed(SHARED, "2025-08")
    assert shared is not None
    assert {name: body for name, body in shared.files.items() if "-us-" in name} == contents(s3, us, by_source=True)


def test_a_shared_bill_connect_whose_member_failed_a_day_uploads_that_days_last_good_export(
    s3: S3Client,
    env: dict[str, Storage],
    emu: FlexeraEmulator,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given us's August 2nd exported by an earlier run, and this run's export of that day failed (eu's succeeded)
    write_days(s3, env["eu"], AUGUST, version=2, export_id="e2")
    us_first = write_day(s3, env["us"], AUGUST[0], version=2, export_id="e2")
    us_last_good = write_day(s3, env["us"], AUGUST[1], version=1)
    write_days(s3, env["apac"], AUGUST)
    failed = {"us": {AUGUST[1]: "KubecostUnavailable"}}
    capsys.readouterr()
    # When the upload runs
    result = lambda_handler(sources_event(AUGUST, months=("2025-08",), failed=failed), lambda_context)
    # Then the shared month is committed with us's last good export of the 2nd
    shared = emu.committed(SHARED, "2025-08")
    assert shared is not None
    us = {name: body for name, body in shared.files.items() if "-us-" in name}
    assert us == contents(s3, [us_first, us_last_good], by_source=True)
    # And the failed day is reported with its source and error, in the output and in the metrics per source
    assert result["failedDays"] == [{"source": "us", "error": "KubecostUnavailable", "days": "2025-08-02"}]
    documents = emf_documents(capsys.readouterr().out)
    assert metric_by(documents, "FailedDays", "Source") == {"eu": 0, "us": 1, "apac": 0}
    assert metric_by(documents, "FailedDays", None) == {None: 1}


def test_failed_days_are_reported_per_source_and_error_as_a_few_ranges_and_the_log_line_lists_them_all(
    env: dict[str, Storage],
    emu: FlexeraEmulator,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a run of July whose every day of us failed, every other day unavailable and the others refused, and
    # apac's 1st to 10th unavailable
    failed = {
        "us": {day: "KubecostUnavailable" if day.day % 2 else "KubecostRejected" for day in JULY},
        "apac": dict.fromkeys(JULY[:10], "KubecostUnavailable"),
    }
    capsys.readouterr()
    # When the upload runs
    result = lambda_handler(sources_event(JULY, months=("2025-07",), failed=failed), lambda_context)
    # Then each source and error has one entry, its days as at most three ranges and the others counted
    assert result["failedDays"] == [
        {"source": "us", "error": "KubecostUnavailable", "days": "2025-07-01, 2025-07-03, 2025-07-05 and 13 more days"},
        {"source": "us", "error": "KubecostRejected", "days": "2025-07-02, 2025-07-04, 2025-07-06 and 12 more days"},
        {"source": "apac", "error": "KubecostUnavailable", "days": "2025-07-01..2025-07-10"},
    ]
    # And the log line lists every failed day, and the metrics count them
    warning = next(record for record in caplog.records if record.getMessage().startswith("Days failed to export"))
    logged = warning.__dict__["failed_days"]
    assert logged[0] == "us " + ", ".join(str(day) for day in JULY[::2]) + " (KubecostUnavailable)"
    assert logged[2] == "apac 2025-07-01..2025-07-10 (KubecostUnavailable)"
    assert metric_by(emf_documents(capsys.readouterr().out), "FailedDays", None) == {None: 41}


def test_an_ended_month_is_complete_only_when_every_member_has_every_day(
    s3: S3Client, env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given July complete for eu and apac, and us without its 15th and 16th
    write_days(s3, env["eu"], JULY)
    write_days(s3, env["us"], [day for day in JULY if day.day not in {15, 16}])
    write_days(s3, env["apac"], JULY)
    # When July is uploaded by the clock of August 2nd
    result = lambda_handler(sources_event(JULY, months=("2025-07",)), lambda_context)
    # Then the shared July is skipped as incomplete, naming us and its days; the lone bill connect's is committed
    july = outcome(result, SHARED, "2025-07")
    assert (july["status"], july["missingDays"]) == ("skipped-incomplete", ["2025-07-15", "2025-07-16"])
    assert july["missingBySource"] == {"us": ["2025-07-15", "2025-07-16"]}
    assert emu.committed(SHARED, "2025-07") is None
    assert outcome(result, SOLO, "2025-07")["status"] == "committed"
    # And a forced run commits the shared July with the days that exist
    emu.clock.advance(120)
    forced = lambda_handler(sources_event(JULY, months=("2025-07",), force_upload=True), lambda_context)
    assert (outcome(forced, SHARED, "2025-07")["status"], outcome(forced, SHARED, "2025-07")["files"]) == (
        "committed",
        31 + 29,
    )
    committed = emu.committed(SHARED, "2025-07")
    assert committed is not None
    assert len(committed.files) == 60


def test_mixed_currencies_fail_that_bill_connects_month_only(
    s3: S3Client, env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given eu's August in USD and us's in EUR (apac alone, in USD)
    write_days(s3, env["eu"], AUGUST)
    write_days(s3, env["us"], AUGUST, currency="EUR")
    write_days(s3, env["apac"], AUGUST)
    # When the upload runs / Then it fails with UploadFailed naming the bill connect, the month, each source's currency
    with pytest.raises(UploadFailed, match=r"cbi-oi-kubecost-shared 2025-08: MixedCurrencies: .*eu USD, us EUR"):
        lambda_handler(sources_event(AUGUST, months=("2025-08",)), lambda_context)
    # And the shared month was never sent while the other bill connect was committed
    assert [u.bill_connect_id for u in emu.bill_uploads] == [SOLO]
    assert emu.committed(SOLO, "2025-08") is not None


def test_unchanged_merged_month_is_skipped_and_any_members_new_export_uploads_it_again(
    s3: S3Client, env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given August committed for both bill connects
    write_every_source(s3, env, AUGUST)
    event = sources_event(AUGUST, months=("2025-08",))
    first = lambda_handler(event, lambda_context)
    calls = len(emu.requests)
    # When the same run uploads again / Then both are unchanged, without any call at Flexera
    again = lambda_handler(event, lambda_context)
    assert [outcome(again, c, "2025-08")["status"] for c in MEMBERS] == ["skipped-unchanged", "skipped-unchanged"]
    assert outcome(again, SHARED, "2025-08")["billUploadId"] == outcome(first, SHARED, "2025-08")["billUploadId"]
    assert len(emu.requests) == calls
    # And when one member's day is exported again with new content, only its bill connect is sent again
    write_day(s3, env["us"], AUGUST[1], version=2, export_id="e2")
    emu.clock.advance(120)
    changed = lambda_handler(event, lambda_context)
    assert [outcome(changed, c, "2025-08")["status"] for c in MEMBERS] == ["committed", "skipped-unchanged"]


def test_an_unavailable_flexera_for_one_bill_connect_is_retried_after_the_others_were_committed(
    s3: S3Client, env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given the shared bill connect's first file failing on every attempt of the client
    write_every_source(s3, env, AUGUST)
    emu.inject(FlexeraFault(endpoint="file", kind="http_503", on_call=1, times=3))
    event = sources_event(AUGUST, months=("2025-08",))
    # When the upload runs / Then it raises the retryable FlexeraUnavailable naming the shared month, after the lone
    # bill connect was committed
    with pytest.raises(FlexeraUnavailable, match=r"Failed months: cbi-oi-kubecost-shared 2025-08: FlexeraUnavailable"):
        lambda_handler(event, lambda_context)
    assert emu.committed(SHARED, "2025-08") is None
    assert emu.committed(SOLO, "2025-08") is not None
    # And the state machine's next attempt commits the shared month and skips the committed one
    emu.clock.advance(120)
    retried = lambda_handler(event, lambda_context)
    assert [outcome(retried, c, "2025-08")["status"] for c in MEMBERS] == ["committed", "skipped-unchanged"]


def test_dry_run_reports_each_bill_connect_and_calls_nothing_at_flexera(
    s3: S3Client, env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    write_every_source(s3, env, AUGUST)
    result = lambda_handler(sources_event(AUGUST, months=("2025-08",), dry_run=True), lambda_context)
    assert [(outcome(result, c, "2025-08")["status"], outcome(result, c, "2025-08")["files"]) for c in MEMBERS] == [
        ("dry-run", 4),
        ("dry-run", 2),
    ]
    assert emu.requests == []
    assert env["eu"].read_upload_state("2025-08", SHARED) is None


def test_each_bill_connect_is_created_when_configured(
    s3: S3Client,
    env: dict[str, Storage],
    flexera_emulator: FlexeraEmulatorFactory,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
) -> None:
    # Given a Flexera with neither bill connect, and CREATE_BILL_CONNECT_IF_NOT_EXIST=true
    emulator = flexera_emulator(bill_connects=frozenset())
    monkeypatch.setenv("FLEXERA_ENDPOINT_URL", emulator.url)
    monkeypatch.setenv("CREATE_BILL_CONNECT_IF_NOT_EXIST", "true")
    write_every_source(s3, env, AUGUST)
    # When the upload runs / Then each bill connect is created, and its month committed there
    lambda_handler(sources_event(AUGUST, months=("2025-08",)), lambda_context)
    assert sorted(emulator.bill_connects) == [SHARED, SOLO]
    assert emulator.committed(SHARED, "2025-08") is not None
    assert emulator.committed(SOLO, "2025-08") is not None


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_bill_connect_the_create_option_cannot_create_is_refused_before_any_call(
    s3: S3Client,
    env: dict[str, Storage],
    emu: FlexeraEmulator,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
) -> None:
    monkeypatch.setenv("CREATE_BILL_CONNECT_IF_NOT_EXIST", "true")
    write_days(s3, env["apac"], AUGUST)
    event = sources_event(AUGUST, months=("2025-08",), run=("apac",))
    event["sources"][0]["billConnectId"] = "acme-apac"
    event["billConnects"] = [{"billConnectId": "acme-apac", "sources": ["apac"]}]
    with pytest.raises(
        ConfigurationError, match=r"'acme-apac'.*CREATE_BILL_CONNECT_IF_NOT_EXIST=true.*cbi-oi-kubecost"
    ):
        lambda_handler(event, lambda_context)
    assert emu.requests == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_bill_connects_that_do_not_match_the_sources_are_refused_naming_each(
    env: dict[str, Storage], emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given bill connects listing us twice, one without a source, and none for apac's bill connect
    event = sources_event(AUGUST, months=("2025-08",))
    event["billConnects"] = [
        {"billConnectId": SHARED, "sources": ["eu", "us"]},
        {"billConnectId": SHARED, "sources": ["us"]},
        {"billConnectId": "cbi-oi-kubecost-empty", "sources": []},
    ]
    # Then the event is refused, naming each problem, before any call
    with pytest.raises(InvalidRequest) as raised:
        lambda_handler(event, lambda_context)
    message = str(raised.value)
    assert "4 problem(s)" in message
    assert "billConnects[2]: bill connect 'cbi-oi-kubecost-empty' lists no source" in message
    assert "billConnects[1]: bill connect 'cbi-oi-kubecost-shared' is listed twice" in message
    assert "source 'us' is also a member of 'cbi-oi-kubecost-shared'" in message
    assert "sources[2]: source 'apac' names bill connect 'cbi-oi-kubecost-solo'" in message
    assert emu.requests == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_malformed_sources_event_is_refused_as_a_sources_event(lambda_context: FakeLambdaContext) -> None:
    event = sources_event(AUGUST, months=("2025-08",))
    del event["billConnects"]
    with pytest.raises(InvalidRequest, match="missing field 'billConnects' in the upload event"):
        lambda_handler(event, lambda_context)


def test_metrics_per_bill_connect_and_month(
    s3: S3Client,
    env: dict[str, Storage],
    emu: FlexeraEmulator,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given July and August complete for apac and eu, and us missing July's 15th
    write_days(s3, env["eu"], JULY + AUGUST)
    write_days(s3, env["us"], [day for day in JULY if day.day != 15] + AUGUST)
    write_days(s3, env["apac"], JULY + AUGUST)
    capsys.readouterr()
    # When the upload runs
    lambda_handler(sources_event(JULY + AUGUST), lambda_context)
    documents = emf_documents(capsys.readouterr().out)
    # Then each bill connect's months are counted under its BillConnect dimension, and the aggregates as before
    assert metric_by(documents, "MonthsCommitted", "BillConnect") == {SHARED: 1, SOLO: 2}
    assert metric_by(documents, "MonthsSkippedIncomplete", "BillConnect") == {SHARED: 1}
    assert metric_by(documents, "FilesUploaded", "BillConnect") == {SHARED: 4, SOLO: 33}
    assert metric_by(documents, "MonthsCommitted", None) == {None: 3}
    # And each bill connect's document names its month
    months = [(d["BillConnect"], d["month"]) for d in documents if "MonthsCommitted" in d and "BillConnect" in d]
    assert sorted(months) == [(SHARED, "2025-08"), (SOLO, "2025-07"), (SOLO, "2025-08")]
    assert metric_by(documents, "FilesUploaded", None) == {None: 37}


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]


def metric_by(documents: list[dict[str, Any]], name: str, dimension: str | None) -> dict[str | None, float]:
    """The values of metric ``name`` summed per value of ``dimension`` (None: the documents without a dimension
    besides the service, the aggregates)."""
    values: dict[str | None, float] = {}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        (dimensions,) = directive["Dimensions"]
        if name not in document or dimensions != ["service", *([dimension] if dimension else [])]:
            continue
        key = document[dimension] if dimension else None
        values[key] = values.get(key, 0) + document[name][0]
    return values
