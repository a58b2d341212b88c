"""Fault matrix, AWS side: the function dies mid-export, two executions overlap, S3 throttles.

S3 faults are injected with botocore event hooks on boto3's default session (``s3_event_hook``), from which the
handlers create their clients: the product's code is untouched, the fault happens where S3 would raise it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from botocore.awsrequest import AWSResponse, HTTPHeaders

import functions.export_day.app as export_day_app
from local.boto_hooks import s3_event_hook
from local.runner_report import EXPORT_DAY_FUNCTION
from tests.e2e.reliability_report import FaultCase
from tests.fixtures.fault_matrix import DAYS, FAULT_DAY, MONTH

if TYPE_CHECKING:
    from collections.abc import Iterator

    from botocore.awsrequest import AWSPreparedRequest

    from tests.fixtures.fault_matrix import Deployment, DeploymentFactory, MatrixRow

THROTTLE_EVERY: Final = 5  # the first attempt of every 5th S3 request is throttled ...
THROTTLES: Final = 4  # ... this many times
DAY_RETRIES: Final = 3  # the ExportDay retries of StorageUnavailable in the state machine
SLOW_DOWN: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
WAIT_SECONDS: Final = 30
UNREACHED_BUCKET: Final = "fault-matrix-unreached"


class LambdaKilled(Exception):
    """Stands for the execution environment dying at that point (timeout, out of memory): nothing after runs."""


class _RawBody:
    """The raw stream ``AWSResponse`` reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


def _slow_down(request: AWSPreparedRequest) -> AWSResponse:
    """S3's throttling answer to ``request``, which then never reaches S3.

    botocore calls every ``before-send`` handler and keeps the first answer; moto's handler comes after ours and
    would still carry out the request. Pointed (URL and Host) at a bucket that does not exist, it does nothing.
    """
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/xml"
    answer = AWSResponse(request.url, 503, headers, _RawBody(SLOW_DOWN))
    parts = urlsplit(request.url)
    host = f"{UNREACHED_BUCKET}.{parts.netloc.split('.', 1)[1]}"
    request.url = urlunsplit(parts._replace(netloc=host))
    request.headers["host"] = host
    return answer


def _orphans(stack: Deployment) -> list[str]:
    """Objects of FAULT_DAY no manifest names (garbage the bucket's lifecycle rule expires)."""
    manifest = stack.storage.read_day_manifest(FAULT_DAY)
    assert manifest is not None
    named = {part.key for part in manifest.parts}
    prefix = f"exports/default/{MONTH}/{FAULT_DAY.isoformat()}/"
    return [key for key in stack.workflow.export_keys() if key.startswith(prefix) and key not in named]


