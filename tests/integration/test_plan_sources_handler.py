"""The plan handler with a sources document in moto's S3, Kubecost emulators over real HTTP (one per source) and
moto's Step Functions and Secrets Manager."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from emulators.kubecost import KubecostAuth
from functions.plan.app import lambda_handler
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.domain.plan import MAX_RUN_SOURCE_DAYS
from kubecost_flexera.domain.records import DayManifest
from kubecost_flexera.errors import ConfigurationError, InvalidRequest
from local.boto_hooks import s3_event_hook
from tests.fixtures.aws import FakeLambdaContext

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_s3 import S3Client

    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.aws import MakeSecret
    from tests.fixtures.logs import LogCapture

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

DOCUMENT_KEY = "config/sources.json"
PREFIX = "kubecost-flexera/test/"
STATE_MACHINE_NAME = "ExportStateMachine-AbCdEf123456"
STATE_MACHINE = f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE_NAME}"
TODAY = date(2025, 7, 20)
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once
SLACK_SECONDS = 1.0  # scheduling on a shared machine
# eu, us and others: enough that a year's backfill of them all exceeds the bound
SOURCES = max(3, MAX_RUN_SOURCE_DAYS // 366 + 1)


@pytest.fixture
def stack(
    monkeypatch: pytest.MonkeyPatch, make_secret: MakeSecret, bucket: str, aws: None
) -> Callable[[list[dict[str, Any]]], None]:
    """The stack's environment with a sources document; ``stack(sources)`` puts the document in the bucket."""
    boto3.client("stepfunctions").create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/export",
    )
    for name, value in {
        "KUBECOST_HOST": UNREACHABLE,
        "ORG_ID": "12345",
        "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
        "FLEXERA_SECRET_ARN": make_secret("flexera", {"refresh_token": "token"}),
        "SOURCES_DOCUMENT_KEY": DOCUMENT_KEY,
        "KUBECOST_SECRET_PREFIX": PREFIX,
    }.items():
        monkeypatch.setenv(name, value)

    def put(sources: list[dict[str, Any]]) -> None:
        boto3.client("s3").put_object(Bucket=bucket, Key=DOCUMENT_KEY, Body=json.dumps({"sources": sources}))

    return put


@pytest.fixture
def kubecosts(kubecost_emulator: Callable[..., KubecostEmulator]) -> Callable[..., KubecostEmulator]:
    def start(**config: Any) -> KubecostEmulator:
        return kubecost_emulator(today=TODAY, **config)

    return start


def plan_event(**request: Any) -> dict[str, Any]:
    return {
        "request": request,
        "executionId": f"arn:aws:states:us-east-1:123456789012:execution:{STATE_MACHINE_NAME}:this-run",
        "stateMachineArn": STATE_MACHINE,
    }


def day_list(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


@dataclass
class ShortContext(FakeLambdaContext):
    """A Lambda context with little time left."""

    remaining_millis: int = 900_000

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]  # an instance's budget, not the class's
        return self.remaining_millis


def test_each_source_is_planned_with_its_currency_its_settings_and_its_bill_connect(
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
    powertools_logs: LogCapture,
) -> None:
    # Given three sources: two Kubecosts (EUR, and GBP behind its own secret under the prefix) sharing a bill
    # connect, and one whose Kubecost does not answer, alone in the stack's bill connect
    eu = kubecosts(currency="EUR")
    uk = kubecosts(currency="GBP", auth=KubecostAuth("bearer", "uk-token"))
    uk_secret = boto3.client("secretsmanager").create_secret(
        Name=f"{PREFIX}uk", SecretString=json.dumps({"bearer_token": "uk-token"})
    )["ARN"]
    stack([
        {"name": "eu", "KUBECOST_HOST": eu.url, "BILL_CONNECT_ID": "cbi-oi-kubecost-shared", "PAGE_SIZE": 100},
        {"name": "uk", "KUBECOST_HOST": uk.url, "BILL_CONNECT_ID": "cbi-oi-kubecost-shared",
         "KUBECOST_SECRET_ARN": uk_secret},
        {"name": "down", "DEFAULT_CURRENCY": "CHF"},
    ])  # fmt: skip
    # When the plan handler runs pinned to July 15
    plan = lambda_handler(plan_event(today="2025-07-15"), lambda_context)
    # Then every source has the window's days, its own currency (the silent one its DEFAULT_CURRENCY) and the
    # settings it sets, and each bill connect names its members
    window = day_list(date(2025, 6, 1), date(2025, 7, 15))
    assert plan == {
        "today": "2025-07-15",
        "months": ["2025-06", "2025-07"],
        "options": {"dryRun": False, "forceUpload": False},
        "sources": [
            {"name": "eu", "billConnectId": "cbi-oi-kubecost-shared", "currency": "EUR", "days": window,
             "keptDays": [], "settings": {"KUBECOST_HOST": eu.url, "BILL_CONNECT_ID": "cbi-oi-kubecost-shared",
                                          "PAGE_SIZE": "100"}},
            {"name": "uk", "billConnectId": "cbi-oi-kubecost-shared", "currency": "GBP", "days": window,
             "keptDays": [], "settings": {"KUBECOST_HOST": uk.url, "BILL_CONNECT_ID": "cbi-oi-kubecost-shared",
                                          "KUBECOST_SECRET_ARN": uk_secret}},
            {"name": "down", "billConnectId": "cbi-oi-kubecost-1", "currency": "CHF", "days": window,
             "keptDays": [], "settings": {"DEFAULT_CURRENCY": "CHF"}},
        ],
        "billConnects": [
            {"billConnectId": "cbi-oi-kubecost-shared", "sources": ["eu", "uk"]},
            {"billConnectId": "cbi-oi-kubecost-1", "sources": ["down"]},
        ],
    }  # fmt: skip
    # And each Kubecost was asked for its currency once (the second with its credentials), and nothing else
    assert [request.path for request in eu.requests] == ["/model/getConfigs"]
    assert [request.path for request in uk.requests] == ["/model/getConfigs"]
    # And the silent source's default is a warning naming the source
    warnings = [line for line in powertools_logs.records() if line["level"] == "WARNING"]
    assert [(line["message"], line.get("source")) for line in warnings] == [
        ("Kubecost currency unavailable; using the default", "down")
    ]


