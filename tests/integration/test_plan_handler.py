"""The plan handler with its real dependencies: moto (Step Functions, Secrets Manager) and the Kubecost emulator."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from functions.plan.app import lambda_handler
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.domain.calendar import first_of_month, last_of_month, use_clock
from kubecost_flexera.domain.records import DayManifest
from kubecost_flexera.errors import ConcurrentExecution, ConfigurationError, InvalidRequest
from local.boto_hooks import s3_event_hook

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Iterator

    from mypy_boto3_s3 import S3Client

    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.aws import FakeLambdaContext, MakeSecret

# A handler that refuses its event publishes no metric; Powertools warns about that, which is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

PLAN_EVENT = Path(__file__).resolve().parents[2] / "events" / "plan.json"
MINIMAL_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
ROLE = "arn:aws:iam::123456789012:role/export"
# The name CloudFormation gives the state machine (<logical id>-<12 characters>), as in events/plan.json.
STATE_MACHINE_NAME = "ExportStateMachine-AbCdEf123456"
STATE_MACHINE = f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE_NAME}"


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(currency="EUR", today=date(2025, 7, 20))


@pytest.fixture
def state_machine(aws: None) -> str:
    client = boto3.client("stepfunctions")
    arn = client.create_state_machine(name=STATE_MACHINE_NAME, definition=MINIMAL_DEFINITION, roleArn=ROLE)
    return arn["stateMachineArn"]


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch,
    kubecost: KubecostEmulator,
    make_secret: MakeSecret,
    bucket: str,
    state_machine: str,
) -> None:
    """A complete, valid configuration, as the template sets it."""
    for name, value in {
        "KUBECOST_HOST": kubecost.url,
        "ORG_ID": "12345",
        "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
        "FLEXERA_SECRET_ARN": make_secret("flexera", {"refresh_token": "token"}),
        "INCLUDE_PREVIOUS_MONTH": "true",
    }.items():
        monkeypatch.setenv(name, value)


def _plan_event(**request: Any) -> dict[str, Any]:
    return {
        "request": request,
        "executionId": f"arn:aws:states:us-east-1:123456789012:execution:{STATE_MACHINE_NAME}:this-run",
        "stateMachineArn": STATE_MACHINE,
    }


@pytest.mark.usefixtures("environment")
def test_plan_event_file_is_planned_for_its_pinned_date(
    lambda_context: FakeLambdaContext, kubecost: KubecostEmulator
) -> None:
    # Given events/plan.json (a request pinned to 2025-07-15) and Kubecost's currency EUR
    event = json.loads(PLAN_EVENT.read_text())
    # When the plan handler runs
    plan = lambda_handler(event, lambda_context)
    # Then it returns the contract's plan output: June 1 to July 15, both months, EUR, no options
    assert plan == {
        "today": "2025-07-15",
        "days": [(date(2025, 6, 1) + timedelta(days=n)).isoformat() for n in range(45)],
        "keptDays": [],
        "months": ["2025-06", "2025-07"],
        "currency": "EUR",
        "options": {"dryRun": False, "forceUpload": False},
    }
    # And Kubecost was asked for the currency once, and for nothing else
    assert [request.path for request in kubecost.requests] == ["/model/getConfigs"]


PLACEHOLDER_SECRET: dict[str, object] = {
    "placeholder": "replace this value"
}  # what the template stores before anyone puts credentials


@pytest.mark.parametrize(
    ("request_", "environ", "flexera_secret", "error", "match"),
    [
        ({"dryrun": True}, {}, None, InvalidRequest, "'dryrun'"),
        (
            {},
            {"ORG_ID": None, "SHARD": "MARS"},
            None,
            ConfigurationError,
            r"ORG_ID is required.*SHARD='MARS' is invalid",
        ),
        ({}, {}, PLACEHOLDER_SECRET, ConfigurationError, "placeholder"),
    ],
    ids=["misspelt-option", "configuration-problems-listed-together", "unusable-flexera-secret"],
)
@pytest.mark.usefixtures("environment")
def test_bad_request_or_configuration_is_refused_before_any_call(  # noqa: PLR0917 -- pytest passes fixtures positionally
    lambda_context: FakeLambdaContext,
    kubecost: KubecostEmulator,
    monkeypatch: pytest.MonkeyPatch,
    make_secret: MakeSecret,
    request_: dict[str, Any],
    environ: dict[str, str | None],
    flexera_secret: dict[str, object] | None,
    error: type[Exception],
    match: str,
) -> None:
    # Given a misspelt option, a missing ORG_ID with an unknown SHARD, or the placeholder Flexera secret on a run
    # that uploads
    for name, value in environ.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    if flexera_secret is not None:
        monkeypatch.setenv("FLEXERA_SECRET_ARN", make_secret("placeholder", flexera_secret))
    # When the plan handler runs
    # Then it is refused at once, naming every problem, and Kubecost is never called
    with pytest.raises(error, match=match):
        lambda_handler(_plan_event(**request_), lambda_context)
    assert kubecost.requests == []


@pytest.mark.usefixtures("environment")
def test_running_execution_refuses_the_plan(
    lambda_context: FakeLambdaContext, state_machine: str, kubecost: KubecostEmulator
) -> None:
    # Given another execution of the state machine is running
    running = boto3.client("stepfunctions").start_execution(stateMachineArn=state_machine, name="other")
    # When the plan handler runs
    # Then it refuses, naming the running execution, before asking Kubecost anything
    with pytest.raises(ConcurrentExecution, match=running["executionArn"]):
        lambda_handler(_plan_event(), lambda_context)
    assert kubecost.requests == []


@pytest.mark.usefixtures("environment")
def test_own_running_execution_does_not_refuse_the_plan(lambda_context: FakeLambdaContext, state_machine: str) -> None:
    # Given the running execution is the one the plan belongs to
    running = boto3.client("stepfunctions").start_execution(stateMachineArn=state_machine, name="this-run")
    event = {"request": {}, "executionId": running["executionArn"], "stateMachineArn": state_machine}
    # When the plan handler runs
    plan = lambda_handler(event, lambda_context)
    # Then it plans
    assert plan["currency"] == "EUR"


@pytest.mark.usefixtures("environment")
def test_dry_run_does_not_need_flexera_credentials(
    lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, make_secret: MakeSecret
) -> None:
    # Given the placeholder secret
    monkeypatch.setenv("FLEXERA_SECRET_ARN", make_secret("placeholder", PLACEHOLDER_SECRET))
    # When the plan handler runs a dry run
    plan = lambda_handler(_plan_event(dry_run=True), lambda_context)
    # Then it plans it
    assert plan["options"] == {"dryRun": True, "forceUpload": False}


# --- the refresh window (REFRESH_DAYS): which days have a manifest is read from S3 ---


def _day_list(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


@pytest.fixture
def write_manifests(s3: S3Client, bucket: str) -> Callable[..., None]:
    """Commits an export of each day from ``first`` to ``last`` but ``skip``, as far as the plan looks: a manifest
    under state/days/, written now."""
    storage = Storage(s3, bucket, "default")

    def write(first: date, last: date, skip: Container[str] = ()) -> None:
        for day in _day_list(first, last):
            if day not in skip:
                manifest = DayManifest(date.fromisoformat(day), "default", "EUR", "2025-01-01T00:00:00Z", (), 0, 0, 0)
                storage.write_day_manifest(manifest)

    return write


@pytest.fixture
def s3_calls(aws: None) -> Iterator[list[str]]:
    """Every S3 call made while the test runs: ``"<operation> <Prefix>"`` for a listing, else the operation. What
    the plan may call is its role's grants: s3:ListBucket under state/days/<source>/ with REFRESH_DAYS, else none."""
    calls: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(f"{model.name} {params['Prefix']}" if model.name == "ListObjectsV2" else str(model.name))

    with s3_event_hook("provide-client-params.s3", record):
        yield calls


