"""The strict local world catches what a real deployment would: each of issue 9's defects, shown here twice where
the world can take the fix out -- the stack as it is passes, the stack without the fix fails the way AWS fails it.

Where the fix lives in code rather than in the template (the request deadline), the test states the behaviour AWS
imposes (a hung Kubecost must end in our typed, retried error before Lambda's timeout) and fails on the old code.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final
from unittest import mock

import pytest
from moto.core.exceptions import JsonRESTError

from emulators.kubecost import KubecostFault
from local.run import BUCKET, LocalRunError
from local.runner_lambda import TIMEOUT_ERROR, InProcessLambda
from local.runner_report import EXPORT_DAY_FUNCTION, PLAN_FUNCTION
from local.runner_states import PAYLOAD_LIMIT_BYTES
from local.runner_template import load_template
from tests.fixtures.strict_world import (
    STACK_NAME,
    granting,
    with_whole_error_in_failed_days,
    without_retried_error,
    without_statements,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.workflow import LocalWorkflowFactory

TODAY: Final = date(2025, 3, 3)


@pytest.fixture
def kubecost(kubecost_emulator: Callable[..., KubecostEmulator]) -> KubecostEmulator:
    return kubecost_emulator(allocations_per_day=3, today=TODAY)


@pytest.fixture
def flexera(flexera_emulator: Callable[..., FlexeraEmulator]) -> FlexeraEmulator:
    return flexera_emulator()


# --- defect 1: a missing object answers 403 without s3:ListBucket ---


def test_first_export_and_upload_succeed_with_the_template_as_it_is(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given an empty bucket: no day manifest, no upload state (the first run of a new stack)
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    # When the first run exports and uploads
    run = workflow.run({"today": TODAY.isoformat()})
    # Then every read of an object that does not exist yet was answered 404 (the roles may list what they read)
    assert run.succeeded, run
    assert {day.status for day in run.days} == {"written"}
    assert [month.status for month in run.months] == ["committed"]


def test_without_list_bucket_the_first_export_of_every_day_is_refused(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given the template without its s3:ListBucket grants
    template = without_statements(granting("s3:ListBucket"))
    workflow = local_workflow(kubecost, flexera, template=template, INCLUDE_PREVIOUS_MONTH="false")
    # When the first run reads each day's manifest, which does not exist yet
    run = workflow.run({"today": TODAY.isoformat()})
    # Then S3 answers 403, as AWS does: no day is committed (its new parts are left without a manifest)
    assert not run.succeeded
    assert {day.status for day in run.days} == {"failed"}
    assert all("denied" in (day.error or "").lower() for day in run.days), run
    manifests = workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix="state/days/")
    assert manifests["KeyCount"] == 0


# --- defect 2: failed-day results must stay small ---

# A KubecostUnavailable's Lambda error is about 2.5 KB here (3 KB with a longer Kubecost URL): 120 days of it exceed
# 256 KiB, as about 80 do in AWS.
BACKFILL_FAILED_DAYS: Final = 120
LARGEST_BACKFILL_DAYS: Final = 366


def _all_days_fail(kubecost: KubecostEmulator) -> dict[str, str]:
    kubecost.inject(KubecostFault("http_500", on_request=1, times=None))
    first = TODAY - timedelta(days=BACKFILL_FAILED_DAYS - 1)
    return {"start": first.isoformat(), "end": TODAY.isoformat(), "today": TODAY.isoformat()}


def test_a_backfill_of_failed_days_still_reaches_the_upload(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a backfill whose every day fails with Kubecost's 500s, each error carrying Lambda's full payload
    request = _all_days_fail(kubecost)
    workflow = local_workflow(kubecost, flexera)
    # When it runs
    run = workflow.run(request)
    # Then the Map's results fit in Step Functions' 256 KiB: the upload ran and the execution names the failed days
    assert run.error == "ExportFailed", run.cause
    assert len(run.days) == BACKFILL_FAILED_DAYS
    assert {day.status for day in run.days} == {"failed"}
    upload = [i for i in run.invocations if i.function == "UploadFunction"][-1]
    # And the largest backfill the plan accepts, every day failed, would fit with a quarter of the limit to spare
    largest_result = max(len(json.dumps(result).encode()) for result in upload.event["dayResults"])
    assert largest_result * LARGEST_BACKFILL_DAYS < PAYLOAD_LIMIT_BYTES * 3 // 4


def test_with_whole_errors_in_failed_days_the_backfill_exceeds_the_state_limit(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given the definition as it was, copying each failed day's whole error into its result
    request = _all_days_fail(kubecost)
    workflow = local_workflow(kubecost, flexera, template=with_whole_error_in_failed_days())
    # When the same backfill runs
    run = workflow.run(request)
    # Then the Map's output exceeds 256 KiB, the execution fails with States.DataLimitExceeded and nothing is uploaded
    assert run.error == "States.DataLimitExceeded", (run.error, run.cause)
    assert run.attempts("UploadFunction") == 0


# --- defect 3: a hung Kubecost must end in our error before Lambda's timeout ---

# 900 s of Lambda time become 2.7 s here: fast, and still far more than a normal day's export takes.
HANG_TIME_SCALE: Final = 0.003


def test_a_hung_kubecost_ends_in_a_retried_kubecost_error_before_the_function_times_out(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a Kubecost that never answers one day's query (longer than the function's whole time)
    day = TODAY
    kubecost.inject(KubecostFault("slow", days=frozenset({day}), times=None, delay_seconds=60))
    workflow = local_workflow(kubecost, flexera, lambda_time_scale=HANG_TIME_SCALE, INCLUDE_PREVIOUS_MONTH="false")
    # When the run exports that day
    run = workflow.run({"today": TODAY.isoformat(), "dry_run": True})
    # Then each attempt ended in KubecostUnavailable within the function's time, so the state machine retried it
    outcome = run.day(day.isoformat())
    assert outcome.status == "failed"
    assert (outcome.error or "").startswith("KubecostUnavailable"), outcome.error
    attempts = [i for i in run.invocations if i.function == EXPORT_DAY_FUNCTION and i.event.get("day") == str(day)]
    assert [i.error_type for i in attempts] == ["KubecostUnavailable"] * 4
    # And the other days were exported
    assert {d.status for d in run.days if d.day != day.isoformat()} == {"written"}


# --- defect 4: what a Lambda timeout does ---


def test_a_function_past_its_timeout_is_reported_as_lambda_reports_it_and_not_retried(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given an export that runs past the function's Timeout for one day (a stand-in for work that does not fit)
    import functions.export_day.app as export_day_app  # noqa: PLC0415 - the real handler, wrapped

    slow_day = TODAY.isoformat()

    def overrunning(event: dict[str, Any], context: Any) -> Any:
        if event.get("day") == slow_day:
            import time  # noqa: PLC0415

            time.sleep(context.get_remaining_time_in_millis() / 1000 + 1)
        return export_day_app.lambda_handler(event, context)

    workflow = local_workflow(
        kubecost,
        flexera,
        handlers={EXPORT_DAY_FUNCTION: overrunning},
        lambda_time_scale=HANG_TIME_SCALE,
        INCLUDE_PREVIOUS_MONTH="false",
    )
    # When the run exports it
    run = workflow.run({"today": TODAY.isoformat(), "dry_run": True})
    # Then that invocation ended in Sandbox.Timedout with Lambda's message, once: a timeout is not retried
    attempts = [i for i in run.invocations if i.function == EXPORT_DAY_FUNCTION and i.event.get("day") == slow_day]
    assert [i.error_type for i in attempts] == [TIMEOUT_ERROR]
    assert (attempts[0].error_message or "").endswith("Task timed out after 900.00 seconds")
    assert run.day(slow_day).status == "failed"
    assert {d.status for d in run.days if d.day != slow_day} == {"written"}


def test_a_function_error_carries_the_runtimes_payload(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given a plan that fails (no ORG_ID)
    workflow = local_workflow(kubecost, flexera, ORG_ID="")
    # When the run starts
    run = workflow.run({"today": TODAY.isoformat()})
    # Then the execution's cause is the Python runtime's error body: message, type, request id, stack trace lines
    assert run.error == "ConfigurationError"
    cause = json.loads(run.cause or "{}")
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorType"] == "ConfigurationError"
    assert "ORG_ID" in cause["errorMessage"]
    assert all(line.startswith('  File "') for line in cause["stackTrace"])
    assert any('"/var/task/app.py"' in line for line in cause["stackTrace"])
    assert run.attempts(PLAN_FUNCTION) == 1


# --- defect 5: secrets under a customer-managed KMS key ---


def test_secrets_under_a_customer_managed_key_are_read_through_the_key_parameters(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given the Flexera secret encrypted with a customer-managed key, given with its key parameter
    workflow = local_workflow(kubecost, flexera, customer_managed_key=True, INCLUDE_PREVIOUS_MONTH="false")
    # When the run reads it (plan and upload)
    run = workflow.run({"today": TODAY.isoformat()})
    # Then both decrypt it through Secrets Manager and the month is committed
    assert run.succeeded, run
    assert [month.status for month in run.months] == ["committed"]


def test_without_kms_decrypt_a_secret_under_a_customer_managed_key_cannot_be_read(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given the template without its kms:Decrypt grants
    template = without_statements(granting("kms:Decrypt"))
    workflow = local_workflow(
        kubecost, flexera, template=template, customer_managed_key=True, INCLUDE_PREVIOUS_MONTH="false"
    )
    # When the run starts
    run = workflow.run({"today": TODAY.isoformat()})
    # Then Secrets Manager refuses the plan's read (Access to KMS is not allowed) and nothing is exported
    assert run.error == "ConfigurationError", (run.error, run.cause)
    assert workflow.export_keys() == []


# --- the state machine's and the schedule's roles ---


def test_the_state_machine_may_invoke_only_the_functions_its_role_names(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    # Given the state machine's role without the LambdaInvokePolicy of the upload function
    model = load_template(stack_name=STACK_NAME)
    document = copy.deepcopy(dict(model.document))
    policies = document["Resources"]["ExportStateMachine"]["Properties"]["Policies"]
    document["Resources"]["ExportStateMachine"]["Properties"]["Policies"] = [
        policy for policy in policies if policy != {"LambdaInvokePolicy": {"FunctionName": {"Ref": "UploadFunction"}}}
    ]
    workflow = local_workflow(
        kubecost, flexera, template=replace(model, document=document), INCLUDE_PREVIOUS_MONTH="false"
    )
    # When a run reaches the upload
    run = workflow.run({"today": TODAY.isoformat()})
    # Then Lambda refuses the invoke: the days were exported, the upload never ran
    assert (run.error or "").startswith("Lambda."), (run.error, run.cause)
    assert "lambda:InvokeFunction" in (run.cause or "")
    assert run.attempts("UploadFunction") == 0
    assert run.attempts(EXPORT_DAY_FUNCTION) == 3


def test_an_execution_starts_only_if_the_schedules_role_may_start_it(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    template = without_statements(granting("states:StartExecution"))
    workflow = local_workflow(kubecost, flexera, template=template)
    with pytest.raises(LocalRunError, match="schedule's role may not start"):
        workflow.start({"today": TODAY.isoformat()})


# --- defect 4: Lambda's client execution timeout is a transient service error ---

CLIENT_TIMEOUT: Final = "ClientExecutionTimeoutException"


@pytest.fixture
def client_timeout_once() -> Iterator[None]:
    """The Lambda service answers the first invoke of TODAY's export with ClientExecutionTimeoutException, as AWS
    does when its own call to the function times out (the function never ran)."""
    original = InProcessLambda.invoke
    fired = threading.Event()

    def invoke(self: InProcessLambda, function_name: str, body: str | bytes | None) -> tuple[bytes, bool]:
        if "ExportDayFunction" in function_name and TODAY.isoformat() in str(body) and not fired.is_set():
            fired.set()
            raise JsonRESTError(CLIENT_TIMEOUT, "Client execution did not complete before the timeout")
        return original(self, function_name, body)

    with mock.patch.object(InProcessLambda, "invoke", invoke):
        yield


@pytest.mark.usefixtures("client_timeout_once")
def test_a_lambda_client_execution_timeout_is_retried(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    workflow = local_workflow(kubecost, flexera, INCLUDE_PREVIOUS_MONTH="false")
    run = workflow.run({"today": TODAY.isoformat(), "dry_run": True})
    # Then the state machine retried the invoke and the day was exported
    assert run.day(TODAY.isoformat()).status == "written", run
    assert run.succeeded, run


@pytest.mark.usefixtures("client_timeout_once")
def test_without_retrying_it_the_client_execution_timeout_fails_the_day(
    local_workflow: LocalWorkflowFactory, kubecost: KubecostEmulator, flexera: FlexeraEmulator
) -> None:
    template = without_retried_error(f"Lambda.{CLIENT_TIMEOUT}")
    workflow = local_workflow(kubecost, flexera, template=template, INCLUDE_PREVIOUS_MONTH="false")
    run = workflow.run({"today": TODAY.isoformat(), "dry_run": True})
    outcome = run.day(TODAY.isoformat())
    assert outcome.status == "failed"
    assert (outcome.error or "").startswith(f"Lambda.{CLIENT_TIMEOUT}"), outcome.error
