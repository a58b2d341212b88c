"""Bad input to the whole workflow: the execution fails at Plan, and nothing else runs or changes.

The plan is the workflow's gate (``kubecost_flexera.domain.plan``): a malformed execution input or configuration must
end the execution in its first state, with the typed error as the execution's error, a cause that names the field or
variable and the values allowed, and no trace elsewhere: no other function invoked, no object in the bucket, no
request to Kubecost or Flexera, no second execution, and no secret in the execution's history.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import pytest
from aws_lambda_powertools.utilities import parameters

from local.run import BUCKET, LocalSettings, LocalWorkflow
from local.runner_report import PLAN_FUNCTION
from tests.fixtures.workflow import BILL_CONNECT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from local.runner_report import WorkflowRun
    from tests.fixtures.flexera import FlexeraEmulatorFactory

SECRET_REFRESH: Final = "zzWF-refresh-0b9e-secret"
SECRET_CLIENT_ID: Final = "zzWF-client-id-44d1"
SECRET_CLIENT_SECRET: Final = "zzWF-client-secret-8f2a"
SECRETS: Final = (SECRET_REFRESH, SECRET_CLIENT_ID, SECRET_CLIENT_SECRET)


@dataclass(frozen=True)
class Case:
    id: str
    error: str
    names: tuple[str, ...]  # the field or variable and the allowed values, as the cause must show them
    request: Mapping[str, Any] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    flexera_secret: Mapping[str, str] = field(default_factory=lambda: {"refresh_token": SECRET_REFRESH})


CASES: Final = (
    Case("today-feb-30", "InvalidRequest", ("today='2025-02-30'", "YYYY-MM-DD"), request={"today": "2025-02-30"}),
    Case("start-without-end", "InvalidRequest", ("end is missing", "YYYY-MM-DD"), request={"start": "2025-03-01"}),
    Case("dry-run-string", "InvalidRequest", ("dry_run='yes'", "true or false"), request={"dry_run": "yes"}),
    Case("unknown-field", "InvalidRequest", ("'force'", "today, start, end, dry_run, force_upload"),
         request={"force": True}),
    Case("multiplier-nan", "ConfigurationError", ("MULTIPLIER='nan'", "a finite decimal number"),
         environ={"MULTIPLIER": "nan"}),
    Case("page-size-ten", "ConfigurationError", ("PAGE_SIZE='ten'", "an integer from 1 to 100000"),
         environ={"PAGE_SIZE": "ten"}),
    Case("flexera-secret-both-grants", "ConfigurationError", ("refresh_token", "client_id", "client_secret"),
         flexera_secret={"refresh_token": SECRET_REFRESH, "client_id": SECRET_CLIENT_ID,
                         "client_secret": SECRET_CLIENT_SECRET}),
)  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_secret_cache() -> Iterator[None]:
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(allocations_per_day=3, today=date(2025, 3, 10))


@pytest.fixture
def flexera(flexera_emulator: FlexeraEmulatorFactory) -> FlexeraEmulator:
    return flexera_emulator(
        refresh_tokens=frozenset({SECRET_REFRESH}), clients={SECRET_CLIENT_ID: SECRET_CLIENT_SECRET}
    )


def error_message(run: WorkflowRun) -> str:
    """The function error's message: a Task's cause is Lambda's JSON error body."""
    assert run.cause is not None
    return str(json.loads(run.cause)["errorMessage"])


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_fails_the_execution_at_plan_and_nothing_else_runs(
    case: Case, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given the local stack with the case's configuration and Flexera secret
    settings = LocalSettings(
        kubecost_url=kubecost.url,
        flexera_url=flexera.url,
        flexera_secret=case.flexera_secret,
        environ={"ORG_ID": flexera.config.org_id, "BILL_CONNECT_ID": BILL_CONNECT, **case.environ},
        retry_sleep=flexera.clock.advance,
    )
    with ExitStack() as stack:
        workflow = stack.enter_context(LocalWorkflow(settings))
        # When an execution starts with the case's input
        run = workflow.run({"today": "2025-03-02", **case.request})
        executions = workflow.sfn.list_executions(stateMachineArn=workflow.state_machine_arn)["executions"]
        history = workflow.sfn.get_execution_history(executionArn=run.execution_arn, maxResults=1000)["events"]
        objects = workflow.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    # Then the execution fails with the case's error, naming the field or variable and the allowed values
    assert (run.status, run.error) == ("FAILED", case.error)
    message = error_message(run)
    for fragment in case.names:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # And only the plan ran, once: no day exported, no upload, no other execution
    assert [invocation.function for invocation in run.invocations] == [PLAN_FUNCTION]
    assert [execution["executionArn"] for execution in executions] == [run.execution_arn]
    # And nothing was written, read from Kubecost or sent to Flexera
    assert objects == 0
    assert kubecost.requests == []
    assert flexera.requests == []
    # And no secret appears in the execution's history
    recorded = json.dumps(history, default=str)
    for secret in SECRETS:
        assert secret not in recorded
