"""A failed day's result is small whatever its error: 366 of them fit in a Step Functions state with room to spare.

Step Functions limits every state's input and output to 256 KiB, and ``States.DataLimitExceeded`` is not caught by
``States.ALL``: had the Map's output (one result per day) grown past it, the execution would fail before uploading
any month. On Lambda a function error's ``Cause`` is the runtime's JSON (``errorMessage``, ``errorType``,
``requestId``, ``stackTrace``), about 3 KB for a typical ``KubecostUnavailable``. These tests run the failed-day
states of the real definition in moto's Step Functions engine, with such a Cause, and measure the state the Upload
task receives for a 366-day backfill in which every day failed.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

import boto3
import pytest
from moto import mock_aws

from kubecost_flexera.contracts import UploadEvent, parse
from kubecost_flexera.errors import MAX_DAY_ERROR_MESSAGE_BYTES, KubecostUnavailable, messages_bounded
from local.runner_template import load_template

if TYPE_CHECKING:
    from collections.abc import Iterator

STATE_LIMIT_BYTES: Final = 256 * 1024
MARGIN: Final = 0.6  # the 366-day state must leave at least 40 % of the limit
DAYS: Final = 366
FIRST_DAY: Final = date(2024, 7, 1)
ROLE: Final = "arn:aws:iam::123456789012:role/export"
ARNS: Final = {
    name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    for name in ("PlanFunction", "ExportDayFunction", "UploadFunction")
}
# What the Lambda Python runtime reports for an error raised through the Powertools decorators of our handlers.
STACK_FRAMES: Final = [
    (
        "/opt/python/aws_lambda_powertools/logging/logger.py",
        517,
        "decorate",
        "return lambda_handler(event, context, *args, **kwargs)",
    ),
    (
        "/opt/python/aws_lambda_powertools/metrics/provider/base.py",
        212,
        "decorate",
        "response = lambda_handler(event, context, *args, **kwargs)",
    ),
    (
        "/opt/python/aws_lambda_powertools/tracing/tracer.py",
        306,
        "decorate",
        "response = lambda_handler(event, context, **kwargs)",
    ),
    ("/var/task/app.py", 41, "lambda_handler", "result = _export(event, deadline)"),
    (
        "/var/task/app.py",
        59,
        "_export",
        "return export_day(request, client=client, storage=storage, settings=settings)",
    ),
    ("/opt/python/aws_lambda_powertools/tracing/tracer.py", 681, "decorate", "response = method(*args, **kwargs)"),
    ("/opt/python/kubecost_flexera/storage.py", 81, "transient_errors_retryable", "yield"),
    ("/opt/python/kubecost_flexera/export.py", 128, "export_day", "for item in client.allocations(day):"),
    ("/opt/python/kubecost_flexera/kubecost.py", 239, "allocations", "sets = self._page(day, offset=page * limit)"),
    (
        "/opt/python/kubecost_flexera/kubecost.py",
        283,
        "_page",
        "body = self._checked_json(self._get_with_retries(url))",
    ),
    ("/opt/python/kubecost_flexera/kubecost.py", 322, "_get_with_retries", "raise KubecostUnavailable("),
]


def runtime_cause(error: Exception) -> str:
    """The Cause Step Functions records for a function error: Lambda's error payload as a JSON string."""
    trace = [f'  File "{path}", line {line}, in {name}\n    {code}\n' for path, line, name, code in STACK_FRAMES] * 3
    body = {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": str(uuid.uuid4()),
        "stackTrace": trace,
    }
    return json.dumps(body)


def kubecost_unavailable_cause() -> str:
    """A KubecostUnavailable raised by the export handler (its message bounded there), as Lambda reports it."""
    last = "ReadTimeout: HTTPSConnectionPool(host='kubecost.internal.example.com', port=443): Read timed out. " * 8
    try:
        with messages_bounded(MAX_DAY_ERROR_MESSAGE_BYTES):
            raise KubecostUnavailable(
                f"Kubecost at https://kubecost.internal.example.com/model/allocation failed 4 times; last: {last}"
            )
    except KubecostUnavailable as exc:
        return runtime_cause(exc)
    raise AssertionError


@pytest.fixture(scope="module")
def processor() -> dict[str, Any]:
    """The Map's item processor of the definition as the template substitutes it."""
    spec = load_template(stack_name="test").state_machine
    definition = json.loads(spec.definition(ARNS))
    states: dict[str, Any] = definition["States"]["ExportDays"]["ItemProcessor"]["States"]
    return states


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def caught_by(processor: dict[str, Any], error: str) -> str:
    """The state the export task's first matching Catch goes to for ``error``."""
    for catcher in processor["ExportDay"]["Catch"]:
        if error in catcher["ErrorEquals"] or "States.ALL" in catcher["ErrorEquals"]:
            assert catcher["ResultPath"] == "$.error"
            return str(catcher["Next"])
    raise AssertionError(f"{error} is not caught")


