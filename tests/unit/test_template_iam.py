"""Least privilege, proven from the template after the SAM transform (the roles CloudFormation will create).

Each function reaches only its bucket prefixes, its secrets and the one API it calls; the state machine invokes
only its three functions; the scheduler only starts the state machine. No statement grants every action, and
``*`` as a resource appears only for actions that AWS offers with no resource-level permission.
"""

from __future__ import annotations

import json
from datetime import date
from fnmatch import fnmatchcase
from typing import Any, Final, cast

import pytest

from kubecost_flexera.adapters.storage import Storage
from tests.fixtures.template import (
    REGION,
    Deployment,
    Grant,
    managed_policies,
    role_grants,
)

KUBECOST_SECRET: Final = Deployment.secret_arn("existing-kubecost")
FLEXERA_SECRET: Final = Deployment.secret_arn("existing-flexera")
KUBECOST_KEY: Final = Deployment.kms_key_arn("1111aaaa-11aa-11aa-11aa-1111111111aa")
FLEXERA_KEY: Final = Deployment.kms_key_arn("mrk-0123456789abcdef0123456789abcdef")
# Actions without resource-level permissions (IAM service authorization reference): "*" is the narrowest resource.
NO_RESOURCE_LEVEL: Final = frozenset(
    {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)
AWS_MANAGED: Final = {
    "logs": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "xray": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "vpc": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
}


def deployment_with_secrets(translated: dict[str, Any]) -> Deployment:
    """Existing Flexera and Kubecost secrets given as parameters."""
    return Deployment(translated, {"FlexeraSecretArn": FLEXERA_SECRET, "KubecostSecretArn": KUBECOST_SECRET})


def object_arn(deployment: Deployment, prefix: str) -> str:
    return f"{deployment.attribute('ExportsBucket', 'Arn')}/{prefix}*"


def grants(actions: set[str], resources: set[str]) -> set[Grant]:
    return {Grant(action, resource) for action in actions for resource in resources}


def listing(deployment: Deployment, *prefixes: str) -> set[Grant]:
    """ListBucket on the bucket, for keys under these prefixes only."""
    condition = Grant.condition_text({"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}})
    return {Grant("s3:ListBucket", deployment.attribute("ExportsBucket", "Arn"), condition)}


def decrypting(key: str, secret: str) -> set[Grant]:
    """kms:Decrypt with the key, only through Secrets Manager and only for that secret."""
    condition = {
        "StringEquals": {
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
            "kms:EncryptionContext:SecretARN": secret,
        }
    }
    return {Grant("kms:Decrypt", key, Grant.condition_text(condition))}


def listable(granted: set[Grant], key: str) -> bool:
    """Whether a GetObject of ``key`` that does not exist answers 404 (S3 evaluates ListBucket with s3:prefix=key)."""
    for grant in granted:
        if grant.action == "s3:ListBucket" and grant.condition is not None:
            prefixes = json.loads(grant.condition)["StringLike"]["s3:prefix"]
            if any(fnmatchcase(key, prefix) for prefix in prefixes):
                return True
    return False


def all_roles(translated: dict[str, Any]) -> list[str]:
    return [name for name, resource in translated["Resources"].items() if resource["Type"] == "AWS::IAM::Role"]


def test_no_statement_grants_every_action_or_every_resource_where_a_narrower_one_exists(
    translated: dict[str, Any],
) -> None:
    # Given every role of a deployment with existing secrets and a VPC
    deployment = Deployment(
        translated,
        {"FlexeraSecretArn": FLEXERA_SECRET, "KubecostSecretArn": KUBECOST_SECRET, "SubnetIds": "subnet-1"},
    )

    # When their inline grants are listed
    every = {grant for role in all_roles(translated) for grant in role_grants(deployment, role)}

    # Then no action is a wildcard, and "*" resources only go with actions that cannot be narrowed
    assert every
    assert not {grant for grant in every if "*" in grant.action}
    assert {grant.action for grant in every if grant.resource == "*"} <= NO_RESOURCE_LEVEL


def test_export_day_function_reads_writes_and_deletes_only_day_files_and_manifests(translated: dict[str, Any]) -> None:
    # Given a deployment with a Kubecost secret
    deployment = deployment_with_secrets(translated)

    # When the export function's grants are listed
    granted = role_grants(deployment, "ExportDayFunctionRole")

    # Then it has object access under its source's exports/ and state/days/, lists only its day manifests, and reads
    # the Kubecost secret, nothing else
    assert granted == grants(
        {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"},
        {object_arn(deployment, "exports/default/"), object_arn(deployment, "state/days/default/")},
    ) | listing(deployment, "state/days/default/") | grants({"secretsmanager:GetSecretValue"}, {KUBECOST_SECRET})


def test_upload_function_reads_day_files_and_writes_only_upload_state(translated: dict[str, Any]) -> None:
    # Given a deployment with an existing Flexera secret
    deployment = deployment_with_secrets(translated)

    # When the upload function's grants are listed
    granted = role_grants(deployment, "UploadFunctionRole")

    # Then it reads its source's day files and manifests, reads and writes its upload state, lists only what it
    # reads, reads the Flexera secret only
    assert granted == (
        grants({"s3:GetObject"}, {object_arn(deployment, f"{prefix}/default/") for prefix in ("exports", "state/days")})
        | grants({"s3:GetObject", "s3:PutObject"}, {object_arn(deployment, "state/uploads/default/")})
        | listing(deployment, "exports/default/", "state/days/default/", "state/uploads/default/")
        | grants({"secretsmanager:GetSecretValue"}, {FLEXERA_SECRET})
    )


@pytest.mark.parametrize("source", ["default", "team-a"])
def test_missing_manifests_and_upload_state_read_as_absent_for_the_roles_that_read_them(
    translated: dict[str, Any], source: str
) -> None:
    # Given a deployment for a source, and the keys storage.py reads as "absent when missing"
    deployment = Deployment(translated, {"SourceName": source})
    storage = Storage(None, "bucket", source)  # type: ignore[arg-type]  # only the key layout is used
    day = date(2025, 7, 15)
    manifest, upload_state = storage.day_manifest_key(day), storage.upload_state_key("2025-07")
    part = storage.export_part_key(day, "20250716T030000Z-1a2b3c4d", 2)

    # When the roles' ListBucket grants are evaluated for those keys (S3 answers 404 only with ListBucket for the key)
    export, upload = (role_grants(deployment, role) for role in ("ExportDayFunctionRole", "UploadFunctionRole"))

    # Then each role may list exactly what it reads: the export its manifests, the upload manifests, state and parts
    assert (listable(export, manifest), listable(export, upload_state), listable(export, part)) == (True, False, False)
    assert (listable(upload, manifest), listable(upload, upload_state), listable(upload, part)) == (True, True, True)
    other = Storage(None, "bucket", f"{source}-other")  # type: ignore[arg-type]
    assert not listable(upload, other.day_manifest_key(day))


def test_no_role_may_decrypt_without_a_customer_managed_key(translated: dict[str, Any]) -> None:
    # Given a deployment with existing secrets on AWS managed keys
    deployment = deployment_with_secrets(translated)

    # Then no role has any KMS permission
    assert not {
        grant for role in all_roles(translated) for grant in role_grants(deployment, role) if "kms:" in grant.action
    }


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"KubecostSecretKmsKeyArn": KUBECOST_KEY},
            {"PlanFunctionRole": "kubecost", "ExportDayFunctionRole": "kubecost", "UploadFunctionRole": None},
        ),
        (
            {"FlexeraSecretKmsKeyArn": FLEXERA_KEY},
            {"PlanFunctionRole": "flexera", "ExportDayFunctionRole": None, "UploadFunctionRole": "flexera"},
        ),
    ],
    ids=["kubecost-key", "flexera-key"],
)
def test_functions_that_read_a_secret_may_decrypt_its_key_through_secrets_manager_only(
    translated: dict[str, Any], parameters: dict[str, str], expected: dict[str, str | None]
) -> None:
    # Given existing secrets, one of them encrypted with a customer managed key
    deployment = Deployment(
        translated, {"FlexeraSecretArn": FLEXERA_SECRET, "KubecostSecretArn": KUBECOST_SECRET, **parameters}
    )
    keys = {"kubecost": decrypting(KUBECOST_KEY, KUBECOST_SECRET), "flexera": decrypting(FLEXERA_KEY, FLEXERA_SECRET)}

    # When each function role's KMS grants are listed
    for role, which in expected.items():
        kms = {grant for grant in role_grants(deployment, role) if grant.action.startswith("kms:")}

        # Then exactly the roles reading that secret may decrypt, with that key, via Secrets Manager, for that secret
        assert kms == (keys[which] if which else set()), role