def test_a_manual_run_plans_only_the_sources_it_names_with_every_member_of_their_bill_connect(
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
) -> None:
    # Given two sources sharing a bill connect and a third
    eu, uk, us = kubecosts(currency="EUR"), kubecosts(currency="GBP"), kubecosts()
    stack([
        {"name": "eu", "KUBECOST_HOST": eu.url, "BILL_CONNECT_ID": "cbi-oi-kubecost-shared"},
        {"name": "uk", "KUBECOST_HOST": uk.url, "BILL_CONNECT_ID": "cbi-oi-kubecost-shared"},
        {"name": "us", "KUBECOST_HOST": us.url},
    ])  # fmt: skip
    # When a manual run names "eu" alone
    plan = lambda_handler(plan_event(today="2025-07-15", sources=["eu"]), lambda_context)
    # Then only "eu" is exported, and its bill connect still lists "uk" (the month is uploaded whole); the other
    # Kubecosts are not asked anything
    assert [source["name"] for source in plan["sources"]] == ["eu"]
    assert plan["billConnects"] == [{"billConnectId": "cbi-oi-kubecost-shared", "sources": ["eu", "uk"]}]
    assert (uk.requests, us.requests) == ([], [])


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"sources": ["eu", "mars"]}, "sources=['eu', 'mars'] is invalid: 'mars' is not a source of the document: "
                                      "allowed each once of the document's sources eu, us, other-0"),
        ({"start": "2024-07-01", "end": "2025-07-01"}, f"The run has {SOURCES * 366} source-days ({SOURCES} sources, "
                                                       "up to 366 days each): allowed at most"),
    ],
    ids=["unknown-source", "too-many-source-days"],
)  # fmt: skip
def test_a_bad_request_is_refused_before_kubecost_is_asked(
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
    request_: dict[str, Any],
    message: str,
) -> None:
    # Given enough sources that a year's backfill of them all exceeds MAX_RUN_SOURCE_DAYS
    eu, us = kubecosts(), kubecosts()
    others = ({"name": f"other-{n}", "KUBECOST_HOST": us.url} for n in range(SOURCES - 2))
    stack([{"name": "eu", "KUBECOST_HOST": eu.url}, {"name": "us", "KUBECOST_HOST": us.url}, *others])
    # When a run names an unknown source, or covers more source-days than the bound
    # Then it is refused with the reason, and no Kubecost is asked anything
    with pytest.raises(InvalidRequest, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        lambda_handler(plan_event(**request_), lambda_context)
    assert (eu.requests, us.requests) == ([], [])


def test_a_document_too_large_for_the_schedule_is_refused_on_a_mid_month_scheduled_run(
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
) -> None:
    # Given more sources than a month-end scheduled window lets through
    kubecost = kubecosts()
    stack([{"name": f"s{n}", "KUBECOST_HOST": kubecost.url} for n in range(MAX_RUN_SOURCE_DAYS // 62 + 1)])
    # When a scheduled run plans on a day whose window alone would fit (the 2nd: 31 + 2 days each)
    # Then it is refused at once, not at the month's end, and no Kubecost is asked anything
    with pytest.raises(ConfigurationError, match="a scheduled run exports up to 62 days of each"):
        lambda_handler(plan_event(today="2025-08-02"), lambda_context)
    assert kubecost.requests == []


def test_sources_without_a_document_are_refused(
    stack: Callable[[list[dict[str, Any]]], None], lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES_DOCUMENT_KEY")
    with pytest.raises(InvalidRequest, match=r"sources=\['eu'\] is invalid: allowed only with a sources document"):
        lambda_handler(plan_event(sources=["eu"]), lambda_context)


def test_a_missing_document_is_a_configuration_error_naming_the_variable_and_the_url(
    stack: Callable[[list[dict[str, Any]]], None], lambda_context: FakeLambdaContext, bucket: str
) -> None:
    # Given SOURCES_DOCUMENT_KEY set and nothing put there / Then the plan says where it looked and what to do
    with pytest.raises(ConfigurationError) as caught:
        lambda_handler(plan_event(), lambda_context)
    assert str(caught.value) == (
        f"SOURCES_DOCUMENT_KEY='{DOCUMENT_KEY}': there is no sources document at s3://{bucket}/{DOCUMENT_KEY}: put it "
        f"there (aws s3 cp sources.json s3://{bucket}/{DOCUMENT_KEY}), or set the parameter SourcesDocumentKey empty "
        "for one source"
    )


def test_a_document_over_32_kib_is_refused_for_its_size(
    stack: Callable[[list[dict[str, Any]]], None], lambda_context: FakeLambdaContext, bucket: str
) -> None:
    # Given a document of 1 MiB (a wrong file copied to the key)
    boto3.client("s3").put_object(Bucket=bucket, Key=DOCUMENT_KEY, Body=b" " * (1 << 20))
    # When the plan runs / Then it is refused for its size
    with pytest.raises(ConfigurationError) as caught:
        lambda_handler(plan_event(), lambda_context)
    assert str(caught.value) == (
        f"Invalid sources document s3://{bucket}/{DOCUMENT_KEY}: larger than 32768 bytes (32 KiB): allowed at most that"
    )


def test_storage_reads_one_byte_past_the_limit_and_none_for_a_missing_document(s3: S3Client, bucket: str) -> None:
    storage = Storage(s3, bucket, "default")
    s3.put_object(Bucket=bucket, Key=DOCUMENT_KEY, Body=b"0123456789abcdef")
    assert storage.read_sources_document(DOCUMENT_KEY, max_bytes=10) == b"0123456789a"
    assert storage.read_sources_document(DOCUMENT_KEY, max_bytes=16) == b"0123456789abcdef"
    assert storage.read_sources_document("config/other.json", max_bytes=10) is None


def test_an_invalid_document_is_refused_listing_every_problem_before_any_call(
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
) -> None:
    # Given a document with a bad value in one source and a secret outside the prefix in another
    eu = kubecosts()
    outside = "arn:aws:secretsmanager:us-east-1:123456789012:secret:elsewhere-AbCdEf"
    stack([
        {"name": "eu", "KUBECOST_HOST": eu.url, "AGGREGATION": "cluster"},
        {"name": "us", "KUBECOST_HOST": eu.url, "KUBECOST_SECRET_ARN": outside},
    ])  # fmt: skip
    # When the plan runs / Then both problems are named, and Kubecost is never asked
    with pytest.raises(ConfigurationError) as caught:
        lambda_handler(plan_event(), lambda_context)
    message = str(caught.value)
    assert message.startswith("Invalid sources document s3://kubecost-exports-test/config/sources.json: 2 problems: ")
    assert "sources[0] ('eu'): AGGREGATION='cluster' is invalid: allowed namespace, controller, node, pod" in message
    assert f"sources[1] ('us'): KUBECOST_SECRET_ARN='{outside}' is invalid: allowed the stack's" in message
    assert eu.requests == []


def test_every_unusable_source_secret_is_named_before_kubecost_is_asked(
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
) -> None:
    # Given two sources whose secrets (under the prefix) are the template's placeholder and absent
    eu = kubecosts()
    secrets = boto3.client("secretsmanager")
    placeholder = secrets.create_secret(Name=f"{PREFIX}eu", SecretString='{"placeholder": "replace this value"}')
    absent = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{PREFIX}us-AbCdEf"
    stack([
        {"name": "eu", "KUBECOST_HOST": eu.url, "KUBECOST_SECRET_ARN": placeholder["ARN"]},
        {"name": "us", "KUBECOST_HOST": eu.url, "KUBECOST_SECRET_ARN": absent},
        {"name": "ok", "KUBECOST_HOST": eu.url},
    ])  # fmt: skip
    # When the plan runs / Then one error names both sources and their secrets; Kubecost is never asked
    with pytest.raises(ConfigurationError) as caught:
        lambda_handler(plan_event(), lambda_context)
    message = str(caught.value)
    assert message.startswith("Unusable Kubecost secret(s): source(s) 'eu': KUBECOST_SECRET_ARN=")
    assert f"source(s) 'us': KUBECOST_SECRET_ARN='{absent}': the secret cannot be read" in message
    assert "replace this value" not in message
    assert eu.requests == []


@pytest.fixture
def s3_listings(aws: None) -> Iterator[list[str]]:
    calls: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "ListObjectsV2":
            calls.append(params["Prefix"])

    with s3_event_hook("provide-client-params.s3", record):
        yield calls


def test_refresh_days_chooses_each_sources_days_from_its_own_manifests(  # noqa: PLR0917 -- pytest passes fixtures positionally
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    s3: S3Client,
    bucket: str,
    s3_listings: list[str],
) -> None:
    # Given REFRESH_DAYS=2, "eu" with every day of June 1 - July 14 exported, "us" with none
    monkeypatch.setenv("REFRESH_DAYS", "2")
    eu, us = kubecosts(), kubecosts()
    stack([{"name": "eu", "KUBECOST_HOST": eu.url}, {"name": "us", "KUBECOST_HOST": us.url}])
    storage = Storage(s3, bucket, "eu")
    for day in day_list(date(2025, 6, 1), date(2025, 7, 14)):
        storage.write_day_manifest(
            DayManifest(date.fromisoformat(day), "eu", "USD", "2025-01-01T00:00:00Z", (), 0, 0, 0)
        )
    # When the plan runs a scheduled run pinned to July 15
    plan = lambda_handler(plan_event(today="2025-07-15"), lambda_context)
    # Then "eu" exports its two most recent days and keeps the rest; "us" exports every day (none is exported)
    eu_plan, us_plan = plan["sources"]
    assert (eu_plan["days"], eu_plan["keptDays"]) == (
        ["2025-07-14", "2025-07-15"],
        day_list(date(2025, 6, 1), date(2025, 7, 13)),
    )
    assert (us_plan["days"], us_plan["keptDays"]) == (day_list(date(2025, 6, 1), date(2025, 7, 15)), [])
    # And each source's manifests were listed under its own name, nothing else
    assert s3_listings == [
        "state/days/eu/2025-06-",
        "state/days/eu/2025-07-",
        "state/days/us/2025-06-",
        "state/days/us/2025-07-",
    ]


def test_currencies_are_asked_side_by_side_within_the_invocations_time(
    stack: Callable[[list[dict[str, Any]]], None], kubecosts: Callable[..., KubecostEmulator]
) -> None:
    # Given three Kubecosts that each take 1 s to answer, one that takes 60 s, and 3 s left in the invocation (so
    # 2.7 s to work with): one after the other, the third would not have its answer in time
    slow = [kubecosts(currency=code, latency_seconds=1.0) for code in ("EUR", "GBP", "JPY")]
    hung = kubecosts(currency="SEK", latency_seconds=60.0)
    stack([
        *({"name": f"s{n}", "KUBECOST_HOST": emulator.url} for n, emulator in enumerate(slow)),
        {"name": "hung", "KUBECOST_HOST": hung.url, "DEFAULT_CURRENCY": "NOK"},
    ])  # fmt: skip
    # When the plan runs
    started = time.monotonic()
    plan = lambda_handler(plan_event(today="2025-07-15"), ShortContext(remaining_millis=3_000))
    elapsed = time.monotonic() - started
    # Then the three have their own currency, the hung one its default, and the plan returned by its deadline
    assert [source["currency"] for source in plan["sources"]] == ["EUR", "GBP", "JPY", "NOK"]
    assert elapsed < 2.7 + SLACK_SECONDS


@pytest.mark.parametrize(
    ("request_", "covered"),
    [
        ({"start": "2025-06-10", "end": "2025-06-20"}, (date(2025, 6, 10), date(2025, 6, 20))),
        ({"today": "2025-07-15", "force_upload": True}, (date(2025, 6, 1), date(2025, 7, 15))),
    ],
    ids=["backfill", "force-upload"],
)
def test_a_backfill_or_a_forced_upload_exports_every_day_of_every_source_without_listing(  # noqa: PLR0917 -- pytest passes fixtures positionally
    stack: Callable[[list[dict[str, Any]]], None],
    kubecosts: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    s3_listings: list[str],
    request_: dict[str, Any],
    covered: tuple[date, date],
) -> None:
    # Given REFRESH_DAYS=1 and two sources
    monkeypatch.setenv("REFRESH_DAYS", "1")
    eu = kubecosts()
    stack([{"name": "eu", "KUBECOST_HOST": eu.url}, {"name": "us", "KUBECOST_HOST": eu.url}])
    # When a backfill or a forced upload is planned
    plan = lambda_handler(plan_event(**request_), lambda_context)
    # Then each source exports every day it covers, none kept, and no manifest is listed
    assert [(source["days"], source["keptDays"]) for source in plan["sources"]] == [(day_list(*covered), [])] * 2
    assert s3_listings == []
