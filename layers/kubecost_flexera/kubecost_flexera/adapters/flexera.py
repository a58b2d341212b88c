"""Flexera One bill-upload client: the bill connect and the bill-upload lifecycle over HTTP.

It speaks Flexera's protocol (``FX-*``) as the Go exporter does (``GO-UP-1`` to ``GO-UP-8``: same URLs per shard,
same compact JSON bodies), minus the Go program's defects (``GO-D*``); the access tokens it sends come from
``flexera_auth.py``:

- GO-D10: a 429 is never slept on here; it becomes :class:`FlexeraThrottled` carrying ``Retry-After`` (or the
  documented 120-second cool-off) so the state machine waits, not the Lambda.
- GO-D11: a 409 on create aborts the blocking upload a bounded number of times, and logs which upload it aborted.
- GO-D12: a call answered 401 renews the token once and is sent again.
- GO-D16/GO-D17: a bill-connect refusal and a create answer without an ``id`` are typed errors with status and body.

What it accepts is what the reference accepts: any 2xx for create, file and the operations (its ``checkForError``).

Headers: ``Authorization: Bearer`` on every call, as the reference, plus a ``Content-Type`` the Bill Upload spec
declares (``application/json`` for JSON bodies, ``application/octet-stream`` for files, as Flexera's generated CLI
sends). Both are harmless: Flexera accepts any content type and the reference sends none (``FX-BU-2``).

Time: each request ends within ``REQUEST_TIMEOUT`` as a whole (a file's transfer included, as Go's
``http.Client.Timeout``) and by the invocation's deadline (``deadline.HttpTransport``); a retry whose wait does not
fit before the deadline is not started. A slow Flexera thus ends in :class:`FlexeraUnavailable` while the function runs.

Transient faults (connection errors, 500/502/503/504) are retried (``retry.py``) where a retry is safe: the token,
the bill connect (a repeat answers 409), create (a repeat answers 409, which the abort path resolves), files (each
attempt re-streams the part from S3) and abort. A commit is retried only after the upload's status shows it is still
in progress, so a commit whose answer was lost is never mistaken for a failure.

File bodies are streamed: :class:`_Md5Reader` hands ``requests`` a file-like object with the part's length, reads
S3 in blocks as the socket drains and computes the MD5 of exactly the bytes sent.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from kubecost_flexera.adapters.deadline import NO_DEADLINE, HttpTransport
from kubecost_flexera.adapters.flexera_auth import (
    TokenSource,
    doing,
    excerpt,
    load_credentials,
    log_failure,
    send_retried,
    unavailable,
)
from kubecost_flexera.adapters.retry import FLEXERA_RETRY, Retrier, RetryPolicy, Transient
from kubecost_flexera.config import BILL_CONNECT_PREFIX
from kubecost_flexera.errors import ExporterError, FlexeraRejected, FlexeraUnavailable
from kubecost_flexera.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import BinaryIO

    import requests

    from kubecost_flexera.adapters.deadline import Deadline
    from kubecost_flexera.adapters.flexera_auth import Credentials
    from kubecost_flexera.config import FlexeraSettings

MAX_CONFLICT_RECOVERIES: Final = 2  # 409 on create: abort the blocking upload and create again at most this often
_CONFLICT_ID_RE: Final = re.compile(
    r"an existing billUpload \(ID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)

# Token host domain and Bill Upload host per shard (FX-HOST-1).
SHARD_HOSTS: Final[Mapping[str, tuple[str, str]]] = {
    "NAM": ("flexera.com", "api.optima.flexeraeng.com"),
    "EU": ("flexera.eu", "api.optima-eu.flexeraeng.com"),
    "AU": ("flexera.au", "api.optima-apac.flexeraeng.com"),
    "DEV": ("flexeratest.com", "api.optima.flexeraengdev.com"),
}


@dataclass(frozen=True)
class Endpoints:
    """The three URLs the exporter calls."""

    token: str
    bill_uploads: str
    bill_connects: str


def endpoints(settings: FlexeraSettings) -> Endpoints:
    """URLs for the shard, or every host replaced by ``FLEXERA_ENDPOINT_URL`` (one base URL, for emulators)."""
    if settings.endpoint_url is not None:
        token_base = bill_upload_base = onboarding_base = settings.endpoint_url
    else:
        domain, bill_upload_host = SHARD_HOSTS[settings.shard]
        token_base = f"https://login.{domain}"
        bill_upload_base = f"https://{bill_upload_host}"
        onboarding_base = f"https://api.{domain}"
    return Endpoints(
        token=f"{token_base}/oidc/token",
        bill_uploads=f"{bill_upload_base}/optima/orgs/{settings.org_id}/billUploads",
        bill_connects=f"{onboarding_base}/finops-onboarding/v1/orgs/{settings.org_id}/bill-connects/cbi",
    )


def _succeeded(response: requests.Response) -> bool:
    """Any 2xx, the reference's ``checkForError`` rule for create, files and the operations."""
    return 200 <= response.status_code < 300


