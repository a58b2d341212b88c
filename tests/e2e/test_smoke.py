"""``python -m local.smoke`` against moto's server, as a user runs it against the real stack after ``sam deploy``.

The stack is the local world's (the real definition and handlers, IAM enforced), served over HTTP by moto's server
on 127.0.0.1 and an ephemeral port; a CloudFormation stack there carries the outputs ``sam deploy`` creates. The
smoke test runs in a process of its own with only ``AWS_ENDPOINT_URL`` pointing it at that server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Final

import boto3
import pytest
from moto.server import ThreadedMotoServer

from emulators.kubecost import KubecostFault
from local.run import BUCKET
from local.runner_template import ROOT
from local.smoke import error_table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from local.run import LocalWorkflow
    from tests.fixtures.workflow import LocalWorkflowFactory

STACK: Final = "kubecost-flexera-smoke"
PLACEHOLDER: Final = '{"placeholder": "replace this value"}'


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(allocations_per_day=3)  # today is the real UTC date, as the dry run's plan


@pytest.fixture
def flexera(flexera_emulator: Callable[..., FlexeraEmulator]) -> FlexeraEmulator:
    return flexera_emulator()


@pytest.fixture
def deployed(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> Iterator[tuple[LocalWorkflow, str]]:
    """The local stack behind moto's server, with the stack outputs; yields the workflow and the server's URL."""
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    outputs = {
        "StateMachineArn": workflow.state_machine_arn,
        "FlexeraCredentialsSecretArn": workflow.secret_arn,
        "ExportsBucketName": BUCKET,
        "PutFlexeraCredentialsCommand": f"aws secretsmanager put-secret-value --secret-id {workflow.secret_arn} "
        "--secret-string file://flexera.json",
    }
    template = {
        "Resources": {"AlarmTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield workflow, f"http://{host}:{port}"
    finally:
        server.stop()


def _smoke(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'kubecost_flexera'}",
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.run(  # noqa: S603 - this interpreter, this repository's module
        [sys.executable, "-m", "local.smoke", "--stack", STACK, "--poll", "0.2", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_a_healthy_stack_passes_the_dry_run_and_reports_each_day_and_month(deployed: tuple[LocalWorkflow, str]) -> None:
    workflow, url = deployed
    # When the smoke test runs against the deployed stack
    result = _smoke(url)
    # Then it found the outputs and a filled secret, followed the dry run and reported it
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Flexera secret: filled (a refresh token)" in out
    assert "day(s) done" in out
    assert "SUCCEEDED" in out
    assert "dry-run" in out  # the month's upload status in a dry run
    assert "First error" not in out
    # And nothing was uploaded: a dry run
    assert workflow.invocations()[-1].result["months"][0]["status"] == "dry-run"


def test_the_placeholder_secret_stops_the_smoke_test_before_any_run(deployed: tuple[LocalWorkflow, str]) -> None:
    workflow, url = deployed
    boto3.client("secretsmanager").put_secret_value(SecretId=workflow.secret_arn, SecretString=PLACEHOLDER)
    result = _smoke(url)
    assert result.returncode == 1
    assert "the Flexera secret still holds the placeholder" in result.stderr
    assert "put-secret-value" in result.stderr
    assert workflow.invocations() == []


def test_the_first_error_is_explained_from_the_readme(
    deployed: tuple[LocalWorkflow, str], kubecost: KubecostEmulator
) -> None:
    # Given a Kubecost that fails every request
    kubecost.inject(KubecostFault("http_500", on_request=1, times=None))
    result = _smoke(deployed[1])
    # Then the dry run fails, the failed day is listed and its error is explained with the README's remedy
    assert result.returncode == 1
    advice = error_table((ROOT / "README.md").read_text())["KubecostUnavailable"]
    assert "First error: KubecostUnavailable" in result.stdout
    assert f"What to do: {advice.remedy}" in result.stdout


def test_the_readme_explains_every_error_the_workflow_names() -> None:
    from kubecost_flexera import errors  # noqa: PLC0415

    names = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.ExporterError) and value is not errors.ExporterError
    }
    assert names - set(error_table((ROOT / "README.md").read_text())) == set()
