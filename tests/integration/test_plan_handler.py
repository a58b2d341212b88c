"""The plan handler with its real dependencies: moto (Step Functions, Secrets Manager) and the Kubecost emulator."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from functions.plan.app import lambda_handler
from kubecost_flexera.errors import ConcurrentExecution, ConfigurationError, InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.kubecost_emulator import KubecostEmulator
    from tests.fixtures.aws import FakeLambdaContext, MakeSecret

# A handler that refuses its event publishes no metric; Powertools warns about that, which is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

PLAN_EVENT = Path(__file__).resolve().parents[2] / "events" / "plan.json"
MINIMAL_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
ROLE = "arn:aws:iam::123456789012:role/export"
# The name CloudFormation gives the state machine (<logical id>-<12 characters>), as in events/plan.json.
STATE_MACHINE_NAME = "ExportStateMachine-AbCdEf123456"
STATE_MACHINE = f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE_NAME}"


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(currency="EUR", today=date(2025, 7, 20))


@pytest.fixture
def state_machine(aws: None) -> str:
    client = boto3.client("stepfunctions")
    arn = client.create_state_machine(name=STATE_MACHINE_NAME, definition=MINIMAL_DEFINITION, roleArn=ROLE)
    return arn["stateMachineArn"]


@pytest.fixture
def environment(
    monkeypatch: pytest.MonkeyPatch,
    kubecost: KubecostEmulator,
    make_secret: MakeSecret,
    bucket: str,
    state_machine: str,
) -> None:
    """A complete, valid configuration, as the template sets it."""
    for name, value in {
        "KUBECOST_HOST": kubecost.url,
        "ORG_ID": "12345",
        "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
        "FLEXERA_SECRET_ARN": make_secret("flexera", {"refresh_token": "token"}),
        "INCLUDE_PREVIOUS_MONTH": "true",
    }.items():
        monkeypatch.setenv(name, value)


def _plan_event(**request: Any) -> dict[str, Any]:
    return {
        "request": request,
        "executionId": f"arn:aws:states:us-east-1:123456789012:execution:{STATE_MACHINE_NAME}:this-run",
        "stateMachineArn": STATE_MACHINE,
    }


@pytest.mark.usefixtures("environment")
def test_plan_event_file_is_planned_for_its_pinned_date(
    lambda_context: FakeLambdaContext, kubecost: KubecostEmulator
) -> None:
    # Given events/plan.json (a request pinned to 2025-07-15) and Kubecost's currency EUR
    event = json.loads(PLAN_EVENT.read_text())
    # When the plan handler runs
    plan = lambda_handler(event, lambda_context)
    # Then it returns the contract's plan output: June 1 to July 15, both months, EUR, no options
    assert plan == {
        "today": "2025-07-15",
        "days": [(date(2025, 6, 1) + timedelta(days=n)).isoformat() for n in range(45)],
        "months": ["2025-06", "2025-07"],
        "currency": "EUR",
        "options": {"dryRun": False, "forceUpload": False},
    }
    # And Kubecost was asked for the currency once, and for nothing else
    assert [request.path for request in kubecost.requests] == ["/model/getConfigs"]


@pytest.mark.usefixtures("environment")
def test_invalid_request_is_refused_before_any_call(
    lambda_context: FakeLambdaContext, kubecost: KubecostEmulator
) -> None:
    # Given a request with a misspelt option
    event = _plan_event(dryrun=True)
    # When the plan handler runs
    # Then it is refused, naming the field, and Kubecost is never called
    with pytest.raises(InvalidRequest, match="'dryrun'"):
        lambda_handler(event, lambda_context)
    assert kubecost.requests == []


@pytest.mark.usefixtures("environment")
def test_configuration_problems_are_listed_together(
    lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a missing ORG_ID and an unknown SHARD
    monkeypatch.delenv("ORG_ID")
    monkeypatch.setenv("SHARD", "MARS")
    # When the plan handler runs
    # Then one ConfigurationError names both
    with pytest.raises(ConfigurationError, match=r"ORG_ID is required.*SHARD='MARS' is invalid"):
        lambda_handler(_plan_event(), lambda_context)


@pytest.mark.usefixtures("environment")
def test_running_execution_refuses_the_plan(
    lambda_context: FakeLambdaContext, state_machine: str, kubecost: KubecostEmulator
) -> None:
    # Given another execution of the state machine is running
    running = boto3.client("stepfunctions").start_execution(stateMachineArn=state_machine, name="other")
    # When the plan handler runs
    # Then it refuses, naming the running execution, before asking Kubecost anything
    with pytest.raises(ConcurrentExecution, match=running["executionArn"]):
        lambda_handler(_plan_event(), lambda_context)
    assert kubecost.requests == []


@pytest.mark.usefixtures("environment")
def test_own_running_execution_does_not_refuse_the_plan(lambda_context: FakeLambdaContext, state_machine: str) -> None:
    # Given the running execution is the one the plan belongs to
    running = boto3.client("stepfunctions").start_execution(stateMachineArn=state_machine, name="this-run")
    event = {"request": {}, "executionId": running["executionArn"], "stateMachineArn": state_machine}
    # When the plan handler runs
    plan = lambda_handler(event, lambda_context)
    # Then it plans
    assert plan["currency"] == "EUR"


@pytest.mark.usefixtures("environment")
def test_unusable_flexera_secret_refuses_an_uploading_run(
    lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, make_secret: MakeSecret
) -> None:
    # Given the placeholder the template stores before anyone puts the credentials
    monkeypatch.setenv("FLEXERA_SECRET_ARN", make_secret("placeholder", {"placeholder": "replace this value"}))
    # When the plan handler runs a normal run
    # Then it refuses at once, instead of after exporting every day
    with pytest.raises(ConfigurationError, match="placeholder"):
        lambda_handler(_plan_event(), lambda_context)


@pytest.mark.usefixtures("environment")
def test_dry_run_does_not_need_flexera_credentials(
    lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch, make_secret: MakeSecret
) -> None:
    # Given the placeholder secret
    monkeypatch.setenv("FLEXERA_SECRET_ARN", make_secret("placeholder", {"placeholder": "replace this value"}))
    # When the plan handler runs a dry run
    plan = lambda_handler(_plan_event(dry_run=True), lambda_context)
    # Then it plans it
    assert plan["options"] == {"dryRun": True, "forceUpload": False}
