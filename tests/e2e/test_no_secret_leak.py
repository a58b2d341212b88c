"""No secret leaves the workflow: the whole workflow runs with distinctive credentials, through success, transient
faults, refused credentials and recovery, and every line it produced is searched for them.

Searched: every line printed or logged (stdout, stderr, the Powertools JSON logger at DEBUG, any other logger,
warnings; EMF metrics are stdout lines), every execution's description and full history (inputs, outputs, errors,
causes), every handler's event, result and error message, the runner's summary, every object in the bucket
(decompressed), and what Flexera committed. Looked for: each secret, the headers built from them (``Bearer``, basic
auth's base64), and the access tokens Flexera issued. Every secret contains ``LEAKCHECK``, so a truncated or
partially masked secret is found too.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pytest

from emulators.flexera import FlexeraFault
from emulators.kubecost import KubecostAuth, KubecostFault
from kubecost_flexera.observability import logger as powertools_logger
from local.run import BUCKET
from local.runner_report import format_summary
from tests.fixtures.fault_matrix import BILL_CONNECT, DAYS, FAULT_DAY, MONTH, captured_output

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from local.runner_report import WorkflowRun
    from tests.fixtures.fault_matrix import Deployment, DeploymentFactory, Observed

MARK: Final = "LEAKCHECK"
KUBECOST_USER: Final = "kubecost-user"
FLEXERA_CLIENT_ID: Final = "flexera-client"


@dataclass(frozen=True)
class Credentials:
    """One way of authenticating to each side, and its revoked variant (also a secret: it must not leak either)."""

    name: str
    kubecost_auth: KubecostAuth
    kubecost_secret: Mapping[str, str]
    kubecost_revoked: Mapping[str, str]
    flexera_secret: Mapping[str, str]
    flexera_revoked: Mapping[str, str]
    secrets: tuple[str, ...]  # every secret value above, and the header values built from them


def _basic(password: str) -> str:
    return base64.b64encode(f"{KUBECOST_USER}:{password}".encode()).decode()


BEARER, REVOKED_BEARER = f"kubecost-bearer-{MARK}-p3V9", f"kubecost-bearer-revoked-{MARK}-x1Q"
PASSWORD, REVOKED_PASSWORD = f"kubecost-password-{MARK}-m5N", f"kubecost-password-revoked-{MARK}-r8T"
REFRESH, REVOKED_REFRESH = f"flexera-refresh-{MARK}-z7Q", f"flexera-refresh-revoked-{MARK}-k2W"
CLIENT_SECRET, REVOKED_CLIENT_SECRET = f"flexera-client-secret-{MARK}-w9X", f"flexera-client-revoked-{MARK}-j4Z"

CREDENTIALS: Final = (
    Credentials(
        name="bearer-token-and-refresh-token",
        kubecost_auth=KubecostAuth("bearer", BEARER),
        kubecost_secret={"bearer_token": BEARER},
        kubecost_revoked={"bearer_token": REVOKED_BEARER},
        flexera_secret={"refresh_token": REFRESH},
        flexera_revoked={"refresh_token": REVOKED_REFRESH},
        secrets=(BEARER, REVOKED_BEARER, REFRESH, REVOKED_REFRESH),
    ),
    Credentials(
        name="basic-auth-and-client-credentials",
        kubecost_auth=KubecostAuth("basic", PASSWORD, username=KUBECOST_USER),
        kubecost_secret={"username": KUBECOST_USER, "password": PASSWORD},
        kubecost_revoked={"username": KUBECOST_USER, "password": REVOKED_PASSWORD},
        flexera_secret={"client_id": FLEXERA_CLIENT_ID, "client_secret": CLIENT_SECRET},
        flexera_revoked={"client_id": FLEXERA_CLIENT_ID, "client_secret": REVOKED_CLIENT_SECRET},
        secrets=(PASSWORD, REVOKED_PASSWORD, _basic(PASSWORD), _basic(REVOKED_PASSWORD), CLIENT_SECRET),
    ),
)


def _runs(stack: Deployment, credentials: Credentials) -> list[Observed]:
    """Success with transient faults on both sides; both credentials refused; recovery with more faults."""
    stack.kubecost.inject(KubecostFault(kind="drop_connection", days=frozenset({FAULT_DAY})))
    stack.kubecost.inject(KubecostFault(kind="http_500", days=frozenset({DAYS[0]})))
    stack.flexera.inject(FlexeraFault(endpoint="file", kind="http_502"))
    first = stack.run()
    assert first.run.succeeded, first.run
    stack.a_day_passes()
    stack.put_kubecost_secret(credentials.kubecost_revoked)
    stack.put_flexera_secret(credentials.flexera_revoked)
    refused = stack.run({"force_upload": True})
    assert refused.run.status == "FAILED"
    assert {refused.day_error(day) for day in DAYS} == {"KubecostRejected"}
    assert refused.run.upload_error is not None
    assert "FlexeraAuthError" in refused.run.upload_error
    stack.a_day_passes()
    stack.put_kubecost_secret(credentials.kubecost_secret)
    stack.put_flexera_secret(credentials.flexera_secret)
    stack.flexera.inject(FlexeraFault(endpoint="file", kind="expire_tokens", on_call=2))
    stack.flexera.inject(FlexeraFault(endpoint="operation", kind="http_503"))
    stack.kubecost.inject(KubecostFault(kind="code_error", days=frozenset({FAULT_DAY})))
    last = stack.run({"force_upload": True})
    assert last.run.status == "FAILED"
    assert last.run.month(MONTH).status == "committed"
    return [first, refused, last]


def _access_tokens(stack: Deployment) -> set[str]:
    """The access tokens Flexera issued, as the exporter sent them back."""
    headers = (request.header("Authorization") or "" for request in stack.flexera.requests)
    return {header.removeprefix("Bearer ") for header in headers if header.startswith("Bearer ")}


def _execution(stack: Deployment, run: WorkflowRun) -> str:
    sfn = stack.workflow.sfn
    description = sfn.describe_execution(executionArn=run.execution_arn)
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=run.execution_arn)
    events = [event for page in pages for event in page["events"]]
    return json.dumps({"description": description, "history": events}, default=str)


def _invocations(run: WorkflowRun) -> str:
    return json.dumps(
        [[i.function, i.event, i.result, i.error_type, i.error_message] for i in run.invocations], default=str
    )


def _bucket(stack: Deployment) -> Iterator[tuple[str, str]]:
    s3 = stack.workflow.s3
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            yield (
                f"s3://{BUCKET}/{item['Key']}",
                (gzip.decompress(body) if item["Key"].endswith(".gz") else body).decode(),
            )


def _everything(stack: Deployment, observed: list[Observed]) -> list[tuple[str, str]]:
    """Every place a secret could end up, as (where, text)."""
    places = [(f"run {n} output", "\n".join(o.output.lines)) for n, o in enumerate(observed, start=1)]
    places += [(f"run {n} execution", _execution(stack, o.run)) for n, o in enumerate(observed, start=1)]
    places += [(f"run {n} invocations", _invocations(o.run)) for n, o in enumerate(observed, start=1)]
    places += [(f"run {n} summary", format_summary(o.run)) for n, o in enumerate(observed, start=1)]
    places += list(_bucket(stack))
    committed = stack.flexera.committed(BILL_CONNECT, MONTH)
    assert committed is not None
    places += [(f"Flexera {name}", data.decode()) for name, data in committed.files.items()]
    return places


@pytest.mark.parametrize("credentials", CREDENTIALS, ids=[c.name for c in CREDENTIALS])
def test_no_secret_appears_in_any_output(emulated_deployment: DeploymentFactory, credentials: Credentials) -> None:
    # Given a deployment whose Kubecost and Flexera credentials are distinctive, logging at DEBUG
    stack = emulated_deployment(
        kubecost={"auth": credentials.kubecost_auth},
        flexera={"refresh_tokens": frozenset({REFRESH}), "clients": {FLEXERA_CLIENT_ID: CLIENT_SECRET}},
        environ={"POWERTOOLS_LOG_LEVEL": "DEBUG"},
        flexera_secret=credentials.flexera_secret,
        kubecost_secret=credentials.kubecost_secret,
    )
    # When the workflow runs through transient faults, refused credentials and recovery
    observed = _runs(stack, credentials)
    places = _everything(stack, observed)
    # Then there was much to search: errors of both sides in the executions, warnings and metrics in the output
    executions = "\n".join(text for where, text in places if where.endswith("execution"))
    output = "\n".join(text for where, text in places if where.endswith("output"))
    assert "KubecostRejected" in executions
    assert "FlexeraAuthError" in executions
    assert "Kubecost request failed" in output
    assert "MonthsCommitted" in output
    # And no secret, header built from one, or access token appears anywhere
    needles = {MARK, *credentials.secrets, *_access_tokens(stack)}
    assert len(needles) > len(credentials.secrets) + 1  # access tokens were issued and used
    leaks = [(where, needle) for where, text in places for needle in needles if needle in text]
    assert leaks == []


def test_capture_sees_every_channel_from_every_thread() -> None:
    # Given one distinctive line written through each channel the workflow's code could use, from another thread
    def emit() -> None:
        print(f"{MARK}-stdout")
        print(f"{MARK}-stderr", file=sys.stderr)
        logging.getLogger("any.library").warning("%s-logging", MARK)
        powertools_logger.warning(f"{MARK}-powertools")
        warnings.warn(f"{MARK}-warning", UserWarning, stacklevel=1)

    # When they are written while capturing
    with captured_output() as captured:
        thread = threading.Thread(target=emit)
        thread.start()
        thread.join()
    # Then the capture holds every one of them
    text = "\n".join(captured.lines)
    for channel in ("stdout", "stderr", "logging", "powertools", "warning"):
        assert f"{MARK}-{channel}" in text


def test_capture_reads_emf_metrics_and_powertools_records() -> None:
    # Given an EMF document and a Powertools record written while capturing
    emf: dict[str, Any] = {
        "_aws": {"CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "Rows"}]}]},
        "Rows": [3.0, 4.0],
    }
    with captured_output() as captured:
        print(json.dumps(emf))
        powertools_logger.warning("Something happened", day="2025-03-02")
    # When they are read back
    # Then the metric is summed and the record found with its keys
    assert captured.metric("Rows") == 7
    assert captured.metric("Absent") == 0
    assert [record["day"] for record in captured.logs("Something happened")] == ["2025-03-02"]
