"""The plan's request validation, window choice, concurrency guard and output shape (pure; no AWS, no clock)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from kubecost_flexera.contracts import ManualRun, PlanEvent, PlanOutput, RunOptions, parse
from kubecost_flexera.domain.calendar import Window, scheduled_window
from kubecost_flexera.domain.plan import Plan, choose_window, keeps_days, refuse_concurrent
from kubecost_flexera.errors import ConcurrentExecution, InvalidRequest

CLOCK_TODAY = date(2025, 7, 15)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:export:run-1"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:export"
SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2025-07-15T03:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/export"],
    "detail": {},
}


def parse_plan_event(event: object) -> PlanEvent:
    return parse(event, PlanEvent)


def parse_request(request: object) -> ManualRun:
    """The state machine's input as the plan reads it: a scheduled run is a manual run with nothing set."""
    return parse_plan_event({"request": request, "stateMachineArn": STATE_MACHINE}).run


@pytest.mark.parametrize("request_", [{}, {"source": "schedule"}, SCHEDULED_EVENT], ids=["empty", "schedule", "rule"])
def test_scheduled_requests_use_the_clock_and_default_options(request_: dict[str, Any]) -> None:
    # Given any of the scheduled forms
    # When it is parsed
    # Then the clock decides the date and no option is set
    assert parse_request(request_) == ManualRun()


def test_manual_request_carries_every_field() -> None:
    # Given a manual request with every field
    request = {"today": "2025-07-10", "start": "2025-06-01", "end": "2025-06-30", "dry_run": True, "force_upload": True}
    # When it is parsed
    parsed = parse_request(request)
    # Then each field is typed
    assert parsed == ManualRun(
        today=date(2025, 7, 10), start=date(2025, 6, 1), end=date(2025, 6, 30), dry_run=True, force_upload=True
    )


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ([], "must be a JSON object"),
        ("today", "must be a JSON object"),
        ({"todya": "2025-07-01"}, r"Unknown field\(s\) 'todya' in the request: allowed fields are today, start"),
        ({"dryRun": True}, r"Unknown field\(s\) 'dryRun'"),
        (
            {"today": "2025-7-1"},
            r"today='2025-7-1' is invalid: allowed an existing calendar date as a string YYYY-MM-DD",
        ),
        ({"today": "2025-02-30"}, r"today='2025-02-30' is invalid"),
        ({"today": 20250701}, r"today=20250701 is invalid"),
        ({"today": None}, r"today=None is invalid"),
        ({"start": "2025-07-01"}, "end is missing"),
        ({"end": "2025-07-01"}, "start is missing"),
        ({"dry_run": "true"}, r"dry_run='true' is invalid: allowed true or false"),
        ({"force_upload": 1}, r"force_upload=1 is invalid: allowed true or false"),
        ({"source": "manual"}, r"source='manual' .* allowed exactly \{\"source\": \"schedule\"\}"),
        (
            {"source": "schedule", "dry_run": True},
            r"Unknown field\(s\) 'dry_run' in the request: allowed fields are source",
        ),
        ({**SCHEDULED_EVENT, "detail-type": "Object Created"}, "allowed only an EventBridge 'Scheduled Event'"),
        ({**SCHEDULED_EVENT, "source": "aws.s3"}, "allowed only an EventBridge 'Scheduled Event'"),
        ({**SCHEDULED_EVENT, "today": "2025-07-01"}, r"Unknown field\(s\) 'today' in the EventBridge scheduled event"),
    ],
)
def test_malformed_request_is_refused_naming_the_field(request_: object, message: str) -> None:
    # Given a request outside the accepted forms
    # When it is parsed
    # Then InvalidRequest names the field and what is allowed
    with pytest.raises(InvalidRequest, match=message):
        parse_request(request_)


def test_plan_event_carries_the_request_execution_id_and_state_machine() -> None:
    # Given the state machine's plan event
    # When it is parsed
    parsed = parse_plan_event(
        {"request": {"dry_run": True}, "executionId": EXECUTION, "stateMachineArn": STATE_MACHINE}
    )
    # Then the request, the execution id and the state machine are separated
    assert parsed.request == ManualRun(dry_run=True)
    assert parsed.execution_id == EXECUTION
    assert parsed.state_machine_arn == STATE_MACHINE


def test_plan_event_without_execution_id_is_accepted() -> None:
    # Given a direct invocation without an execution id
    # When it is parsed
    # Then the execution id is None
    assert parse_plan_event({"request": {}, "stateMachineArn": STATE_MACHINE}).execution_id is None


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:ExportStateMachine-AbCdEf123456",
        "arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:" + "x" * 80,
    ],
)
def test_state_machine_arn_of_any_partition_is_accepted(arn: str) -> None:
    assert parse_plan_event({"request": {}, "stateMachineArn": arn}).state_machine_arn == arn


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "missing field 'request' in the plan event: the state machine's input object"),
        ({"today": "2025-07-01"}, r"Unknown field\(s\) 'today' in the plan event"),
        ({"request": {}, "executionId": 5}, "executionId=5 is invalid"),
        ({"request": {}, "executionId": ""}, "executionId='' is invalid"),
        (
            {"request": {}},
            "missing field 'stateMachineArn' in the plan event: allowed the ARN of this workflow's state",
        ),
        ({"request": {}, "stateMachineArn": "export"}, "stateMachineArn='export' is invalid"),
        ({"request": {}, "stateMachineArn": STATE_MACHINE + "x" * 80}, "stateMachineArn=.* is invalid"),
        ({"request": {"bogus": 1}, "stateMachineArn": STATE_MACHINE}, r"Unknown field\(s\) 'bogus' in the request"),
        (None, "The plan event must be a JSON object with the fields request, executionId, stateMachineArn"),
        ("{}", "The plan event must be a JSON object"),
    ],
)
def test_malformed_plan_event_is_refused(event: object, message: str) -> None:
    # Given a malformed plan event
    # When it is parsed
    # Then InvalidRequest names the problem
    with pytest.raises(InvalidRequest, match=message):
        parse_plan_event(event)


