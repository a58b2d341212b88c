"""CloudFormation's intrinsic functions, conditions and ``Rules``, evaluated for one concrete deployment of a template.

The local runner resolves the roles' policies with it (``local/template_policies.py``), the deployment checks
evaluate the template's ``Rules`` and the services' limits with it (``local/deploy_checks.py``), and the template
tests read the template through it for invented deployments (``tests/fixtures/template.py``): one evaluator, so a
function the template starts to use is taught once. A function it does not know, or a reference it has no value
for, raises :class:`~local.runner_template.TemplateError` rather than leaving a placeholder behind.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from local.runner_template import TemplateError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

_NO_VALUE: Final = object()
_SUB_RE: Final = re.compile(r"\$\{([^}]*)\}")
# The functions only Rules may use, over the members of a list (each compared as a string).
_RULE_FUNCTIONS: Final[Mapping[str, Callable[[Sequence[str], Any], bool]]] = {
    "Fn::Contains": lambda members, expected: str(expected) in members,
    "Fn::EachMemberEquals": lambda members, expected: all(member == str(expected) for member in members),
    "Fn::EachMemberIn": lambda members, allowed: set(members) <= {str(item) for item in allowed},
}


@dataclass(frozen=True)
class BrokenRule:
    """An assertion of the template's ``Rules`` that a deployment breaks: the rule's name and its description."""

    rule: str
    description: str


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

    @property
    def stack_id(self) -> str:
        """``AWS::StackId``: CloudFormation's ARN of the stack, ending in a UUID it draws at creation; here one derived
        from the stack, region and account, so that every evaluation of one deployment sees the same id."""
        drawn = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.partition}/{self.region}/{self.account}/{self.stack_name}")
        return f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/{drawn}"


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
            return self.attribute(str(logical_id), str(attribute))
        if name == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return self.sub(str(text), variables)
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
        if name in _RULE_FUNCTIONS:
            items, expected = (self._resolve(item) for item in argument)
            return _RULE_FUNCTIONS[name]([str(item) for item in items], expected)
        raise TemplateError(f"the local runner does not resolve {name}")

    def broken_rules(self) -> list[BrokenRule]:
        """Every assertion of the template's ``Rules`` this deployment breaks, in order: CloudFormation refuses the
        stack before it creates anything (a rule applies when its ``RuleCondition`` holds)."""
        broken: list[BrokenRule] = []
        for name, rule in self._template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self._resolve(rule["RuleCondition"]):
                continue
            broken.extend(
                BrokenRule(name, str(assertion.get("AssertDescription", "assertion failed")))
                for assertion in rule.get("Assertions", [])
                if not self._resolve(assertion["Assert"])
            )
        return broken

    def ref(self, name: str) -> Any:
        """What ``!Ref name`` gives: a pseudo parameter, a parameter's value (a list for ``CommaDelimitedList``) or a
        resource's physical id."""
        return self.resolve({"Ref": name})

    def sub(self, text: str, variables: Mapping[str, Any] | None = None) -> str:
        """``!Sub`` of ``text``, with ``variables`` (resolved first) over the template's names."""
        return self._sub(text, {key: self._resolve(item) for key, item in (variables or {}).items()})

    def _ref(self, name: str) -> Any:
        deployment = self._deployment
        pseudo = {
            "AWS::NoValue": _NO_VALUE,
            "AWS::Partition": deployment.partition,
            "AWS::Region": deployment.region,
            "AWS::AccountId": deployment.account,
            "AWS::StackName": deployment.stack_name,
            "AWS::StackId": deployment.stack_id,
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

    def attribute(self, logical_id: str, attribute: str) -> str:
        """What ``!GetAtt logical_id.attribute`` gives."""
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
                return self.attribute(*name.split(".", 1))
            value = self._ref(name)
            if isinstance(value, list):
                raise TemplateError(f"${{{name}}} in !Sub is a list")
            return str(value)

        return _SUB_RE.sub(replace, text)
