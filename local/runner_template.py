"""What the local runner takes from ``template.yaml``: the functions (handlers, memory, timeout, role), the parameters'
defaults, the state machine's name, definition file and ``DefinitionSubstitutions``, the exports bucket's expiration
rules, and the whole document (for the roles' policies, ``local/template_policies.py``).

The template is the source of truth, so a local run exercises exactly the wiring ``sam deploy`` creates: a renamed
function, a moved handler or a new substitution key changes the local run too, or breaks it loudly. The template is
read with SAM CLI's loader, which understands CloudFormation's short tags (``!GetAtt``, ``!Ref``, ``!Sub``). The
cost model reads the functions' memory and the parameters' defaults from the same model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from samcli.yamlhelper import yaml_parse  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from collections.abc import Mapping

ROOT: Final = Path(__file__).resolve().parent.parent
TEMPLATE: Final = ROOT / "template.yaml"
STATE_MACHINE_ID: Final = "ExportStateMachine"
BUCKET_ID: Final = "ExportsBucket"
LAMBDA_DEFAULT_MEMORY_MB: Final = 128  # Lambda's MemorySize when neither the function nor Globals sets one
# The partition, region and account of every local run (moto's default account).
LOCAL_PSEUDO_PARAMETERS: Final = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
LAMBDA_DEFAULT_TIMEOUT_SECONDS: Final = 3  # Lambda's Timeout when neither the function nor Globals sets one


class TemplateError(ValueError):
    """The template does not have the shape the runner relies on (the lead's contract)."""


@dataclass(frozen=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function``: its logical id, the Python module and attribute of its handler, its runtime,
    its memory in MB and its timeout in seconds (each the function's own setting, else the Globals one), and its
    ``Role`` and ``Policies`` as written (unresolved)."""

    logical_id: str
    module: str
    attribute: str
    runtime: str
    memory_size: int
    timeout_seconds: int = LAMBDA_DEFAULT_TIMEOUT_SECONDS
    role: Any = None
    policies: Any = None


@dataclass(frozen=True)
class StateMachineSpec:
    """The state machine: name (with the stack name substituted, or CloudFormation's generated one when the template
    names none), definition text and its substitutions."""

    name: str
    definition_template: str
    function_substitutions: Mapping[str, str]  # substitution key -> function logical id
    parameter_substitutions: Mapping[str, str]  # substitution key -> template parameter or pseudo parameter name
    parameter_defaults: Mapping[str, str]

    def definition(self, function_arns: Mapping[str, str], parameters: Mapping[str, str] | None = None) -> str:
        """The definition with every ``${Key}`` replaced, as CloudFormation does; refuses a leftover placeholder.

        Pseudo parameters take the local deployment's values (:data:`LOCAL_PSEUDO_PARAMETERS`)."""
        values = {key: function_arns[logical_id] for key, logical_id in self.function_substitutions.items()}
        given = {**LOCAL_PSEUDO_PARAMETERS, **self.parameter_defaults, **(parameters or {})}
        values.update({key: given[name] for key, name in self.parameter_substitutions.items()})
        text = self.definition_template
        for key, value in values.items():
            text = text.replace("${" + key + "}", value)
        if "${" in text:
            raise TemplateError("the definition has a placeholder that DefinitionSubstitutions does not define")
        json.loads(text)  # a definition that is not JSON after substitution would fail in AWS too
        return text


@dataclass(frozen=True)
class Expiration:
    """A lifecycle rule of the bucket that expires the objects under ``prefix`` ``days`` after their last write."""

    rule_id: str
    prefix: str
    days: int


@dataclass(frozen=True)
class TemplateModel:
    functions: Mapping[str, FunctionSpec]
    state_machine: StateMachineSpec
    parameter_defaults: Mapping[str, str]  # every template parameter that has a Default
    document: Mapping[str, Any] = field(default_factory=dict)  # the parsed template, short tags as Fn:: mappings
    bucket_expirations: tuple[Expiration, ...] = ()  # the exports bucket's enabled expiration rules


def load_template(path: Path = TEMPLATE, *, stack_name: str) -> TemplateModel:
    template = yaml_parse(path.read_text())
    resources: dict[str, Any] = template.get("Resources", {})
    globals_ = template.get("Globals", {}).get("Function", {})
    functions = {
        logical_id: _function(logical_id, resource.get("Properties", {}), globals_)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    machine = resources.get(STATE_MACHINE_ID)
    if machine is None:
        raise TemplateError(f"template.yaml has no {STATE_MACHINE_ID}")
    parameters: dict[str, Any] = template.get("Parameters", {})
    defaults = {name: str(spec["Default"]) for name, spec in parameters.items() if "Default" in spec}
    return TemplateModel(
        functions=functions,
        state_machine=_state_machine(machine["Properties"], parameters, defaults, functions, stack_name),
        parameter_defaults=defaults,
        document=template,
        bucket_expirations=_expirations(resources.get(BUCKET_ID, {}).get("Properties", {}), defaults),
    )


def _expirations(properties: Mapping[str, Any], parameter_defaults: Mapping[str, str]) -> tuple[Expiration, ...]:
    """The enabled ``ExpirationInDays`` rules; a ``!Ref`` to a parameter takes the parameter's default."""
    rules: list[Expiration] = []
    for rule in properties.get("LifecycleConfiguration", {}).get("Rules", []):
        days = rule.get("ExpirationInDays")
        if rule.get("Status") != "Enabled" or days is None:
            continue
        if isinstance(days, dict) and "Ref" in days:
            days = parameter_defaults.get(str(days["Ref"]))
        try:
            rules.append(Expiration(str(rule.get("Id", "")), str(rule.get("Prefix", "")), int(str(days))))
        except ValueError:
            raise TemplateError(f"{BUCKET_ID} rule {rule.get('Id')!r}: ExpirationInDays must be a number") from None
    return tuple(rules)


def _function(logical_id: str, properties: Mapping[str, Any], globals_: Mapping[str, Any]) -> FunctionSpec:
    code_uri = properties.get("CodeUri")
    handler = properties.get("Handler", globals_.get("Handler"))
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id} needs a local CodeUri and a Handler module.function")
    module_name, attribute = handler.rsplit(".", 1)
    package = ".".join(Path(code_uri).parts)
    return FunctionSpec(
        logical_id=logical_id,
        module=f"{package}.{module_name}",
        attribute=attribute,
        runtime=str(properties.get("Runtime", globals_.get("Runtime", "python3.13"))),
        memory_size=int(properties.get("MemorySize", globals_.get("MemorySize", LAMBDA_DEFAULT_MEMORY_MB))),
        timeout_seconds=int(properties.get("Timeout", globals_.get("Timeout", LAMBDA_DEFAULT_TIMEOUT_SECONDS))),
        role=properties.get("Role"),
        policies=properties.get("Policies"),
    )


def _state_machine(
    properties: Mapping[str, Any],
    parameters: Mapping[str, Any],
    parameter_defaults: Mapping[str, str],
    functions: Mapping[str, FunctionSpec],
    stack_name: str,
) -> StateMachineSpec:
    function_keys: dict[str, str] = {}
    parameter_keys: dict[str, str] = {}
    for key, value in properties.get("DefinitionSubstitutions", {}).items():
        target = _substitution_target(key, value)
        if target in functions:
            function_keys[key] = target
        elif target in parameters or target in LOCAL_PSEUDO_PARAMETERS:
            parameter_keys[key] = target
        else:
            raise TemplateError(f"DefinitionSubstitutions.{key} refers to {target!r}: not a function or parameter")
    defaults = {name: parameter_defaults[name] for name in parameter_keys.values() if name in parameter_defaults}
    return StateMachineSpec(
        name=_name(properties["Name"], stack_name) if "Name" in properties else _generated_name(stack_name),
        definition_template=(ROOT / str(properties["DefinitionUri"])).read_text(),
        function_substitutions=function_keys,
        parameter_substitutions=parameter_keys,
        parameter_defaults=defaults,
    )


def _substitution_target(key: str, value: object) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn":
            return str(logical_id)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    raise TemplateError(f"DefinitionSubstitutions.{key} must be !GetAtt <Function>.Arn or !Ref <Parameter>")


def _generated_name(stack_name: str) -> str:
    """CloudFormation names an unnamed state machine ``<LogicalId>-<12 random characters>``; here a stable one."""
    suffix = hashlib.sha256(stack_name.encode()).hexdigest()[:12]
    return f"{STATE_MACHINE_ID}-{suffix}"


def _name(value: object, stack_name: str) -> str:
    """The state machine's ``Name`` as CloudFormation resolves it for the local stack (pseudo parameters only: a
    name that depends on a parameter or a resource would not be known when the roles that name it are made)."""
    from local.template_resolver import Deployment, Resolver  # noqa: PLC0415 - it imports TemplateError from here

    pseudo = LOCAL_PSEUDO_PARAMETERS
    region, account, partition = pseudo["AWS::Region"], pseudo["AWS::AccountId"], pseudo["AWS::Partition"]
    deployment = Deployment(stack_name, region, account, {}, {}, {}, partition)
    name = Resolver({}, deployment).resolve(value)
    if not isinstance(name, str):
        raise TemplateError(f"the state machine's Name must resolve to a string, not {name!r}")
    return name