@pytest.mark.usefixtures("environment")
def test_refresh_window_exports_recent_and_missing_days_and_keeps_the_others(
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    write_manifests: Callable[..., None],
    kubecost: KubecostEmulator,
    s3_calls: list[str],
) -> None:
    # Given REFRESH_DAYS=3 and manifests for Jun 1 - Jul 14 except Jun 10 (written now, long after June closed)
    monkeypatch.setenv("REFRESH_DAYS", "3")
    write_manifests(date(2025, 6, 1), date(2025, 7, 14), skip={"2025-06-10"})
    s3_calls.clear()
    # When the plan handler runs a scheduled run pinned to Jul 15
    plan = lambda_handler(_plan_event(today="2025-07-15"), lambda_context)
    # Then it exports Jun 10 (no export) and Jul 13-15 (the most recent days), and keeps every other day
    assert plan["days"] == ["2025-06-10", "2025-07-13", "2025-07-14", "2025-07-15"]
    assert plan["keptDays"] == [day for day in _day_list(date(2025, 6, 1), date(2025, 7, 12)) if day != "2025-06-10"]
    assert plan["months"] == ["2025-06", "2025-07"]
    # And its only S3 calls listed the manifests of the window's months, and it asked Kubecost for the currency alone
    assert s3_calls == ["ListObjectsV2 state/days/default/2025-06-", "ListObjectsV2 state/days/default/2025-07-"]
    assert [request.path for request in kubecost.requests] == ["/model/getConfigs"]


