"""The Flexera client against the Flexera emulator: grants, bill connect, the bill-upload lifecycle and its faults."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from emulators.flexera import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    FlexeraEmulator,
    FlexeraFault,
)
from emulators.http_server import EmulatorServer, Response
from kubecost_flexera.adapters.flexera import FlexeraClient
from kubecost_flexera.adapters.flexera_auth import ClientCredentialsGrant, Credentials, RefreshTokenGrant
from kubecost_flexera.adapters.retry import RetryPolicy
from kubecost_flexera.errors import FlexeraAuthError, FlexeraRejected, FlexeraThrottled, FlexeraUnavailable
from tests.fixtures.flexera import flexera_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.http_server import Request
    from tests.fixtures.flexera import FlexeraEmulatorFactory
    from tests.fixtures.logs import LogCapture

    MakeHarness = Callable[..., "Harness"]

MONTH = "2025-07"
CONNECT = "cbi-oi-kubecost-1"
# The exact bodies the Go exporter sends (main.go @ fe82250, StartBillUploadProcess and createBillConnectIfNotExist),
# copied byte for byte of SRC-GO-BODIES (FX-TOKEN-1).
REFERENCE_CREATE_BODY = b'{"billConnectId":"cbi-oi-kubecost-1","billingPeriod":"2025-07"}'
REFERENCE_BILL_CONNECT_BODY = (
    b'{"billIdentifier":"1","integrationId":"cbi-oi-kubecost","name":"1",'
    b'"params":{"displayName":"Kubecost","vendorName":"Kubecost"}}'
)


@dataclass
class FakeClock:
    """The client's monotonic clock, moved by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    emulator: FlexeraEmulator
    client: FlexeraClient
    sleeps: list[float] = field(default_factory=list)
    clock: FakeClock = field(default_factory=FakeClock)

    def calls(self, method: str, path_part: str) -> list[Request]:
        return [r for r in self.emulator.requests if r.method == method and path_part in r.path]


@pytest.fixture
def harness(flexera_emulator: FlexeraEmulatorFactory) -> MakeHarness:
    """A factory: ``harness(credentials=..., settings=..., **emulator_config)``."""

    def make(credentials: Credentials | None = None, settings: dict[str, Any] | None = None, **config: Any) -> Harness:
        emulator = flexera_emulator(**config)
        sleeps: list[float] = []
        clock = FakeClock()
        client = FlexeraClient(
            flexera_settings(emulator, **(settings or {})),
            credentials or RefreshTokenGrant(DEFAULT_REFRESH_TOKEN),
            retry=RetryPolicy(attempts=3),
            sleep=sleeps.append,
            monotonic=clock,
        )
        return Harness(emulator, client, sleeps, clock)

    return make


def upload_one(h: Harness, data: bytes = b"payload", name: str = "kubecost-2025-07-01.csv.gz") -> str:
    upload_id = h.client.create_bill_upload(MONTH)
    h.client.upload_file(upload_id, name, len(data), lambda: io.BytesIO(data))
    return upload_id


def status_of(h: Harness, upload_id: str) -> str:
    return next(u.status for u in h.emulator.bill_uploads if u.id == upload_id)


# --- grants ---


def test_refresh_token_grant_is_sent_as_the_reference_sends_it(harness: MakeHarness) -> None:
    # Given a client with a refresh token
    h = harness()
    # When it makes its first call
    h.client.create_bill_upload(MONTH)
    # Then the token request is the exporter's form, keys sorted, with no Authorization header
    (token,) = h.calls("POST", "/oidc/token")
    assert token.body.decode() == f"grant_type=refresh_token&refresh_token={DEFAULT_REFRESH_TOKEN}"
    assert token.header("Content-Type") == "application/x-www-form-urlencoded"
    assert token.header("Authorization") is None


def test_client_credentials_grant_is_sent_with_sorted_keys(harness: MakeHarness) -> None:
    # Given a service account client
    h = harness(credentials=ClientCredentialsGrant(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))
    # When it makes its first call
    h.client.create_bill_upload(MONTH)
    # Then the body matches the token request of SRC-GO-BODIES
    (token,) = h.calls("POST", "/oidc/token")
    assert token.body.decode() == (
        f"client_id={DEFAULT_CLIENT_ID}&client_secret={DEFAULT_CLIENT_SECRET}&grant_type=client_credentials"
    )