class _Md5Reader:
    """A file-like body for ``requests``: known length (so ``Content-Length`` is set), MD5 of what was read.

    It hands out exactly ``length`` bytes: a source that ends early fails at once (the server would otherwise wait
    for the rest until the read timeout), and one that is longer cannot overrun the declared length.
    """

    def __init__(self, source: BinaryIO, length: int, name: str) -> None:
        self._source = source
        self._length = length
        self._name = name
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._read = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._read
        if remaining == 0:
            return b""
        chunk = self._source.read(remaining if size < 0 else min(size, remaining))
        if not chunk:
            raise FlexeraRejected(f"{self._name}: the source ended after {self._read} of {self._length} bytes")
        self._md5.update(chunk)
        self._read += len(chunk)
        return chunk

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    def close(self) -> None:
        self._source.close()


@dataclass(frozen=True)
class UploadedFile:
    name: str
    md5: str
    length: int


class FlexeraClient:
    """The calls of one upload run, authenticated with one set of credentials."""

    def __init__(
        self,
        settings: FlexeraSettings,
        credentials: Credentials,
        *,
        deadline: Deadline = NO_DEADLINE,
        session: requests.Session | None = None,
        retry: RetryPolicy = FLEXERA_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._urls = endpoints(settings)
        self._http = HttpTransport(settings.request_timeout_seconds, deadline, session)
        self._retrier = Retrier(retry, on_failure=log_failure, sleep=sleep, deadline=deadline)
        self._tokens = TokenSource(
            self._http, self._urls.token, credentials, retrier=self._retrier, monotonic=monotonic
        )
        self._bill_connect_attempted = False

    @classmethod
    def from_settings(cls, settings: FlexeraSettings, deadline: Deadline = NO_DEADLINE) -> FlexeraClient:
        """A client with the credentials of ``FLEXERA_SECRET_ARN`` (read now, through the Parameters cache)."""
        return cls(settings, load_credentials(settings.secret_arn), deadline=deadline)

    def for_bill_connect(self, bill_connect_id: str) -> FlexeraClient:
        """A client of another bill connect of the same org (a sources document's): it shares this client's HTTP
        session, deadline, retries and token, so a run asks for one token whatever the number of bill connects."""
        other = copy.copy(self)
        other._settings = replace(self._settings, bill_connect_id=bill_connect_id)
        other._bill_connect_attempted = False
        return other

    # --- bill connect ---

    def ensure_bill_connect_once(self) -> None:
        """Creates the CBI bill connect if configured, on the first call of this client only (not per retry).

        201 (created) and 409 (exists) are fine; anything else raises :class:`FlexeraRejected` with status and body.
        """
        if not self._settings.create_bill_connect or self._bill_connect_attempted:
            return
        self._bill_connect_attempted = True
        identifier = self._settings.bill_connect_id.removeprefix(f"{BILL_CONNECT_PREFIX}-")
        vendor = self._settings.vendor_name
        body = {
            "billIdentifier": identifier,
            "integrationId": BILL_CONNECT_PREFIX,
            "name": identifier,
            "params": {"displayName": vendor, "vendorName": vendor},
        }
        url = self._urls.bill_connects
        what = doing(f"creating the bill connect {self._settings.bill_connect_id}", "POST", url)
        response = self._call("POST", url, what, json_body=body)
        if response.status_code == 201:
            logger.info("Created the Flexera bill connect", bill_connect_id=self._settings.bill_connect_id)
        elif response.status_code == 409:
            logger.info("The Flexera bill connect exists", bill_connect_id=self._settings.bill_connect_id)
        else:
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {excerpt(response)}")

    # --- bill uploads ---

    def create_bill_upload(self, month: str) -> str:
        """Creates the month's bill upload; a conflicting in-progress one is aborted (bounded) and logged."""
        body = {"billConnectId": self._settings.bill_connect_id, "billingPeriod": month}
        what = doing(f"creating the bill upload of {month}", "POST", self._urls.bill_uploads)
        for recovery in range(MAX_CONFLICT_RECOVERIES + 1):
            response = self._call("POST", self._urls.bill_uploads, what, json_body=body)
            if response.status_code != 409:
                break
            blocking = _CONFLICT_ID_RE.search(response.text)
            if blocking is None:
                raise FlexeraRejected(f"{what}: HTTP 409 without an in-progress upload id: {excerpt(response)}")
            if recovery == MAX_CONFLICT_RECOVERIES:
                raise FlexeraRejected(
                    f"{what}: still HTTP 409 after aborting {MAX_CONFLICT_RECOVERIES} in-progress uploads "
                    f"(another writer is uploading this month?): {excerpt(response)}"
                )
            self._operation(blocking.group(1), "abort")
            logger.warning("Aborted the in-progress bill upload that blocked the month", aborted=blocking.group(1))
        if response.status_code == 404:
            raise FlexeraRejected(f"{what} failed with HTTP 404: {excerpt(response)}: {self._missing_bill_connect()}")
        if not _succeeded(response):
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {excerpt(response)}")
        upload_id = _json_field(response, "id")
        if upload_id is None:
            raise FlexeraRejected(f"{what}: HTTP {response.status_code} without a string id: {excerpt(response)}")
        return upload_id

    def upload_file(self, upload_id: str, name: str, size: int, open_source: Callable[[], BinaryIO]) -> UploadedFile:
        """Streams one file; each attempt re-opens the source, so a transient fault re-sends it whole."""
        readers: list[_Md5Reader] = []

        def body() -> _Md5Reader:
            readers.append(_Md5Reader(open_source(), size, name))
            return readers[-1]

        url = f"{self._urls.bill_uploads}/{upload_id}/files/{quote(name, safe='')}"
        what = doing(f"uploading {name}", "POST", url)
        try:
            response = self._call("POST", url, what, body=body)
        finally:
            for reader in readers:
                reader.close()
        if not _succeeded(response):
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {excerpt(response)}")
        sent = readers[-1]
        stored_md5 = _json_field(response, "md5")
        if stored_md5 is None or stored_md5.lower() != sent.md5:
            raise FlexeraRejected(f"{what}: Flexera stored MD5 {stored_md5!r}, the bytes sent have MD5 {sent.md5}")
        return UploadedFile(name, sent.md5, size)

    def commit(self, upload_id: str) -> None:
        """Commits; after an ambiguous failure the upload's status decides whether the commit happened."""

        def attempt() -> None:
            try:
                self._operation(upload_id, "commit", attempts=1)
            except FlexeraUnavailable as exc:
                status = self._status(upload_id)
                if status == "complete":
                    return
                if status != "in-progress":
                    raise
                raise Transient(f"commit of bill upload {upload_id} still in progress", exc) from exc

        self._retrier.run(attempt, unavailable)

    def abort(self, upload_id: str) -> None:
        """Aborts an upload that cannot be committed; a failing abort is logged, the original error is what counts."""
        try:
            self._operation(upload_id, "abort")
        except ExporterError as exc:
            logger.warning("Could not abort the bill upload", bill_upload_id=upload_id, error=str(exc))
        else:
            logger.info("Aborted the bill upload", bill_upload_id=upload_id)

    def _operation(self, upload_id: str, operation: str, attempts: int | None = None) -> None:
        url = f"{self._urls.bill_uploads}/{upload_id}/operations"
        what = doing(f"{operation} of bill upload {upload_id}", "POST", url)
        response = self._call("POST", url, what, json_body={"operation": operation}, attempts=attempts)
        if not _succeeded(response):
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {excerpt(response)}")

    def _status(self, upload_id: str) -> str | None:
        url = f"{self._urls.bill_uploads}/{upload_id}"
        response = self._call("GET", url, doing(f"reading bill upload {upload_id}", "GET", url))
        return _json_field(response, "status") if response.status_code == 200 else None

    def _missing_bill_connect(self) -> str:
        """What to fix when Flexera has no bill connect ``BILL_CONNECT_ID`` in the organization."""
        bill_connect, org = self._settings.bill_connect_id, self._settings.org_id
        if self._settings.create_bill_connect:
            return (
                f"Flexera has no bill connect {bill_connect} in org {org} although CREATE_BILL_CONNECT_IF_NOT_EXIST "
                "is true: check BILL_CONNECT_ID and ORG_ID"
            )
        return (
            f"Flexera has no bill connect {bill_connect} in org {org}: set CREATE_BILL_CONNECT_IF_NOT_EXIST=true to "
            "create it, or fix BILL_CONNECT_ID (and ORG_ID) to name an existing one"
        )

    # --- one authenticated call ---

    def _call(
        self,
        method: str,
        url: str,
        what: str,
        *,
        json_body: dict[str, Any] | None = None,
        body: Callable[[], _Md5Reader] | None = None,
        attempts: int | None = None,
    ) -> requests.Response:
        """Sends with a bearer token (renewed once on 401), retrying transient faults (:func:`send_retried`).

        Returns any other answer for the caller to judge; 401/403 after the renewal raise :class:`FlexeraAuthError`.
        """

        payload = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()

        def send() -> requests.Response:
            headers = {"Authorization": f"Bearer {self._tokens.token()}"}
            data: bytes | _Md5Reader | None = payload
            if payload is not None:
                headers["Content-Type"] = "application/json"
            elif body is not None:
                headers["Content-Type"] = "application/octet-stream"
                data = body()
            return self._http.request(method, url, data=data, headers=headers)

        response = send_retried(self._retrier, send, what, attempts)
        if response.status_code == 401:
            logger.info("Flexera refused the access token; renewing it once", call=what)
            self._tokens.invalidate()
            response = send_retried(self._retrier, send, what, attempts)
        if response.status_code in (401, 403):
            raise self._tokens.auth_error(response.status_code, what)
        return response


def _json_field(response: requests.Response, name: str) -> str | None:
    """A string field of a JSON object answer, or None when the answer is not such an object."""
    try:
        answer = response.json()
    except ValueError:
        return None
    value = answer.get(name) if isinstance(answer, dict) else None
    return value if isinstance(value, str) and value else None
