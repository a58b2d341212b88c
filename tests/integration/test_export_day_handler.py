"""The ExportDay Lambda handler: the sample event against the emulator and moto, its logs, metrics and refusals."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from emulators.kubecost import KubecostAuth, KubecostEmulator, KubecostFault
from functions.export_day.app import lambda_handler
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.errors import MAX_DAY_ERROR_MESSAGE_BYTES, ConfigurationError, InvalidRequest, KubecostRejected
from kubecost_flexera.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fixtures.aws import FakeLambdaContext, MakeSecret
    from tests.fixtures.logs import LogCapture

pytestmark = pytest.mark.usefixtures("fresh_metrics")

SAMPLE_EVENT = Path(__file__).resolve().parents[2] / "events" / "export-day.json"
TODAY = date(2025, 7, 20)


def sample_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(SAMPLE_EVENT.read_text())
    event.update(changes)
    return event


@pytest.fixture
def environment(
    kubecost_emulator: Callable[..., KubecostEmulator], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., KubecostEmulator]:
    """``environment(**emulator_config)``: an emulator and the handler's environment pointing at it and the bucket."""

    def make(**config: Any) -> KubecostEmulator:
        emulator = kubecost_emulator(today=TODAY, **config)
        monkeypatch.setenv("KUBECOST_HOST", emulator.url)
        monkeypatch.setenv("PAGE_SIZE", "20")
        return emulator

    return make


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def manifest_exists(bucket: str, day: date) -> bool:
    return Storage(boto3.client("s3"), bucket, "default").read_day_manifest(day) is not None


def test_sample_event_exports_the_day_and_returns_the_contract_result(
    environment: Any, bucket: str, lambda_context: FakeLambdaContext
) -> None:
    # Given the emulator and the sample event
    emulator = environment()
    event = sample_event()
    # When the handler runs
    result = lambda_handler(event, lambda_context)
    # Then it returns the workflow's day result and the manifest is written
    expected = emulator.expected(date(2025, 7, 15), aggregate="cluster,namespace,controllerKind,controller,node,pod")
    assert set(result) == {"day", "status", "parts", "rows", "allocations", "cost"}
    assert result["day"] == "2025-07-15"
    assert result["status"] == "written"
    assert result["parts"] == 1
    assert result["allocations"] == expected.allocations
    assert result["rows"] == 8 * expected.allocations
    assert result["cost"] == pytest.approx(expected.total_cost, abs=expected.allocations * 4e-5)
    assert manifest_exists(bucket, date(2025, 7, 15))


def test_every_log_line_carries_the_day_and_the_execution_id(
    environment: Any, lambda_context: FakeLambdaContext, powertools_logs: LogCapture
) -> None:
    # Given debug logging, so that every Kubecost page is logged too
    environment()
    event = sample_event()
    level = logger.log_level
    logger.setLevel("DEBUG")
    # When the handler runs
    try:
        lambda_handler(event, lambda_context)
    finally:
        logger.setLevel(level)
    # Then each line names the day and the execution
    logs = powertools_logs.records()
    assert {line["message"] for line in logs} >= {"Kubecost page", "Day exported"}
    assert {line.get("day") for line in logs} == {"2025-07-15"}
    assert {line.get("correlation_id") for line in logs} == {event["executionId"]}