def test_one_token_serves_every_call_while_valid(harness: MakeHarness) -> None:
    h = harness()
    upload_one(h)
    h.client.create_bill_upload("2025-08")
    assert len(h.calls("POST", "/oidc/token")) == 1


def test_token_is_renewed_before_it_expires(harness: MakeHarness) -> None:
    # Given a token of one hour
    h = harness(token_lifetime_seconds=3600)
    h.client.create_bill_upload(MONTH)
    # When the client's clock passes the renewal point (five minutes before expiry)
    h.clock.now += 3600 - 300
    h.client.create_bill_upload("2025-08")
    # Then a second token was requested before the call
    assert len(h.calls("POST", "/oidc/token")) == 2


@pytest.mark.parametrize("form", ["string", "float", "absent"])
def test_token_answer_with_expires_in_as_a_string_float_or_absent_is_accepted(harness: MakeHarness, form: str) -> None:
    # Given a token service that writes expires_in as a string ("3600"), a float (3600.0) or not at all
    h = harness(expires_in_form=form, token_lifetime_seconds=3600)
    # When a month is uploaded / Then it goes through with one token
    upload_id = upload_one(h)
    h.client.commit(upload_id)
    assert status_of(h, upload_id) == "complete"
    assert len(h.calls("POST", "/oidc/token")) == 1
    # And the token is renewed before its hour (given or the default) runs out, not at every call
    h.clock.now += 3600 - 300 - 1
    h.client.create_bill_upload("2025-08")
    assert len(h.calls("POST", "/oidc/token")) == 1
    h.clock.now += 1
    h.client.create_bill_upload("2025-09")
    assert len(h.calls("POST", "/oidc/token")) == 2


@pytest.mark.parametrize("expires_in", ["soon", -5, True, None, {"s": 1}])
def test_unusable_expires_in_falls_back_to_the_default_hour(
    flexera_emulator: FlexeraEmulatorFactory, powertools_logs: LogCapture, expires_in: object
) -> None:
    # Given a token answer whose expires_in is not a positive number
    odd = EmulatorServer()
    odd.route("POST", "/oidc/token", lambda _: Response.json(200, {"access_token": "t", "expires_in": expires_in}))
    odd.route("POST", "/optima/orgs/12345/billUploads", lambda _: Response.json(201, {"id": "u-1"}))
    with odd:
        client = FlexeraClient(
            flexera_settings(flexera_emulator(), endpoint_url=odd.url), RefreshTokenGrant(DEFAULT_REFRESH_TOKEN)
        )
        # When creating / Then the call goes through, and a present but unusable value is logged
        assert client.create_bill_upload(MONTH) == "u-1"
    warned = [r for r in powertools_logs.records() if "expires_in" in r["message"]]
    assert len(warned) == (0 if expires_in is None else 1)


def test_create_and_file_answered_200_instead_of_201_are_accepted(harness: MakeHarness) -> None:
    # Given a Flexera answering create and file uploads with another 2xx (200), which the reference accepts
    h = harness(created_status=200)
    # When a month is uploaded / Then it is committed
    upload_id = upload_one(h)
    h.client.commit(upload_id)
    assert status_of(h, upload_id) == "complete"


def test_token_expiry_mid_run_renews_once_and_continues(harness: MakeHarness, powertools_logs: LogCapture) -> None:
    # Given tokens that Flexera expires before the file call
    h = harness()
    upload_id = h.client.create_bill_upload(MONTH)
    h.emulator.inject(FlexeraFault(endpoint="file", kind="expire_tokens"))
    # When the file is sent
    h.client.upload_file(upload_id, "kubecost-2025-07-01.csv.gz", 3, lambda: io.BytesIO(b"abc"))
    h.client.commit(upload_id)
    # Then the 401 led to one new token, logged, and the upload went through
    assert len(h.calls("POST", "/oidc/token")) == 2
    assert status_of(h, upload_id) == "complete"
    renewals = [r for r in powertools_logs.records() if r["message"].startswith("Flexera refused the access token")]
    assert [r["call"].split(" (POST ")[0] for r in renewals] == ["uploading kubecost-2025-07-01.csv.gz"]


