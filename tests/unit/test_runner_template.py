"""The template model's memory and parameter defaults: what the cost model reads instead of parsing the template."""

from __future__ import annotations

from typing import TYPE_CHECKING

from local.runner_template import LAMBDA_DEFAULT_MEMORY_MB, LOCAL_PSEUDO_PARAMETERS, load_template
from local.template_resolver import Deployment, Resolver

if TYPE_CHECKING:
    from pathlib import Path

_TEMPLATE = """
Parameters:
  RetentionDays: {Type: Number, Default: 400}
  KubecostHost: {Type: String}
Globals:
  Function:
    Handler: app.lambda_handler
    %(globals_memory)s
Resources:
  PlanFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/plan/}
  ExportDayFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/export_day/, MemorySize: 1024}
  ExportStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties: {Name: !Sub "${AWS::StackName}-export", DefinitionUri: statemachine/export.asl.json}
"""


def _write(tmp_path: Path, globals_memory: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(_TEMPLATE % {"globals_memory": globals_memory})
    return path


def test_a_function_s_own_memory_size_wins_over_the_globals_one(tmp_path: Path) -> None:
    # Given Globals at 512 MB and ExportDayFunction at 1024 MB
    path = _write(tmp_path, "MemorySize: 512")
    # When the template is loaded
    functions = load_template(path, stack_name="test").functions
    # Then ExportDayFunction has its own memory and PlanFunction the Globals one
    assert (functions["ExportDayFunction"].memory_size, functions["PlanFunction"].memory_size) == (1024, 512)


def test_memory_size_is_lambda_s_default_when_neither_the_function_nor_globals_sets_it(tmp_path: Path) -> None:
    # Given no MemorySize in Globals, nor on PlanFunction
    path = _write(tmp_path, "")
    # When the template is loaded
    plan = load_template(path, stack_name="test").functions["PlanFunction"]
    # Then PlanFunction gets Lambda's default
    assert plan.memory_size == LAMBDA_DEFAULT_MEMORY_MB


def test_parameter_defaults_hold_every_parameter_with_a_default_as_text(tmp_path: Path) -> None:
    # Given RetentionDays with a default and KubecostHost without
    path = _write(tmp_path, "MemorySize: 512")
    # When the template is loaded
    defaults = load_template(path, stack_name="test").parameter_defaults
    # Then only RetentionDays is there, as CloudFormation passes parameter values: a string
    assert defaults == {"RetentionDays": "400"}


def test_the_state_machine_is_named_as_the_roles_that_grant_on_it_name_it() -> None:
    # Given the real template's state machine as the runner creates it, and the plan's ListExecutions grant as the
    # runner's resolver renders it for the same stack
    template = load_template(stack_name="kubecost-flexera-local")
    pseudo = LOCAL_PSEUDO_PARAMETERS
    deployment = Deployment("kubecost-flexera-local", pseudo["AWS::Region"], pseudo["AWS::AccountId"], {}, {}, {})
    statements = template.document["Resources"]["PlanFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (written,) = [item for item in statements["Statement"] if item.get("Action") == "states:ListExecutions"]
    listing = Resolver(template.document, deployment).resolve(written)

    # Then the grant names exactly the state machine the runner creates (kubecost-flexera-<the stack id's UUID>)
    assert listing["Resource"].endswith(f":stateMachine:{template.state_machine.name}")
    assert template.state_machine.name.startswith("kubecost-flexera-")
    assert template.state_machine.name != load_template(stack_name="another").state_machine.name
