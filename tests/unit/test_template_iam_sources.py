"""Least privilege with a sources document (several clusters), decided by the local IAM evaluator.

Each grant the document adds is checked as AWS would decide a request: allowed for what the function does, refused
for what it must not do (another key, another prefix, another secret, another state machine), and refused without a
document, where every grant stays scoped to ``SourceName``. The keys are those ``storage.py`` writes, so a moved
prefix fails here.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

import pytest

from kubecost_flexera.adapters.storage import Storage
from local.iam_policy import Decision, Policy, Request, evaluate
from tests.fixtures.template import ACCOUNT, REGION, Deployment

DOCUMENT: Final = "config/sources.json"
PREFIX: Final = "kubecost-flexera/prod/"
FLEXERA_SECRET: Final = Deployment.secret_arn("existing-flexera")
DAY: Final = date(2025, 7, 15)
EXPORT_ID: Final = "20250716T030000Z-1a2b3c4d"
BILL_CONNECT_STATE: Final = "state/uploads/bill-connects/cbi-oi-kubecost-1/2025-07.json"


def with_document(translated: dict[str, Any], **parameters: str) -> Deployment:
    return Deployment(translated, {"FlexeraSecretArn": FLEXERA_SECRET, "SourcesDocumentKey": DOCUMENT, **parameters})


def single_source(translated: dict[str, Any], **parameters: str) -> Deployment:
    return Deployment(translated, {"FlexeraSecretArn": FLEXERA_SECRET, **parameters})


def policies(deployment: Deployment, role: str) -> list[Policy]:
    """The role's inline policies as CloudFormation creates them for this deployment."""
    rendered = deployment.render(deployment.properties(role))
    return [Policy.parse(policy["PolicyName"], policy["PolicyDocument"]) for policy in rendered.get("Policies", [])]


def allowed(deployment: Deployment, role: str, action: str, resource: str, **context: str) -> bool:
    request = Request(action, resource, context={key.replace("_", ":", 1): value for key, value in context.items()})
    return evaluate(policies(deployment, role), request) is Decision.ALLOWED


def bucket(deployment: Deployment) -> str:
    return deployment.attribute("ExportsBucket", "Arn")


def obj(deployment: Deployment, key: str) -> str:
    return f"{bucket(deployment)}/{key}"


def lists(deployment: Deployment, role: str, prefix: str) -> bool:
    """ListBucket for keys under ``prefix`` (also what S3 checks to answer a missing key with 404, not 403)."""
    return allowed(deployment, role, "s3:ListBucket", bucket(deployment), s3_prefix=prefix)