def test_wrong_credentials_raise_auth_error_naming_grant_and_role(harness: MakeHarness) -> None:
    # Given a refresh token Flexera does not know
    h = harness(credentials=RefreshTokenGrant("zz-unknown-refresh-token-42"))
    # When a call needs a token
    with pytest.raises(FlexeraAuthError) as raised:
        h.client.create_bill_upload(MONTH)
    # Then the error says which credential type was used and which role is needed, without the token
    message = str(raised.value)
    assert "refresh token" in message
    assert '"Manage bill ingestion" role' in message
    assert "zz-unknown-refresh-token-42" not in message


def test_401_after_renewal_raises_auth_error(harness: MakeHarness) -> None:
    # Given every create call invalidates every token (as a revoked account would)
    h = harness(credentials=ClientCredentialsGrant(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))
    h.emulator.inject(FlexeraFault(endpoint="create", kind="expire_tokens", times=None))
    # When creating / Then after one renewal the 401 is an auth error naming the service account
    with pytest.raises(FlexeraAuthError, match=r"service account client credentials.*Manage bill ingestion"):
        h.client.create_bill_upload(MONTH)
    assert len(h.calls("POST", "/oidc/token")) == 2


def test_api_calls_carry_the_bearer_token_and_compact_json(harness: MakeHarness) -> None:
    h = harness()
    h.client.create_bill_upload(MONTH)
    (create,) = h.calls("POST", "/billUploads")
    assert (create.header("Authorization") or "").startswith("Bearer ")
    assert create.body == REFERENCE_CREATE_BODY


# --- bill connect ---


def test_bill_connect_is_created_with_the_reference_body(harness: MakeHarness) -> None:
    # Given a bill connect that does not exist and creation enabled
    h = harness(bill_connects=frozenset(), settings={"create_bill_connect": True})
    # When it is ensured
    h.client.ensure_bill_connect_once()
    # Then the body is the exporter's and the emulator knows the connect (201)
    (call,) = h.calls("POST", "/bill-connects/cbi")
    assert call.body == REFERENCE_BILL_CONNECT_BODY
    assert CONNECT in h.emulator.bill_connects


def test_existing_bill_connect_409_is_fine(harness: MakeHarness) -> None:
    h = harness(settings={"create_bill_connect": True})
    h.client.ensure_bill_connect_once()
    h.client.create_bill_upload(MONTH)
    assert len(h.calls("POST", "/bill-connects/cbi")) == 1


def test_refused_bill_connect_reports_status_and_body(harness: MakeHarness) -> None:
    # Given a bill identifier Flexera's pattern refuses (400)
    h = harness(settings={"create_bill_connect": True, "bill_connect_id": "cbi-oi-kubecost-bad.id"})
    # When it is ensured / Then FlexeraRejected carries the status and the answer
    with pytest.raises(
        FlexeraRejected, match=r"cbi-oi-kubecost-bad\.id \(POST .*\) failed with HTTP 400: .*billIdentifier"
    ):
        h.client.ensure_bill_connect_once()


def test_bill_connect_is_attempted_once_per_client(harness: MakeHarness) -> None:
    h = harness(settings={"create_bill_connect": True, "bill_connect_id": "cbi-oi-kubecost-bad.id"})
    with pytest.raises(FlexeraRejected):
        h.client.ensure_bill_connect_once()
    h.client.ensure_bill_connect_once()
    assert len(h.calls("POST", "/bill-connects/cbi")) == 1


def test_bill_connect_is_not_called_when_creation_is_disabled(harness: MakeHarness) -> None:
    h = harness()
    h.client.ensure_bill_connect_once()
    assert h.calls("POST", "/bill-connects") == []


# --- create ---


def test_conflict_aborts_the_blocking_upload_logs_it_and_creates_again(
    harness: MakeHarness, powertools_logs: LogCapture
) -> None:
    # Given an upload of the month left in progress by an earlier run (no cool-off, to isolate the 409)
    h = harness(cooloff_seconds=0)
    stale = h.client.create_bill_upload(MONTH)
    # When the month is created again
    fresh = h.client.create_bill_upload(MONTH)
    # Then the stale one was aborted, the fact logged with its id, and a new one is in progress
    assert status_of(h, stale) == "aborted"
    assert status_of(h, fresh) == "in-progress"
    logged = powertools_logs.records()
    assert any(entry.get("aborted") == stale for entry in logged)


