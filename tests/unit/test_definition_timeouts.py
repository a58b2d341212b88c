"""What the state machine does with timeouts and the Lambda client's errors, read from the definition as the
template substitutes it.

- ``Lambda.ClientExecutionTimeoutException`` (the Invoke call of Step Functions' Lambda client timed out) is a
  service error like the others: retried with backoff by every task.
- ``Sandbox.Timedout`` (the function ran past its ``Timeout``) and ``States.Timeout`` (a task's ``TimeoutSeconds``,
  for an invocation whose answer never came) are never retried: the Kubecost and Flexera clients end before the
  function's limit (``deadline.py``), so a timeout means the work does not fit in 900 s and would time out again,
  15 minutes per attempt. A day that times out is caught as a failed day; the plan or the upload fails the run.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from kubecost_flexera import errors
from local.runner_template import ROOT
from tests.fixtures.template import Deployment, load_template, translated_template

LAMBDA_SERVICE_ERRORS: Final = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.ClientExecutionTimeoutException",
    }
)
TIMEOUTS: Final = ("Sandbox.Timedout", "States.Timeout")
TASK_FUNCTIONS: Final = {
    "Plan": "PlanFunction",
    "ExportDay": "ExportDayFunction",
    "Upload": "UploadFunction",
    "ExportSourceDay": "ExportDayFunction",  # a source's day, in the source's child execution
    "UploadSources": "UploadFunction",
}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    translated = translated_template()
    deployment = Deployment(translated)
    substitutions = deployment.render(deployment.properties("ExportStateMachine")["DefinitionSubstitutions"])
    body: dict[str, Any] = json.loads(
        deployment.sub((ROOT / "statemachine" / "export.asl.json").read_text(encoding="utf-8"), substitutions)
    )
    return body


def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def every_state(states: dict[str, Any]) -> dict[str, Any]:
        found = dict(states)
        for state in states.values():
            if state["Type"] == "Map":
                found.update(every_state(state["ItemProcessor"]["States"]))
        return found

    found = {name: state for name, state in every_state(definition["States"]).items() if state["Type"] == "Task"}
    assert set(found) == set(TASK_FUNCTIONS)
    return found


def first_catcher(task: dict[str, Any], error: str) -> dict[str, Any] | None:
    return next(
        (c for c in task.get("Catch", []) if error in c["ErrorEquals"] or "States.ALL" in c["ErrorEquals"]), None
    )


def test_every_task_retries_every_lambda_service_error_with_backoff(definition: dict[str, Any]) -> None:
    for name, task in tasks(definition).items():
        # Then one retrier covers all of Lambda's service errors, the client's execution timeout included
        retrier = next(r for r in task["Retry"] if "Lambda.ServiceException" in r["ErrorEquals"])
        assert set(retrier["ErrorEquals"]) == LAMBDA_SERVICE_ERRORS, name
        assert (retrier["BackoffRate"] > 1, retrier["MaxAttempts"] <= 10, retrier["JitterStrategy"]) == (
            True,
            True,
            "FULL",
        ), name


@pytest.mark.parametrize("timeout", TIMEOUTS)
def test_a_timeout_is_never_retried(definition: dict[str, Any], timeout: str) -> None:
    for name, task in tasks(definition).items():
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert not retried & {timeout, "States.ALL", "States.TaskFailed"}, name


def test_each_task_times_out_shortly_after_its_function(definition: dict[str, Any]) -> None:
    # Given the functions' Timeout in the template
    template = load_template()
    default = template["Globals"]["Function"]["Timeout"]
    for name, task in tasks(definition).items():
        function = template["Resources"][TASK_FUNCTIONS[name]]["Properties"]
        timeout = int(function.get("Timeout", default))

        # Then the task gives up on an invocation whose answer never came, a minute after the function's own limit
        assert timeout < task["TimeoutSeconds"] <= timeout + 120, name


@pytest.mark.parametrize("timeout", TIMEOUTS)
def test_a_sources_day_that_times_out_is_a_failed_day_keeping_only_the_error_name(
    definition: dict[str, Any], timeout: str
) -> None:
    # Given the task of a source's day, in the source's child execution
    source = definition["States"]["ExportSources"]["ItemProcessor"]["States"]["ExportSourceDays"]
    processor = source["ItemProcessor"]["States"]
    catcher = first_catcher(processor["ExportSourceDay"], timeout)

    # Then the timeout is the day's error name in a failed day: the child goes on with the source's other days
    assert catcher is not None
    failed = processor[catcher["Next"]]
    assert failed["Parameters"] == {"day.$": "$.day", "status": "failed", "error.$": "$.error.Error"}


@pytest.mark.parametrize("timeout", TIMEOUTS)
def test_a_day_that_times_out_is_a_failed_day_keeping_only_the_error_name(
    definition: dict[str, Any], timeout: str
) -> None:
    # Given the export task and the Map's item processor
    processor = definition["States"]["ExportDays"]["ItemProcessor"]["States"]
    catcher = first_catcher(processor["ExportDay"], timeout)

    # Then the timeout is caught as the day's error, into a failed day result with the error name only (its Cause
    # has no shape the definition could rely on)
    assert catcher is not None
    assert catcher["ResultPath"] == "$.error"
    failed = processor[catcher["Next"]]
    assert (failed["Type"], failed.get("End")) == ("Pass", True)
    assert failed["Parameters"] == {"day.$": "$.day", "status": "failed", "error": {"Error.$": "$.error.Error"}}


@pytest.mark.parametrize("task", ["Plan", "Upload", "UploadSources"])
@pytest.mark.parametrize("timeout", TIMEOUTS)
def test_plan_or_upload_timing_out_fails_the_run(definition: dict[str, Any], task: str, timeout: str) -> None:
    assert first_catcher(definition["States"][task], timeout) is None


def test_typed_errors_are_caught_with_their_bounded_message(definition: dict[str, Any]) -> None:
    # Given every typed error of errors.py (the export handler bounds their messages)
    typed = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ExporterError) and value is not errors.ExporterError
    }
    processor = definition["States"]["ExportDays"]["ItemProcessor"]["States"]
    first = processor["ExportDay"]["Catch"][0]

    # Then the first catcher names exactly them, and its states keep the error name and Lambda's errorMessage only
    assert set(first["ErrorEquals"]) == typed
    parse = processor[first["Next"]]
    assert parse["Parameters"]["cause.$"] == "States.StringToJson($.error.Cause)"
    result = processor[parse["Next"]]
    assert result["Parameters"] == {
        "day.$": "$.day",
        "status": "failed",
        "error": {"Error.$": "$.error", "Cause.$": "$.cause.errorMessage"},
    }
    assert result.get("End") is True