def test_crash_between_parts_and_manifest_keeps_the_earlier_export(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then the export function dies when it writes one day's manifest (its parts written)
    stack = emulated_deployment()
    before = stack.earlier_export()
    manifest_key = stack.storage.day_manifest_key(FAULT_DAY)

    def die_at_the_manifest(params: dict[str, Any], **kwargs: Any) -> None:
        if params.get("Key") == manifest_key:
            raise LambdaKilled(f"killed before writing {manifest_key}")

    # When the workflow runs
    with s3_event_hook("before-parameter-build.s3.PutObject", die_at_the_manifest):
        faulty = stack.run()
    # Then the day fails; its manifest still names the earlier export, intact; the new parts are named by nothing
    stack.assert_fault_day_failed(before, faulty, "LambdaKilled")
    assert len(_orphans(stack)) == 1
    # And the next run writes the day
    matrix_row.record(
        FaultCase("AWS", "Crash between parts and manifest", "the function dies at the PutObject of one day manifest"),
        fault_run=faulty,
        signal="execution FAILED naming the day; day result failed; the new parts are named by no manifest",
        next_run=stack.next_run(),
    )


def test_second_execution_is_refused_while_one_runs(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given an export function that can be held, and a good run
    entered, gate = threading.Event(), threading.Event()
    gate.set()

    def export_day(event: dict[str, Any], context: Any) -> Any:
        if not gate.is_set():
            entered.set()
            assert gate.wait(timeout=WAIT_SECONDS)
        return export_day_app.lambda_handler(event, context)

    stack = emulated_deployment(handlers={EXPORT_DAY_FUNCTION: export_day})
    before = stack.earlier_export()
    # When a second execution starts while the first is inside its day exports
    gate.clear()
    running = stack.workflow.start({"today": "2025-03-03"})
    assert entered.wait(timeout=WAIT_SECONDS)
    try:
        refused = stack.run()
    finally:
        gate.set()
    first = stack.workflow.wait(running)
    # Then the second is refused by its plan before any export or upload, and the first completes normally
    assert (refused.run.status, refused.run.error) == ("FAILED", "ConcurrentExecution")
    assert refused.run.cause is not None
    assert running in refused.run.cause
    assert [i.function for i in refused.run.invocations] == ["PlanFunction"]
    assert first.succeeded, first
    assert [d.status for d in first.days] == ["written"] * len(DAYS)
    stack.assert_nothing_lost(before, refused.run, first)
    stack.assert_nothing_in_progress_at_flexera()
    matrix_row.record(
        FaultCase("AWS", "Two executions at once", "a second execution started while the first exports"),
        fault_run=refused,
        signal="second execution FAILED (ConcurrentExecution) naming the running one; the first SUCCEEDED",
        next_run=stack.next_run(),
    )


def test_s3_throttling_is_retried_by_the_sdk(emulated_deployment: DeploymentFactory, matrix_row: MatrixRow) -> None:
    # Given a good run, then S3 answers 503 SlowDown to the first attempt of every 5th request, 4 times
    stack = emulated_deployment()
    before = stack.earlier_export()
    attempts: list[str] = []
    throttled: list[str] = []
    lock = threading.Lock()

    def throttle(request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
        with lock:
            attempts.append(request.url)
            if len(attempts) % THROTTLE_EVERY != 1 or len(throttled) == THROTTLES:
                return None
            throttled.append(request.url)
        return _slow_down(request)

    # When the workflow runs
    with s3_event_hook("before-send.s3", throttle):
        faulty = stack.run()
    # Then every throttled request was retried and the run is complete and exact
    assert len(throttled) == THROTTLES
    stack.assert_absorbed(before, faulty)
    matrix_row.record(
        FaultCase("AWS", "S3 throttling", f"503 SlowDown on {THROTTLES} requests (botocore before-send hook)"),
        fault_run=faulty,
        signal=f"no log: the {THROTTLES} throttled requests were retried by the AWS SDK",
        next_run=stack.next_run(),
    )


def test_s3_throttling_beyond_the_sdk_retries_fails_the_day_and_keeps_its_export(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given SDK retries shortened to 2 attempts, a good run, then S3 throttles every write of one day's manifest
    stack = emulated_deployment(environ={"AWS_MAX_ATTEMPTS": "2"})
    before = stack.earlier_export()
    manifest_key = stack.storage.day_manifest_key(FAULT_DAY)

    def throttle(request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
        if request.method != "PUT" or not request.url.split("?", 1)[0].endswith(manifest_key):
            return None
        return _slow_down(request)

    # When the workflow runs
    with s3_event_hook("before-send.s3", throttle):
        faulty = stack.run()
    # Then the state machine retries the day (StorageUnavailable), then records it failed with S3's error; it keeps
    # its earlier export, and the other days and the month are whole
    stack.assert_fault_day_failed(before, faulty, "StorageUnavailable", attempts=1 + DAY_RETRIES)
    error = faulty.run.day(FAULT_DAY.isoformat()).error
    assert error is not None
    assert "SlowDown" in error
    matrix_row.record(
        FaultCase("AWS", "S3 throttling, persistent", "503 SlowDown on every PutObject of one day manifest"),
        fault_run=faulty,
        signal=f"day retried {DAY_RETRIES} times (StorageUnavailable), then execution FAILED naming the day; "
        "day result failed (StorageUnavailable SlowDown)",
        next_run=stack.next_run(),
    )
