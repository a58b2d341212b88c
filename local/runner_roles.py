"""Who may do what in the local stack: each function's role, the state machine's and the schedule's, resolved from
``template.yaml`` with the names and ARNs of what the runner created, and the bucket policy.

``local/run.py`` builds a :class:`StackRoles` once per run; the in-process Lambda makes each handler act as its
function's role, checks the state machine's role before each invoke, and ``LocalWorkflow.start`` checks the
schedule's role before it starts an execution (the schedule is what starts executions in AWS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from local.iam_enforcer import Principal, World
from local.iam_policy import Decision, Policy, Request
from local.runner_template import STATE_MACHINE_ID, TemplateError
from local.template_policies import role_policies, sam_policies
from local.template_resolver import Deployment, Resolver

if TYPE_CHECKING:
    from collections.abc import Mapping

    from local.runner_template import TemplateModel

SCHEDULE_TYPE: Final = "AWS::Scheduler::Schedule"
BUCKET_POLICY_TYPE: Final = "AWS::S3::BucketPolicy"


@dataclass(frozen=True)
class StackRoles:
    functions: Mapping[str, Principal]  # by logical id
    state_machine: Principal
    schedule: Principal
    schedule_target: str  # the ARN the schedule starts
    world: World

    def may_schedule(self, state_machine_arn: str) -> bool:
        """Whether the schedule targets ``state_machine_arn`` and its role may start an execution of it."""
        request = Request("states:StartExecution", state_machine_arn, self.schedule.arn)
        return self.schedule_target == state_machine_arn and self.schedule.decide(request) is Decision.ALLOWED


def local_parameters(
    document: Mapping[str, Any], environ: Mapping[str, str], given: Mapping[str, str]
) -> dict[str, str]:
    """The template parameters of the local run: ``given``, else the value of the environment variable that
    ``Globals.Function.Environment`` sets from the parameter (``KUBECOST_SECRET_ARN: !Ref KubecostSecretArn``)."""
    parameters = document.get("Parameters", {})
    variables = document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    values = {}
    for variable, value in variables.items():
        if isinstance(value, dict) and value.get("Ref") in parameters and variable in environ:
            values[str(value["Ref"])] = environ[variable]
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise TemplateError(
            f"unknown template parameter(s) {', '.join(unknown)}; template.yaml defines {sorted(parameters)}"
        )
    return {**values, **given}


def stack_roles(template: TemplateModel, deployment: Deployment) -> StackRoles:
    document = template.document
    resources: Mapping[str, Any] = document.get("Resources", {})
    resolver = Resolver(document, deployment)

    def principal(role_logical_id: str, session: str, policies: list[Policy]) -> Principal:
        return Principal(
            deployment.refs.get(role_logical_id, f"{deployment.stack_name}-{role_logical_id}"),
            session,
            deployment.account,
            policies,
        )

    functions = {}
    for spec in template.functions.values():
        if spec.role is not None:
            role_id = _role_id(spec.role)
            policies = role_policies(document, resolver, spec.role)
        else:
            role_id = f"{spec.logical_id}Role"  # the role SAM generates from the function's Policies
            policies = sam_policies(spec.logical_id, resolver, spec.policies or [])
        functions[spec.logical_id] = principal(role_id, deployment.refs[spec.logical_id], policies)

    machine = resources[STATE_MACHINE_ID].get("Properties", {})
    if "Role" in machine:
        machine_policies = role_policies(document, resolver, machine["Role"])
        machine_role = _role_id(machine["Role"])
    else:
        machine_policies = sam_policies(STATE_MACHINE_ID, resolver, machine.get("Policies", []))
        machine_role = f"{STATE_MACHINE_ID}Role"

    schedules = _of_type(resources, SCHEDULE_TYPE)
    if len(schedules) != 1:
        raise TemplateError(f"the runner expects one {SCHEDULE_TYPE}, the template has {len(schedules)}")
    target = schedules[0]["Target"]
    schedule = principal(_role_id(target["RoleArn"]), "scheduler", role_policies(document, resolver, target["RoleArn"]))

    bucket_policies: dict[str, list[Policy]] = {}
    for props in _of_type(resources, BUCKET_POLICY_TYPE):
        bucket = str(resolver.resolve(props["Bucket"]))
        bucket_policies.setdefault(bucket, []).append(
            Policy.parse(f"bucket policy of {bucket}", resolver.resolve(props["PolicyDocument"]))
        )
    return StackRoles(
        functions=functions,
        state_machine=principal(machine_role, "states", machine_policies),
        schedule=schedule,
        schedule_target=str(resolver.resolve(target["Arn"])),
        world=World(deployment.account, deployment.region, bucket_policies),
    )


def _of_type(resources: Mapping[str, Any], type_name: str) -> list[Mapping[str, Any]]:
    return [resource.get("Properties", {}) for resource in resources.values() if resource.get("Type") == type_name]


def _role_id(role_arn: Any) -> str:
    if isinstance(role_arn, dict) and "Fn::GetAtt" in role_arn:
        target = role_arn["Fn::GetAtt"]
        return str(target.split(".", 1)[0] if isinstance(target, str) else target[0])
    raise TemplateError(f"a role must be given as !GetAtt <Role>.Arn, not {role_arn!r}")
