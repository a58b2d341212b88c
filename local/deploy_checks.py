"""What CloudFormation and the services refuse at deployment, checked before a local run and by the tests for every
extreme parameter value: the checks moto does not make.

``check_deployment(template, parameters, stack_name=..., partition=...)`` resolves the template as CloudFormation
would for those parameter values and returns each problem, in words, in the order a deployment meets them:

1. Parameter constraints (``AllowedValues``, ``AllowedPattern``, ``Min``/``MaxLength``, ``Min``/``MaxValue``) and
   the stack name (CloudFormation: a letter, then letters, digits and ``-``, at most 128 characters).
2. ``Rules``: an assertion that fails refuses the stack before anything is created; its ``AssertDescription`` is the
   problem. (Refusing an impossible combination is the template doing its job: a caller tells these apart by
   :attr:`Problem.refused_by_rules`.)
3. The services' limits on what the resolved resources ask for (only when the rules pass): CloudWatch evaluates an
   alarm over at most 604,800 s (``Period`` x ``EvaluationPeriods``, with ``DatapointsToAlarm`` at most
   ``EvaluationPeriods``); a state machine's name has at most 80 characters; a Lambda layer's name at most 140 and
   it must name the stack (a layer name is account-wide: two stacks would publish versions of one layer); a VPC
   configuration names subnets and security groups together, none empty; a log group's name has at most 512
   characters; and no ARN may hard-code the ``aws`` partition (the stack must deploy in ``aws-cn`` and
   ``aws-us-gov`` too), in the template or in the state machine's definition file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from local.runner_template import ROOT
from local.template_resolver import Deployment, Resolver

if TYPE_CHECKING:
    from collections.abc import Iterator

ALARM_WINDOW_SECONDS: Final = 604_800
STATE_MACHINE_NAME_MAX: Final = 80
LAYER_NAME_MAX: Final = 140
LOG_GROUP_NAME_MAX: Final = 512
STACK_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_HARD_CODED_PARTITION: Final = re.compile(r"arn:aws:")


@dataclass(frozen=True)
class Problem:
    message: str
    refused_by_rules: bool = False


class _AnyAttribute(Mapping[str, str]):
    """``!GetAtt`` of any resource: a synthetic ARN in the deployment's partition (the checks read names, not ARNs)."""

    def __init__(self, partition: str) -> None:
        self._partition = partition

    def __getitem__(self, key: str) -> str:
        return f"arn:{self._partition}:synthetic:us-east-1:123456789012:{key}"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def check_deployment(
    template: Mapping[str, Any], parameters: Mapping[str, str], *, stack_name: str, partition: str = "aws"
) -> list[Problem]:
    problems = [Problem(message) for message in _parameter_problems(template, parameters, stack_name)]
    if problems:
        return problems
    resources: Mapping[str, Any] = template.get("Resources", {})
    refs = {logical_id: f"{stack_name}-{logical_id}" for logical_id in resources}
    resolver = Resolver(
        template,
        Deployment(stack_name, "us-east-1", "123456789012", parameters, refs, _AnyAttribute(partition), partition),
    )
    problems = [
        Problem(f"rule {broken.rule}: {broken.description}", refused_by_rules=True)
        for broken in resolver.broken_rules()
    ]
    if problems:
        return problems
    return [Problem(message) for message in _limit_problems(template, resolver, partition)]


def _parameter_problems(template: Mapping[str, Any], parameters: Mapping[str, str], stack_name: str) -> list[str]:
    problems = []
    if not STACK_NAME_RE.match(stack_name):
        problems.append(f"stack name {stack_name!r}: a letter, then letters, digits and '-', at most 128 characters")
    for name, spec in template.get("Parameters", {}).items():
        value = parameters.get(name, spec.get("Default"))
        if value is None:
            problems.append(f"parameter {name} is required")
            continue
        problems.extend(f"parameter {name}={value!r}: {issue}" for issue in _constraint_issues(spec, str(value)))
    return problems


def _constraint_issues(spec: Mapping[str, Any], value: str) -> Iterator[str]:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(item) for item in allowed]:
        yield f"not one of {allowed}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        yield f"does not match {pattern}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        yield f"shorter than {spec['MinLength']}"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        yield f"longer than {spec['MaxLength']}"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            yield "not a number"
            return
        if "MinValue" in spec and number < float(spec["MinValue"]):
            yield f"below {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            yield f"above {spec['MaxValue']}"