def test_plan_function_lists_its_own_executions_and_reads_both_secrets(translated: dict[str, Any]) -> None:
    # Given a deployment with both secrets (and no refresh window)
    deployment = deployment_with_secrets(translated)

    # When the plan function's grants are listed
    granted = role_grants(deployment, "PlanFunctionRole")

    # Then it may list this state machine's executions and read the two secrets, and touches no object
    assert granted == grants({"states:ListExecutions"}, {deployment.ref("ExportStateMachine")}) | grants(
        {"secretsmanager:GetSecretValue"}, {FLEXERA_SECRET, KUBECOST_SECRET}
    )


def test_plan_function_with_a_refresh_window_lists_only_its_sources_day_manifests(translated: dict[str, Any]) -> None:
    # Given a deployment with RefreshDays set and its own source name
    deployment = Deployment(
        translated, {"FlexeraSecretArn": FLEXERA_SECRET, "RefreshDays": "3", "SourceName": "cluster-a"}
    )

    # When the plan function's S3 statements are read
    statements = [
        statement
        for policy in deployment.render(deployment.properties("PlanFunctionRole"))["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if str(statement["Action"]).startswith("s3:")
    ]

    # Then it may list the bucket, and only under this source's day manifests: no object read, no other prefix
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": deployment.attribute("ExportsBucket", "Arn"),
            "Condition": {"StringLike": {"s3:prefix": "state/days/cluster-a/*"}},
        }
    ]
    # And the prefix the plan lists with is inside that condition
    listed = Storage(cast("Any", None), "bucket", "cluster-a").day_manifests_prefix("2025-07")
    assert fnmatchcase(listed, "state/days/cluster-a/*")


