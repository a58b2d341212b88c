"""The monthly upload end to end: day files and manifests in moto S3, the Flexera emulator, the upload handler."""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from emulators.flexera import DEFAULT_REFRESH_TOKEN, FlexeraEmulator, FlexeraFault
from functions.upload.app import lambda_handler
from kubecost_flexera.adapters.flexera import FlexeraClient
from kubecost_flexera.adapters.flexera_auth import RefreshTokenGrant
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.contracts import MonthOutcome, RunOptions
from kubecost_flexera.domain.calendar import use_clock
from kubecost_flexera.domain.upload import MAX_FILE_BYTES, MonthUploader
from kubecost_flexera.errors import ConfigurationError, FlexeraThrottled, InvalidRequest, UploadFailed
from kubecost_flexera.observability import logger
from tests.fixtures.day_exports import AUGUST, JULY, sample_event, write_day, write_days
from tests.fixtures.day_exports import UPLOAD_TODAY as TODAY
from tests.fixtures.flexera import flexera_settings
from tests.fixtures.logs import capture_powertools_logs

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

    from kubecost_flexera.domain.records import DayManifest
    from kubecost_flexera.domain.upload import MonthResult
    from tests.fixtures.aws import FakeLambdaContext, MakeSecret
    from tests.fixtures.flexera import FlexeraEmulatorFactory

pytestmark = pytest.mark.usefixtures("fresh_metrics")

CONNECT = "cbi-oi-kubecost-1"


def run(storage: Storage, emulator: FlexeraEmulator, months: list[str], **options: bool) -> list[MonthResult]:
    def connect() -> FlexeraClient:
        return FlexeraClient(flexera_settings(emulator), RefreshTokenGrant(DEFAULT_REFRESH_TOKEN), sleep=lambda _: None)

    return MonthUploader(storage, connect, clock_today=TODAY, options=RunOptions.of(options)).run(months)


def decompressed_parts(s3: S3Client, manifests: list[DayManifest]) -> dict[str, bytes]:
    return {
        part.file_name: gzip.decompress(s3.get_object(Bucket="kubecost-exports-test", Key=part.key)["Body"].read())
        for manifest in manifests
        for part in manifest.parts
    }


@pytest.fixture
def storage(s3: S3Client, bucket: str) -> Storage:
    return Storage(s3, bucket, "default")


@pytest.fixture
def emu(flexera_emulator: FlexeraEmulatorFactory) -> FlexeraEmulator:
    return flexera_emulator()


# --- months ---


def test_committed_month_equals_the_day_files_byte_for_byte(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator
) -> None:
    # Given a complete July, one day of it in two parts
    manifests = [*write_days(s3, storage, JULY[:2]), write_day(s3, storage, JULY[2], parts=2)]
    manifests += write_days(s3, storage, JULY[3:])
    # When July is uploaded
    (result,) = run(storage, emu, ["2025-07"])
    # Then it is committed with every part, and Flexera holds exactly the day files' content
    assert (result.status, result.files) == ("committed", 32)
    assert result.bytes == sum(part.size for m in manifests for part in m.parts)
    committed = emu.committed(CONNECT, "2025-07")
    assert committed is not None
    assert committed.bill_upload_id == result.bill_upload_id
    assert committed.files == decompressed_parts(s3, manifests)
    assert committed.errors == {}