def _limit_problems(template: Mapping[str, Any], resolver: Resolver, partition: str) -> list[str]:
    problems: list[str] = []
    globals_ = resolver.resolve(template.get("Globals", {}).get("Function", {}))
    for logical_id, resource in template.get("Resources", {}).items():
        if "Condition" in resource and not resolver.condition(str(resource["Condition"])):
            continue
        kind = resource.get("Type")
        properties = resolver.resolve(resource.get("Properties", {}))
        if kind == "AWS::CloudWatch::Alarm":
            problems.extend(_alarm_problems(logical_id, properties))
        elif kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            name = properties.get("Name") or properties.get("StateMachineName")
            if name is not None and len(str(name)) > STATE_MACHINE_NAME_MAX:
                problems.append(f"{logical_id}: name of {len(str(name))} characters, Step Functions allows 80")
            problems.extend(_definition_problems(logical_id, properties, partition))
        elif kind == "AWS::Serverless::LayerVersion":
            problems.extend(_layer_problems(logical_id, properties, resolver))
        elif kind == "AWS::Serverless::Function":
            vpc = properties.get("VpcConfig", globals_.get("VpcConfig"))
            if vpc is not None:
                problems.extend(_vpc_problems(logical_id, vpc))
        elif kind == "AWS::Logs::LogGroup" and len(str(properties.get("LogGroupName", ""))) > LOG_GROUP_NAME_MAX:
            problems.append(f"{logical_id}: log group name longer than {LOG_GROUP_NAME_MAX} characters")
        problems.extend(
            f"{logical_id}: {text} hard-codes the aws partition"
            for text in _strings(properties)
            if partition != "aws" and _HARD_CODED_PARTITION.search(text)
        )
    return problems


def _alarm_problems(logical_id: str, properties: Mapping[str, Any]) -> Iterator[str]:
    evaluations = int(properties.get("EvaluationPeriods", 1))
    datapoints = int(properties.get("DatapointsToAlarm", evaluations))
    if datapoints > evaluations:
        yield f"{logical_id}: DatapointsToAlarm {datapoints} exceeds EvaluationPeriods {evaluations}"
    periods = [int(properties["Period"])] if "Period" in properties else []
    periods.extend(
        int(metric["MetricStat"]["Period"]) for metric in properties.get("Metrics", []) if "MetricStat" in metric
    )
    for period in periods:
        if period * evaluations > ALARM_WINDOW_SECONDS:
            yield (
                f"{logical_id}: Period {period} s x EvaluationPeriods {evaluations} = {period * evaluations} s, "
                f"CloudWatch evaluates at most {ALARM_WINDOW_SECONDS} s"
            )


def _layer_problems(logical_id: str, properties: Mapping[str, Any], resolver: Resolver) -> Iterator[str]:
    stack_name = resolver.resolve({"Ref": "AWS::StackName"})
    name = str(properties.get("LayerName", logical_id))  # SAM names a layer after its logical id
    if len(name) > LAYER_NAME_MAX:
        yield f"{logical_id}: layer name of {len(name)} characters, Lambda allows {LAYER_NAME_MAX}"
    if stack_name not in name:
        yield f"{logical_id}: layer name {name!r} is the same for every stack of the account"


def _vpc_problems(logical_id: str, vpc: Mapping[str, Any]) -> Iterator[str]:
    subnets = [str(item) for item in vpc.get("SubnetIds", [])]
    groups = [str(item) for item in vpc.get("SecurityGroupIds", [])]
    if "" in subnets or "" in groups:
        yield f"{logical_id}: VpcConfig has an empty subnet or security group id ({subnets}, {groups})"
    if bool([s for s in subnets if s]) != bool([g for g in groups if g]):
        yield f"{logical_id}: VpcConfig needs subnets and security groups together ({subnets}, {groups})"


def _definition_problems(logical_id: str, properties: Mapping[str, Any], partition: str) -> Iterator[str]:
    uri = properties.get("DefinitionUri")
    if partition == "aws" or not isinstance(uri, str):
        return
    text = (ROOT / uri).read_text()
    for match in _HARD_CODED_PARTITION.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield f"{logical_id}: {uri} line {line} hard-codes the aws partition"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
