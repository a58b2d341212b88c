"""The workflow's contracts (``kubecost_flexera.contracts``): the rules every payload's fields share, the messages
of a refused event (field, value, what is allowed; every problem at once), and the JSON the outputs are written as."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from kubecost_flexera.contracts import (
    DayEvent,
    DayExported,
    ManualRun,
    PlanEvent,
    RunOptions,
    UploadEvent,
    UploadOutput,
    calendar_date,
    parse,
)
from kubecost_flexera.domain.export import ExportResult
from kubecost_flexera.domain.upload import MonthResult
from kubecost_flexera.errors import InvalidRequest

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:export"


def day_event(**fields: object) -> dict[str, Any]:
    return {"day": "2025-07-01", "currency": "USD", "options": {"dryRun": False, "forceUpload": False}, **fields}


def refusal(event: object, model: type[Any] = DayEvent) -> str:
    with pytest.raises(InvalidRequest) as raised:
        parse(event, model)
    return str(raised.value)


def test_a_zero_padded_existing_date_is_parsed() -> None:
    assert parse(day_event(day="2024-02-29"), DayEvent).day == date(2024, 2, 29)


@pytest.mark.parametrize(
    "value",
    ["2025-02-30", "2025-7-1", "20250701", "2025-07-01T00:00:00", "2025-07-01Z", " 2025-07-01", 20250701, None],
)
def test_anything_but_a_strict_calendar_date_is_refused_naming_field_and_value(value: object) -> None:
    # Given a value that is not a YYYY-MM-DD calendar date / When parsed / Then the field, value and rule are named
    assert refusal(day_event(day=value)) == (
        f"day={value!r} is invalid: allowed an existing calendar date as a string YYYY-MM-DD"
    )


def test_an_optional_date_may_be_absent_but_not_null() -> None:
    # Given a manual run without today, and one whose today is null
    assert parse({"request": {}, "stateMachineArn": STATE_MACHINE}, PlanEvent).run.today is None
    # Then null is refused like any value that is not a date
    event = {"request": {"today": None}, "stateMachineArn": STATE_MACHINE}
    assert refusal(event, PlanEvent).startswith("today=None is invalid: allowed an existing calendar date")


@pytest.mark.parametrize("value", ["2025-02-30", "2025-7-1", 20250701])
def test_calendar_date_raises_value_error_for_the_command_line(value: object) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        calendar_date(value)


def test_absent_run_options_are_false() -> None:
    assert parse(day_event(options={}), DayEvent).options == RunOptions(dryRun=False, forceUpload=False)


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_taken_as_given(value: bool) -> None:
    assert parse(day_event(options={"dryRun": value}), DayEvent).options.dry_run is value


@pytest.mark.parametrize("value", ["yes", 1, 0, None, "true"])
def test_a_flag_that_is_not_a_json_boolean_is_refused_with_its_path(value: object) -> None:
    assert refusal(day_event(options={"dryRun": value})) == (
        f"options.dryRun={value!r} is invalid: allowed true or false (JSON booleans)"
    )


def test_an_iso_currency_code_is_accepted() -> None:
    assert parse(day_event(currency="EUR"), DayEvent).currency == "EUR"


@pytest.mark.parametrize("value", ["usd", "US", "USDT", 840, None])
def test_anything_but_three_upper_case_letters_is_refused_as_currency(value: object) -> None:
    assert refusal(day_event(currency=value)) == (
        f"currency={value!r} is invalid: allowed 3 upper-case letters, an ISO 4217 code such as USD"
    )


def test_unknown_fields_are_named_sorted_with_the_object_and_the_allowed_fields() -> None:
    # Given two unknown fields / When parsed / Then both are named in one sentence, with the fields allowed there
    assert refusal(day_event(zeta=1, alpha=2)) == (
        "Unknown field(s) 'alpha', 'zeta' in the export_day event: allowed fields are day, currency, options, "
        "executionId, source"
    )


def test_an_unknown_run_option_is_refused_naming_it_and_the_known_ones() -> None:
    assert refusal(day_event(options={"dryRun": True, "dry_run": True})) == (
        "Unknown field(s) 'dry_run' in options: allowed fields are dryRun, forceUpload"
    )


@pytest.mark.parametrize("value", [["dryRun"], "dryRun", None, True])
def test_run_options_that_are_not_an_object_are_refused(value: object) -> None:
    assert refusal(day_event(options=value)) == (
        f"options={value!r} is invalid: allowed a JSON object with the fields dryRun, forceUpload"
    )


@pytest.mark.parametrize("event", [None, [], "{}", 7])
def test_an_event_that_is_not_an_object_is_refused_naming_its_fields(event: object) -> None:
    # Given an event that is not a JSON object (a string too: it is not decoded as JSON)
    # Then the message names the event and its fields
    assert (
        refusal(event)
        == "The export_day event must be a JSON object with the fields day, currency, options, executionId, source"
    )


def test_every_problem_of_an_event_is_listed_in_one_message() -> None:
    # Given an upload event with problems at every level: a date, a list, a nested option, a day result's status and
    # error, an unknown field of a day's error and one of the event
    event = {
        "today": "2025-8-2",
        "days": ["2025-08-01", "2025-08-02"],
        "months": "2025-08",
        "currency": "USD",
        "options": {"dryRun": "no"},
        "dayResults": [
            {"day": "2025-08-01", "status": "done"},
            {"day": "2025-08-02", "status": "failed", "error": {"Cause": "504", "stackTrace": []}},
        ],
        "force": True,
    }
    # When it is parsed
    # Then one InvalidRequest names every one of them, each with its path, its value and what is allowed
    assert refusal(event, UploadEvent) == (
        "7 problems in the upload event: "
        "today='2025-8-2' is invalid: allowed an existing calendar date as a string YYYY-MM-DD; "
        "months='2025-08' is invalid: allowed a list; "
        "options.dryRun='no' is invalid: allowed true or false (JSON booleans); "
        "dayResults[0].status='done' is invalid: allowed one of 'written', 'empty', 'failed'; "
        "missing field 'Error' in dayResults[1].error: allowed an error name of 1 to 256 characters; "
        "Unknown field(s) 'stackTrace' in dayResults[1].error: allowed fields are Error, Cause; "
        "Unknown field(s) 'force' in the upload event: allowed fields are today, days, months, currency, options, "
        "dayResults, executionId"
    )


def test_a_long_value_is_cut_in_the_message() -> None:
    # Given a failed day carrying Lambda's whole error (about 3 KB) as its cause
    cause = json.dumps({"errorMessage": "504", "stackTrace": ["  File ..."] * 80})
    result = {"day": "2025-08-01", "status": "failed", "error": {"Error": "KubecostUnavailable", "Cause": cause}}
    event = {"today": "2025-08-02", "days": ["2025-08-01"], "months": ["2025-08"], "currency": "USD"}
    # When it is refused / Then the message shows the start of the value, not all of it
    message = refusal({**event, "options": {}, "dayResults": [result]}, UploadEvent)
    assert message.startswith(f"dayResults[0].error.Cause={cause!r}"[:100])
    assert len(message) < 300


def test_the_day_result_is_written_with_the_contract_keys_in_order() -> None:
    # Given what the export of a day did (its bytes are for metrics only)
    result = ExportResult(date(2025, 7, 1), "written", parts=2, rows=16, allocations=2, cost=1.5, bytes=900)
    # Then its JSON is the day result the state machine passes on, byte for byte
    assert json.dumps(DayExported.of(result).model_dump(mode="json")) == (
        '{"day": "2025-07-01", "status": "written", "parts": 2, "rows": 16, "allocations": 2, "cost": 1.5}'
    )


def test_the_upload_output_is_written_with_the_contract_keys_in_order() -> None:
    # Given a skipped month without two of its days, and one failed day
    month = MonthResult("2025-07", "skipped-incomplete", 1, 10, missing_days=(date(2025, 7, 2), date(2025, 7, 3)))
    # Then the output has the months and the failed days, in the contract's camelCase
    output = UploadOutput.of({"months": [month], "failed_days": (date(2025, 7, 4),)}).model_dump(mode="json")
    assert json.dumps(output) == (
        '{"months": [{"month": "2025-07", "status": "skipped-incomplete", "billUploadId": null, "files": 1, '
        '"bytes": 10, "error": null, "missingDays": ["2025-07-02", "2025-07-03"]}], "failedDays": ["2025-07-04"]}'
    )


def test_a_scheduled_request_is_a_manual_run_with_nothing_set() -> None:
    event = parse({"request": {"source": "schedule"}, "stateMachineArn": STATE_MACHINE}, PlanEvent)
    assert event.run == ManualRun()
