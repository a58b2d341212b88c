"""The state machine definition's error handling, read from ``statemachine/export.asl.json`` as the template
substitutes it: what is retried, how long throttling waits, what is caught, what every task passes on.

The e2e tests prove these rules in execution; these checks name each rule so that an edit that breaks one says
which."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from kubecost_flexera import errors
from local.runner_template import load_template

LAMBDA_SERVICE_ERRORS: Final = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
}
# A function out of time, or a task whose answer never came: the work does not fit, a retry would time out again.
NEVER_RETRIED: Final = {"Sandbox.Timedout", "States.Timeout"}
RETRYABLE: Final = {"KubecostUnavailable", "FlexeraUnavailable", "FlexeraThrottled", "StorageUnavailable"}
# The errors Step Functions itself names (Amazon States Language, "Error names"), which a Retry or Catch may match.
STATES_ERRORS: Final = {
    "States.ALL",
    "States.Timeout",
    "States.HeartbeatTimeout",
    "States.TaskFailed",
    "States.Permissions",
    "States.ResultPathMatchFailure",
    "States.ParameterPathFailure",
    "States.QueryEvaluationError",
    "States.BranchFailed",
    "States.NoChoiceMatched",
    "States.IntrinsicFailure",
    "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed",
    "States.ResultWriterFailed",
}
ERROR_CLASSES: Final = {
    name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, errors.ExporterError)
}
ARNS: Final = {
    "PlanFunction": "arn:aws:lambda:us-east-1:123456789012:function:plan",
    "ExportDayFunction": "arn:aws:lambda:us-east-1:123456789012:function:export-day",
    "UploadFunction": "arn:aws:lambda:us-east-1:123456789012:function:upload",
}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    spec = load_template(stack_name="test").state_machine
    body = json.loads(spec.definition(ARNS, {"MaxConcurrency": "8"}))
    assert isinstance(body, dict)
    return body


def _states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, those of the Maps' item processors included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        found[name] = state
        if state["Type"] == "Map":
            found.update(_states(state["ItemProcessor"]["States"]))
    return found


def _tasks(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for name, state in _states(states).items() if state["Type"] == "Task"}


def test_every_task_invokes_its_function_with_the_execution_id(definition: dict[str, Any]) -> None:
    # Given the substituted definition
    states = definition["States"]
    tasks = _tasks(states)
    # Then each task invokes one of the template's functions, and its payload carries the execution id
    assert {task["Parameters"]["FunctionName"] for task in tasks.values()} == set(ARNS.values())
    sources = states["ExportSources"]
    source_days = sources["ItemProcessor"]["States"]["ExportSourceDays"]
    # The day tasks pass the Map's item, which holds it: the parent execution's, also in a source's child execution
    # (there $$.Execution.Id is the child's), handed down by ExportSources
    item_of = {"ExportDay": states["ExportDays"]["ItemSelector"], "ExportSourceDay": source_days["ItemSelector"]}
    assert (source_days["ItemSelector"]["executionId.$"], sources["ItemSelector"]["executionId.$"]) == (
        "$.executionId",
        "$$.Execution.Id",
    )
    for name, task in tasks.items():
        if name in item_of:
            assert task["Parameters"]["Payload.$"] == "$", name
            continue
        assert task["Parameters"]["Payload"]["executionId.$"] == "$$.Execution.Id", name


def test_every_error_name_retried_or_caught_is_an_exporter_error_or_a_step_functions_error(
    definition: dict[str, Any],
) -> None:
    # Given every Retry and Catch of every state, those of the sources' child executions included
    named = {
        error
        for state in _states(definition["States"]).values()
        for handler in (*state.get("Retry", []), *state.get("Catch", []))
        for error in handler["ErrorEquals"]
    }
    # Then each name is a class of errors.py, or an error Step Functions, Lambda or its sandbox reports: a typo would
    # never match and let the error through
    assert named
    assert named - ERROR_CLASSES - STATES_ERRORS - LAMBDA_SERVICE_ERRORS - NEVER_RETRIED == set()


def test_sources_run_in_child_executions_at_most_source_concurrency_at_once(definition: dict[str, Any]) -> None:
    # Given the Map over sources and the Map over one source's days
    states = definition["States"]
    sources = states["ExportSources"]
    processor = sources["ItemProcessor"]
    # Then each source is a standard child execution (its own 25,000-event history), 5 at once by default
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert sources["MaxConcurrency"] == int(load_template(stack_name="test").parameter_defaults["SourceConcurrency"])
    # And within one, the source's days inline, at most MaxConcurrency (8 here) at once, as a single-source run
    source_days = processor["States"]["ExportSourceDays"]
    assert (source_days["ItemProcessor"]["ProcessorConfig"]["Mode"], source_days["MaxConcurrency"]) == ("INLINE", 8)
    # And no failure is tolerated: a child that fails (not a day, each is caught) fails the run
    assert "ToleratedFailurePercentage" not in sources
    assert "ToleratedFailureCount" not in sources


def test_a_sources_failing_day_keeps_only_its_error_name(definition: dict[str, Any]) -> None:
    # Given the task of a source's day
    days = definition["States"]["ExportSources"]["ItemProcessor"]["States"]["ExportSourceDays"]["ItemProcessor"]
    task = days["States"]["ExportSourceDay"]
    # Then whatever the error it is caught, and the day's result is the compact SourceDayResult: day, status, name
    (catcher,) = task["Catch"]
    assert (catcher["ErrorEquals"], catcher["ResultPath"]) == (["States.ALL"], "$.error")
    failed = days["States"][catcher["Next"]]
    assert failed["Parameters"] == {"day.$": "$.day", "status": "failed", "error.$": "$.error.Error"}
    assert task["ResultSelector"] == {"day.$": "$.Payload.day", "status.$": "$.Payload.status"}


def test_map_concurrency_comes_from_the_substitution(definition: dict[str, Any]) -> None:
    # Then the Map's MaxConcurrency is the substituted number
    assert definition["States"]["ExportDays"]["MaxConcurrency"] == 8


def test_every_task_retries_lambda_service_errors_with_jitter(definition: dict[str, Any]) -> None:
    for name, task in _tasks(definition["States"]).items():
        retrier = next(r for r in task["Retry"] if set(r["ErrorEquals"]) == LAMBDA_SERVICE_ERRORS)
        assert (retrier["JitterStrategy"], retrier["BackoffRate"] > 1) == ("FULL", True), name


def test_only_transient_errors_are_retried(definition: dict[str, Any]) -> None:
    # Given every error class of errors.py that is not transient (configuration, request, refusals, failures)
    permanent = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ExporterError) and name not in RETRYABLE
    }
    # Then no retrier names one of them, nor a timeout, nor States.ALL
    for name, task in _tasks(definition["States"]).items():
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert retried <= LAMBDA_SERVICE_ERRORS | RETRYABLE, name
        assert not retried & (permanent | NEVER_RETRIED | {"States.ALL"}), name


@pytest.mark.parametrize("upload", ["Upload", "UploadSources"])
def test_throttling_waits_at_least_the_cooloff_a_bounded_number_of_times(
    definition: dict[str, Any], upload: str
) -> None:
    retrier = next(r for r in definition["States"][upload]["Retry"] if r["ErrorEquals"] == ["FlexeraThrottled"])
    assert retrier["IntervalSeconds"] >= 120
    assert "JitterStrategy" not in retrier  # full jitter could wait less than the cool-off
    assert 1 <= retrier["MaxAttempts"] <= 10


def test_a_failing_day_is_caught_into_a_small_failed_day_result(definition: dict[str, Any]) -> None:
    processor = definition["States"]["ExportDays"]["ItemProcessor"]["States"]
    catchers = processor["ExportDay"]["Catch"]
    # Every catcher keeps the error beside the day, and the last one catches whatever the others do not
    assert {catcher["ResultPath"] for catcher in catchers} == {"$.error"}
    assert catchers[-1]["ErrorEquals"] == ["States.ALL"]
    # A day caught by States.ALL (a timeout, a Lambda error, a bug) keeps only the error's name, never Lambda's
    # whole Cause (its stack trace would make the Map's output grow past 256 KiB with the number of days)
    failed = processor[catchers[-1]["Next"]]
    assert failed["Type"] == "Pass"
    assert failed["Parameters"] == {"day.$": "$.day", "status": "failed", "error": {"Error.$": "$.error.Error"}}
    # The typed errors of errors.py are caught first, so their (bounded) message can be kept
    typed = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ExporterError) and value is not errors.ExporterError
    }
    assert {error for catcher in catchers[:-1] for error in catcher["ErrorEquals"]} == typed


@pytest.mark.parametrize("upload", ["Upload", "UploadSources"])
def test_failed_days_end_the_execution_in_fail(definition: dict[str, Any], upload: str) -> None:
    states = definition["States"]
    choice = states[states[upload]["Next"]]
    rule = choice["Choices"][0]
    assert (rule["Variable"], rule["IsPresent"]) == ("$.upload.failedDays[0]", True)
    assert states[rule["Next"]] == states["DaysFailed"]
    assert states["DaysFailed"]["Error"] == "ExportFailed"
    assert states[choice["Default"]]["Type"] == "Succeed"