def secret(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf"


def state_machine_role(deployment: Deployment) -> str:
    role: str = deployment.template["Resources"]["ExportStateMachine"]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return role


def keys(source: str) -> dict[str, str]:
    """The keys a source's day has: a part, its manifest, and the prefix the plan lists a month with."""
    storage = Storage(None, "bucket", source)  # type: ignore[arg-type]  # only the key layout is used
    return {
        "part": storage.export_part_key(DAY, EXPORT_ID, 1),
        "manifest": storage.day_manifest_key(DAY),
        "month": storage.day_manifests_prefix("2025-07"),
        "upload": storage.upload_state_key("2025-07"),
    }


# --- the plan ---


def test_plan_reads_the_sources_document_only_and_sees_a_missing_one_as_absent(translated: dict[str, Any]) -> None:
    # Given a deployment with a sources document
    deployment = with_document(translated)

    # Then the plan may read that key, and list it (a missing document is a 404), nothing near it
    assert allowed(deployment, "PlanFunctionRole", "s3:GetObject", obj(deployment, DOCUMENT))
    assert lists(deployment, "PlanFunctionRole", DOCUMENT)
    for other in ("config/sources.json.bak", "config/other.json", "config/", keys("a")["manifest"]):
        assert not allowed(deployment, "PlanFunctionRole", "s3:GetObject", obj(deployment, other)), other
        assert not lists(deployment, "PlanFunctionRole", other), other
    assert not allowed(deployment, "PlanFunctionRole", "s3:PutObject", obj(deployment, DOCUMENT))
    assert not lists(deployment, "PlanFunctionRole", "")


def test_plan_reads_no_document_without_one(translated: dict[str, Any]) -> None:
    # Given a single-source deployment
    deployment = single_source(translated)

    # Then the plan reads no object at all
    assert not allowed(deployment, "PlanFunctionRole", "s3:GetObject", obj(deployment, DOCUMENT))
    assert not lists(deployment, "PlanFunctionRole", DOCUMENT)


@pytest.mark.parametrize("document", ["", DOCUMENT])
def test_plan_lists_the_executions_of_its_own_state_machine_only(translated: dict[str, Any], document: str) -> None:
    # Given a deployment (with or without a document) and the ARN its state machine gets
    deployment = single_source(translated, SourcesDocumentKey=document)
    own = deployment.ref("ExportStateMachine")

    # Then the plan may list that state machine's executions (the grant follows its name), no other's
    assert allowed(deployment, "PlanFunctionRole", "states:ListExecutions", own)
    other = own.rsplit(":", 1)[0] + ":kubecost-flexera-00000000-0000-0000-0000-000000000000"
    assert not allowed(deployment, "PlanFunctionRole", "states:ListExecutions", other)
    assert not allowed(deployment, "PlanFunctionRole", "states:StartExecution", own)


def test_the_state_machine_is_named_per_stack_whatever_the_stacks_name(translated: dict[str, Any]) -> None:
    # Given two stacks, one with the longest name CloudFormation allows
    names = {
        stack: Deployment(translated, stack=stack).ref("ExportStateMachine").rsplit(":", 1)[1]
        for stack in ("exporter", "s" * 128)
    }

    # Then each has its own name, of the same length, within Step Functions' 80 characters
    assert len(set(names.values())) == 2
    assert {len(name) for name in names.values()} == {len("kubecost-flexera-") + 36}


@pytest.mark.parametrize("document", ["", DOCUMENT])
def test_plan_with_a_refresh_window_lists_the_day_manifests_of_its_sources(
    translated: dict[str, Any], document: str
) -> None:
    # Given a deployment with a refresh window, with or without a sources document
    deployment = single_source(translated, SourcesDocumentKey=document, RefreshDays="3")

    # Then the plan lists its source's manifests (every source's with a document), and nothing else
    assert lists(deployment, "PlanFunctionRole", keys("default")["month"])
    assert lists(deployment, "PlanFunctionRole", keys("prod-eu")["month"]) is bool(document)
    for other in ("exports/", keys("default")["part"], keys("default")["upload"], "state/", ""):
        assert not lists(deployment, "PlanFunctionRole", other), other
    assert not allowed(deployment, "PlanFunctionRole", "s3:GetObject", obj(deployment, keys("default")["manifest"]))


# --- secrets under KubecostSecretPrefix ---


@pytest.mark.parametrize("role", ["PlanFunctionRole", "ExportDayFunctionRole"])
def test_plan_and_export_read_the_kubecost_secrets_under_the_prefix_only(translated: dict[str, Any], role: str) -> None:
    # Given a deployment with a document and a secret prefix
    deployment = with_document(translated, KubecostSecretPrefix=PREFIX)

    # Then the secrets whose names start with the prefix are readable, no other one
    for name in ("kubecost-flexera/prod/eu", "kubecost-flexera/prod/us/west"):
        assert allowed(deployment, role, "secretsmanager:GetSecretValue", secret(name)), name
    for refused in (
        secret("kubecost-flexera/production"),
        secret("kubecost-flexera/dev/eu"),
        secret("other/kubecost-flexera/prod/eu"),
        secret("kubecost-flexera/prod/eu", region="us-east-1"),
        secret("kubecost-flexera/prod/eu", account="210987654321"),
    ):
        assert not allowed(deployment, role, "secretsmanager:GetSecretValue", refused), refused
    assert not allowed(deployment, role, "secretsmanager:PutSecretValue", secret("kubecost-flexera/prod/eu"))


@pytest.mark.parametrize("role", ["PlanFunctionRole", "ExportDayFunctionRole", "UploadFunctionRole"])
def test_a_secret_prefix_without_a_document_grants_nothing(translated: dict[str, Any], role: str) -> None:
    # Given a prefix but no sources document (harmless: a single source reads KubecostSecretArn only)
    deployment = single_source(translated, KubecostSecretPrefix=PREFIX)

    # Then no function may read a secret under the prefix
    assert not allowed(deployment, role, "secretsmanager:GetSecretValue", secret("kubecost-flexera/prod/eu"))


def test_upload_never_reads_kubecost_secrets(translated: dict[str, Any]) -> None:
    deployment = with_document(translated, KubecostSecretPrefix=PREFIX)
    assert not allowed(
        deployment, "UploadFunctionRole", "secretsmanager:GetSecretValue", secret("kubecost-flexera/prod/eu")
    )
    assert allowed(deployment, "UploadFunctionRole", "secretsmanager:GetSecretValue", FLEXERA_SECRET)


# --- the export ---

_EXPORT_WRITES: Final = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")


def test_export_with_a_document_writes_every_sources_days_and_nothing_else(translated: dict[str, Any]) -> None:
    # Given a deployment with a sources document
    deployment = with_document(translated)

    # Then the export writes and replaces any source's parts and manifests, and lists any source's manifests
    for source in ("prod-eu", "a"):
        for action in _EXPORT_WRITES:
            for key in (keys(source)["part"], keys(source)["manifest"]):
                assert allowed(deployment, "ExportDayFunctionRole", action, obj(deployment, key)), (action, key)
        assert lists(deployment, "ExportDayFunctionRole", keys(source)["manifest"])
    # But never the document, the upload state or anything else, and it lists no part
    for key in (DOCUMENT, keys("a")["upload"], BILL_CONNECT_STATE, "exports"):
        for action in _EXPORT_WRITES:
            assert not allowed(deployment, "ExportDayFunctionRole", action, obj(deployment, key)), (action, key)
    assert not lists(deployment, "ExportDayFunctionRole", keys("a")["part"])
    assert not lists(deployment, "ExportDayFunctionRole", DOCUMENT)


def test_export_without_a_document_writes_only_its_sources_days(translated: dict[str, Any]) -> None:
    # Given a single-source deployment named team-a
    deployment = single_source(translated, SourceName="team-a")

    # Then the export reaches team-a's parts and manifests only
    for action in _EXPORT_WRITES:
        for key in (keys("team-a")["part"], keys("team-a")["manifest"]):
            assert allowed(deployment, "ExportDayFunctionRole", action, obj(deployment, key)), (action, key)
        for key in (keys("team-b")["part"], keys("team-b")["manifest"], keys("team-a-b")["manifest"]):
            assert not allowed(deployment, "ExportDayFunctionRole", action, obj(deployment, key)), (action, key)
    assert lists(deployment, "ExportDayFunctionRole", keys("team-a")["manifest"])
    assert not lists(deployment, "ExportDayFunctionRole", keys("team-b")["manifest"])


# --- the upload ---


def test_upload_with_a_document_reads_every_sources_days_and_writes_bill_connect_state(
    translated: dict[str, Any],
) -> None:
    # Given a deployment with a sources document
    deployment = with_document(translated)

    # Then the upload reads any source's parts and manifests, and reads and writes the bill connects' state
    for source in ("prod-eu", "a"):
        for key in (keys(source)["part"], keys(source)["manifest"]):
            assert allowed(deployment, "UploadFunctionRole", "s3:GetObject", obj(deployment, key)), key
            assert lists(deployment, "UploadFunctionRole", key), key
            assert not allowed(deployment, "UploadFunctionRole", "s3:PutObject", obj(deployment, key)), key
            assert not allowed(deployment, "UploadFunctionRole", "s3:DeleteObject", obj(deployment, key)), key
    for action in ("s3:GetObject", "s3:PutObject"):
        assert allowed(deployment, "UploadFunctionRole", action, obj(deployment, BILL_CONNECT_STATE)), action
    assert lists(deployment, "UploadFunctionRole", BILL_CONNECT_STATE)
    # But not a source's own upload state (a single-source stack's), nor the document
    for key in (keys("a")["upload"], DOCUMENT):
        for action in ("s3:GetObject", "s3:PutObject"):
            assert not allowed(deployment, "UploadFunctionRole", action, obj(deployment, key)), (action, key)
        assert not lists(deployment, "UploadFunctionRole", key), key


def test_upload_without_a_document_reads_and_records_only_its_source(translated: dict[str, Any]) -> None:
    # Given a single-source deployment named team-a
    deployment = single_source(translated, SourceName="team-a")

    # Then the upload reads team-a's days and writes team-a's upload state, no other source's, no bill connect's
    for key in (keys("team-a")["part"], keys("team-a")["manifest"], keys("team-a")["upload"]):
        assert allowed(deployment, "UploadFunctionRole", "s3:GetObject", obj(deployment, key)), key
    assert allowed(deployment, "UploadFunctionRole", "s3:PutObject", obj(deployment, keys("team-a")["upload"]))
    for key in (keys("team-b")["part"], keys("team-b")["manifest"], keys("team-b")["upload"], BILL_CONNECT_STATE):
        assert not allowed(deployment, "UploadFunctionRole", "s3:GetObject", obj(deployment, key)), key
        assert not lists(deployment, "UploadFunctionRole", key), key
    assert not allowed(deployment, "UploadFunctionRole", "s3:PutObject", obj(deployment, BILL_CONNECT_STATE))


# --- the state machine's Distributed Map ---


def test_state_machine_starts_watches_and_stops_its_own_child_executions_with_a_document(
    translated: dict[str, Any],
) -> None:
    # Given a deployment with a document, its state machine's ARN and an execution of it
    deployment = with_document(translated)
    role = state_machine_role(deployment)
    own = deployment.ref("ExportStateMachine")
    # A Distributed Map's child: execution:<state machine>/<Map run label>:<id>
    child = own.replace(":stateMachine:", ":execution:") + "/ExportSources:0f6e1c8a-9b1d-4e2f-8a3c-5d6e7f8a9b0c"
    top_level = own.replace(":stateMachine:", ":execution:") + ":0f6e1c8a-run"

    # Then it may start executions of itself and describe and stop its children (AWS's policy for a Distributed Map)
    assert allowed(deployment, role, "states:StartExecution", own)
    assert allowed(deployment, role, "states:DescribeExecution", child)
    assert allowed(deployment, role, "states:StopExecution", child)
    # But not stop a top-level execution of itself (a run is stopped by a person, never by the workflow)
    assert not allowed(deployment, role, "states:StopExecution", top_level)
    # But not of another state machine, nor stop or describe the state machine itself
    other = own.rsplit(":", 1)[0] + ":other"
    assert not allowed(deployment, role, "states:StartExecution", other)
    other_execution = other.replace(":stateMachine:", ":execution:") + "/ExportSources:0f6e1c8a-run"
    assert not allowed(deployment, role, "states:StopExecution", other_execution)
    assert not allowed(deployment, role, "states:DescribeExecution", other_execution)
    assert not allowed(deployment, role, "states:DeleteStateMachine", own)


def test_state_machine_starts_no_execution_without_a_document(translated: dict[str, Any]) -> None:
    # Given a single-source deployment (ExportSources is never reached)
    deployment = single_source(translated)
    role = state_machine_role(deployment)
    own = deployment.ref("ExportStateMachine")

    # Then its state machine may start, describe and stop nothing
    assert not allowed(deployment, role, "states:StartExecution", own)
    execution = own.replace(":stateMachine:", ":execution:") + ":0f6e1c8a-run"
    assert not allowed(deployment, role, "states:StopExecution", execution)


@pytest.mark.parametrize("role", ["PlanFunctionRole", "ExportDayFunctionRole"])
def test_the_kubecost_key_decrypts_the_secrets_under_the_prefix_through_secrets_manager_only(
    translated: dict[str, Any], role: str
) -> None:
    # Given prefixed secrets encrypted with a customer managed key (and no KubecostSecretArn)
    key = Deployment.kms_key_arn()
    deployment = with_document(translated, KubecostSecretPrefix=PREFIX, KubecostSecretKmsKeyArn=key)
    via = f"secretsmanager.{REGION}.amazonaws.com"

    def decrypts(secret_arn: str, service: str = via, key_arn: str = key) -> bool:
        context = {"kms:ViaService": service, "kms:EncryptionContext:SecretARN": secret_arn}
        return (
            evaluate(policies(deployment, role), Request("kms:Decrypt", key_arn, context=context)) is Decision.ALLOWED
        )

    # Then the key decrypts a prefixed secret for Secrets Manager, and nothing else
    assert decrypts(secret("kubecost-flexera/prod/eu"))
    assert not decrypts(secret("kubecost-flexera/dev/eu"))
    assert not decrypts(secret("kubecost-flexera/prod/eu"), service=f"s3.{REGION}.amazonaws.com")
    assert not decrypts(
        secret("kubecost-flexera/prod/eu"), key_arn=Deployment.kms_key_arn("0" * 8 + "-0000-0000-0000-" + "0" * 12)
    )
    # And no Rule refuses the key without KubecostSecretArn, since the prefixed secrets are what it encrypts
    assert deployment.refused_by_rules() == []


def test_a_kubecost_key_with_a_prefix_but_no_document_is_refused(translated: dict[str, Any]) -> None:
    # Given a key and a prefix, but neither a sources document nor KubecostSecretArn: the key would encrypt nothing read
    deployment = single_source(
        translated, KubecostSecretPrefix=PREFIX, KubecostSecretKmsKeyArn=Deployment.kms_key_arn()
    )
    # Then the Rules refuse it before anything is created
    assert [text.split(":")[0] for text in deployment.refused_by_rules()] == [
        "KubecostSecretKmsKeyArn needs KubecostSecretArn, or with SourcesDocumentKey KubecostSecretPrefix"
    ]