@pytest.mark.parametrize("include_previous_month", [True, False])
def test_unpinned_request_uses_the_scheduled_window_of_the_clock(include_previous_month: bool) -> None:
    # Given a scheduled request
    # When the window is chosen
    window = choose_window(ManualRun(), clock_today=CLOCK_TODAY, include_previous_month=include_previous_month)
    # Then it is the scheduled window of the clock's date
    assert window == scheduled_window(CLOCK_TODAY, include_previous_month=include_previous_month)


def test_pinned_today_replaces_the_clock() -> None:
    # Given a request pinned to the 1st of a month
    request = ManualRun(today=date(2025, 7, 1))
    # When the window is chosen
    window = choose_window(request, clock_today=CLOCK_TODAY, include_previous_month=False)
    # Then it is that day's window: June only, today not exported
    assert window.today == date(2025, 7, 1)
    assert window.months == ("2025-06",)
    assert window.days[-1] == date(2025, 6, 30)


def test_pinned_today_after_the_clock_is_refused() -> None:
    # Given a request pinned to tomorrow
    request = ManualRun(today=date(2025, 7, 16))
    # When the window is chosen
    # Then it is refused
    with pytest.raises(InvalidRequest, match="today=2025-07-16 is invalid: allowed a date not after"):
        choose_window(request, clock_today=CLOCK_TODAY, include_previous_month=True)


def test_backfill_ignores_include_previous_month_and_keeps_today() -> None:
    # Given a backfill of a past range
    request = ManualRun(start=date(2025, 1, 30), end=date(2025, 2, 2))
    # When the window is chosen
    window = choose_window(request, clock_today=CLOCK_TODAY, include_previous_month=True)
    # Then exactly the range is planned, with the clock's date as today (the current month of the upload rule)
    assert window.days == (date(2025, 1, 30), date(2025, 1, 31), date(2025, 2, 1), date(2025, 2, 2))
    assert window.months == ("2025-01", "2025-02")
    assert window.today == CLOCK_TODAY


def test_backfill_past_a_pinned_today_is_refused() -> None:
    # Given a backfill whose end lies after the pinned today
    request = ManualRun(today=date(2025, 7, 1), start=date(2025, 6, 20), end=date(2025, 7, 2))
    # When the window is chosen
    # Then it is refused, naming end
    with pytest.raises(InvalidRequest, match="end=2025-07-02 is after today"):
        choose_window(request, clock_today=CLOCK_TODAY, include_previous_month=True)


def test_no_other_running_execution_is_accepted() -> None:
    # Given only this execution is running
    # When the guard runs
    # Then nothing is raised
    refuse_concurrent([EXECUTION], EXECUTION)


def test_another_running_execution_is_refused_and_named() -> None:
    # Given another execution is running
    other = EXECUTION.replace("run-1", "run-0")
    # When the guard runs
    # Then ConcurrentExecution names it
    with pytest.raises(ConcurrentExecution, match="run-0"):
        refuse_concurrent([EXECUTION, other], EXECUTION)


def test_any_running_execution_is_refused_without_an_execution_id() -> None:
    # Given a direct invocation (no execution id) while an execution runs
    # When the guard runs
    # Then it is refused
    with pytest.raises(ConcurrentExecution):
        refuse_concurrent([EXECUTION], None)


def test_plan_output_follows_the_workflow_contract() -> None:
    # Given a plan
    window = Window(today=date(2025, 7, 2), days=(date(2025, 6, 30), date(2025, 7, 1)), months=("2025-06", "2025-07"))
    plan = Plan(window=window, currency="EUR", options=RunOptions(dryRun=True))
    # When it is rendered
    # Then the output has the contract's camelCase shape
    assert PlanOutput.of(plan).model_dump(mode="json") == {
        "today": "2025-07-02",
        "days": ["2025-06-30", "2025-07-01"],
        "keptDays": [],
        "months": ["2025-06", "2025-07"],
        "currency": "EUR",
        "options": {"dryRun": True, "forceUpload": False},
    }


def test_plan_output_exports_only_the_days_it_does_not_keep() -> None:
    # Given a plan of three days that keeps the first two (REFRESH_DAYS)
    days = (date(2025, 6, 30), date(2025, 7, 1), date(2025, 7, 2))
    window = Window(today=date(2025, 7, 2), days=days, months=("2025-06", "2025-07"))
    plan = Plan(window=window, currency="EUR", options=RunOptions(), kept_days=days[:2])
    # When it is rendered
    output = PlanOutput.of(plan).model_dump(mode="json")
    # Then the Map's days are the refreshed day only, the kept days are listed apart, and both months stay
    assert (output["days"], output["keptDays"]) == (["2025-07-02"], ["2025-06-30", "2025-07-01"])
    assert output["months"] == ["2025-06", "2025-07"]


@pytest.mark.parametrize(
    ("request_", "keeps"),
    [
        (ManualRun(), True),
        (ManualRun(today=date(2025, 7, 10), dry_run=True), True),
        (ManualRun(start=date(2025, 6, 1), end=date(2025, 6, 30)), False),
        (ManualRun(force_upload=True), False),
    ],
    ids=["scheduled", "pinned-dry-run", "backfill", "force-upload"],
)
def test_only_a_scheduled_window_without_forced_upload_may_keep_days(request_: ManualRun, keeps: bool) -> None:
    assert keeps_days(request_) is keeps
