"""The IAM policies of the template's roles, resolved for the local run: what each function, the state machine and
the schedule may do, as ``sam deploy`` would create them.

A role's policies come from ``template.yaml`` as written: the ``AWS::IAM::Role``'s inline ``Policies`` and
``ManagedPolicyArns``, or a SAM resource's ``Policies`` (inline ``Statement`` documents, SAM policy templates such as
``LambdaInvokePolicy``, expanded with SAM's own ``policy_templates.json``, and managed policy names). Intrinsic
functions are resolved as CloudFormation does (``local/template_resolver.py``), with the local run's values: the
parameters (their defaults, or the value of the environment variable ``Globals`` maps to them), the pseudo
parameters, and the physical names and ARNs of the resources the runner created. A reference the runner cannot
resolve, or a managed policy it does not know, raises :class:`~local.runner_template.TemplateError`: a policy
silently left out would make the local world kinder than AWS.

The AWS managed policies the template attaches are written out here (their documents as AWS publishes them); a
function calls none of their actions locally (logs and X-Ray are not emulated), but an unknown one is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from samtranslator.policy_template_processor.processor import (  # type: ignore[import-untyped]
    PolicyTemplatesProcessor,
)

from local.iam_policy import Policy
from local.runner_template import TemplateError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from local.template_resolver import Resolver

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
_POLICY_TEMPLATES: Final = PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


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
    for index, written in enumerate(items):
        name = f"{owner}/Policies[{index}]"
        # SAM keeps an item under !If as CloudFormation's Fn::If; the branch this deployment takes is the policy.
        item = resolver.resolve(written) if isinstance(written, dict) and "Fn::If" in written else written
        if item is None:
            continue
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
