"""The local world's IAM enforcement (``local/iam_enforcer.py``) and the roles it reads from the template
(``local/template_policies.py``, ``local/runner_roles.py``): refusals answered as AWS answers them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.iam_enforcer import LocalIamError, Principal, SandboxStopped, World, acting_as, enforced
from local.iam_policy import Decision, Policy, Request
from local.runner_roles import stack_roles
from local.runner_template import load_template
from local.template_policies import role_policies, sam_policies
from local.template_resolver import Deployment, Resolver

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "iam-test-bucket"
READ_STATE = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/state/*"}


def _principal(*statements: dict[str, Any]) -> Principal:
    return Principal("test-role", "test-fn", ACCOUNT, [Policy.parse("test", {"Statement": list(statements)})])


@pytest.fixture
def world(aws: None) -> Iterator[S3Client]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="state/days/present.json", Body=b"{}")
    with enforced(World(ACCOUNT, REGION)):
        yield s3


def _error(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_call_the_role_does_not_allow_is_refused_with_403(world: S3Client) -> None:
    with acting_as(_principal(READ_STATE)):
        client = boto3.client("s3", region_name=REGION)
        assert client.get_object(Bucket=BUCKET, Key="state/days/present.json")["Body"].read() == b"{}"
        assert _error(lambda: client.put_object(Bucket=BUCKET, Key="state/days/x.json", Body=b"")) == (
            "AccessDenied",
            403,
        )


def test_a_missing_key_is_403_without_list_bucket_and_404_with_it_for_that_prefix(world: S3Client) -> None:
    # Given a role that may read state/ but not list it, and one that may list state/days/ only
    list_days = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
        "Condition": {"StringLike": {"s3:prefix": "state/days/*"}},
    }
    with acting_as(_principal(READ_STATE)):
        client = boto3.client("s3", region_name=REGION)
        assert _error(lambda: client.get_object(Bucket=BUCKET, Key="state/days/missing.json")) == ("AccessDenied", 403)
        # HeadObject has no body: botocore reports the bare status, as with S3
        assert _error(lambda: client.head_object(Bucket=BUCKET, Key="state/days/missing.json")) == ("403", 403)
    with acting_as(_principal(READ_STATE, list_days)):
        client = boto3.client("s3", region_name=REGION)
        assert _error(lambda: client.get_object(Bucket=BUCKET, Key="state/days/missing.json")) == ("NoSuchKey", 404)
        assert _error(lambda: client.get_object(Bucket=BUCKET, Key="state/uploads/missing.json")) == (
            "AccessDenied",
            403,
        )


def test_delete_objects_refuses_each_key_the_role_may_not_delete(world: S3Client) -> None:
    world.put_object(Bucket=BUCKET, Key="exports/a", Body=b"a")
    delete_exports = {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{BUCKET}/exports/*"}
    with acting_as(_principal(delete_exports)):
        response = boto3.client("s3", region_name=REGION).delete_objects(
            Bucket=BUCKET, Delete={"Objects": [{"Key": "exports/a"}, {"Key": "state/days/present.json"}]}
        )
    assert [(e["Key"], e["Code"]) for e in response["Errors"]] == [("state/days/present.json", "AccessDenied")]
    remaining = [item["Key"] for item in world.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert remaining == ["state/days/present.json"]


def test_a_secret_under_a_customer_key_needs_decrypt_via_secrets_manager(world: S3Client) -> None:
    # Given a secret encrypted with a customer-managed key
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="cmk-secret", SecretString="{}", KmsKeyId=key
    )["ARN"]
    read = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}
    decrypt = {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key,
        "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}},
    }
    # Then a role that may read the secret but not decrypt it is refused, as Secrets Manager refuses it
    with acting_as(_principal(read)):
        client = boto3.session.Session().client("secretsmanager", region_name=REGION)  # Powertools makes its own
        assert _error(lambda: client.get_secret_value(SecretId=secret)) == ("AccessDeniedException", 400)
    with acting_as(_principal(read, decrypt)):
        assert client.get_secret_value(SecretId=secret)["SecretString"] == "{}"


def test_calls_outside_an_invocation_are_not_judged(world: S3Client) -> None:
    assert world.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


def test_a_stopped_invocation_may_not_call_aws_any_more(world: S3Client) -> None:
    principal = _principal(READ_STATE)
    principal.stopped.set()
    with acting_as(principal), pytest.raises(SandboxStopped):
        boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key="state/days/present.json")


def test_a_call_without_an_iam_mapping_fails_loudly(world: S3Client) -> None:
    with acting_as(_principal(READ_STATE)), pytest.raises(LocalIamError, match="s3:GetBucketLocation"):
        boto3.client("s3", region_name=REGION).get_bucket_location(Bucket=BUCKET)


# --- the roles as the template writes them ---


def _deployment(template: Any) -> Deployment:
    resources = template.document["Resources"]
    refs = {"ExportsBucket": BUCKET, "FlexeraCredentialsSecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:f"}
    attributes = {"ExportsBucket.Arn": f"arn:aws:s3:::{BUCKET}"}
    refs["ExportStateMachine"] = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm"
    for logical_id, resource in resources.items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::IAM::Role"):
            refs[logical_id] = f"stack-{logical_id}"
            kind = "function:" if resource["Type"] == "AWS::Serverless::Function" else "role/"
            service = "lambda" if kind == "function:" else "iam"
            region = REGION if service == "lambda" else ""
            attributes[f"{logical_id}.Arn"] = f"arn:aws:{service}:{region}:{ACCOUNT}:{kind}stack-{logical_id}"
    return Deployment("stack", REGION, ACCOUNT, {"KubecostHost": "http://k", "OrgId": "1"}, refs, attributes)


def test_the_template_roles_allow_what_each_function_does_and_no_more() -> None:
    template = load_template(stack_name="stack")
    deployment = _deployment(template)
    roles = stack_roles(template, deployment)

    def may(role: Principal, action: str, resource: str) -> bool:
        return role.decide(Request(action, resource, role.arn, {"aws:SecureTransport": "true"})) is Decision.ALLOWED

    export, upload = roles.functions["ExportDayFunction"], roles.functions["UploadFunction"]
    day_file = f"arn:aws:s3:::{BUCKET}/exports/default/2025-03/2025-03-01/x/kubecost-2025-03-01.csv.gz"
    upload_state = f"arn:aws:s3:::{BUCKET}/state/uploads/default/2025-03.json"
    assert may(export, "s3:PutObject", day_file)
    assert not may(export, "s3:PutObject", upload_state)
    assert may(upload, "s3:PutObject", upload_state)
    assert not may(upload, "s3:DeleteObject", day_file)
    # The state machine may invoke the stack's functions (SAM's LambdaInvokePolicy), nothing else
    assert may(roles.state_machine, "lambda:InvokeFunction", deployment.attributes["PlanFunction.Arn"])
    assert not may(roles.state_machine, "lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:x")
    # The schedule may start this state machine only
    assert roles.may_schedule(deployment.refs["ExportStateMachine"])
    assert not roles.may_schedule(f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:other")


def test_a_policy_attached_as_a_resource_of_its_own_counts_for_its_role() -> None:
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Extra": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {
                    "RoleName": {"Ref": "Role"},
                    "PolicyName": "p",
                    "PolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": "states:ListExecutions", "Resource": "*"}]
                    },
                },
            },
        }
    }
    resolver = Resolver(template, Deployment("s", REGION, ACCOUNT, {}, {"Role": "s-Role"}))
    policies = role_policies(template, resolver, {"Fn::GetAtt": ["Role", "Arn"]})
    assert [policy.name for policy in policies] == ["Extra"]


@pytest.mark.parametrize(("enabled", "expected"), [("yes", ["Machine/Policies[1]"]), ("no", [])])
def test_a_sam_policy_under_fn_if_is_the_branch_the_deployment_takes(enabled: str, expected: list[str]) -> None:
    # Given a state machine's SAM Policies with a statement document kept only when a condition holds
    template = {
        "Parameters": {"Enabled": {"Type": "String"}},
        "Conditions": {"On": {"Fn::Equals": [{"Ref": "Enabled"}, "yes"]}},
    }
    statement = {"Effect": "Allow", "Action": "states:StartExecution", "Resource": "arn:sm"}
    policies = [
        "AWSXrayWriteOnlyAccess",
        {"Fn::If": ["On", {"Statement": [statement]}, {"Ref": "AWS::NoValue"}]},
    ]
    resolver = Resolver(template, Deployment("s", REGION, ACCOUNT, {"Enabled": enabled}, {}))

    # When the local runner reads them / Then the statement is a policy exactly when the condition holds
    names = [policy.name for policy in sam_policies("Machine", resolver, policies)]
    assert names == ["AWSXrayWriteOnlyAccess", *expected]
