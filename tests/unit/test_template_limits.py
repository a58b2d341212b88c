"""Every deployment the parameters allow is one AWS accepts: ranges within the services' limits, impossible
combinations refused by the template's ``Rules`` before anything is created, names that fit for any stack name,
and no partition written into an ARN (aws-cn, aws-us-gov).

The limits (AWS documentation, also in docs/design-decisions.md): CloudWatch evaluates at most 604,800 s of
periods (Period x EvaluationPeriods); a Lambda function's environment variables total at most 4 KB; a state
machine's name is at most 80 characters, a layer's 140; stack names are at most 128 characters.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import pytest

from local.runner_template import ROOT
from tests.fixtures.template import Deployment, translated_template

CLOUDWATCH_MAX_EVALUATION_SECONDS: Final = 604_800
LAMBDA_ENVIRONMENT_MAX_BYTES: Final = 4096
LAMBDA_MAX_TIMEOUT_SECONDS: Final = 900
LAMBDA_MEMORY_MB: Final = range(128, 10_241)
STATE_MACHINE_NAME_MAX: Final = 80
LAYER_NAME_MAX: Final = 140
LOG_GROUP_NAME_MAX: Final = 512
DASHBOARD_NAME_MAX: Final = 255
STACK_NAME_MAX: Final = 128
LONGEST_STACK: Final = "s" * STACK_NAME_MAX
BUCKET_NAME_MAX: Final = 63
SUBNETS: Final = "subnet-0a1b2c3d,subnet-4e5f6a7b"
KMS_KEY: Final = Deployment.kms_key_arn()
FUNCTIONS: Final = ("PlanFunction", "ExportDayFunction", "UploadFunction")


# --- Rules: combinations no single parameter's range can refuse ---


@pytest.mark.parametrize(
    ("parameters", "refusal"),
    [
        ({"SubnetIds": SUBNETS}, "SecurityGroupIds must name at least one security group when SubnetIds is set"),
        ({"SecurityGroupIds": "sg-1"}, "SubnetIds must name at least one private subnet when SecurityGroupIds is set"),
        ({"SubnetIds": "subnet-1,,subnet-2", "SecurityGroupIds": "sg-1"}, "SubnetIds has an empty member"),
        ({"SubnetIds": SUBNETS, "SecurityGroupIds": "sg-1,"}, "SecurityGroupIds has an empty member"),
        ({"KubecostSecretKmsKeyArn": KMS_KEY}, "KubecostSecretKmsKeyArn needs KubecostSecretArn"),
        ({"FlexeraSecretKmsKeyArn": KMS_KEY}, "FlexeraSecretKmsKeyArn needs FlexeraSecretArn"),
    ],
    ids=[
        "subnets-alone",
        "security-groups-alone",
        "empty-subnet",
        "empty-security-group",
        "kubecost-key",
        "flexera-key",
    ],
)
def test_impossible_combination_is_refused_before_anything_is_created(
    template: dict[str, Any], parameters: dict[str, str], refusal: str
) -> None:
    # Given a deployment with a combination AWS would refuse midway (Lambda: subnets without security groups, [""])
    deployment = Deployment(template, parameters)

    # When the template's Rules are evaluated / Then exactly that combination is refused, saying what is missing
    refused = deployment.refused_by_rules()
    assert len(refused) == 1
    assert refused[0].startswith(refusal)


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"SubnetIds": SUBNETS, "SecurityGroupIds": "sg-1,sg-2"},
        {"KubecostSecretArn": Deployment.secret_arn("k"), "KubecostSecretKmsKeyArn": KMS_KEY},
        {"FlexeraSecretArn": Deployment.secret_arn("f"), "FlexeraSecretKmsKeyArn": KMS_KEY},
    ],
    ids=["defaults", "vpc", "kubecost-key-and-secret", "flexera-key-and-secret"],
)
def test_valid_combinations_pass_the_rules(template: dict[str, Any], parameters: dict[str, str]) -> None:
    assert Deployment(template, parameters).refused_by_rules() == []


# --- ranges ---


def maximum(spec: dict[str, Any]) -> str:
    """The largest value a parameter allows, as text: its longest allowed value, MaxValue or MaxLength characters."""
    if "AllowedValues" in spec:
        return max((str(value) for value in spec["AllowedValues"]), key=len)
    if spec["Type"] == "Number":
        return str(spec["MaxValue"])
    return "x" * int(spec["MaxLength"])


def test_every_parameter_is_bounded(template: dict[str, Any]) -> None:
    # Then every number has a range and every string a list of values or a maximum length (environment: 4 KB)
    for name, spec in template["Parameters"].items():
        if spec["Type"] == "Number":
            assert {"MinValue", "MaxValue"} <= set(spec) or "AllowedValues" in spec, name
        elif spec["Type"] == "String":
            assert "AllowedValues" in spec or "MaxLength" in spec, name


def test_alarms_evaluate_at_most_a_week_at_the_largest_parameters(template: dict[str, Any]) -> None:
    # Given a deployment with every numeric parameter at its maximum
    numbers = {name: maximum(spec) for name, spec in template["Parameters"].items() if spec["Type"] == "Number"}
    deployment = Deployment(template, numbers)

    # When each alarm's evaluation window is computed
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        alarm = deployment.render(resource["Properties"])
        periods = (
            [alarm["Period"]]
            if "Period" in alarm
            else [query["MetricStat"]["Period"] for query in alarm["Metrics"] if "MetricStat" in query]
        )
        evaluations = int(alarm["EvaluationPeriods"])

        # Then CloudWatch accepts it: Period x EvaluationPeriods within 7 days, DatapointsToAlarm within the window
        assert all(int(period) * evaluations <= CLOUDWATCH_MAX_EVALUATION_SECONDS for period in periods), name
        assert int(alarm.get("DatapointsToAlarm", evaluations)) <= evaluations, name


def test_empty_day_alarm_runs_are_as_many_as_cloudwatch_can_evaluate(template: dict[str, Any]) -> None:
    spec = template["Parameters"]["EmptyDayAlarmRuns"]
    period = template["Resources"]["EmptyDaysAlarm"]["Properties"]["Period"]
    assert (spec["MinValue"], spec["MaxValue"]) == (1, CLOUDWATCH_MAX_EVALUATION_SECONDS // period)


def longest_value(deployment: Deployment, node: Any) -> int:
    """The longest text an environment value can take, whatever the parameters within their ranges."""
    template = deployment.template
    if isinstance(node, str):
        return len(node.encode())
    if isinstance(node, dict) and "Fn::If" in node:
        return max(longest_value(deployment, branch) for branch in node["Fn::If"][1:])
    if isinstance(node, dict) and "Ref" in node:
        name = node["Ref"]
        if name in template["Parameters"]:
            return len(maximum(template["Parameters"][name]).encode())
        if name == "AWS::StackName":
            return STACK_NAME_MAX
        if template["Resources"][name]["Type"] == "AWS::S3::Bucket":
            return BUCKET_NAME_MAX
        return len(str(Deployment(template, stack=LONGEST_STACK).ref(name)).encode())
    raise AssertionError(f"an environment value this test cannot bound: {node!r}")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_environment_fits_lambdas_4_kb_at_the_longest_parameters(
    template: dict[str, Any], function: str
) -> None:
    # Given the variables the function gets (Globals and its own)
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    deployment = Deployment(template, stack=LONGEST_STACK)

    # When each takes its longest possible value / Then the total stays within Lambda's 4 KB
    total = sum(len(name) + longest_value(deployment, value) for name, value in variables.items())
    assert total <= LAMBDA_ENVIRONMENT_MAX_BYTES, total


# Limits of the services the numeric parameters reach: an inline Map runs at most 40 iterations at a time, a request
# cannot outlive a Lambda invocation (15 minutes), CloudWatch Logs accepts only these retentions, and a month must
# stay complete (62 days) until it was last uploaded.
NUMERIC_LIMITS: Final = {"MaxConcurrency": (1, 40), "RequestTimeout": (1, 15), "RetentionDays": (62, 3650)}
LOG_RETENTIONS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


@pytest.mark.parametrize(("name", "limits"), NUMERIC_LIMITS.items())
def test_numeric_range_is_within_its_services_limit(
    template: dict[str, Any], name: str, limits: tuple[int, int]
) -> None:
    spec = template["Parameters"][name]
    low, high = limits
    assert low <= spec["MinValue"] <= spec["Default"] <= spec["MaxValue"] <= high


def test_log_retention_is_one_cloudwatch_accepts(template: dict[str, Any]) -> None:
    assert set(template["Parameters"]["LogRetentionDays"]["AllowedValues"]) <= LOG_RETENTIONS


def test_functions_timeouts_and_memory_are_within_lambdas_limits(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    for function in FUNCTIONS:
        properties = template["Resources"][function]["Properties"]
        assert 1 <= int(properties.get("Timeout", function_globals["Timeout"])) <= LAMBDA_MAX_TIMEOUT_SECONDS
        assert int(properties.get("MemorySize", function_globals["MemorySize"])) in LAMBDA_MEMORY_MB


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("cron(0 3 * * ? *)", True),
        ("cron(30 4 ? * MON-FRI *)", True),
        ("rate(1 day)", True),
        ("rate(12 hours)", True),
        ("at(2025-07-15T03:00:00)", False),
        ("rate(0 days)", False),
        ("daily", False),
    ],
)
def test_schedule_expression_must_be_recurring(template: dict[str, Any], expression: str, allowed: bool) -> None:
    pattern = template["Parameters"]["ScheduleExpression"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, expression)) is allowed


# --- names and partitions ---


def test_names_fit_their_services_for_the_longest_stack_name(translated: dict[str, Any]) -> None:
    # Given a stack with the longest name CloudFormation allows
    deployment = Deployment(translated, stack=LONGEST_STACK)
    resources = translated["Resources"]

    def rendered(kind: str, name_property: str) -> list[str]:
        return [
            deployment.render(resource["Properties"][name_property])
            for resource in resources.values()
            if resource["Type"] == kind and name_property in resource["Properties"]
        ]

    # Then the state machine is named after the stack id's UUID (a <stack>-export would exceed 80 characters), and
    # the names the template sets fit their limits
    (name,) = rendered("AWS::StepFunctions::StateMachine", "StateMachineName")
    assert re.fullmatch(r"kubecost-flexera-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", name), name
    assert all(len(name) <= LAYER_NAME_MAX for name in rendered("AWS::Lambda::LayerVersion", "LayerName"))
    assert all(len(name) <= LOG_GROUP_NAME_MAX for name in rendered("AWS::Logs::LogGroup", "LogGroupName"))
    assert all(len(name) <= DASHBOARD_NAME_MAX for name in rendered("AWS::CloudWatch::Dashboard", "DashboardName"))
    assert len(str(deployment.ref("ExportStateMachine")).rsplit(":", 1)[1]) <= STATE_MACHINE_NAME_MAX


def test_layer_name_is_unique_per_stack(translated: dict[str, Any]) -> None:
    # Given two stacks in one account
    layers = [
        resource for resource in translated["Resources"].values() if resource["Type"] == "AWS::Lambda::LayerVersion"
    ]
    names = {
        Deployment(translated, stack=stack).render(layers[0]["Properties"]["LayerName"]) for stack in ("one", "two")
    }

    # Then each publishes its own layer (SAM's default name, the logical id, would be shared)
    assert len(layers) == 1
    assert names == {"one-layer", "two-layer"}


def test_no_arn_names_a_partition() -> None:
    # Given the template and the definition as written
    # Then no ARN is written for the aws partition only (aws-cn and aws-us-gov have their own)
    for path in ("template.yaml", "statemachine/export.asl.json"):
        assert "arn:aws:" not in (ROOT / path).read_text(encoding="utf-8"), path


@pytest.mark.parametrize(("partition", "region"), [("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")])
def test_a_deployment_in_another_partition_uses_only_its_arns(partition: str, region: str) -> None:
    # Given a deployment in another partition, its resources and its substituted definition
    translated = translated_template(region)
    deployment = Deployment(
        translated, {"KubecostSecretArn": f"arn:{partition}:secretsmanager:r:123456789012:secret:k"}, partition
    )
    resources = json.dumps(deployment.render(translated["Resources"]))
    substitutions = deployment.render(deployment.properties("ExportStateMachine")["DefinitionSubstitutions"])
    text = (ROOT / "statemachine" / "export.asl.json").read_text(encoding="utf-8")
    definition = deployment.sub(text, substitutions)

    # Then every ARN is of that partition, the Lambda integration's of every task included
    assert "arn:aws:" not in resources
    assert "arn:aws:" not in definition
    tasks = re.findall(r'"Type": "Task",\s+"Comment": "[^"]*",\s+"Resource": "([^"]+)"', definition)
    assert tasks == [f"arn:{partition}:states:::lambda:invoke"] * definition.count('"Type": "Task"')