def test_throttled_create_raises_with_retry_after_then_succeeds_after_the_cooloff(
    harness: MakeHarness,
) -> None:
    # Given a month created and committed a moment ago (cool-off 120 s)
    h = harness(cooloff_seconds=120)
    upload_id = upload_one(h)
    h.client.commit(upload_id)
    h.emulator.clock.advance(30)
    # When it is created again inside the cool-off
    with pytest.raises(FlexeraThrottled) as raised:
        h.client.create_bill_upload(MONTH)
    # Then FlexeraThrottled carries Flexera's Retry-After, and nothing slept
    assert raised.value.retry_after_seconds == 90
    assert h.sleeps == []
    # And after the cool-off it succeeds
    h.emulator.clock.advance(90)
    assert h.client.create_bill_upload(MONTH)


def test_create_answer_without_an_id_is_rejected(flexera_emulator: FlexeraEmulatorFactory) -> None:
    # Given a Flexera whose create answer is 201 without a string id (a server built on the emulators' base)
    odd = EmulatorServer()
    odd.route("POST", "/oidc/token", lambda _: Response.json(200, {"access_token": "t", "expires_in": 3600}))
    odd.route("POST", "/optima/orgs/12345/billUploads", lambda _: Response.json(201, {"id": 42}))
    with odd:
        client = FlexeraClient(
            flexera_settings(flexera_emulator(), endpoint_url=odd.url), RefreshTokenGrant(DEFAULT_REFRESH_TOKEN)
        )
        # When creating / Then the month fails with a typed error (GO-D17), not a crash
        with pytest.raises(FlexeraRejected, match="HTTP 201 without a string id"):
            client.create_bill_upload(MONTH)


def test_a_429_on_any_endpoint_is_throttling_not_a_refusal(flexera_emulator: FlexeraEmulatorFactory) -> None:
    # Given a Flexera that throttles the commit operation (not only create and file uploads)
    odd = EmulatorServer()
    odd.route("POST", "/oidc/token", lambda _: Response.json(200, {"access_token": "t", "expires_in": 3600}))
    odd.route(
        "POST",
        "/optima/orgs/12345/billUploads/u-1/operations",
        lambda _: Response.json(429, {"message": "slow down"}, {"Retry-After": "45"}),
    )
    with odd:
        client = FlexeraClient(
            flexera_settings(flexera_emulator(), endpoint_url=odd.url),
            RefreshTokenGrant(DEFAULT_REFRESH_TOKEN),
            sleep=lambda _: None,
        )
        # When committing / Then it is FlexeraThrottled with Flexera's Retry-After (GO-D10), which the state machine
        # waits out, not a refusal that fails the month
        with pytest.raises(FlexeraThrottled) as raised:
            client.commit("u-1")
    assert raised.value.retry_after_seconds == 45


BLOCKING = "0ae0f4c1-7c3a-4172-bcce-e96b9927fa07"


def conflicting_flexera(conflict_body: str) -> EmulatorServer:
    """A Flexera that answers every create with 409 and accepts every operation (another writer keeps creating)."""
    server = EmulatorServer()
    server.route("POST", "/oidc/token", lambda _: Response.json(200, {"access_token": "t", "expires_in": 3600}))
    server.route("POST", "/optima/orgs/12345/billUploads", lambda _: Response.text(409, conflict_body))
    server.route("POST", f"/optima/orgs/12345/billUploads/{BLOCKING}/operations", lambda _: Response.json(200, {}))
    return server


def test_persistent_conflict_gives_up_after_a_bounded_number_of_aborts(
    flexera_emulator: FlexeraEmulatorFactory,
) -> None:
    # Given a Flexera where a new in-progress upload appears after every abort
    with conflicting_flexera(f"there is an existing billUpload (ID: {BLOCKING})") as server:
        client = FlexeraClient(
            flexera_settings(flexera_emulator(), endpoint_url=server.url), RefreshTokenGrant(DEFAULT_REFRESH_TOKEN)
        )
        # When creating / Then it stops after two aborts (GO-D11) with a typed error
        with pytest.raises(FlexeraRejected, match="still HTTP 409 after aborting 2"):
            client.create_bill_upload(MONTH)
        creates = [r for r in server.requests if r.path.endswith("/billUploads")]
        aborts = [r for r in server.requests if r.path.endswith("/operations")]
    assert (len(creates), len(aborts)) == (3, 2)


