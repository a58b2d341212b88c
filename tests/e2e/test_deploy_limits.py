"""Every parameter value the template accepts deploys: the services' limits checked at each extreme of each range,
for the longest stack name and in every partition (``local/deploy_checks.py``); an impossible combination is
refused by the template's ``Rules`` before anything is created. And the checks catch each limit issue 9 found, on a
copy of the template with its fix taken out."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final

import pytest

from local.deploy_checks import check_deployment
from local.runner_template import STATE_MACHINE_ID, load_template

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REQUIRED: Final = {"KubecostHost": "https://kubecost.example.com", "OrgId": "12345"}
LONGEST_STACK_NAME: Final = "k" + "-x" * 63 + "y"  # 128 characters
PARTITIONS: Final = ("aws", "aws-cn", "aws-us-gov")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return copy.deepcopy(dict(load_template(stack_name="test").document))


def _extremes(template: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(parameter, value) for each end of each numeric range and each allowed value."""
    for name, spec in template["Parameters"].items():
        for bound in ("MinValue", "MaxValue"):
            if bound in spec:
                yield name, str(spec[bound])
        for value in spec.get("AllowedValues", []):
            yield name, str(value)


def _limit_problems(template: dict[str, Any], parameters: dict[str, str], **kwargs: Any) -> list[str]:
    problems = check_deployment(template, {**REQUIRED, **parameters}, **kwargs)
    return [problem.message for problem in problems if not problem.refused_by_rules]


@pytest.mark.parametrize("partition", PARTITIONS)
def test_every_extreme_parameter_value_deploys_with_the_longest_stack_name(
    template: dict[str, Any], partition: str
) -> None:
    for name, value in _extremes(template):
        assert _limit_problems(template, {name: value}, stack_name=LONGEST_STACK_NAME, partition=partition) == [], (
            name,
            value,
        )


@pytest.mark.parametrize(
    ("subnets", "groups"),
    [("subnet-1", ""), ("", "sg-1"), ("subnet-1,", "sg-1"), ("subnet-1", "sg-1,,sg-2"), ("subnet-1,subnet-2", "sg-1")],
)
def test_a_vpc_configuration_lambda_would_refuse_is_refused_by_the_rules_or_deploys(
    template: dict[str, Any], subnets: str, groups: str
) -> None:
    problems = check_deployment(
        template, {**REQUIRED, "SubnetIds": subnets, "SecurityGroupIds": groups}, stack_name="vpc"
    )
    assert [problem.message for problem in problems if not problem.refused_by_rules] == []
    if "" in subnets.split(",") or "" in groups.split(","):
        assert problems, "an empty subnet or security group id must be refused before Lambda sees it"


# --- the checks catch what issue 9 fixed, once the fix is taken out ---


def test_an_alarm_window_beyond_seven_days_is_caught(template: dict[str, Any]) -> None:
    # Given EmptyDayAlarmRuns allowed up to 30 again
    old = copy.deepcopy(template)
    old["Parameters"]["EmptyDayAlarmRuns"]["MaxValue"] = 30
    problems = _limit_problems(old, {"EmptyDayAlarmRuns": "30"}, stack_name="alarm")
    assert any("EmptyDaysAlarm" in message and "604800" in message for message in problems), problems


def test_a_state_machine_named_after_a_long_stack_is_caught(template: dict[str, Any]) -> None:
    old = copy.deepcopy(template)
    old["Resources"][STATE_MACHINE_ID]["Properties"]["Name"] = {"Fn::Sub": "${AWS::StackName}-export"}
    problems = _limit_problems(old, {}, stack_name=LONGEST_STACK_NAME)
    assert any(message.startswith(f"{STATE_MACHINE_ID}: name of 135 characters") for message in problems), problems


def test_subnets_without_security_groups_are_caught_without_the_rules(template: dict[str, Any]) -> None:
    old = copy.deepcopy(template)
    old.pop("Rules")
    problems = _limit_problems(old, {"SubnetIds": "subnet-1"}, stack_name="vpc")
    assert any("subnets and security groups together" in message for message in problems), problems


def test_a_layer_name_shared_by_every_stack_is_caught(template: dict[str, Any]) -> None:
    old = copy.deepcopy(template)
    old["Resources"]["SharedLayer"]["Properties"].pop("LayerName")
    problems = _limit_problems(old, {}, stack_name="one")
    assert problems == ["SharedLayer: layer name 'SharedLayer' is the same for every stack of the account"]


def test_a_hard_coded_partition_in_the_definition_is_caught(template: dict[str, Any], tmp_path: Path) -> None:
    # Given the definition with the lambda:invoke resource written for the aws partition only
    definition = load_template(stack_name="test").state_machine.definition_template
    old_definition = tmp_path / "export.asl.json"
    old_definition.write_text(definition.replace("arn:${Partition}:", "arn:aws:"))
    old = copy.deepcopy(template)
    old["Resources"][STATE_MACHINE_ID]["Properties"]["DefinitionUri"] = str(old_definition)
    # Then it deploys in aws, and is refused for aws-cn
    assert _limit_problems(old, {}, stack_name="p", partition="aws") == []
    problems = _limit_problems(old, {}, stack_name="p", partition="aws-cn")
    assert problems, "the aws partition written into the definition must be caught"
    assert all("hard-codes the aws partition" in message for message in problems)


@pytest.mark.parametrize("partition", PARTITIONS)
def test_a_sources_document_with_the_longest_key_and_prefix_deploys_with_the_longest_stack_name(
    template: dict[str, Any], partition: str
) -> None:
    # Given the sources parameters at their longest, with a refresh window (every conditional grant present)
    parameters = {
        "SourcesDocumentKey": "config/" + "s" * 28 + ".json",
        "KubecostSecretPrefix": "kubecost-flexera/" + "p" * 14 + "/",
        "RefreshDays": "62",
    }
    assert [len(parameters[name]) for name in ("SourcesDocumentKey", "KubecostSecretPrefix")] == [
        template["Parameters"][name]["MaxLength"] for name in ("SourcesDocumentKey", "KubecostSecretPrefix")
    ]
    # Then nothing is refused, the state machine's name (the stack id's) included
    assert _limit_problems(template, parameters, stack_name=LONGEST_STACK_NAME, partition=partition) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("SourcesDocumentKey", "exports/sources.json"), ("SourcesDocumentKey", "config/*"), ("KubecostSecretPrefix", "*")],
)
def test_a_sources_parameter_that_would_widen_a_grant_is_refused(
    template: dict[str, Any], name: str, value: str
) -> None:
    problems = check_deployment(template, {**REQUIRED, name: value}, stack_name="sources")
    assert [problem.message.split("=", 1)[0] for problem in problems] == [f"parameter {name}"]
