"""The ExportDay handler for a day of a sources document's source: the source's settings over the stack's, its own
place in the bucket (the same as a single-source stack of that name), its metrics per source, and its refusals;
against the Kubecost emulator over real HTTP and moto's S3 and Secrets Manager."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest

from emulators.kubecost import KubecostAuth
from functions.export_day.app import lambda_handler
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.errors import ConfigurationError, InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from emulators.kubecost import KubecostEmulator
    from kubecost_flexera.domain.records import DayManifest
    from tests.fixtures.aws import FakeLambdaContext, MakeSecret

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
    pytest.mark.usefixtures("fresh_metrics"),
]

TODAY = date(2025, 7, 20)
DAY = date(2025, 7, 15)
UNREACHABLE = "http://127.0.0.1:9"  # the stack's Kubecost: nothing listens, so a day read from it would fail
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ExportStateMachine-AbCdEf123456:run"


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(today=TODAY, seed=7, currency="EUR")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, bucket: str) -> str:
    """The stack's environment: its own Kubecost (unreachable) and source name, which a document source overrides."""
    monkeypatch.setenv("KUBECOST_HOST", UNREACHABLE)
    monkeypatch.setenv("SOURCE_NAME", "stack")
    return bucket


def day_event(source: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"day": DAY.isoformat(), "currency": "EUR", "executionId": EXECUTION, **changes}
    if source is not None:
        event["source"] = source
    return event


def manifest(s3: S3Client, bucket: str, source: str) -> DayManifest | None:
    return Storage(s3, bucket, source).read_day_manifest(DAY)