def reachable(processor: dict[str, Any], start: str) -> dict[str, Any]:
    names, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in names:
            names.add(name)
            todo.extend([processor[name]["Next"]] if "Next" in processor[name] else [])
    return {name: processor[name] for name in names}


def day_result(sfn: Any, processor: dict[str, Any], error: str, cause: str) -> dict[str, Any]:
    """Runs the catch path of the definition for one day failing with ``error``/``cause``; the day's result."""
    start = caught_by(processor, error)
    definition = {"StartAt": start, "States": reachable(processor, start)}
    machine = sfn.create_state_machine(
        name=f"catch-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )
    item = {
        "day": FIRST_DAY.isoformat(),
        "currency": "USD",
        "options": {"dryRun": False, "forceUpload": False},
        "executionId": "arn:aws:states:us-east-1:123456789012:execution:ExportStateMachine-AbCdEf123456:backfill",
        "error": {"Error": error, "Cause": cause},
    }
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(item))
    for _ in range(500):
        description = sfn.describe_execution(executionArn=execution["executionArn"])
        if description["status"] != "RUNNING":
            break
        time.sleep(0.01)
    assert description["status"] == "SUCCEEDED", description
    result: dict[str, Any] = json.loads(description["output"])
    return result


def upload_state(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The Upload task's input after a backfill of 366 days (the plan output plus the Map's results)."""
    days = [(FIRST_DAY + timedelta(days=n)).isoformat() for n in range(DAYS)]
    months = sorted({day[:7] for day in days})
    return {
        "today": days[-1],
        "days": days,
        "months": months,
        "currency": "USD",
        "options": {"dryRun": False, "forceUpload": False},
        "dayResults": [{**result, "day": day} for result, day in zip(results * DAYS, days, strict=False)],
    }


def after_upload(state: dict[str, Any]) -> dict[str, Any]:
    """The largest state of the run: the Upload task's input plus its result (``$.upload``), every month failed
    with a Flexera refusal quoting Flexera's body (500 characters), every day failed."""
    error = "FlexeraRejected: creating the bill upload failed with HTTP 400: " + "x" * 500
    months = [
        {"month": month, "status": "failed", "billUploadId": None, "files": 31, "bytes": 10**9, "error": error}
        for month in state["months"]
    ]
    return {**state, "upload": {"months": months, "failedDays": state["days"]}}


def size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def test_366_typed_failures_fit_in_a_state_with_40_percent_of_it_to_spare(sfn: Any, processor: dict[str, Any]) -> None:
    # Given a day that failed with KubecostUnavailable, its Cause as Lambda reports it (about 3 KB)
    cause = kubecost_unavailable_cause()
    assert size(cause) > 2500

    # When the definition records the failed day
    result = day_result(sfn, processor, "KubecostUnavailable", cause)

    # Then the result keeps the error type and the (bounded) message, and 366 of them fit with room to spare
    assert result["status"] == "failed"
    assert result["error"]["Error"] == "KubecostUnavailable"
    assert result["error"]["Cause"].startswith("Kubecost at https://kubecost.internal.example.com/model/allocation")
    state = upload_state([result])
    largest = size(after_upload(state))
    print(f"366 failed days: {largest:,} bytes of {STATE_LIMIT_BYTES:,}; one day's result {size(result)} bytes")
    assert largest <= STATE_LIMIT_BYTES * MARGIN
    # And the upload accepts it, counting every day as failed
    assert len(parse(state, UploadEvent).failed_days) == DAYS


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            "Sandbox.Timedout",
            json.dumps(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": "RequestId: 1 Error: Task timed out after 900.00 seconds",
                }
            ),
        ),
        ("States.Timeout", ""),
        (
            "Lambda.ServiceException",
            "Lambda.ServiceException: An error occurred (Service: AWSLambda; Status Code: 500)",
        ),
        ("KeyError", runtime_cause(KeyError("x" * 50_000))),
    ],
    ids=["function-timeout", "task-timeout", "lambda-service", "untyped-50kb"],
)
def test_any_other_failure_keeps_only_its_error_name(
    sfn: Any, processor: dict[str, Any], error: str, cause: str
) -> None:
    # Given a day that failed with an error whose Cause has no shape to rely on, or no bound
    # When the definition records the failed day
    result = day_result(sfn, processor, error, cause)

    # Then only the error name is kept, so the result is small whatever the Cause, and the upload accepts it
    assert result == {"day": FIRST_DAY.isoformat(), "status": "failed", "error": {"Error": error}}
    assert size(after_upload(upload_state([result]))) <= STATE_LIMIT_BYTES * MARGIN
