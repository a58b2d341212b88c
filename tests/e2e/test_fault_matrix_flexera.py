"""Fault matrix, Flexera side: the destination misbehaves while the real workflow uploads a month.

Each test: a good run (the month committed), a run with the fault that re-sends the month (``force_upload``, so the
upload happens although the data are unchanged), and the next run without the fault, forced too so that recovery
is an actual commit. The invariants of ``tests/fixtures/fault_matrix.py`` hold after each; above all, Flexera holds
the whole month at every moment: the earlier commit until a complete new one replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pytest
import requests

from emulators.flexera import DEFAULT_REFRESH_TOKEN, FlexeraFault
from kubecost_flexera.adapters.retry import FLEXERA_RETRY
from tests.e2e.reliability_report import FaultCase
from tests.fixtures.fault_matrix import BILL_CONNECT, DAYS, MONTH

if TYPE_CHECKING:
    from emulators.flexera import Endpoint
    from emulators.flexera import FaultKind as FlexeraFaultKind
    from tests.fixtures.fault_matrix import Deployment, DeploymentFactory, MatrixRow, Observed, Snapshot

FORCED: Final = {"force_upload": True}
CLIENT_ATTEMPTS: Final = FLEXERA_RETRY.attempts
THROTTLE_RETRIES: Final = 5  # the state machine's retries of FlexeraThrottled for Upload
THROTTLE_ATTEMPTS: Final = 1 + THROTTLE_RETRIES
UNAVAILABLE_RETRIES: Final = 3  # the state machine's retries of FlexeraUnavailable for Upload (a retrier of its own)


def _fault_run(stack: Deployment, fault: FlexeraFault) -> tuple[Snapshot, Observed]:
    """A good run, a day, then the month re-sent with ``fault`` injected."""
    before = stack.earlier_export()
    stack.flexera.inject(fault)
    return before, stack.run(FORCED)


def _assert_earlier_commit_kept(stack: Deployment, before: Snapshot, faulty: Observed) -> None:
    """Every day written and exact, nothing lost, and Flexera still holds the earlier commit of the month, whole."""
    assert [d.status for d in faulty.run.days] == ["written"] * len(DAYS)
    stack.assert_nothing_lost(before, faulty.run)
    assert stack.snapshot().committed_upload == before.committed_upload


def _assert_upload_failed(
    stack: Deployment, before: Snapshot, faulty: Observed, error: str, execution_error: str = "UploadFailed"
) -> None:
    """The upload fails loudly, naming the month and its error; Flexera keeps the earlier commit.

    A transient cause (``FlexeraUnavailable``) is the execution's error after the state machine retried the upload;
    a retry may meet the 120-second cool-off of the upload it just aborted (``FlexeraThrottled``, waited out too)."""
    attempts = faulty.upload_attempts()
    errors = [record["error"].split(":", 1)[0] for record in faulty.logs("Month failed")]
    assert (faulty.run.status, faulty.run.error) == ("FAILED", execution_error)
    assert faulty.run.upload_error is not None
    assert faulty.metric("MonthsFailed") == attempts
    assert errors[0] == error
    if execution_error == "FlexeraUnavailable":
        assert 1 + UNAVAILABLE_RETRIES <= attempts <= 1 + UNAVAILABLE_RETRIES + THROTTLE_RETRIES
        assert errors.count(error) == 1 + UNAVAILABLE_RETRIES
        assert set(errors) <= {error, "FlexeraThrottled"}
    else:
        assert errors == [error]
        assert f"{MONTH}: {error}: " in faulty.run.upload_error
    _assert_earlier_commit_kept(stack, before, faulty)


def _assert_absorbed(stack: Deployment, before: Snapshot, faulty: Observed) -> None:
    """The fault is absorbed inside the upload: the month is committed anew, whole, in one upload invocation."""
    stack.assert_absorbed(before, faulty)
    assert faulty.upload_attempts() == 1
    assert faulty.run.month(MONTH).status == "committed"
    assert stack.snapshot().committed_upload != before.committed_upload


def _recover(stack: Deployment, before: Snapshot) -> Observed:
    """The next run without the fault, forced: it recovers and commits the month anew."""
    stack.flexera.clear_faults()
    recovered = stack.next_run(FORCED)
    assert recovered.run.month(MONTH).status == "committed"
    assert stack.snapshot().committed_upload != before.committed_upload
    return recovered


def _token_requests(stack: Deployment, since: int) -> int:
    return sum(1 for r in stack.flexera.requests[since:] if r.path == "/oidc/token")


def test_refused_flexera_credentials_fail_the_upload_and_keep_the_earlier_commit(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then a refresh token Flexera does not accept in the secret
    stack = emulated_deployment()
    before = stack.earlier_export()
    stack.put_flexera_secret({"refresh_token": "flexera-matrix-revoked"})
    # When the month is sent
    faulty = stack.run(FORCED)
    # Then the upload fails with the authentication error and Flexera keeps the earlier commit
    _assert_upload_failed(stack, before, faulty, "FlexeraAuthError")
    stack.assert_nothing_in_progress_at_flexera()
    # And with the secret fixed the next run commits
    stack.put_flexera_secret({"refresh_token": DEFAULT_REFRESH_TOKEN})
    matrix_row.record(
        FaultCase("Flexera", "Token refused", "FLEXERA_SECRET_ARN rotated to a refresh token Flexera refuses (401)"),
        fault_run=faulty,
        signal="execution FAILED (UploadFailed) naming the month; ERROR log 'Month failed'",
        next_run=_recover(stack, before),
    )


def test_upload_left_in_progress_blocks_with_409_and_is_aborted(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then a bill upload of the month left in progress (a crashed writer), its cool-off passed
    stack = emulated_deployment()
    before = stack.earlier_export()
    session = requests.Session()
    token = session.post(
        f"{stack.flexera.url}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": DEFAULT_REFRESH_TOKEN},
        timeout=10,
    ).json()["access_token"]
    blocking = session.post(
        f"{stack.flexera.url}/optima/orgs/{stack.flexera.config.org_id}/billUploads",
        json={"billConnectId": BILL_CONNECT, "billingPeriod": MONTH},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["id"]
    stack.a_day_passes()
    # When the month is sent
    faulty = stack.run(FORCED)
    # Then the create answers 409, the blocking upload is aborted and logged, and the month is committed whole
    _assert_absorbed(stack, before, faulty)
    assert [
        record["aborted"] for record in faulty.logs("Aborted the in-progress bill upload that blocked the month")
    ] == [blocking]
    assert next(u for u in stack.flexera.bill_uploads if u.id == blocking).status == "aborted"
    matrix_row.record(
        FaultCase("Flexera", "409 on create", "a bill upload of the month left in progress before the run"),
        fault_run=faulty,
        signal="WARNING log 'Aborted the in-progress bill upload that blocked the month' with its id",
        next_run=_recover(stack, before),
    )


def test_throttling_beyond_the_state_machine_retries_fails_and_keeps_the_earlier_commit(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a Flexera whose cool-off (an hour) outlasts the state machine's throttling retries (5 x 125 s)
    stack = emulated_deployment(flexera={"cooloff_seconds": 3600})
    stack.good_run()
    before = stack.snapshot()
    # When the month is sent again at once
    faulty = stack.run(FORCED)
    # Then every attempt is throttled (429), the retries are bounded, and the run fails; Flexera keeps the commit
    assert (faulty.run.status, faulty.run.error) == ("FAILED", "FlexeraThrottled")
    assert faulty.upload_attempts() == THROTTLE_ATTEMPTS
    assert faulty.metric("MonthsFailed") == THROTTLE_ATTEMPTS
    _assert_earlier_commit_kept(stack, before, faulty)
    stack.assert_nothing_in_progress_at_flexera()
    # And a day later the next run commits
    matrix_row.record(
        FaultCase(
            "Flexera", "429 (cool-off) beyond the retries", "cool-off 3600 s, month re-sent right after a commit"
        ),
        fault_run=faulty,
        signal=f"execution FAILED (FlexeraThrottled) after {THROTTLE_ATTEMPTS} upload attempts",
        next_run=_recover(stack, before),
    )


@dataclass(frozen=True)
class FileOrCreateFault:
    fault: str
    endpoint: Endpoint
    kind: FlexeraFaultKind
    times: int | None  # None: every call
    error: str = ""  # the month's error type, when the upload fails
    execution_error: str = "UploadFailed"  # the execution's error, when the upload fails

    def injected(self) -> FlexeraFault:
        return FlexeraFault(endpoint=self.endpoint, kind=self.kind, times=self.times)


@pytest.mark.parametrize(
    "case",
    [
        FileOrCreateFault(
            "503 on create, persistent", "create", "http_503", None, "FlexeraUnavailable", "FlexeraUnavailable"
        ),
        FileOrCreateFault(
            "500 on a file, persistent", "file", "http_500", None, "FlexeraUnavailable", "FlexeraUnavailable"
        ),
        FileOrCreateFault("MD5 mismatch on a file", "file", "wrong_md5", 1, "FlexeraRejected"),
    ],
    ids=["create-503", "file-500", "file-md5"],
)
def test_upload_failure_keeps_the_earlier_commit_and_recovers(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow, case: FileOrCreateFault
) -> None:
    # Given a good run, then Flexera fails the upload of the month
    stack = emulated_deployment()
    # When the month is sent
    before, faulty = _fault_run(stack, case.injected())
    # Then the upload fails naming the month, a created upload is aborted, and Flexera keeps the earlier commit
    _assert_upload_failed(stack, before, faulty, case.error, case.execution_error)
    stack.assert_nothing_in_progress_at_flexera()
    how = "every call" if case.times is None else "once"
    matrix_row.record(
        FaultCase("Flexera", case.fault, f"FlexeraFault {case.kind} on {case.endpoint}, {how}"),
        fault_run=faulty,
        signal=f"execution FAILED ({case.execution_error}) naming the month and {case.error}; ERROR log 'Month failed'",
        next_run=_recover(stack, before),
    )


@pytest.mark.parametrize(
    "case",
    [
        FileOrCreateFault("500 on create", "create", "http_500", 1),
        FileOrCreateFault("502 on a file", "file", "http_502", 1),
        FileOrCreateFault("Dropped connection during a file", "file", "drop_connection", 1),
    ],
    ids=["create-500", "file-502", "file-dropped"],
)
def test_transient_fault_is_retried_by_the_client(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow, case: FileOrCreateFault
) -> None:
    # Given a good run, then one request fails transiently
    stack = emulated_deployment()
    # When the month is sent
    before, faulty = _fault_run(stack, case.injected())
    # Then the client sends the request again (a file re-read from S3), logs the retry, and commits the month whole
    _assert_absorbed(stack, before, faulty)
    retries = faulty.logs("Transient Flexera failure; retrying")
    assert len(retries) == 1
    assert faulty.metric("Retries") == 1
    matrix_row.record(
        FaultCase("Flexera", case.fault, f"FlexeraFault {case.kind} on {case.endpoint}, once"),
        fault_run=faulty,
        signal="1 WARNING log 'Transient Flexera failure; retrying'; month committed anew",
        next_run=_recover(stack, before),
    )


@pytest.mark.parametrize(
    ("kind", "fault"),
    [("http_503", "503 on commit"), ("drop_connection", "Dropped connection on commit")],
    ids=["commit-503", "commit-dropped"],
)
def test_lost_commit_is_checked_and_retried(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow, kind: FlexeraFaultKind, fault: str
) -> None:
    # Given a good run, then the commit request fails once
    stack = emulated_deployment()
    # When the month is sent
    before, faulty = _fault_run(stack, FlexeraFault(endpoint="operation", kind=kind))
    # Then the client reads the upload's status (still in progress), commits again, and the month is whole
    _assert_absorbed(stack, before, faulty)
    commits = [r for r in stack.flexera.requests if r.path.endswith("/operations") and b"commit" in r.body]
    assert len(commits) >= 2
    assert faulty.metric("Retries") == 1
    matrix_row.record(
        FaultCase("Flexera", fault, f"FlexeraFault {kind} on operation (commit), once"),
        fault_run=faulty,
        signal="no log: upload status read, commit sent again; month committed anew",
        next_run=_recover(stack, before),
    )


def test_commit_and_abort_refused_leave_an_upload_the_next_run_aborts(
    emulated_deployment: DeploymentFactory, matrix_row: MatrixRow
) -> None:
    # Given a good run, then Flexera answers 500 to every commit and abort
    stack = emulated_deployment()
    # When the month is sent
    before, faulty = _fault_run(stack, FlexeraFault(endpoint="operation", kind="http_500", times=None))
    # Then the upload fails and Flexera keeps the earlier commit, the new upload staying open (abort refused too)
    _assert_upload_failed(stack, before, faulty, "FlexeraUnavailable", "FlexeraUnavailable")
    assert len(faulty.logs("Could not abort the bill upload")) >= 1
    left_open = [u.id for u in stack.flexera.bill_uploads if u.status == "in-progress"]
    assert len(left_open) == 1
    # And the next run aborts it (409 on create) and commits the month
    recovered = _recover(stack, before)
    assert [
        r["aborted"] for r in recovered.logs("Aborted the in-progress bill upload that blocked the month")
    ] == left_open
    matrix_row.record(
        FaultCase("Flexera", "500 on commit (and abort)", "FlexeraFault http_500 on operation, every call"),
        fault_run=faulty,
        signal="upload retried by the state machine, then execution FAILED (FlexeraUnavailable); "
        "WARNING 'Could not abort the bill upload'; "
        "the next run aborts it after a 409",
        next_run=recovered,
    )


def test_token_expiring_mid_upload_is_renewed(emulated_deployment: DeploymentFactory, matrix_row: MatrixRow) -> None:
    # Given a good run, then every access token expires at the second file of the month
    stack = emulated_deployment()
    before = stack.earlier_export()
    stack.flexera.inject(FlexeraFault(endpoint="file", kind="expire_tokens", on_call=2))
    seen = len(stack.flexera.requests)
    # When the month is sent
    faulty = stack.run(FORCED)
    # Then the 401 makes the client fetch a new token once and send the file again; the month is committed whole
    _assert_absorbed(stack, before, faulty)
    assert _token_requests(stack, seen) == 2
    assert len(faulty.logs("Flexera refused the access token; renewing it once")) == 1
    matrix_row.record(
        FaultCase("Flexera", "Token expiry mid-upload", "FlexeraFault expire_tokens on the 2nd file"),
        fault_run=faulty,
        signal="INFO log 'Flexera refused the access token; renewing it once' (2 token requests), file re-sent; "
        "month committed anew",
        next_run=_recover(stack, before),
    )
