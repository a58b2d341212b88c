"""The one evaluator of CloudFormation's intrinsic functions and ``Rules`` (``local/template_resolver.py``), which the
local runner, the deployment checks and the template tests share: the functions only ``Rules`` may use, which rules
apply, and the public lookups the template tests read through."""

from __future__ import annotations

import re
from typing import Any, Final

import pytest

from local.runner_template import TemplateError
from local.template_resolver import BrokenRule, Deployment, Resolver

PARAMETERS: Final = {
    "Subnets": {"Type": "CommaDelimitedList", "Default": "subnet-1,subnet-2"},
    "Mode": {"Type": "String", "Default": "on"},
}


def resolver(template: dict[str, Any], **parameters: str) -> Resolver:
    deployment = Deployment(
        "stack", "us-east-1", "123456789012", parameters, {"Bucket": "stack-bucket"}, {"Bucket.Arn": "arn:bucket"}
    )
    return Resolver({"Parameters": PARAMETERS, **template}, deployment)


@pytest.mark.parametrize(
    ("function", "argument", "expected"),
    [
        ("Fn::Contains", [{"Ref": "Subnets"}, "subnet-2"], True),
        ("Fn::Contains", [{"Ref": "Subnets"}, "subnet-3"], False),
        ("Fn::EachMemberEquals", [{"Ref": "Subnets"}, "subnet-1"], False),
        ("Fn::EachMemberEquals", [["on", {"Ref": "Mode"}], "on"], True),
        ("Fn::EachMemberIn", [{"Ref": "Subnets"}, ["subnet-1", "subnet-2", "subnet-9"]], True),
        ("Fn::EachMemberIn", [{"Ref": "Subnets"}, ["subnet-1"]], False),
    ],
)
def test_the_functions_of_rules_compare_each_member_of_a_list(function: str, argument: Any, expected: bool) -> None:
    assert resolver({}).resolve({function: argument}) is expected


def test_broken_rules_name_each_failed_assertion_of_the_rules_that_apply_in_order() -> None:
    # Given a rule that applies only when Mode is on, with two assertions, and a rule without a condition
    rules = {
        "WhenOn": {
            "RuleCondition": {"Fn::Equals": [{"Ref": "Mode"}, "on"]},
            "Assertions": [
                {"Assert": {"Fn::Contains": [{"Ref": "Subnets"}, "subnet-9"]}, "AssertDescription": "needs subnet-9"},
                {"Assert": {"Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "Subnets"}, ""]}]}},
            ],
        },
        "Always": {"Assertions": [{"Assert": {"Fn::Equals": [{"Ref": "Mode"}, "off"]}, "AssertDescription": "off"}]},
    }

    # Then with Mode on both rules apply; with Mode off only the second, which then holds
    assert resolver({"Rules": rules}).broken_rules() == [
        BrokenRule("WhenOn", "needs subnet-9"),
        BrokenRule("Always", "off"),
    ]
    assert resolver({"Rules": rules}, Mode="off").broken_rules() == []


def test_the_lookups_give_what_ref_get_att_and_sub_give() -> None:
    lookups = resolver({}, Mode="off")

    assert lookups.ref("Subnets") == ["subnet-1", "subnet-2"]
    assert lookups.ref("Bucket") == "stack-bucket"
    assert lookups.attribute("Bucket", "Arn") == "arn:bucket"
    assert lookups.sub(
        "${AWS::StackName}/${Mode}/${Bucket.Arn}/${Suffix}/${!Literal}", {"Suffix": {"Ref": "Mode"}}
    ) == ("stack/off/arn:bucket/off/${Literal}")


def test_an_unknown_reference_or_function_is_an_error_not_a_placeholder() -> None:
    with pytest.raises(TemplateError, match="no value for !Ref Missing"):
        resolver({}).ref("Missing")
    with pytest.raises(TemplateError, match="does not resolve Fn::FindInMap"):
        resolver({}).resolve({"Fn::FindInMap": ["Map", "Key", "Value"]})


def test_the_stack_id_is_an_arn_ending_in_a_uuid_the_same_for_one_stack_and_another_for_another() -> None:
    # Given the stack id of a stack, again, and of another stack
    ids = [resolver({}).ref("AWS::StackId"), resolver({}).ref("AWS::StackId")]
    other = Resolver({}, Deployment("other", "us-east-1", "123456789012", {}, {})).ref("AWS::StackId")

    # Then it has CloudFormation's shape, is stable for one deployment, and differs between stacks
    assert re.fullmatch(r"arn:aws:cloudformation:us-east-1:123456789012:stack/stack/[0-9a-f-]{36}", ids[0]), ids[0]
    assert ids[0] == ids[1] != other
    # And a name built from its UUID, as the template names the state machine, is that UUID
    name = resolver({}).resolve({"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]})
    assert ids[0].endswith(f"/{name}")
