"""Unit tests of the upload event's validation (the contract between the state machine's steps)."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kubecost_flexera.contracts import RunOptions, UploadEvent, parse
from kubecost_flexera.errors import InvalidRequest

SAMPLE = Path(__file__).parents[2] / "events" / "upload.json"


def from_event(event: object) -> UploadEvent:
    return parse(event, UploadEvent)


def valid_event() -> dict[str, Any]:
    return {
        "today": "2025-08-02",
        "days": ["2025-08-01", "2025-08-02"],
        "months": ["2025-07", "2025-08"],
        "currency": "USD",
        "options": {"dryRun": False, "forceUpload": True},
        "dayResults": [
            {"day": "2025-08-01", "status": "written", "parts": 1, "rows": 8, "allocations": 1, "cost": 1.5},
            {"day": "2025-08-02", "status": "failed", "error": {"Error": "KubecostUnavailable", "Cause": "504"}},
        ],
        "executionId": "arn:aws:states:us-east-1:123456789012:execution:ExportStateMachine:run-1",
    }


def test_valid_event_becomes_a_typed_request() -> None:
    # Given the plan output plus day results
    request = from_event(valid_event())
    # Then months, options and the failed days are taken from it (today is checked, the clock decides)
    assert request.months == ("2025-07", "2025-08")
    assert request.options == RunOptions(dryRun=False, forceUpload=True)
    assert request.failed_days == (date(2025, 8, 2),)


def test_sample_event_is_valid() -> None:
    # Given events/upload.json / Then it passes the handler's validation
    from_event(json.loads(SAMPLE.read_text()))


def test_execution_id_is_optional() -> None:
    event = valid_event()
    del event["executionId"]
    assert from_event(event).months == ("2025-07", "2025-08")


def test_missing_options_flags_default_to_false() -> None:
    event = valid_event()
    event["options"] = {}
    assert from_event(event).options == RunOptions()


def mutated(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    event = copy.deepcopy(valid_event())
    target: Any = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (mutated(("surprise",), 1), "surprise"),
        (mutated(("today",), "2025-8-2"), "today"),
        (mutated(("today",), "2025-02-30"), "today"),
        (mutated(("months",), ["2025-08", "2025-07"]), "months"),
        (mutated(("months",), ["2025-13"]), r"months\[0\]"),
        (mutated(("months",), "2025-07"), "months"),
        (mutated(("days",), ["2025-08-02", "2025-08-01"]), "days"),
        (mutated(("currency",), "usd"), "currency"),
        (mutated(("options",), {"dryRun": "yes"}), "options.dryRun"),
        (mutated(("options",), {"dry_run": True}), "options"),
        (mutated(("dayResults",), []), "dayResults"),
        (mutated(("dayResults", 0, "day"), "2025-08-02"), r"dayResults\[0\].day"),
        (mutated(("dayResults", 0, "status"), "done"), r"dayResults\[0\].status"),
        (mutated(("dayResults", 0, "extra"), 1), r"dayResults\[0\]"),
        (mutated(("dayResults", 1, "error"), "boom"), r"dayResults\[1\].error"),
        (
            mutated(("dayResults", 1, "error"), {"Cause": "504"}),
            r"'Error' in dayResults\[1\].error: allowed an error name",
        ),
        (mutated(("dayResults", 1, "error", "Error"), ""), r"dayResults\[1\].error.Error"),
        (
            mutated(("dayResults", 1, "error", "Cause"), 504),
            r"dayResults\[1\].error.Cause=504 is invalid: allowed a message",
        ),
        (mutated(("dayResults", 1, "error", "stackTrace"), []), r"'stackTrace' in dayResults\[1\].error"),
        (mutated(("executionId",), 7), "executionId"),
    ],
)
def test_malformed_event_is_refused_naming_the_field(event: dict[str, Any], field: str) -> None:
    # Given an event that breaks the contract in one field
    # When it is validated / Then InvalidRequest names that field
    with pytest.raises(InvalidRequest, match=field):
        from_event(event)


def test_missing_field_is_named() -> None:
    event = valid_event()
    del event["dayResults"]
    with pytest.raises(InvalidRequest, match=r"missing.*dayResults"):
        from_event(event)


def test_event_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="JSON object"):
        from_event(["2025-07"])


def test_failed_day_without_a_message_is_accepted() -> None:
    # Given a day that timed out: the definition keeps only the error name
    event = mutated(("dayResults", 1, "error"), {"Error": "Sandbox.Timedout"})
    # Then it counts as failed
    assert from_event(event).failed_days == (date(2025, 8, 2),)


def test_whole_lambda_error_as_a_day_result_is_refused() -> None:
    # Given a failed day carrying Lambda's whole error as its Cause (about 3 KB with the stack trace), which 80
    # such days would overflow a state with
    cause = json.dumps({"errorMessage": "504", "errorType": "KubecostUnavailable", "stackTrace": ["  File ..."] * 80})
    event = mutated(("dayResults", 1, "error", "Cause"), cause)
    # Then the contract is refused, naming the field and the bound
    with pytest.raises(
        InvalidRequest, match=r"dayResults\[1\].error.Cause=.* is invalid: allowed a message of at most 256 bytes"
    ):
        from_event(event)
