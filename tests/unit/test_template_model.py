"""Reads ``template.yaml`` the way CloudFormation would, for the template tests (helpers only, no test here).

The template is parsed with SAM CLI's CloudFormation-tag-aware loader and translated by the SAM translator (the code
``sam deploy`` runs), so the tests see the roles SAM generates, not only what the template spells out. Intrinsic
functions are then evaluated for one concrete deployment (a :class:`Deployment`: parameter values, pseudo
parameters and the physical ids of the stack's resources), which turns a policy into plain strings a test can
compare: ``arn:aws:s3:::exports-bucket/exports/*`` instead of a nest of ``Fn::Sub`` and ``Fn::If``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
from samcli.yamlhelper import yaml_parse  # type: ignore[import-untyped]
from samtranslator.translator.arn_generator import ArnGenerator  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT: Final = Path(__file__).resolve().parents[2]
TEMPLATE_PATH: Final = ROOT / "template.yaml"
REGION: Final = "eu-west-1"
ACCOUNT: Final = "123456789012"
STACK: Final = "kubecost-flexera-exporter"
_NO_VALUE: Final = object()
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}!]+)\}")


def load_template() -> dict[str, Any]:
    """The template as written (before the SAM transform)."""
    template: dict[str, Any] = yaml_parse(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return template


@cache
def _translated_json(region: str) -> str:
    template = load_template()
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        # `sam build` replaces local paths with the built artifacts and `sam deploy` with S3 locations; the
        # translator only accepts the latter.
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if key in properties:
                properties[key] = f"s3://artifacts/{key}"

    class _NoManagedPolicyLookup:
        def load(self) -> dict[str, str]:
            raise AssertionError("the template must name managed policies by ARN (no IAM call at translation)")

    with pytest.MonkeyPatch.context() as patch:
        # The translator asks boto3 for a region (once per process, unless told), and writes the partition of that
        # region into the ARNs it makes.
        patch.setenv("AWS_DEFAULT_REGION", region)
        patch.setattr(ArnGenerator, "BOTO_SESSION_REGION_NAME", region)
        translated = transform(template, {}, _NoManagedPolicyLookup())
    return json.dumps(translated)


def translated_template(region: str = REGION) -> dict[str, Any]:
    """The template after the SAM transform for a region (a fresh copy each time)."""
    result: dict[str, Any] = json.loads(_translated_json(region))
    return result


@dataclass
class Deployment:
    """One concrete deployment: parameter values over the defaults, and invented physical ids of resources."""

    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    partition: str = "aws"
    stack: str = STACK

    def __post_init__(self) -> None:
        values = {name: str(spec.get("Default", "")) for name, spec in self.template.get("Parameters", {}).items()}
        values.update(self.parameters)
        self.values = values
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._conditions: dict[str, bool] = {}

    # --- what Ref and GetAtt give for the stack's own resources ---

    def physical_id(self, logical_id: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        if kind == "AWS::SecretsManager::Secret":
            return self.secret_arn(logical_id).replace("arn:aws:", f"arn:{self.partition}:")
        if kind == "AWS::StepFunctions::StateMachine":
            # CloudFormation's generated name when the template sets none: <logical id>-<12 characters>.
            name = self.render(self.properties(logical_id).get("StateMachineName", f"{logical_id}-AbCdEf123456"))
            return f"arn:{self.partition}:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:{self.partition}:sns:{REGION}:{ACCOUNT}:{logical_id.lower()}"
        return f"{self.stack}-{logical_id.lower()}"

    @staticmethod
    def secret_arn(name: str) -> str:
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"

    @staticmethod
    def kms_key_arn(key_id: str = "1234abcd-12ab-34cd-56ef-1234567890ab") -> str:
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"

    def attribute(self, logical_id: str, attribute: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        physical = self.physical_id(logical_id)
        if attribute != "Arn":
            return f"{physical}.{attribute}"
        arn = f"arn:{self.partition}"
        if kind == "AWS::S3::Bucket":
            return f"{arn}:s3:::{physical}"
        if kind == "AWS::Lambda::Function":
            return f"{arn}:lambda:{REGION}:{ACCOUNT}:function:{physical}"
        if kind == "AWS::Logs::LogGroup":
            name = self.render(self.properties(logical_id)["LogGroupName"])
            return f"{arn}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        if kind == "AWS::IAM::Role":
            return f"{arn}:iam::{ACCOUNT}:role/{physical}"
        return physical

    def properties(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.template["Resources"][logical_id].get("Properties", {})
        return properties

    # --- conditions and intrinsic functions ---

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.render(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.values:
            spec = self.template["Parameters"][name]
            value = self.values[name]
            if spec["Type"] == "CommaDelimitedList":
                return value.split(",")
            return value
        return self.physical_id(name)

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.render(variables[name]))
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.attribute(resource, attribute)
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def render(self, node: Any) -> Any:
        """Evaluates every intrinsic function in ``node``; ``AWS::NoValue`` removes the key or item."""
        if isinstance(node, list):
            return [item for item in (self.render(item) for item in node) if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), *_ = node.items()
            function = _INTRINSICS.get(key)
            if function is not None:
                return function(self, value)
        rendered = {key: self.render(value) for key, value in node.items()}
        return {key: value for key, value in rendered.items() if value is not _NO_VALUE}


def _sub(deployment: Deployment, value: Any) -> str:
    if isinstance(value, str):
        return deployment.sub(value, {})
    text, variables = value
    return deployment.sub(text, variables)


def _get_att(deployment: Deployment, value: Any) -> str:
    resource, attribute = value if isinstance(value, list) else value.split(".", 1)
    return deployment.attribute(resource, attribute)


def _if(deployment: Deployment, value: Any) -> Any:
    name, when_true, when_false = value
    return deployment.render(when_true if deployment.condition(name) else when_false)


def _join(deployment: Deployment, value: Any) -> str:
    separator, items = value
    return str(separator).join(str(item) for item in deployment.render(items))


_INTRINSICS: Final[dict[str, Callable[[Deployment, Any], Any]]] = {
    "Ref": lambda deployment, value: deployment.ref(value),
    "Fn::Sub": _sub,
    "Fn::GetAtt": _get_att,
    "Fn::If": _if,
    "Fn::Join": _join,
    "Fn::Equals": lambda deployment, value: deployment.render(value[0]) == deployment.render(value[1]),
    "Fn::Not": lambda deployment, value: not deployment.render(value[0]),
    "Fn::And": lambda deployment, value: all(deployment.render(item) for item in value),
    "Fn::Or": lambda deployment, value: any(deployment.render(item) for item in value),
    "Condition": lambda deployment, value: deployment.condition(value),
    # The functions only Rules may use.
    "Fn::Contains": lambda deployment, value: deployment.render(value[1]) in deployment.render(value[0]),
    "Fn::EachMemberEquals": lambda deployment, value: all(
        member == deployment.render(value[1]) for member in deployment.render(value[0])
    ),
    "Fn::EachMemberIn": lambda deployment, value: set(deployment.render(value[0])) <= set(deployment.render(value[1])),
}


def refused_by_rules(deployment: Deployment) -> list[str]:
    """The ``AssertDescription`` of every assertion of the template's ``Rules`` that this deployment breaks, as
    CloudFormation checks them before it creates anything (a rule applies when its ``RuleCondition`` holds)."""
    refused: list[str] = []
    for rule in deployment.template.get("Rules", {}).values():
        if "RuleCondition" in rule and not deployment.render(rule["RuleCondition"]):
            continue
        refused.extend(
            assertion["AssertDescription"]
            for assertion in rule["Assertions"]
            if not deployment.render(assertion["Assert"])
        )
    return refused


@dataclass(frozen=True)
class Grant:
    """One allowed action on one resource, from an identity policy, with the statement's condition (JSON) if any."""

    action: str
    resource: str
    condition: str | None = None

    @staticmethod
    def condition_text(condition: dict[str, Any]) -> str:
        return json.dumps(condition, sort_keys=True)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _attached_policies(deployment: Deployment, role_id: str) -> list[dict[str, Any]]:
    """The policy resources of the template attached to the role (``AWS::IAM::RolePolicy``)."""
    attached = []
    for logical_id, resource in deployment.template["Resources"].items():
        if resource["Type"] == "AWS::IAM::RolePolicy":
            policy = deployment.render(deployment.properties(logical_id))
            if policy["RoleName"] == deployment.ref(role_id):
                attached.append(policy)
    return attached


def role_grants(deployment: Deployment, role_id: str) -> set[Grant]:
    """Every (action, resource, condition) the inline and attached policies of a role allow, for this deployment."""
    properties = deployment.render(deployment.properties(role_id))
    grants: set[Grant] = set()
    for policy in [*properties.get("Policies", []), *_attached_policies(deployment, role_id)]:
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow", f"{role_id}: identity policies only allow"
            assert "NotAction" not in statement, f"{role_id}: NotAction grants everything else"
            assert "NotResource" not in statement, f"{role_id}: NotResource grants everything else"
            condition = Grant.condition_text(statement["Condition"]) if "Condition" in statement else None
            grants |= {
                Grant(action, resource, condition)
                for action in _as_list(statement["Action"])
                for resource in _as_list(statement["Resource"])
            }
    return grants


def managed_policies(deployment: Deployment, role_id: str) -> set[str]:
    return set(deployment.render(deployment.properties(role_id)).get("ManagedPolicyArns", []))