def test_conflict_without_an_upload_id_fails_the_month(flexera_emulator: FlexeraEmulatorFactory) -> None:
    with conflicting_flexera("conflict") as server:
        client = FlexeraClient(
            flexera_settings(flexera_emulator(), endpoint_url=server.url), RefreshTokenGrant(DEFAULT_REFRESH_TOKEN)
        )
        with pytest.raises(FlexeraRejected, match="409 without an in-progress upload id"):
            client.create_bill_upload(MONTH)


def test_transient_create_failure_is_retried_with_backoff(harness: MakeHarness) -> None:
    h = harness()
    h.emulator.inject(FlexeraFault(endpoint="create", kind="http_503", times=2))
    assert h.client.create_bill_upload(MONTH)
    assert len(h.sleeps) == 2


def test_persistent_create_failure_raises_unavailable_after_bounded_attempts(harness: MakeHarness) -> None:
    h = harness()
    h.emulator.inject(FlexeraFault(endpoint="create", kind="http_502", times=None))
    with pytest.raises(FlexeraUnavailable, match=r"HTTP 502.*after 3 attempts"):
        h.client.create_bill_upload(MONTH)
    assert len(h.calls("POST", "/billUploads")) == 3


def test_server_error_500_is_retried_like_the_gateway_errors(harness: MakeHarness) -> None:
    # Given a Flexera that answers one create with HTTP 500 (a repeated create is safe: a 409 is resolved by abort)
    h = harness()
    h.emulator.inject(FlexeraFault(endpoint="create", kind="http_500"))
    # When the bill upload is created
    upload_id = h.client.create_bill_upload(MONTH)
    # Then the client waited once and created it on the second attempt
    assert upload_id
    assert len(h.sleeps) == 1
    assert len(h.calls("POST", "/billUploads")) == 2


# --- files and operations ---


def test_file_is_streamed_with_content_length_and_verified_md5(harness: MakeHarness) -> None:
    # Given a file of 100 kB
    h = harness()
    data = bytes(range(256)) * 400
    upload_id = h.client.create_bill_upload(MONTH)
    # When it is uploaded
    uploaded = h.client.upload_file(upload_id, "kubecost-2025-07-01.csv.gz", len(data), lambda: io.BytesIO(data))
    # Then it went with its length (not chunked), as octet-stream, and the MD5 is that of the bytes
    (call,) = h.calls("POST", "/files/")
    assert call.header("Content-Length") == str(len(data))
    assert call.header("Transfer-Encoding") is None
    assert call.header("Content-Type") == "application/octet-stream"
    assert call.body == data
    assert uploaded.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_dropped_file_connection_is_retried_by_streaming_again(harness: MakeHarness) -> None:
    # Given the first file request's connection dropped
    h = harness()
    opened: list[int] = []
    upload_id = h.client.create_bill_upload(MONTH)
    h.emulator.inject(FlexeraFault(endpoint="file", kind="drop_connection"))

    def source() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(b"abc")

    # When it is uploaded
    h.client.upload_file(upload_id, "kubecost-2025-07-01.csv.gz", 3, source)
    # Then the source was opened again for the retry and the file arrived
    assert len(opened) == 2
    assert [f.id for f in h.emulator.bill_uploads[0].files] == ["kubecost-2025-07-01.csv.gz"]


def test_md5_mismatch_is_a_failed_file(harness: MakeHarness) -> None:
    h = harness()
    upload_id = h.client.create_bill_upload(MONTH)
    h.emulator.inject(FlexeraFault(endpoint="file", kind="wrong_md5"))
    with pytest.raises(FlexeraRejected, match="MD5"):
        h.client.upload_file(upload_id, "kubecost-2025-07-01.csv.gz", 3, lambda: io.BytesIO(b"abc"))


def test_source_shorter_than_the_manifest_is_a_failed_file(harness: MakeHarness) -> None:
    # Given a part whose stream ends before the length the manifest recorded
    h = harness()
    upload_id = h.client.create_bill_upload(MONTH)
    # When it is uploaded / Then it fails at once (the server is not left waiting for the rest)
    with pytest.raises(FlexeraRejected, match="ended after 3 of 4 bytes"):
        h.client.upload_file(upload_id, "kubecost-2025-07-01.csv.gz", 4, lambda: io.BytesIO(b"abc"))


def test_commit_that_failed_in_transit_is_sent_again_after_checking_the_status(harness: MakeHarness) -> None:
    # Given a commit request whose connection drops (Flexera may or may not have processed it; here it did not)
    h = harness()
    upload_id = upload_one(h)
    h.emulator.inject(FlexeraFault(endpoint="operation", kind="drop_connection"))
    # When committing
    h.client.commit(upload_id)
    # Then the client looked at the upload, saw it still in progress, and committed it
    assert status_of(h, upload_id) == "complete"
    assert len(h.calls("GET", upload_id)) == 1