def test_files_are_sent_by_day_then_part(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    write_days(s3, storage, [AUGUST[0]])
    write_day(s3, storage, AUGUST[1], parts=3)
    run(storage, emu, ["2025-08"])
    sent = [r.path.rsplit("/", 1)[1] for r in emu.requests if "/files/" in r.path]
    assert sent == [
        "kubecost-2025-08-01.csv.gz",
        "kubecost-2025-08-02.csv.gz",
        "kubecost-2025-08-02-2.csv.gz",
        "kubecost-2025-08-02-3.csv.gz",
    ]


def test_commit_is_recorded_in_the_upload_state(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    write_days(s3, storage, AUGUST)
    (result,) = run(storage, emu, ["2025-08"])
    state = storage.read_upload_state("2025-08")
    assert state is not None
    assert (state.bill_upload_id, state.files) == (
        result.bill_upload_id,
        ("kubecost-2025-08-01.csv.gz", "kubecost-2025-08-02.csv.gz"),
    )


def test_incomplete_previous_month_is_skipped_while_the_partial_current_month_is_uploaded(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator
) -> None:
    # Given July without its 15th, and only the 1st of August (today is the 2nd)
    write_days(s3, storage, [day for day in JULY if day.day != 15] + AUGUST[:1])
    # When both months are uploaded
    july, august = run(storage, emu, ["2025-07", "2025-08"])
    # Then July is reported incomplete and never sent; August goes with the day it has
    assert july.status == "skipped-incomplete"
    assert emu.committed(CONNECT, "2025-07") is None
    assert [u.billing_period for u in emu.bill_uploads] == ["2025-08"]
    assert (august.status, august.files) == ("committed", 1)


def test_current_month_without_any_export_is_skipped(storage: Storage, emu: FlexeraEmulator) -> None:
    (result,) = run(storage, emu, ["2025-08"])
    assert (result.status, result.files) == ("skipped-incomplete", 0)
    assert emu.requests == []


def test_unchanged_month_is_skipped_without_any_flexera_call(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator
) -> None:
    # Given August committed
    write_days(s3, storage, AUGUST)
    (first,) = run(storage, emu, ["2025-08"])
    calls = len(emu.requests)
    # When it is uploaded again with the same parts
    (second,) = run(storage, emu, ["2025-08"])
    # Then it is skipped as unchanged, naming the upload that holds it, with no call at all (not even a token)
    assert (second.status, second.bill_upload_id) == ("skipped-unchanged", first.bill_upload_id)
    assert len(emu.requests) == calls


def test_unchanged_re_export_under_new_keys_is_skipped(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    # Given August committed, then its days exported again with the same bytes under new export keys
    write_days(s3, storage, AUGUST)
    run(storage, emu, ["2025-08"])
    write_days(s3, storage, AUGUST, export_id="e2")
    # When uploaded / Then the month is unchanged
    (result,) = run(storage, emu, ["2025-08"])
    assert result.status == "skipped-unchanged"


def test_re_exported_day_uploads_the_month_again(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    # Given August committed, then its 2nd exported again
    write_days(s3, storage, AUGUST)
    run(storage, emu, ["2025-08"])
    manifest = write_day(s3, storage, AUGUST[1], version=2, export_id="e2")
    emu.clock.advance(120)
    # When uploaded / Then the month is committed again with the new file
    (result,) = run(storage, emu, ["2025-08"])
    assert result.status == "committed"
    committed = emu.committed(CONNECT, "2025-08")
    assert committed is not None
    assert (
        committed.files["kubecost-2025-08-02.csv.gz"] == decompressed_parts(s3, [manifest])[manifest.parts[0].file_name]
    )


def test_forced_upload_commits_an_unchanged_month(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    write_days(s3, storage, AUGUST)
    (first,) = run(storage, emu, ["2025-08"])
    emu.clock.advance(120)
    (forced,) = run(storage, emu, ["2025-08"], force_upload=True)
    assert forced.status == "committed"
    assert forced.bill_upload_id != first.bill_upload_id


def test_forced_upload_commits_an_incomplete_ended_month_with_the_days_it_has(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator
) -> None:
    # Given July exported from the 10th on only (installed mid-month, or Kubecost's retention is shorter)
    write_days(s3, storage, JULY[9:])
    # When July is uploaded by the clock of August 2nd with force_upload
    with capture_powertools_logs() as logs:
        (result,) = run(storage, emu, ["2025-07"], force_upload=True)
    # Then it is committed with the 22 days that exist, the result names the 9 missing days, and a warning says so
    assert (result.status, result.files) == ("committed", 22)
    assert [day.isoformat() for day in result.missing_days] == [f"2025-07-0{n}" for n in range(1, 10)]
    assert MonthOutcome.of(result).model_dump(mode="json")["missingDays"] == [
        day.isoformat() for day in result.missing_days
    ]
    committed = emu.committed(CONNECT, "2025-07")
    assert committed is not None
    assert sorted(committed.files) == [f"kubecost-{day}.csv.gz" for day in JULY[9:]]
    warning = next(e for e in logs.records() if e["message"].startswith("Forced upload of an incomplete month"))
    assert (warning["level"], len(warning["missing_days"])) == ("WARNING", 9)


def test_incomplete_ended_month_is_skipped_without_force(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    write_days(s3, storage, JULY[9:])
    (result,) = run(storage, emu, ["2025-07"])
    assert (result.status, len(result.missing_days)) == ("skipped-incomplete", 9)
    assert emu.requests == []


def test_dry_run_reports_the_month_and_calls_nothing_at_flexera(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator
) -> None:
    # Given an uploadable month
    manifests = write_days(s3, storage, AUGUST)

    def connect() -> FlexeraClient:
        raise AssertionError("a dry run must not even read the credentials")

    # When it runs dry
    (result,) = MonthUploader(storage, connect, clock_today=TODAY, options=RunOptions.of({"dry_run": True})).run(
        ["2025-08"]
    )
    # Then it reports what would go, and Flexera saw no request at all
    assert (result.status, result.files, result.bill_upload_id) == ("dry-run", 2, None)
    assert result.bytes == sum(part.size for m in manifests for part in m.parts)
    assert emu.requests == []
    assert storage.read_upload_state("2025-08") is None


@pytest.mark.parametrize("kind", ["http_503", "drop_connection"])
def test_file_failure_aborts_commits_nothing_and_the_next_run_commits(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator, kind: str
) -> None:
    # Given the second file fails on every attempt
    manifests = write_days(s3, storage, AUGUST)
    emu.inject(FlexeraFault(endpoint="file", kind=kind, on_call=2, times=3))  # type: ignore[arg-type]
    # When August is uploaded
    (failed,) = run(storage, emu, ["2025-08"])
    # Then the month failed, its upload was aborted, nothing was committed and no state was written
    assert (failed.status, (failed.error or "").split(":")[0]) == ("failed", "FlexeraUnavailable")
    assert [u.status for u in emu.bill_uploads] == ["aborted"]
    assert emu.committed(CONNECT, "2025-08") is None
    assert storage.read_upload_state("2025-08") is None
    # And the next run (after the cool-off) commits it
    emu.clock.advance(120)
    (retried,) = run(storage, emu, ["2025-08"])
    assert retried.status == "committed"
    committed = emu.committed(CONNECT, "2025-08")
    assert committed is not None
    assert committed.files == decompressed_parts(s3, manifests)


def test_md5_mismatch_aborts_the_month(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    write_days(s3, storage, AUGUST)
    emu.inject(FlexeraFault(endpoint="file", kind="wrong_md5"))
    (result,) = run(storage, emu, ["2025-08"])
    assert result.status == "failed"
    assert "MD5" in (result.error or "")
    assert [u.status for u in emu.bill_uploads] == ["aborted"]


def test_part_replaced_since_its_manifest_fails_the_month(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    # Given a part overwritten after its manifest was written (its ETag no longer matches)
    (manifest,) = write_days(s3, storage, AUGUST[:1])
    s3.put_object(Bucket=storage.bucket, Key=manifest.parts[0].key, Body=b"something else")
    # When uploaded / Then the month fails and its upload is aborted rather than committing other bytes
    (result,) = run(storage, emu, ["2025-08"])
    assert result.status == "failed"
    assert [u.status for u in emu.bill_uploads] == ["aborted"]


def test_file_over_the_limit_fails_the_month_before_any_call(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator
) -> None:
    # Given a manifest naming a part larger than Flexera accepts
    (manifest,) = write_days(s3, storage, AUGUST[:1])
    big = replace(manifest.parts[0], size=MAX_FILE_BYTES + 1)
    storage.write_day_manifest(replace(manifest, parts=(big,)))
    # When uploaded / Then the month fails with LimitExceeded and Flexera saw nothing
    (result,) = run(storage, emu, ["2025-08"])
    assert (result.status, (result.error or "").split(":")[0]) == ("failed", "LimitExceeded")
    assert emu.requests == []


def test_a_failed_month_does_not_stop_the_next(s3: S3Client, storage: Storage, emu: FlexeraEmulator) -> None:
    # Given July whose first file is refused by Flexera (wrong md5), and a fine August
    write_days(s3, storage, JULY + AUGUST)
    emu.inject(FlexeraFault(endpoint="file", kind="wrong_md5"))
    # When both are uploaded / Then July failed and August was still committed
    july, august = run(storage, emu, ["2025-07", "2025-08"])
    assert (july.status, august.status) == ("failed", "committed")


def test_throttled_month_is_reported_and_succeeds_after_the_cooloff(
    s3: S3Client, storage: Storage, emu: FlexeraEmulator
) -> None:
    # Given August committed a moment ago, then forced again inside the cool-off
    write_days(s3, storage, AUGUST)
    run(storage, emu, ["2025-08"])
    (throttled,) = run(storage, emu, ["2025-08"], force_upload=True)
    assert (throttled.status, (throttled.error or "").split(":")[0]) == ("failed", "FlexeraThrottled")
    # When the cool-off has passed / Then the same run succeeds
    emu.clock.advance(120)
    (result,) = run(storage, emu, ["2025-08"], force_upload=True)
    assert result.status == "committed"


# --- the handler ---


@pytest.fixture(autouse=True)
def fresh_parameter_cache() -> Iterator[None]:
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def handler_env(
    monkeypatch: pytest.MonkeyPatch, bucket: str, make_secret: MakeSecret, emu: FlexeraEmulator
) -> Iterator[Storage]:
    """Environment of the upload function against the emulator, the real clock on TODAY; yields its storage."""
    arn = make_secret("flexera", {"refresh_token": DEFAULT_REFRESH_TOKEN})
    for name, value in {
        "ORG_ID": emu.config.org_id,
        "BILL_CONNECT_ID": CONNECT,
        "FLEXERA_SECRET_ARN": arn,
        "FLEXERA_ENDPOINT_URL": emu.url,
        "SOURCE_NAME": "default",
    }.items():
        monkeypatch.setenv(name, value)
    with use_clock(lambda: datetime.combine(TODAY, time(12), UTC)):
        yield Storage(boto3.client("s3", region_name="us-east-1"), bucket, "default")


def emitted_metrics(stdout: str) -> dict[str, float]:
    """Metric values of the EMF documents printed by Powertools (each value is a list of one number)."""
    values: dict[str, float] = {}
    for line in stdout.splitlines():
        if line.startswith('{"_aws"'):
            values.update({k: v[0] for k, v in json.loads(line).items() if isinstance(v, list)})
    return values


def test_handler_runs_the_sample_event(
    s3: S3Client,
    handler_env: Storage,
    emu: FlexeraEmulator,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given every day of the sample event exported (the failed 2025-08-02 from an earlier run)
    write_days(s3, handler_env, JULY + AUGUST)
    capsys.readouterr()
    # When the handler runs the sample event
    result = lambda_handler(sample_event(), lambda_context)
    # Then both months are committed and the failed day is reported
    assert [(m["month"], m["status"], m["files"]) for m in result["months"]] == [
        ("2025-07", "committed", 31),
        ("2025-08", "committed", 2),
    ]
    assert result["failedDays"] == ["2025-08-02"]
    assert set(result["months"][0]) == {"month", "status", "billUploadId", "files", "bytes", "error", "missingDays"}
    # And the metrics say so
    emitted = emitted_metrics(capsys.readouterr().out)
    assert emitted["MonthsCommitted"] == 2
    assert emitted["FilesUploaded"] == 33
    assert emitted["BytesUploaded"] == sum(m["bytes"] for m in result["months"])
    assert emitted["MonthsFailed"] == 0


def pinned_event(today: str, days: list[date]) -> dict[str, Any]:
    """The upload event of a run pinned to ``today`` whose days were all written."""
    results = [
        {"day": d.isoformat(), "status": "written", "parts": 1, "rows": 5, "allocations": 5, "cost": 1.0} for d in days
    ]
    return (
        sample_event()
        | {"today": today, "months": ["2025-06", "2025-07"], "days": [d.isoformat() for d in days]}
        | {"dayResults": results}
    )


def test_pinned_past_today_uploads_the_ended_month_whole(
    s3: S3Client, handler_env: Storage, emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given July complete and committed at Flexera
    write_days(s3, handler_env, JULY)
    lambda_handler(sample_event() | {"months": ["2025-07"]}, lambda_context)
    # And a run pinned to July 15th (the clock says August 2nd) that exported July 1-15 again, with new content
    write_days(s3, handler_env, JULY[:15], version=2, export_id="e2")
    emu.clock.advance(120)
    # When its upload runs
    result = lambda_handler(pinned_event("2025-07-15", JULY[:15]), lambda_context)
    # Then July, ended by the real clock, is sent whole: the 15 new days and the 16 later ones, not 15 days
    july = next(month for month in result["months"] if month["month"] == "2025-07")
    assert (july["status"], july["files"], july["missingDays"]) == ("committed", 31, [])
    committed = emu.committed(CONNECT, "2025-07")
    assert committed is not None
    assert len(committed.files) == 31


def test_pinned_past_today_never_replaces_a_complete_month_with_a_partial_one(
    s3: S3Client, handler_env: Storage, emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given July committed whole at Flexera, after which the exports of July 16-31 were lost (expired)
    write_days(s3, handler_env, JULY)
    first = lambda_handler(sample_event() | {"months": ["2025-07"]}, lambda_context)
    for day in JULY[15:]:
        handler_env.s3.delete_object(Bucket=handler_env.bucket, Key=handler_env.day_manifest_key(day))
    # And a run pinned to July 15th (the clock says August 2nd) exported July 1-15 again
    write_days(s3, handler_env, JULY[:15], version=2, export_id="e2")
    emu.clock.advance(120)
    # When its upload runs
    result = lambda_handler(pinned_event("2025-07-15", JULY[:15]), lambda_context)
    # Then July is not replaced with 15 days: it is incomplete, and Flexera keeps the whole month
    july = next(month for month in result["months"] if month["month"] == "2025-07")
    assert (july["status"], len(july["missingDays"])) == ("skipped-incomplete", 16)
    committed = emu.committed(CONNECT, "2025-07")
    assert committed is not None
    assert committed.bill_upload_id == first["months"][0]["billUploadId"]
    assert len(committed.files) == 31


def test_handler_logs_the_correlation_id_and_month(
    s3: S3Client, handler_env: Storage, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    write_days(s3, handler_env, AUGUST)
    event = sample_event() | {"months": ["2025-08"]}
    with capture_powertools_logs() as logs:
        lambda_handler(event, lambda_context)
    entries = logs.records()
    committed = next(e for e in entries if e["message"] == "Month committed")
    assert committed["correlation_id"] == event["executionId"]
    assert committed["month"] == "2025-08"


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_refuses_a_malformed_event_before_reading_configuration(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    # Given no configuration at all and an event with an unknown field
    for name in ("ORG_ID", "BILL_CONNECT_ID", "FLEXERA_SECRET_ARN", "BUCKET_NAME"):
        monkeypatch.delenv(name, raising=False)
    # When the handler runs / Then the event is refused first, naming the field
    with pytest.raises(InvalidRequest, match="dryrun"):
        lambda_handler(sample_event() | {"dryrun": True}, lambda_context)


def test_handler_raises_upload_failed_after_trying_every_month(
    s3: S3Client, handler_env: Storage, emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    # Given July with a part over Flexera's limit, and a fine August
    manifests = write_days(s3, handler_env, JULY + AUGUST)
    handler_env.write_day_manifest(
        replace(manifests[0], parts=(replace(manifests[0].parts[0], size=MAX_FILE_BYTES + 1),))
    )
    # When the handler runs / Then it raises UploadFailed naming July, after August was committed
    with pytest.raises(UploadFailed, match=r"2025-07: LimitExceeded"):
        lambda_handler(sample_event(), lambda_context)
    assert emu.committed(CONNECT, "2025-08") is not None


def test_handler_raises_throttled_inside_the_cooloff_and_succeeds_after(
    s3: S3Client, handler_env: Storage, emu: FlexeraEmulator, lambda_context: FakeLambdaContext
) -> None:
    write_days(s3, handler_env, AUGUST)
    event = sample_event() | {"months": ["2025-08"], "options": {"dryRun": False, "forceUpload": True}}
    lambda_handler(event, lambda_context)
    with pytest.raises(FlexeraThrottled) as raised:
        lambda_handler(event, lambda_context)
    assert raised.value.retry_after_seconds == 120
    emu.clock.advance(120)
    assert lambda_handler(event, lambda_context)["months"][0]["status"] == "committed"


# --- secrets never leak ---

SECRET_REFRESH = "zzRT-4b1d-secret-refresh-9q8w"
SECRET_CLIENT_ID = "zzCID-77aa-client-id-e3r4"
SECRET_CLIENT_SECRET = "zzCS-0c0c-client-secret-t5y6"
SECRETS = (SECRET_REFRESH, SECRET_CLIENT_ID, SECRET_CLIENT_SECRET)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    ("secret_value", "expected"),
    [
        ({"client_id": SECRET_CLIENT_ID, "client_secret": SECRET_CLIENT_SECRET}, None),
        ({"refresh_token": SECRET_REFRESH}, UploadFailed),
        ({"refresh_token": SECRET_REFRESH, "client_id": SECRET_CLIENT_ID, "client_secret": ""}, ConfigurationError),
        ('{"refresh_token": "' + SECRET_REFRESH + '"', ConfigurationError),
    ],
    ids=["accepted-client", "refused-refresh-token", "both-grants", "not-json"],
)
def test_secrets_never_appear_in_logs_or_errors(  # noqa: PLR0917 -- pytest passes fixtures positionally
    s3: S3Client,
    flexera_emulator: FlexeraEmulatorFactory,
    handler_env: Storage,
    make_secret: MakeSecret,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    secret_value: dict[str, object] | str,
    expected: type[Exception] | None,
) -> None:
    # Given a Flexera that knows only the distinctive client, and a secret holding distinctive values
    emulator = flexera_emulator(clients={SECRET_CLIENT_ID: SECRET_CLIENT_SECRET})
    monkeypatch.setenv("FLEXERA_ENDPOINT_URL", emulator.url)
    monkeypatch.setenv("FLEXERA_SECRET_ARN", make_secret("distinctive", secret_value))
    write_days(s3, handler_env, AUGUST)
    event = sample_event() | {"months": ["2025-08"]}
    # And every log captured: our logger at DEBUG as Powertools JSON, HTTP client logs, everything else at INFO
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger=logger.name)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    # When the handler runs
    errors: list[str] = []
    with capture_powertools_logs() as logs:
        try:
            lambda_handler(event, lambda_context)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc!r} {exc} {exc.__cause__!r} {exc.__context__!r}")
    assert [error.split(":")[0] for error in errors] == ([expected.__name__] if expected else [])
    # Then no secret value appears anywhere
    out = capsys.readouterr()
    texts = [logs.text(), caplog.text, *(r.getMessage() for r in caplog.records), out.out, out.err, *errors]
    texts += [json.dumps(r.__dict__, default=str) for r in caplog.records]
    assert logs.text()
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