def test_metrics_count_allocations_rows_bytes_and_cost(
    environment: Any, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    environment()
    result = lambda_handler(sample_event(), lambda_context)
    emf = [line for line in json_lines(capsys.readouterr().out) if "_aws" in line and "RowsExported" in line]
    assert len(emf) == 1
    assert emf[0]["AllocationsExported"] == [result["allocations"]]
    assert emf[0]["RowsExported"] == [result["rows"]]
    assert emf[0]["CostExported"] == [result["cost"]]
    assert emf[0]["BytesExported"][0] > 0
    assert emf[0]["day"] == "2025-07-15"


def test_empty_day_is_reported_and_counted(
    environment: Any, bucket: str, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    environment(empty_days=frozenset({date(2025, 7, 15)}))
    result = lambda_handler(sample_event(), lambda_context)
    assert result == {"day": "2025-07-15", "status": "empty", "parts": 0, "rows": 0, "allocations": 0, "cost": 0.0}
    emf = [line for line in json_lines(capsys.readouterr().out) if "EmptyDays" in line]
    assert emf[0]["EmptyDays"] == [1]
    assert not manifest_exists(bucket, date(2025, 7, 15))


def test_credentials_come_from_the_kubecost_secret(
    environment: Any, make_secret: MakeSecret, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    environment(auth=KubecostAuth("cookie", "session-jwt"))
    monkeypatch.setenv("KUBECOST_SECRET_ARN", make_secret("kubecost", {"headers": {"Cookie": "token=session-jwt"}}))
    assert lambda_handler(sample_event(), lambda_context)["status"] == "written"


def test_refused_credentials_fail_the_day_with_kubecost_rejected(
    environment: Any, make_secret: MakeSecret, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    environment(auth=KubecostAuth("bearer", "right"))
    monkeypatch.setenv("KUBECOST_SECRET_ARN", make_secret("kubecost-wrong", {"bearer_token": "wrong"}))
    with pytest.raises(KubecostRejected, match="refused authentication"):
        lambda_handler(sample_event(), lambda_context)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"day": "2025-7-15"}, "day='2025-7-15' is invalid: allowed an existing calendar date as a string YYYY-MM-DD"),
        (
            {"day": "2025-02-30"},
            "day='2025-02-30' is invalid: allowed an existing calendar date as a string YYYY-MM-DD",
        ),
        ({"day": None}, "day=None is invalid"),
        ({"currency": "usd"}, "currency='usd' is invalid: allowed 3 upper-case letters"),
        ({"currency": 840}, "currency=840 is invalid"),
        (
            {"options": {"dryRun": True, "fast": True}},
            "Unknown field(s) 'fast' in options: allowed fields are dryRun, forceUpload",
        ),
        ({"options": {"dryRun": "yes"}}, "options.dryRun='yes' is invalid: allowed true or false"),
        (
            {"options": ["dryRun"]},
            "options=['dryRun'] is invalid: allowed a JSON object with the fields dryRun, forceUpload",
        ),
        (
            {"month": "2025-07"},
            "Unknown field(s) 'month' in the export_day event: allowed fields are day, currency, options, executionId",
        ),
    ],
)
def test_invalid_event_is_refused_before_any_side_effect(
    environment: Any, bucket: str, lambda_context: FakeLambdaContext, changes: dict[str, Any], message: str
) -> None:
    emulator = environment()
    with pytest.raises(InvalidRequest) as raised:
        lambda_handler(sample_event(**changes), lambda_context)
    assert message in str(raised.value)
    assert emulator.requests == []
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=bucket)


def test_event_that_is_not_an_object_is_refused(environment: Any, lambda_context: FakeLambdaContext) -> None:
    environment()
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        lambda_handler(["2025-07-15"], lambda_context)


def test_bad_configuration_is_refused_naming_every_variable_before_kubecost_is_called(
    environment: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    emulator = environment()
    monkeypatch.setenv("AGGREGATION", "daily")
    monkeypatch.setenv("PAGE_SIZE", "0")
    with pytest.raises(ConfigurationError) as raised:
        lambda_handler(sample_event(), lambda_context)
    assert "AGGREGATION='daily' is invalid: allowed namespace, controller, node, pod" in str(raised.value)
    assert "PAGE_SIZE='0' is invalid: allowed an integer from 1 to 100000" in str(raised.value)
    assert emulator.requests == []


def test_missing_bucket_is_a_configuration_error(
    environment: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    environment()
    monkeypatch.delenv("BUCKET_NAME")
    with pytest.raises(ConfigurationError, match="BUCKET_NAME is required"):
        lambda_handler(sample_event(), lambda_context)


def test_a_failed_day_raises_its_error_with_a_bounded_message_and_logs_it_whole(
    environment: Any, lambda_context: FakeLambdaContext, powertools_logs: LogCapture
) -> None:
    # Given a Kubecost whose answer is not JSON, so that the error quotes 300 characters of it
    emulator = environment()
    emulator.inject(KubecostFault("malformed_json", times=None))

    # When the handler runs
    with pytest.raises(KubecostRejected) as raised:
        lambda_handler(sample_event(), lambda_context)

    # Then the error the state machine records is short enough for 366 failed days to fit in one state, and the
    # function's log has the whole message
    message = str(raised.value)
    assert len(json.dumps(message, ensure_ascii=False).encode()) - 2 <= MAX_DAY_ERROR_MESSAGE_BYTES
    assert message.startswith("Kubecost answered with a body that is not JSON")
    assert message.endswith("...")
    logged = next(line for line in powertools_logs.records() if line["message"] == "Day failed")
    assert logged["error_type"] == "KubecostRejected"
    assert len(logged["error"]) > len(message)
    assert logged["error"].startswith(message.removesuffix("..."))
