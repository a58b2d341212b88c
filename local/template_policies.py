"""The IAM policies of the template's roles, resolved for the local run: what each function, the state machine and
the schedule may do, as ``sam deploy`` would create them.

A role's policies come from ``template.yaml`` as written: the ``AWS::IAM::Role``'s inline ``Policies`` and
``ManagedPolicyArns``, or a SAM resource's ``Policies`` (inline ``Statement`` documents, SAM policy templates such as
``LambdaInvokePolicy``, expanded with SAM's own ``policy_templates.json``, and managed policy names). Intrinsic
functions are resolved as CloudFormation does, with the local run's values: the parameters (their defaults, or the
value of the environment variable ``Globals`` maps to them), the pseudo parameters, and the physical names and ARNs
of the resources the runner created (:class:`Deployment`). A reference the runner cannot resolve, or a managed
policy it does not know, raises :class:`~local.runner_template.TemplateError`: a policy silently left out would
make the local world kinder than AWS.

The AWS managed policies the template attaches are written out here (their documents as AWS publishes them); a
function calls none of their actions locally (logs and X-Ray are not emulated), but an unknown one is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from samtranslator.policy_template_processor.processor import (  # type: ignore[import-untyped]
    PolicyTemplatesProcessor,
)

from local.iam_policy import Policy
from local.runner_template import TemplateError

if TYPE_CHECKING:
    from collections.abc import Mapping

_NO_VALUE: Final = object()
_LOGS_WRITE: Final = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": "*",
}
MANAGED_POLICIES: Final[Mapping[str, list[dict[str, Any]]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [_LOGS_WRITE],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "service-role/AWSLambdaVPCAccessExecutionRole": [
        _LOGS_WRITE,
        {
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": "*",
        },
    ],
}
_SUB_RE: Final = re.compile(r"\$\{([^}]*)\}")
_POLICY_TEMPLATES: Final = PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


@dataclass(frozen=True)
class Deployment:
    """What CloudFormation would know about this stack: parameters, pseudo parameters, each resource's ``Ref`` and
    attributes (logical id -> value; attributes keyed ``"<LogicalId>.<Attribute>"``)."""

    stack_name: str
    region: str
    account: str
    parameters: Mapping[str, str]
    refs: Mapping[str, str]
    attributes: Mapping[str, str] = field(default_factory=dict)
    partition: str = "aws"


class Resolver:
    """CloudFormation's intrinsic functions over one template and one :class:`Deployment`."""

    def __init__(self, template: Mapping[str, Any], deployment: Deployment) -> None:
        self._template = template
        self._deployment = deployment
        self._conditions: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced; ``!Ref AWS::NoValue`` entries are dropped."""
        result = self._resolve(value)
        return None if result is _NO_VALUE else result

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            body = self._template.get("Conditions", {}).get(name)
            if body is None:
                raise TemplateError(f"condition {name} is not defined in Conditions")
            self._conditions[name] = bool(self._resolve(body))
        return self._conditions[name]

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(str(argument))
            if key == "Condition":
                return self.condition(str(argument))
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:  # noqa: PLR0911 - one branch per intrinsic function
        if name == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self._attribute(str(logical_id), str(attribute))
        if name == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return self._sub(str(text), {key: self._resolve(item) for key, item in variables.items()})
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.condition(str(condition)) else when_false)
        if name == "Fn::Equals":
            left, right = (self._resolve(item) for item in argument)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self._resolve(argument[0])
        if name == "Fn::And":
            return all(self._resolve(item) for item in argument)
        if name == "Fn::Or":
            return any(self._resolve(item) for item in argument)
        if name == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(str(item) for item in self._resolve(items))
        if name == "Fn::Split":
            delimiter, text = argument
            return str(self._resolve(text)).split(str(delimiter))
        if name == "Fn::Select":
            index, items = argument
            return self._resolve(items)[int(self._resolve(index))]
        raise TemplateError(f"the local runner does not resolve {name}")

    def _ref(self, name: str) -> Any:
        deployment = self._deployment
        pseudo = {
            "AWS::NoValue": _NO_VALUE,
            "AWS::Partition": deployment.partition,
            "AWS::Region": deployment.region,
            "AWS::AccountId": deployment.account,
            "AWS::StackName": deployment.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        parameters = self._template.get("Parameters", {})
        if name in parameters:
            value = deployment.parameters.get(name, parameters[name].get("Default"))
            if value is None:
                raise TemplateError(f"parameter {name} has no default and no local value")
            if parameters[name].get("Type") == "CommaDelimitedList":
                return str(value).split(",")
            return str(value)
        if name in deployment.refs:
            return deployment.refs[name]
        raise TemplateError(f"the local run has no value for !Ref {name}")

    def _attribute(self, logical_id: str, attribute: str) -> str:
        key = f"{logical_id}.{attribute}"
        if key not in self._deployment.attributes:
            raise TemplateError(f"the local run has no value for !GetAtt {key}")
        return self._deployment.attributes[key]

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self._attribute(*name.split(".", 1))
            value = self._ref(name)
            if isinstance(value, list):
                raise TemplateError(f"${{{name}}} in !Sub is a list")
            return str(value)

        return _SUB_RE.sub(replace, text)


def role_policies(template: Mapping[str, Any], resolver: Resolver, role_arn: Any) -> list[Policy]:
    """The policies of the ``AWS::IAM::Role`` that ``role_arn`` (``!GetAtt <Role>.Arn`` as written) names."""
    if not (isinstance(role_arn, dict) and "Fn::GetAtt" in role_arn):
        raise TemplateError(f"a role must be given as !GetAtt <Role>.Arn, not {role_arn!r}")
    target = role_arn["Fn::GetAtt"]
    logical_id = target.split(".", 1)[0] if isinstance(target, str) else target[0]
    role = template.get("Resources", {}).get(logical_id, {})
    if role.get("Type") != "AWS::IAM::Role":
        raise TemplateError(f"{logical_id} is not an AWS::IAM::Role")
    properties = role.get("Properties", {})
    policies = [
        Policy.parse(f"{logical_id}/{item['PolicyName']}", item["PolicyDocument"])
        for item in resolver.resolve(properties.get("Policies", []))
    ]
    policies.extend(_managed(arn) for arn in resolver.resolve(properties.get("ManagedPolicyArns", [])))
    policies.extend(_attached(template, resolver, logical_id))
    return policies


_ATTACHED_TYPES: Final = {"AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}


def _attached(template: Mapping[str, Any], resolver: Resolver, role_logical_id: str) -> list[Policy]:
    """Policies that are resources of their own and name the role (``RoleName`` or ``Roles``)."""
    role_name = resolver.resolve({"Ref": role_logical_id})
    attached = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") not in _ATTACHED_TYPES:
            continue
        if "Condition" in resource and not resolver.condition(str(resource["Condition"])):
            continue
        properties = resource.get("Properties", {})
        roles = [properties["RoleName"]] if "RoleName" in properties else properties.get("Roles", [])
        if role_name in resolver.resolve(roles):
            attached.append(Policy.parse(logical_id, resolver.resolve(properties["PolicyDocument"])))
    return attached


def sam_policies(owner: str, resolver: Resolver, policies: Any) -> list[Policy]:
    """A SAM resource's ``Policies``: inline documents, SAM policy templates and managed policy names or ARNs."""
    items = policies if isinstance(policies, list) else [policies]
    result = []
    for index, item in enumerate(items):
        name = f"{owner}/Policies[{index}]"
        if isinstance(item, str):
            result.append(_managed(item if item.startswith("arn:") else f"arn:aws:iam::aws:policy/{item}"))
        elif isinstance(item, dict) and "Statement" in item:
            result.append(Policy.parse(name, resolver.resolve(item)))
        elif isinstance(item, dict) and len(item) == 1:
            ((template_name, parameters),) = item.items()
            try:
                document = _POLICY_TEMPLATES.convert(template_name, parameters or {})
            except Exception as exc:  # samtranslator raises its own errors for an unknown template or parameter
                raise TemplateError(f"{name}: SAM policy template {template_name}: {exc}") from exc
            result.append(Policy.parse(f"{name} {template_name}", resolver.resolve(document)))
        else:
            raise TemplateError(f"{name} is not a policy the local runner understands: {item!r}")
    return result


def _managed(arn: str) -> Policy:
    name = arn.split(":policy/", 1)[-1]
    statements = MANAGED_POLICIES.get(name)
    if statements is None:
        raise TemplateError(f"managed policy {arn} is not known to the local runner (local/template_policies.py)")
    return Policy.parse(name, {"Statement": statements})