@pytest.mark.parametrize(
    ("request_", "refresh_days", "covered"),
    [
        ({"start": "2025-06-01", "end": "2025-06-30"}, "1", (date(2025, 6, 1), date(2025, 6, 30))),
        ({"today": "2025-07-15", "force_upload": True}, "1", (date(2025, 6, 1), date(2025, 7, 15))),
        ({"today": "2025-07-15"}, None, (date(2025, 6, 1), date(2025, 7, 15))),
    ],
    ids=["backfill", "force-upload", "no-refresh-days"],
)
@pytest.mark.usefixtures("environment")
def test_every_day_is_exported_without_listing_the_bucket(  # noqa: PLR0917 -- pytest passes fixtures positionally
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    write_manifests: Callable[..., None],
    s3_calls: list[str],
    request_: dict[str, Any],
    refresh_days: str | None,
    covered: tuple[date, date],
) -> None:
    # Given every day of June and July exported, and a backfill or a forced upload with REFRESH_DAYS=1, or a
    # scheduled run with REFRESH_DAYS unset (the role then has no s3:ListBucket)
    if refresh_days is not None:
        monkeypatch.setenv("REFRESH_DAYS", refresh_days)
    write_manifests(date(2025, 6, 1), date(2025, 7, 31))
    s3_calls.clear()
    # When the plan handler runs
    plan = lambda_handler(_plan_event(**request_), lambda_context)
    # Then every day it covers is exported (as the Go exporter does), none kept, and S3 is not called at all
    assert (plan["days"], plan["keptDays"]) == (_day_list(*covered), [])
    assert s3_calls == []


@pytest.mark.parametrize(("day_of_month", "closed_month_refreshed"), [(2, False), (3, True)])
@pytest.mark.usefixtures("environment")
def test_month_close_refresh_day_re_exports_the_closed_month_written_before_it(
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    write_manifests: Callable[..., None],
    day_of_month: int,
    closed_month_refreshed: bool,
) -> None:
    # Given REFRESH_DAYS=1, MONTH_CLOSE_REFRESH_DAY=3 and every day of this month exported now
    monkeypatch.setenv("REFRESH_DAYS", "1")
    monkeypatch.setenv("MONTH_CLOSE_REFRESH_DAY", "3")
    closing = first_of_month(datetime.now(UTC).date())
    write_manifests(closing, last_of_month(closing))
    # and a clock on the 2nd or the 3rd of next month (this month has closed; the manifests predate the 3rd)
    today = (last_of_month(closing) + timedelta(days=1)).replace(day=day_of_month)
    # When the plan handler runs the scheduled run of that day
    with use_clock(lambda: datetime.combine(today, time(3), tzinfo=UTC)):
        plan = lambda_handler(_plan_event(), lambda_context)
    # Then on the 3rd every day of the closed month is exported again; on the 2nd it is kept (the new month's days
    # have no export yet, so they are exported either way)
    closed = _day_list(closing, last_of_month(closing))
    new_month = _day_list(today.replace(day=1), today)
    if closed_month_refreshed:
        assert (plan["days"], plan["keptDays"]) == ([*closed, *new_month], [])
    else:
        assert (plan["days"], plan["keptDays"]) == (new_month, closed)
