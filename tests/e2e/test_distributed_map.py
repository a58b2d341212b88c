"""The strict local world for a Distributed Map (local/runner_map_run.py): what moto 5.2.5 lets pass and AWS does not.

Each rule is shown on a small definition of its own, run by the local runner as the stack's definition is (the
template's roles, the in-process Lambda): a Distributed Map whose children each invoke the export function (its
handler replaced by the test) with the item, so that a child can be made to fail, to grow a long history or a large
output. The state machine's ``states:StartExecution`` grant on itself is taken out of the template's policies and
put back only where a test gives it, so that the tests hold whatever the template grants.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import pytest

from local.run import LocalRunError
from local.runner_map_run import EXCEEDED_CAUSE, threshold_exceeded
from local.runner_report import EXPORT_DAY_FUNCTION
from local.runner_states import HISTORY_EVENT_LIMIT, PAYLOAD_LIMIT_BYTES
from local.runner_template import LOCAL_PSEUDO_PARAMETERS, STATE_MACHINE_ID, load_template
from tests.fixtures.strict_world import STACK_NAME

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from local.runner_template import TemplateModel
    from tests.fixtures.workflow import LocalWorkflowFactory

TODAY: Final = date(2025, 3, 3)
START_EXECUTION: Final = "states:StartExecution"


def _fan_out(child_states: dict[str, Any], start_at: str, *, concurrency: int = 2) -> dict[str, Any]:
    """A definition: one Distributed Map over ``$.items``, each child running ``child_states``."""
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "executionId.$": "$$.Execution.Id"},
                "MaxConcurrency": concurrency,
                "Label": "Fan",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": start_at,
                    "States": child_states,
                },
                "ResultPath": "$.results",
                "End": True,
            }
        },
    }


INVOKE: Final = {
    "Work": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${ExportDayFunctionArn}", "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "End": True,
    }
}


def _as_written(definition: dict[str, Any]) -> TemplateModel:
    """The template as it is, with ``definition``."""
    model = load_template(stack_name=STACK_NAME)
    return replace(model, state_machine=replace(model.state_machine, definition_template=json.dumps(definition)))


def _stack(definition: dict[str, Any], *, grant: bool) -> TemplateModel:
    """The template with ``definition``, and its state machine role without any ``states:StartExecution`` grant but
    the one on itself when ``grant``."""
    model = load_template(stack_name=STACK_NAME)
    document = copy.deepcopy(dict(model.document))
    machine = document["Resources"][STATE_MACHINE_ID]["Properties"]
    policies = [policy for policy in machine["Policies"] if START_EXECUTION not in json.dumps(policy)]
    if grant:
        region, account = LOCAL_PSEUDO_PARAMETERS["AWS::Region"], LOCAL_PSEUDO_PARAMETERS["AWS::AccountId"]
        arn = f"arn:aws:states:{region}:{account}:stateMachine:{model.state_machine.name}"
        policies.append({"Statement": [{"Effect": "Allow", "Action": START_EXECUTION, "Resource": arn}]})
    machine["Policies"] = policies
    spec = replace(model.state_machine, definition_template=json.dumps(definition))
    return replace(model, document=document, state_machine=spec)


@pytest.fixture
def emulators(
    kubecost_emulator: Callable[..., KubecostEmulator], flexera_emulator: Callable[..., FlexeraEmulator]
) -> tuple[KubecostEmulator, FlexeraEmulator]:
    return kubecost_emulator(allocations_per_day=1, today=TODAY), flexera_emulator()


def _echo(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    if event["item"] == "fail":
        raise ValueError("this child fails")
    return {"item": event["item"], "executionId": event["executionId"]}


def test_children_run_as_child_executions_of_their_own(
    local_workflow: LocalWorkflowFactory, emulators: tuple[KubecostEmulator, FlexeraEmulator]
) -> None:
    # Given a Distributed Map of three items, the role allowed to start its children
    workflow = local_workflow(
        *emulators, template=_stack(_fan_out(INVOKE, "Work"), grant=True), handlers={EXPORT_DAY_FUNCTION: _echo}
    )
    # When it runs
    run = workflow.run({"items": ["a", "b", "c"]})
    # Then each item is a child execution with its own ARN and history, its output in the Map's result in order
    assert run.succeeded, run
    output = json.loads(workflow.sfn.describe_execution(executionArn=run.execution_arn)["output"])
    assert [result["item"] for result in output["results"]] == ["a", "b", "c"]
    # And the ItemSelector saw the parent's context (the parent's execution id), as AWS evaluates it
    assert {result["executionId"] for result in output["results"]} == {run.execution_arn}
    assert [child.status for child in run.children] == ["SUCCEEDED"] * 3
    machine = run.execution_arn.split(":execution:", 1)[1].split(":", 1)[0]
    assert all(f":execution:{machine}/Fan:" in child.execution_arn for child in run.children)
    # ExecutionStarted, TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited, ExecutionSucceeded
    assert [child.history_events for child in run.children] == [7] * 3


def test_a_failed_child_fails_the_map_run(
    local_workflow: LocalWorkflowFactory, emulators: tuple[KubecostEmulator, FlexeraEmulator]
) -> None:
    # Given a Distributed Map without a tolerated failure threshold, one of whose children fails
    workflow = local_workflow(
        *emulators, template=_stack(_fan_out(INVOKE, "Work"), grant=True), handlers={EXPORT_DAY_FUNCTION: _echo}
    )
    # When it runs
    run = workflow.run({"items": ["a", "fail", "c"]})
    # Then the Map run fails as in AWS (moto alone gives null for that child and succeeds)
    assert run.status == "FAILED"
    assert run.error == "States.ExceedToleratedFailureThreshold"
    assert run.cause == EXCEEDED_CAUSE
    failed = [child for child in run.children if child.status == "FAILED"]
    assert [(child.index, child.error) for child in failed] == [(1, "ValueError")]


def test_a_tolerated_failure_count_lets_that_many_children_fail(
    local_workflow: LocalWorkflowFactory, emulators: tuple[KubecostEmulator, FlexeraEmulator]
) -> None:
    # Given a Distributed Map that tolerates one failed child
    definition = _fan_out(INVOKE, "Work")
    definition["States"]["Fan"]["ToleratedFailureCount"] = 1
    workflow = local_workflow(
        *emulators, template=_stack(definition, grant=True), handlers={EXPORT_DAY_FUNCTION: _echo}
    )
    # When one child fails, the Map run succeeds with null for it; when two do, it fails
    one = workflow.run({"items": ["a", "fail", "c"]})
    assert one.succeeded, one
    output = json.loads(workflow.sfn.describe_execution(executionArn=one.execution_arn)["output"])
    assert [result and result["item"] for result in output["results"]] == ["a", None, "c"]
    two = workflow.run({"items": ["fail", "fail", "c"]})
    assert two.error == "States.ExceedToleratedFailureThreshold"


def test_without_the_start_execution_grant_no_child_starts(
    local_workflow: LocalWorkflowFactory, emulators: tuple[KubecostEmulator, FlexeraEmulator]
) -> None:
    # Given the state machine's role without states:StartExecution on itself
    workflow = local_workflow(
        *emulators, template=_stack(_fan_out(INVOKE, "Work"), grant=False), handlers={EXPORT_DAY_FUNCTION: _echo}
    )
    # When the Distributed Map starts its children
    run = workflow.run({"items": ["a", "b"]})
    # Then IAM refuses them: the Map run fails and no child ran
    assert run.status == "FAILED"
    assert run.error == "States.Runtime"
    assert "is not authorized to perform: states:StartExecution" in str(run.cause)
    assert run.children == ()
    assert run.attempts(EXPORT_DAY_FUNCTION) == 0


@pytest.mark.parametrize(("document_key", "started"), [("config/sources.json", True), ("", False)])
def test_the_template_lets_the_state_machine_start_its_children_only_with_a_sources_document(
    local_workflow: LocalWorkflowFactory,
    emulators: tuple[KubecostEmulator, FlexeraEmulator],
    document_key: str,
    started: bool,
) -> None:
    # Given the template's own grants, with or without a sources document (only with one is ExportSources reached)
    workflow = local_workflow(
        *emulators,
        template=_as_written(_fan_out(INVOKE, "Work")),
        handlers={EXPORT_DAY_FUNCTION: _echo},
        SOURCES_DOCUMENT_KEY=document_key,
    )
    # When a Distributed Map starts its children
    run = workflow.run({"items": ["a"]})
    # Then the role may start them exactly when the stack has a sources document
    assert run.succeeded is started, run
    assert [child.status for child in run.children] == (["SUCCEEDED"] if started else [])


def test_a_child_output_over_256_kib_fails_the_map_run(
    local_workflow: LocalWorkflowFactory, emulators: tuple[KubecostEmulator, FlexeraEmulator]
) -> None:
    # Given a child whose last state's output is over Step Functions' 256 KiB
    large = {"Big": {"Type": "Pass", "Parameters": {"item.$": "$.item", "pad": "x" * PAYLOAD_LIMIT_BYTES}, "End": True}}
    workflow = local_workflow(*emulators, template=_stack(_fan_out(large, "Big"), grant=True))
    # When it runs
    run = workflow.run({"items": ["a"]})
    # Then the child fails with States.DataLimitExceeded and so does the Map run
    assert run.error == "States.ExceedToleratedFailureThreshold", run
    assert [child.error for child in run.children] == ["States.DataLimitExceeded"]


def test_a_child_input_over_256_kib_fails_its_child(
    local_workflow: LocalWorkflowFactory, emulators: tuple[KubecostEmulator, FlexeraEmulator]
) -> None:
    # Given a child's execution input over 256 KiB while the parent's state is under it: the ItemSelector copies the
    # parent's 150 KiB pad twice into each item
    definition = _fan_out({"Done": {"Type": "Succeed"}}, "Done")
    definition["States"]["Fan"]["ItemSelector"] = {"a.$": "$.pad", "b.$": "$.pad"}
    workflow = local_workflow(*emulators, template=_stack(definition, grant=True))
    # When it runs
    run = workflow.run({"items": ["a"], "pad": "x" * (150 * 1024)})
    # Then the child is refused its input and the Map run fails
    assert run.error == "States.ExceedToleratedFailureThreshold", run
    assert [child.error for child in run.children] == ["States.DataLimitExceeded"]


def test_a_child_history_over_25000_events_is_refused(
    local_workflow: LocalWorkflowFactory, emulators: tuple[KubecostEmulator, FlexeraEmulator]
) -> None:
    # Given a child whose inline Map passes over enough items for its history to exceed 25,000 events (each
    # iteration: MapIterationStarted, then Entered and Exited of each of its ten Pass states, MapIterationSucceeded),
    # the parent's history being a few events
    passes = 10
    iterations = HISTORY_EVENT_LIMIT // (2 * passes + 2) + 1
    states: dict[str, Any] = {
        f"Pass{n}": {"Type": "Pass", "Next": f"Pass{n + 1}"} if n < passes - 1 else {"Type": "Pass", "End": True}
        for n in range(passes)
    }
    inline = {
        "Days": {
            "Type": "Map",
            "ItemsPath": "$.item",
            "MaxConcurrency": 10,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Pass0", "States": states},
            "ResultPath": None,
            "End": True,
        }
    }
    workflow = local_workflow(*emulators, template=_stack(_fan_out(inline, "Days"), grant=True))
    # When it runs
    arn = workflow.start({"items": [list(range(iterations))]})
    # Then the run is refused, naming the child execution and its count, as AWS would have failed that child
    with pytest.raises(LocalRunError, match=r":execution:.*/Fan:.* has [0-9]+ history events"):
        workflow.wait(arn)
    assert workflow.map_runs is not None
    (child,) = workflow.map_runs.children(arn)
    assert child.history_events > HISTORY_EVENT_LIMIT
    assert workflow.history_events(arn) < 20


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "exceeded"),
    [
        (0, 10, 0, 0.0, False),
        (1, 10, 0, 0.0, True),  # neither given: no failure tolerated
        (2, 10, 2, 0.0, False),
        (3, 10, 2, 0.0, True),
        (2, 10, 0, 20.0, False),
        (3, 10, 0, 20.0, True),
        (3, 10, 5, 20.0, True),  # both given: either exceeded fails the run
        (3, 100, 2, 50.0, True),
    ],
)
def test_the_tolerated_failure_threshold(
    failed: int, total: int, count: int, percentage: float, exceeded: bool
) -> None:
    assert threshold_exceeded(failed, total, count, percentage) is exceeded
