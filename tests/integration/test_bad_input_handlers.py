"""Bad input at each function: a malformed event or configuration is refused, named, and changes nothing.

Every case gives one malformed event, environment variable or secret to one handler (plan, export_day, upload) and
asserts, for that case:

- the error type: ``InvalidRequest`` for an event, ``ConfigurationError`` for the environment or a secret;
- the message names the field or the variable and the values allowed (the fragments listed with the case);
- no side effect: the bucket holds exactly the objects it held before (keys, ETags, sizes, times), and neither
  Kubecost nor Flexera received a request;
- no secret: the distinctive secret values appear neither in the error (its text, cause and context) nor in the
  handler's log lines.

The bucket is seeded with real exports of two July days first, so that "nothing written" is checked against a
bucket that has content to overwrite, and so that the upload has a month to send (it reads the Flexera secret only
when a month has to be uploaded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Final, Literal

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from functions.export_day.app import lambda_handler as export_day_handler
from functions.plan.app import lambda_handler as plan_handler
from functions.upload.app import lambda_handler as upload_handler
from kubecost_flexera.domain.calendar import use_clock
from kubecost_flexera.errors import ConfigurationError, ExporterError, InvalidRequest
from kubecost_flexera.observability import metrics
from tests.fixtures.logs import capture_powertools_logs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from mypy_boto3_s3 import S3Client

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.aws import FakeLambdaContext, MakeSecret
    from tests.fixtures.flexera import FlexeraEmulatorFactory

Handler = Literal["plan", "export_day", "upload"]
HANDLERS: Final[Mapping[Handler, Callable[[dict[str, Any], Any], Any]]] = {
    "plan": plan_handler,
    "export_day": export_day_handler,
    "upload": upload_handler,
}

# Distinctive secret values: none may ever appear in an error or a log line.
SECRET_REFRESH: Final = "zzBAD-refresh-1e7c-secret"
SECRET_CLIENT_ID: Final = "zzBAD-client-id-5a90"
SECRET_CLIENT_SECRET: Final = "zzBAD-client-secret-c3d2"
SECRET_BEARER: Final = "zzBAD-bearer-77f1-secret"
SECRETS: Final = (SECRET_REFRESH, SECRET_CLIENT_ID, SECRET_CLIENT_SECRET, SECRET_BEARER)

EXECUTION: Final = "arn:aws:states:us-east-1:123456789012:execution:export:bad-input"
STATE_MACHINE: Final = "arn:aws:states:us-east-1:123456789012:stateMachine:export"
ROLE: Final = "arn:aws:iam::123456789012:role/export"
SEEDED_DAYS: Final = (date(2025, 7, 1), date(2025, 7, 2))
TODAY: Final = SEEDED_DAYS[-1]
CLOCK_DAY: Final = date(2025, 7, 20)
NO_SUCH_SECRET: Final = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kubecost-flexera/no-such-secret-AbCdEf"
VALID_FLEXERA_SECRET: Final[dict[str, object]] = {"refresh_token": SECRET_REFRESH}
FLEXERA_SHAPE: Final = ("refresh_token", "client_id", "client_secret")
KUBECOST_SHAPE: Final = ("bearer_token", "username", "password", "headers")

VALID_EVENTS: Final[Mapping[Handler, Mapping[str, Any]]] = {
    "plan": {"request": {"today": TODAY.isoformat()}, "executionId": EXECUTION, "stateMachineArn": STATE_MACHINE},
    "export_day": {
        "day": TODAY.isoformat(),
        "currency": "USD",
        "options": {"dryRun": False, "forceUpload": False},
        "executionId": EXECUTION,
    },
    "upload": {
        "today": TODAY.isoformat(),
        "days": [day.isoformat() for day in SEEDED_DAYS],
        "months": ["2025-07"],
        "currency": "USD",
        "options": {"dryRun": False, "forceUpload": False},
        "dayResults": [
            {"day": day.isoformat(), "status": "written", "parts": 1, "rows": 8, "allocations": 1, "cost": 1.0}
            for day in SEEDED_DAYS
        ],
        "executionId": EXECUTION,
    },
}


@dataclass(frozen=True)
class Case:
    """One malformed input to one handler, the error it must raise and what its message must name."""

    id: str
    handler: Handler
    error: type[ExporterError]
    names: tuple[str, ...]  # the field or variable and the allowed values, as the message must show them
    event: Mapping[str, Any] = field(default_factory=dict)  # fields replacing those of the valid event
    environ: Mapping[str, str | None] = field(default_factory=dict)  # variables set (None: unset)
    flexera_secret: dict[str, object] | str | None = None  # the secret's JSON value or raw text; None: a valid one
    kubecost_secret: dict[str, object] | None = None  # None: no KUBECOST_SECRET_ARN


def plan_request(request: object) -> Mapping[str, Any]:
    return {"request": request}


EVENT_CASES: Final = (
    # --- plan: the state machine's input ---
    Case("plan-today-feb-30", "plan", InvalidRequest, ("today='2025-02-30'", "YYYY-MM-DD"),
         event=plan_request({"today": "2025-02-30"})),
    Case("plan-today-unpadded", "plan", InvalidRequest, ("today='2025-7-1'", "YYYY-MM-DD"),
         event=plan_request({"today": "2025-7-1"})),
    Case("plan-today-number", "plan", InvalidRequest, ("today=20250701", "YYYY-MM-DD"),
         event=plan_request({"today": 20250701})),
    Case("plan-today-in-the-future", "plan", InvalidRequest, ("today=2999-01-01", "not after the current UTC date"),
         event=plan_request({"today": "2999-01-01"})),
    Case("plan-start-after-end", "plan", InvalidRequest, ("start=2025-07-02", "end=2025-07-01", "start <= end"),
         event=plan_request({"today": "2025-07-20", "start": "2025-07-02", "end": "2025-07-01"})),
    Case("plan-end-after-today", "plan", InvalidRequest, ("end=2025-07-10", "not after today"),
         event=plan_request({"today": "2025-07-02", "start": "2025-07-01", "end": "2025-07-10"})),
    Case("plan-range-over-366-days", "plan", InvalidRequest, ("start=2024-07-01", "367 days", "at most 366 days"),
         event=plan_request({"today": "2025-07-02", "start": "2024-07-01", "end": "2025-07-02"})),
    Case("plan-start-without-end", "plan", InvalidRequest, ("end is missing", "start and end", "YYYY-MM-DD"),
         event=plan_request({"start": "2025-07-01"})),
    Case("plan-dry-run-string", "plan", InvalidRequest, ("dry_run='yes'", "true or false"),
         event=plan_request({"dry_run": "yes"})),
    Case("plan-force-upload-number", "plan", InvalidRequest, ("force_upload=1", "true or false"),
         event=plan_request({"force_upload": 1})),
    Case("plan-unknown-field", "plan", InvalidRequest, ("'dryRun'", "today, start, end, dry_run, force_upload"),
         event=plan_request({"dryRun": True})),
    Case("plan-request-not-an-object", "plan", InvalidRequest, ("JSON object", '{"source": "schedule"}'),
         event=plan_request(["2025-07-01"])),
    Case("plan-unknown-envelope-field", "plan", InvalidRequest, ("'input'", "request, executionId, stateMachineArn"),
         event={"input": {}}),
    # --- export_day: one item of the Map ---
    Case("export-day-feb-30", "export_day", InvalidRequest, ("day='2025-02-30'", "calendar date"),
         event={"day": "2025-02-30"}),
    Case("export-day-unpadded", "export_day", InvalidRequest, ("day='2025-7-1'", "YYYY-MM-DD"),
         event={"day": "2025-7-1"}),
    Case("export-day-number", "export_day", InvalidRequest, ("day=20250701", "YYYY-MM-DD"),
         event={"day": 20250701}),
    Case("export-currency-lower-case", "export_day", InvalidRequest, ("currency='usd'", "3 upper-case letters"),
         event={"currency": "usd"}),
    Case("export-unknown-field", "export_day", InvalidRequest, ("'dryRun'", "day, currency, options, executionId"),
         event={"dryRun": True}),
    Case("export-unknown-option", "export_day", InvalidRequest, ("'dry_run' in options", "dryRun, forceUpload"),
         event={"options": {"dry_run": True}}),
    Case("export-option-string", "export_day", InvalidRequest, ("options.dryRun='yes'", "true or false"),
         event={"options": {"dryRun": "yes", "forceUpload": False}}),
    # --- upload: the plan output and the day results ---
    Case("upload-today-feb-30", "upload", InvalidRequest, ("today", "YYYY-MM-DD", "'2025-02-30'"),
         event={"today": "2025-02-30"}),
    Case("upload-month-13", "upload", InvalidRequest, ("months[0]", "YYYY-MM", "'2025-13'"),
         event={"months": ["2025-13"]}),
    Case("upload-unknown-field", "upload", InvalidRequest,
         ("'force'", "today, days, months, currency, options, dayResults, executionId"), event={"force": True}),
    Case("upload-unknown-option", "upload", InvalidRequest, ("'force_upload' in options", "dryRun, forceUpload"),
         event={"options": {"dryRun": False, "force_upload": True}}),
    Case("upload-option-string", "upload", InvalidRequest, ("options.dryRun", "true or false", "'yes'"),
         event={"options": {"dryRun": "yes", "forceUpload": False}}),
    Case("upload-day-results-missing-a-day", "upload", InvalidRequest, ("dayResults", "one result per day"),
         event={"dayResults": []}),
)  # fmt: skip


def config_cases(handlers: tuple[Handler, ...], name: str, names: tuple[str, ...], **fields: Any) -> tuple[Case, ...]:
    """The same configuration problem given to each function that reads what it breaks."""
    return tuple(Case(f"{handler}-{name}", handler, ConfigurationError, names, **fields) for handler in handlers)


PLAN_EXPORT: Final[tuple[Handler, ...]] = ("plan", "export_day")
PLAN_UPLOAD: Final[tuple[Handler, ...]] = ("plan", "upload")

CONFIG_CASES: Final = (
    *config_cases(PLAN_UPLOAD, "shard", ("SHARD='APAC'", "NAM, EU, AU, DEV"), environ={"SHARD": "APAC"}),
    *config_cases(PLAN_EXPORT, "aggregation", ("AGGREGATION='cluster'", "namespace, controller, node, pod"),
                  environ={"AGGREGATION": "cluster"}),
    *config_cases(PLAN_EXPORT, "multiplier-nan", ("MULTIPLIER='nan'", "a finite decimal number"),
                  environ={"MULTIPLIER": "nan"}),
    *config_cases(PLAN_EXPORT, "multiplier-inf", ("MULTIPLIER='inf'", "a finite decimal number"),
                  environ={"MULTIPLIER": "inf"}),
    *config_cases(PLAN_EXPORT, "multiplier-abc", ("MULTIPLIER='abc'", "a finite decimal number"),
                  environ={"MULTIPLIER": "abc"}),
    *config_cases(PLAN_EXPORT, "page-size-0", ("PAGE_SIZE='0'", "an integer from 1 to 100000"),
                  environ={"PAGE_SIZE": "0"}),
    *config_cases(PLAN_EXPORT, "page-size-negative", ("PAGE_SIZE='-1'", "an integer from 1 to 100000"),
                  environ={"PAGE_SIZE": "-1"}),
    *config_cases(PLAN_EXPORT, "page-size-ten", ("PAGE_SIZE='ten'", "an integer from 1 to 100000"),
                  environ={"PAGE_SIZE": "ten"}),
    *config_cases(PLAN_EXPORT, "kubecost-host-ftp", ("KUBECOST_HOST='ftp://x'", "http and https"),
                  environ={"KUBECOST_HOST": "ftp://x"}),
    *config_cases(PLAN_UPLOAD, "flexera-endpoint-without-scheme",
                  ("FLEXERA_ENDPOINT_URL='flexera.example.com:8443'", "an absolute URL such as https://host[:port]"),
                  environ={"FLEXERA_ENDPOINT_URL": "flexera.example.com:8443"}),
    *config_cases(PLAN_UPLOAD, "flexera-secret-arn-missing", ("FLEXERA_SECRET_ARN is required", "the ARN of"),
                  environ={"FLEXERA_SECRET_ARN": None}),
    *config_cases(("plan", "export_day", "upload"), "bucket-missing", ("BUCKET_NAME is required", "an S3 bucket name"),
                  environ={"BUCKET_NAME": None}),
    *config_cases(PLAN_EXPORT, "kubecost-secret-unknown-shape", ("KUBECOST_SECRET_ARN", *KUBECOST_SHAPE),
                  kubecost_secret={"token": SECRET_BEARER}),
    *config_cases(PLAN_UPLOAD, "flexera-secret-not-json", ("FLEXERA_SECRET_ARN", *FLEXERA_SHAPE),
                  flexera_secret='{"refresh_token": "' + SECRET_REFRESH + '"'),
    *config_cases(PLAN_UPLOAD, "flexera-secret-both-grants", ("FLEXERA_SECRET_ARN", *FLEXERA_SHAPE),
                  flexera_secret={"refresh_token": SECRET_REFRESH, "client_id": SECRET_CLIENT_ID,
                                  "client_secret": SECRET_CLIENT_SECRET},),
    *config_cases(PLAN_UPLOAD, "flexera-secret-empty-values", ("FLEXERA_SECRET_ARN", *FLEXERA_SHAPE, "empty"),
                  flexera_secret={"client_id": SECRET_CLIENT_ID, "client_secret": "  "}),
    *config_cases(PLAN_UPLOAD, "flexera-secret-nonexistent",
                  (f"FLEXERA_SECRET_ARN={NO_SUCH_SECRET!r}", "an existing secret"),
                  environ={"FLEXERA_SECRET_ARN": NO_SUCH_SECRET}),
)  # fmt: skip


@dataclass(frozen=True)
class World:
    s3: S3Client
    bucket: str
    kubecost: KubecostEmulator
    flexera: FlexeraEmulator


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    """Secrets are cached per execution environment and metrics accumulate: neither may leak between cases."""
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    metrics.clear_metrics()


@pytest.fixture
def world(  # noqa: PLR0917 -- pytest passes fixtures positionally
    monkeypatch: pytest.MonkeyPatch,
    s3: S3Client,
    bucket: str,
    make_secret: MakeSecret,
    kubecost_emulator: Callable[..., KubecostEmulator],
    flexera_emulator: FlexeraEmulatorFactory,
    lambda_context: FakeLambdaContext,
) -> Iterator[World]:
    """A valid configuration as the template sets it, the bucket seeded by real exports of two days, and the real
    clock on CLOCK_DAY (so July is the current month)."""
    kubecost = kubecost_emulator(allocations_per_day=3, today=CLOCK_DAY)
    flexera = flexera_emulator(
        refresh_tokens=frozenset({SECRET_REFRESH}), clients={SECRET_CLIENT_ID: SECRET_CLIENT_SECRET}
    )
    boto3.client("stepfunctions").create_state_machine(
        name="export", definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}), roleArn=ROLE
    )
    for name, value in {
        "KUBECOST_HOST": kubecost.url,
        "ORG_ID": flexera.config.org_id,
        "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
        "FLEXERA_SECRET_ARN": make_secret("flexera-valid", VALID_FLEXERA_SECRET),
        "FLEXERA_ENDPOINT_URL": flexera.url,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    with use_clock(lambda: datetime.combine(CLOCK_DAY, time(12), UTC)):
        for day in SEEDED_DAYS:
            export_day_handler({**VALID_EVENTS["export_day"], "day": day.isoformat()}, lambda_context)
        yield World(s3, bucket, kubecost, flexera)


def configure(case: Case, monkeypatch: pytest.MonkeyPatch, make_secret: MakeSecret) -> None:
    if case.flexera_secret is not None:
        monkeypatch.setenv("FLEXERA_SECRET_ARN", make_secret("flexera-bad", case.flexera_secret))
    if case.kubecost_secret is not None:
        monkeypatch.setenv("KUBECOST_SECRET_ARN", make_secret("kubecost-bad", case.kubecost_secret))
    for name, value in case.environ.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def bucket_objects(world: World) -> list[tuple[str, str, int, str]]:
    pages = world.s3.get_paginator("list_objects_v2").paginate(Bucket=world.bucket)
    return sorted(
        (item["Key"], item["ETag"], item["Size"], item["LastModified"].isoformat())
        for page in pages
        for item in page.get("Contents", [])
    )


def error_text(error: BaseException) -> str:
    """The message, the representation, and the chained causes: everything a traceback would print."""
    chain = [error, error.__cause__, error.__context__]
    return " ".join(f"{item!s} {item!r}" for item in chain if item is not None)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("case", [*EVENT_CASES, *CONFIG_CASES], ids=lambda case: case.id)
def test_bad_input_is_refused_naming_the_field_and_the_allowed_values_without_side_effects(
    case: Case,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    make_secret: MakeSecret,
    lambda_context: FakeLambdaContext,
) -> None:
    # Given a bucket with two exported days, emulators that have seen only those exports, and the malformed input
    configure(case, monkeypatch, make_secret)
    event = {**VALID_EVENTS[case.handler], **case.event}
    objects_before = bucket_objects(world)
    kubecost_requests, flexera_requests = len(world.kubecost.requests), len(world.flexera.requests)
    assert objects_before
    # When the handler runs, every log line captured
    with capture_powertools_logs() as logs, pytest.raises(ExporterError) as raised:
        HANDLERS[case.handler](event, lambda_context)
    # Then it raises the case's error type, whose message names the field or variable and the allowed values
    assert type(raised.value) is case.error
    message = str(raised.value)
    for fragment in case.names:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # And nothing was written, read from Kubecost or sent to Flexera
    assert bucket_objects(world) == objects_before
    assert len(world.kubecost.requests) == kubecost_requests
    assert len(world.flexera.requests) == flexera_requests
    # And no secret appears in the error or in the logs
    for text in (error_text(raised.value), logs.text()):
        for secret in SECRETS:
            assert secret not in text