def test_a_missing_bill_connect_says_which_setting_to_fix(harness: MakeHarness) -> None:
    # Given BILL_CONNECT_ID naming a bill connect the organization does not have, and creation not enabled
    h = harness(settings={"bill_connect_id": "cbi-oi-kubecost-9"})
    # When the month's bill upload is created / Then Flexera's 404 comes with the two ways to fix it
    with pytest.raises(FlexeraRejected) as raised:
        h.client.create_bill_upload(MONTH)
    message = str(raised.value)
    assert f"(POST {h.emulator.url}/optima/orgs/12345/billUploads) failed with HTTP 404" in message
    assert (
        "Flexera has no bill connect cbi-oi-kubecost-9 in org 12345: set CREATE_BILL_CONNECT_IF_NOT_EXIST=true to "
        "create it, or fix BILL_CONNECT_ID (and ORG_ID) to name an existing one"
    ) in message


def _wrong_token(h: Harness) -> object:
    client = FlexeraClient(flexera_settings(h.emulator), RefreshTokenGrant("zz-unknown"), sleep=h.sleeps.append)
    return client.create_bill_upload(MONTH)


def _unavailable_create(h: Harness) -> object:
    h.emulator.inject(FlexeraFault(endpoint="create", kind="http_502", times=None))
    return h.client.create_bill_upload(MONTH)


def _throttled_create(h: Harness) -> object:
    h.client.commit(upload_one(h))
    return h.client.create_bill_upload(MONTH)


def _unavailable_file(h: Harness) -> object:
    h.emulator.inject(FlexeraFault(endpoint="file", kind="http_500", times=None))
    return upload_one(h)


def _closed_commit(h: Harness) -> object:
    upload_id = upload_one(h)
    h.client.commit(upload_id)
    h.client.commit(upload_id)
    return None


def _refused_bill_connect(h: Harness) -> object:
    settings = flexera_settings(h.emulator, create_bill_connect=True, bill_connect_id="cbi-oi-kubecost-bad.id")
    FlexeraClient(settings, RefreshTokenGrant(DEFAULT_REFRESH_TOKEN)).ensure_bill_connect_once()
    return None


@pytest.mark.parametrize(
    ("fail", "error", "path"),
    [
        (_wrong_token, FlexeraAuthError, r"/oidc/token"),
        (_unavailable_create, FlexeraUnavailable, r"/optima/orgs/12345/billUploads"),
        (_throttled_create, FlexeraThrottled, r"/optima/orgs/12345/billUploads"),
        (
            _unavailable_file,
            FlexeraUnavailable,
            r"/optima/orgs/12345/billUploads/[0-9a-f-]{36}/files/kubecost-2025-07-01\.csv\.gz",
        ),
        (_closed_commit, FlexeraRejected, r"/optima/orgs/12345/billUploads/[0-9a-f-]{36}/operations"),
        (_refused_bill_connect, FlexeraRejected, r"/finops-onboarding/v1/orgs/12345/bill-connects/cbi"),
    ],
)
def test_every_flexera_http_error_names_the_method_and_full_url(
    harness: MakeHarness, fail: Callable[[Harness], object], error: type[Exception], path: str
) -> None:
    # Given a call Flexera refuses, throttles or fails / When it is made
    h = harness()
    with pytest.raises(error) as raised:
        fail(h)
    # Then the error names the request: method and the whole URL
    assert re.search(rf"\((POST|GET) {re.escape(h.emulator.url)}{path}\)", str(raised.value)), str(raised.value)


def test_commit_of_a_closed_upload_is_rejected(harness: MakeHarness) -> None:
    h = harness()
    upload_id = upload_one(h)
    h.client.commit(upload_id)
    with pytest.raises(FlexeraRejected, match="HTTP 409"):
        h.client.commit(upload_id)


def test_abort_failure_is_logged_not_raised(harness: MakeHarness, powertools_logs: LogCapture) -> None:
    h = harness()
    upload_id = upload_one(h)
    h.client.commit(upload_id)
    h.client.abort(upload_id)
    assert "Could not abort the bill upload" in powertools_logs.text()