def keys(s3: S3Client, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_a_sources_day_uses_its_settings_over_the_stacks_and_is_written_under_its_name(
    stack: str, kubecost: KubecostEmulator, s3: S3Client, lambda_context: FakeLambdaContext
) -> None:
    # Given a day of source "eu", which sets its own Kubecost, aggregation and page size
    source = {"name": "eu", "settings": {"KUBECOST_HOST": kubecost.url, "AGGREGATION": "namespace", "PAGE_SIZE": "5"}}
    # When the handler runs
    result = lambda_handler(day_event(source), lambda_context)
    # Then the day is the source's Kubecost's, at its aggregation, read in its pages
    expected = kubecost.expected(DAY, aggregate="cluster,namespace")
    assert (result["status"], result["allocations"]) == ("written", expected.allocations)
    allocation_requests = [r for r in kubecost.requests if r.path.endswith("/allocation")]
    assert len(allocation_requests) > 1
    assert all(r.query["aggregate"] == ["cluster,namespace"] for r in allocation_requests)
    # And it is written under the source's name, nothing under the stack's
    written = manifest(s3, stack, "eu")
    assert written is not None
    assert (written.source, written.currency, written.rows) == ("eu", "EUR", result["rows"])
    assert manifest(s3, stack, "stack") is None
    assert all(key.startswith(("exports/eu/2025-07/2025-07-15/", "state/days/eu/")) for key in keys(s3, stack))


def test_a_sources_day_is_written_as_a_single_source_stack_of_that_name_writes_it(
    stack: str,
    kubecost: KubecostEmulator,
    s3: S3Client,
    lambda_context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the day exported as source "eu" of a document
    settings = {"KUBECOST_HOST": kubecost.url, "MAX_FILE_ROWS": "100"}
    lambda_handler(day_event({"name": "eu", "settings": settings}), lambda_context)
    from_document = manifest(s3, stack, "eu")
    # When a single-source stack with SOURCE_NAME=eu and the same variables exports it again
    monkeypatch.setenv("SOURCE_NAME", "eu")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    lambda_handler(day_event(), lambda_context)
    alone = manifest(s3, stack, "eu")
    # Then it replaced the same day of the same source with the same files: the same names, rows and bytes (ETags)
    assert from_document is not None
    assert alone is not None
    assert len(alone.parts) > 1
    assert [(p.file_name, p.rows, p.etag) for p in alone.parts] == [
        (p.file_name, p.rows, p.etag) for p in from_document.parts
    ]
    assert [p.key.rsplit("/", 2)[0] for p in alone.parts] == [p.key.rsplit("/", 2)[0] for p in from_document.parts]
    assert all(key.startswith(("exports/eu/", "state/days/eu/")) for key in keys(s3, stack))


def test_a_sources_secret_gives_its_credentials(
    stack: str,
    kubecost_emulator: Callable[..., KubecostEmulator],
    make_secret: MakeSecret,
    lambda_context: FakeLambdaContext,
) -> None:
    guarded = kubecost_emulator(today=TODAY, auth=KubecostAuth("bearer", "eu-token"))
    arn = make_secret("kubecost-flexera/test/eu", {"bearer_token": "eu-token"})
    source = {"name": "eu", "settings": {"KUBECOST_HOST": guarded.url, "KUBECOST_SECRET_ARN": arn}}
    assert lambda_handler(day_event(source), lambda_context)["status"] == "written"


def test_metrics_are_recorded_per_source_besides_the_aggregate_ones(
    stack: str, kubecost: KubecostEmulator, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a day of source "eu" / When it is exported
    result = lambda_handler(day_event({"name": "eu", "settings": {"KUBECOST_HOST": kubecost.url}}), lambda_context)
    lines = emf_lines(capsys.readouterr().out)
    # Then the aggregate metrics are as for one source (no Source dimension)
    (aggregate,) = [line for line in lines if "AllocationsExported" in line]
    assert aggregate["RowsExported"] == [result["rows"]]
    assert "Source" not in aggregate
    # And each per-source figure is one metric with the dimension Source=eu
    per_source = {
        metric["Name"]: (line[metric["Name"]], line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], line["Source"])
        for line in lines
        if "Source" in line
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert per_source == {
        "DaysExported": ([1.0], [["service", "Source"]], "eu"),
        "RowsExported": ([float(result["rows"])], [["service", "Source"]], "eu"),
        "CostExported": ([result["cost"]], [["service", "Source"]], "eu"),
    }
    assert {line["_aws"]["CloudWatchMetrics"][0]["Namespace"] for line in lines} == {"KubecostFlexeraExporter"}


def test_an_empty_day_of_a_source_is_counted_for_it(
    stack: str,
    kubecost_emulator: Callable[..., KubecostEmulator],
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = kubecost_emulator(today=TODAY, empty_days=frozenset({DAY}))
    lambda_handler(day_event({"name": "eu", "settings": {"KUBECOST_HOST": empty.url}}), lambda_context)
    per_source = [line for line in emf_lines(capsys.readouterr().out) if line.get("Source") == "eu"]
    assert [(line.get("EmptyDays"), line.get("DaysExported")) for line in per_source] == [([1.0], None)]


def test_without_a_source_no_metric_has_a_source_dimension(
    stack: str,
    kubecost: KubecostEmulator,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECOST_HOST", kubecost.url)
    lambda_handler(day_event(), lambda_context)
    lines = emf_lines(capsys.readouterr().out)
    assert lines
    assert not [line for line in lines if "Source" in line or "DaysExported" in line]


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        (
            {"name": "eu", "settings": {"KUBECOST_HOST": "x", "BUCKET_NAME": "elsewhere", "SOURCE_NAME": "other"}},
            InvalidRequest,
            "source.settings has unknown key(s) 'BUCKET_NAME', 'SOURCE_NAME': allowed KUBECOST_HOST, ",
        ),
        (
            {"name": "EU", "settings": {}},
            InvalidRequest,
            "source.name='EU' is invalid: allowed a source name of 1 to 32 characters a-z, 0-9 and '-'",
        ),
        (
            {"name": "eu", "settings": {"PAGE_SIZE": 50}},
            InvalidRequest,
            "source.settings.PAGE_SIZE=50 is invalid: allowed a string",
        ),
        (
            {"name": "eu", "settings": {"PAGE_SIZE": "0"}},
            ConfigurationError,
            "Invalid Kubecost configuration: PAGE_SIZE='0' is invalid: allowed an integer from 1 to 100000",
        ),
    ],
    ids=["stack-only-keys", "bad-name", "not-text", "bad-value"],
)
def test_a_bad_source_is_refused_before_any_side_effect(  # noqa: PLR0917 -- pytest passes fixtures positionally
    stack: str,
    kubecost: KubecostEmulator,
    s3: S3Client,
    lambda_context: FakeLambdaContext,
    source: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        lambda_handler(day_event(source), lambda_context)
    assert str(caught.value).startswith(message)
    assert (kubecost.requests, keys(s3, stack)) == ([], [])