@pytest.mark.parametrize("role", ["PlanFunctionRole", "UploadFunctionRole"])
def test_function_reads_the_created_flexera_secret_when_none_is_given(translated: dict[str, Any], role: str) -> None:
    # Given a deployment that creates the Flexera secret
    deployment = Deployment(translated)

    # When the function's secret grants are listed
    secrets = {grant.resource for grant in role_grants(deployment, role) if grant.action.startswith("secretsmanager:")}

    # Then it is exactly that secret
    assert secrets == {deployment.ref("FlexeraCredentialsSecret")}


@pytest.mark.parametrize("role", ["PlanFunctionRole", "ExportDayFunctionRole"])
def test_function_reads_no_kubecost_secret_when_none_is_given(translated: dict[str, Any], role: str) -> None:
    # Given a deployment without a Kubecost secret
    deployment = Deployment(translated, {"FlexeraSecretArn": FLEXERA_SECRET})

    # When the function's secret grants are listed
    secrets = {grant.resource for grant in role_grants(deployment, role) if grant.action.startswith("secretsmanager:")}

    # Then no Kubecost secret is reachable
    assert KUBECOST_SECRET not in secrets
    assert "" not in secrets


@pytest.mark.parametrize(("subnets", "vpc_policy"), [("", False), ("subnet-1", True)])
@pytest.mark.parametrize("role", ["PlanFunctionRole", "ExportDayFunctionRole", "UploadFunctionRole"])
def test_function_managed_policies_are_logs_tracing_and_vpc_access_only_in_a_vpc(
    translated: dict[str, Any], role: str, subnets: str, vpc_policy: bool
) -> None:
    # Given a deployment with or without subnets
    deployment = Deployment(translated, {"SubnetIds": subnets})

    # When the function role's managed policies are listed
    attached = managed_policies(deployment, role)

    # Then they are the Lambda logging and X-Ray write policies, plus VPC access exactly when in a VPC
    expected = {AWS_MANAGED["logs"], AWS_MANAGED["xray"]} | ({AWS_MANAGED["vpc"]} if vpc_policy else set())
    assert attached == expected


@pytest.mark.parametrize("role", ["PlanFunctionRole", "ExportDayFunctionRole", "UploadFunctionRole"])
def test_function_role_is_assumable_by_lambda_only(translated: dict[str, Any], role: str) -> None:
    # Given the role's trust policy
    trust = Deployment(translated).render(Deployment(translated).properties(role))["AssumeRolePolicyDocument"]

    # Then only the Lambda service may assume it
    assert [statement["Principal"] for statement in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]


def test_state_machine_invokes_only_its_three_functions(translated: dict[str, Any]) -> None:
    # Given the state machine's role in a deployment
    deployment = Deployment(translated)
    role = translated["Resources"]["ExportStateMachine"]["Properties"]["RoleArn"]["Fn::GetAtt"][0]

    # When its grants are listed
    granted = role_grants(deployment, role)

    # Then it may invoke the plan, export and upload functions (and their versions), deliver its logs, nothing else
    functions = {
        f"arn:aws:lambda:eu-west-1:123456789012:function:{deployment.ref(name)}*"
        for name in ("PlanFunction", "ExportDayFunction", "UploadFunction")
    }
    assert {grant for grant in granted if grant.action not in NO_RESOURCE_LEVEL} == grants(
        {"lambda:InvokeFunction"}, functions
    )
    assert managed_policies(deployment, role) == {AWS_MANAGED["xray"]}


def test_scheduler_may_only_start_the_state_machine(translated: dict[str, Any]) -> None:
    # Given the schedule's role
    deployment = Deployment(translated)

    # When its grants and trust are read
    granted = role_grants(deployment, "DailyScheduleRole")
    trust = deployment.render(deployment.properties("DailyScheduleRole"))["AssumeRolePolicyDocument"]["Statement"]

    # Then EventBridge Scheduler of this account only may start this state machine, nothing else
    assert granted == grants({"states:StartExecution"}, {deployment.ref("ExportStateMachine")})
    assert [(statement["Principal"], statement["Condition"]) for statement in trust] == [
        ({"Service": "scheduler.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": "123456789012"}})
    ]
    assert managed_policies(deployment, "DailyScheduleRole") == set()
