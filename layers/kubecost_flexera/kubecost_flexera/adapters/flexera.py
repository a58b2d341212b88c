"""Flexera One client: credentials, access tokens, the bill connect and the bill-upload lifecycle over HTTP.

It speaks Flexera's protocol (``FX-*``) as the Go exporter does (``GO-UP-1`` to ``GO-UP-8``: same URLs per shard,
same form-encoded token request, same compact JSON bodies), minus the Go program's defects (``GO-D*``):

- GO-D10: a 429 is never slept on here; it becomes :class:`FlexeraThrottled` carrying ``Retry-After`` (or the
  documented 120-second cool-off) so the state machine waits, not the Lambda.
- GO-D11: a 409 on create aborts the blocking upload a bounded number of times, and logs which upload it aborted.
- GO-D12: the token is renewed before it expires and once when Flexera answers 401.
- GO-D16/GO-D17: a bill-connect refusal and a create answer without an ``id`` are typed errors with status and body.

What it accepts is what the reference accepts: any 2xx for create, file and the operations (its ``checkForError``),
and from the token service a 200 whose ``access_token`` is what counts. ``expires_in`` (which the reference never
reads) may be an integer, a float, a numeric string or absent; when it is absent or unusable the token is taken to
last :data:`DEFAULT_TOKEN_LIFETIME_SECONDS`, Flexera's documented hour.

Headers: ``Authorization: Bearer`` on every call, as the reference, plus a ``Content-Type`` the Bill Upload spec
declares (``application/json`` for JSON bodies, ``application/octet-stream`` for files, as Flexera's generated CLI
sends). Both are harmless: Flexera accepts any content type and the reference sends none (``FX-BU-2``).

Time: each request ends within ``REQUEST_TIMEOUT`` as a whole (a file's transfer included, as Go's
``http.Client.Timeout``) and by the invocation's deadline (``deadline.HttpTransport``); a retry whose wait does not
fit before the deadline is not started. A slow Flexera thus ends in :class:`FlexeraUnavailable` while the function runs.

Transient faults (connection errors, 500/502/503/504) are retried with exponential backoff where a retry is safe: the
token, the bill connect (a repeat answers 409), create (a repeat answers 409, which the abort path resolves),
files (each attempt re-streams the part from S3) and abort. A commit is retried only after the upload's status
shows it is still in progress, so a commit whose answer was lost is never mistaken for a failure.

File bodies are streamed: :class:`_Md5Reader` hands ``requests`` a file-like object with the part's length, reads
S3 in blocks as the socket drains and computes the MD5 of exactly the bytes sent.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeGuard
from urllib.parse import quote, urlencode

import requests
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from kubecost_flexera.adapters.deadline import NO_DEADLINE, HttpTransport
from kubecost_flexera.config import BILL_CONNECT_PREFIX
from kubecost_flexera.errors import (
    ConfigurationError,
    ExporterError,
    FlexeraAuthError,
    FlexeraRejected,
    FlexeraThrottled,
    FlexeraUnavailable,
)
from kubecost_flexera.observability import count_retry, logger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import BinaryIO

    from kubecost_flexera.adapters.deadline import Deadline
    from kubecost_flexera.config import FlexeraSettings

# Secrets Manager answers are cached per execution environment; a rotated secret is seen within five minutes.
SECRET_MAX_AGE_SECONDS: Final = 300
# Renew the access token when less than this is left: a 1000 MB file must not outlive it mid-transfer.
TOKEN_RENEWAL_MARGIN_SECONDS: Final = 300
DEFAULT_TOKEN_LIFETIME_SECONDS: Final = 3600  # FX-TOKEN-2: access tokens last one hour
DEFAULT_COOLOFF_SECONDS: Final = 120  # FX-BU-5, when no Retry-After comes with the 429
MAX_CONFLICT_RECOVERIES: Final = 2  # 409 on create: abort the blocking upload and create again at most this often
TRANSIENT_STATUSES: Final = frozenset({500, 502, 503, 504})
ROLE_HINT: Final = 'the account needs the "Manage bill ingestion" role in the Flexera organization'
_CONFLICT_ID_RE: Final = re.compile(
    r"an existing billUpload \(ID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_BODY_EXCERPT_CHARS: Final = 500

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


# --- Credentials ---


@dataclass(frozen=True)
class RefreshTokenGrant:
    """A user's refresh token (``grant_type=refresh_token``)."""

    refresh_token: str = field(repr=False)
    kind: ClassVar[str] = "refresh token"

    def form(self) -> dict[str, str]:
        return {"grant_type": "refresh_token", "refresh_token": self.refresh_token}


@dataclass(frozen=True)
class ClientCredentialsGrant:
    """A service account's client (``grant_type=client_credentials``)."""

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    kind: ClassVar[str] = "service account client credentials"

    def form(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "grant_type": "client_credentials"}


Credentials = RefreshTokenGrant | ClientCredentialsGrant
_EXPECTED_SHAPE: Final = 'a JSON object with either "refresh_token", or "client_id" and "client_secret", all non-empty'


def parse_credentials(value: object, secret_arn: str) -> Credentials:
    """The grant a secret's JSON value describes. Errors name the keys found, never a value."""
    if not isinstance(value, dict):
        raise ConfigurationError(f"FLEXERA_SECRET_ARN={secret_arn!r}: the secret must be {_EXPECTED_SHAPE}")
    keys = sorted(str(key) for key in value)
    refresh_token = value.get("refresh_token")
    client_id = value.get("client_id")
    client_secret = value.get("client_secret")
    if keys == ["refresh_token"] and _non_empty(refresh_token):
        return RefreshTokenGrant(refresh_token)
    if keys == ["client_id", "client_secret"] and _non_empty(client_id) and _non_empty(client_secret):
        return ClientCredentialsGrant(client_id, client_secret)
    empty = [key for key in keys if not _non_empty(value[key])]
    found = f"keys {keys}" + (f", empty or not a string: {empty}" if empty else "")
    raise ConfigurationError(f"FLEXERA_SECRET_ARN={secret_arn!r}: the secret must be {_EXPECTED_SHAPE}; it has {found}")


def _non_empty(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def load_credentials(secret_arn: str) -> Credentials:
    """Reads the secret through Powertools Parameters (cached for :data:`SECRET_MAX_AGE_SECONDS`)."""
    try:
        value = parameters.get_secret(secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except TransformParameterError:
        # The decoder's exception keeps the document; `from None` keeps it out of every traceback.
        raise ConfigurationError(
            f"FLEXERA_SECRET_ARN={secret_arn!r}: the secret is not JSON; it must be {_EXPECTED_SHAPE}"
        ) from None
    except GetParameterError as exc:
        raise ConfigurationError(
            f"FLEXERA_SECRET_ARN={secret_arn!r}: the secret cannot be read ({exc}); allowed the ARN of an existing "
            "secret that this function may read"
        ) from None
    return parse_credentials(value, secret_arn)


# --- Transport ---


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter for transient faults."""

    attempts: int = 3
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 8.0

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


class Retrying:
    """Sends a request again after a connection error or 500/502/503/504, a bounded number of times, and only while
    the wait and an attempt still fit before the deadline."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None], deadline: Deadline = NO_DEADLINE) -> None:
        self.policy = policy
        self.sleep = sleep
        self.deadline = deadline

    def pause(self, attempt: int, failure: str) -> None:
        """Waits before attempt ``attempt + 1``; raises :class:`FlexeraUnavailable` when the wait does not fit."""
        delay = self.policy.delay(attempt)
        if not self.deadline.fits(delay):
            raise FlexeraUnavailable(
                f"{failure} (after {attempt} attempt(s); no time left for another before the invocation's deadline)"
            )
        count_retry()
        self.sleep(delay)

    def __call__(
        self, send: Callable[[], requests.Response], what: str, attempts: int | None = None
    ) -> requests.Response:
        """Any answer but a transient one is returned; exhausted attempts raise :class:`FlexeraUnavailable`."""
        limit = attempts or self.policy.attempts
        attempt = 1
        while True:
            try:
                response = send()
            except requests.RequestException as exc:
                failure = f"{what}: {type(exc).__name__}: {exc}"
            else:
                if response.status_code not in TRANSIENT_STATUSES:
                    return response
                failure = f"{what}: HTTP {response.status_code}: {_excerpt(response)}"
            if attempt >= limit:
                raise FlexeraUnavailable(f"{failure} (after {attempt} attempts)")
            logger.warning("Transient Flexera failure; retrying", failure=failure, attempt=attempt)
            self.pause(attempt, failure)
            attempt += 1


class TokenSource:
    """Access tokens for one set of credentials: fetched lazily, renewed before expiry or when Flexera says 401."""

    def __init__(
        self,
        http: HttpTransport,
        token_url: str,
        credentials: Credentials,
        *,
        retrying: Retrying,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._retrying = retrying
        self._url = token_url
        self._credentials = credentials
        self._monotonic = monotonic
        self._token: str | None = None
        self._renew_at = 0.0

    @property
    def credential_kind(self) -> str:
        return self._credentials.kind

    def token(self) -> str:
        if self._token is None or self._monotonic() >= self._renew_at:
            self._token, lifetime = self._fetch()
            self._renew_at = self._monotonic() + max(0, lifetime - TOKEN_RENEWAL_MARGIN_SECONDS)
        return self._token

    def invalidate(self) -> None:
        self._token = None

    def auth_error(self, status: int, what: str) -> FlexeraAuthError:
        return FlexeraAuthError(
            f"Flexera refused {what} with HTTP {status} using the {self.credential_kind} from the Flexera secret: "
            f"check that the credentials are valid for this organization and shard, and that {ROLE_HINT}"
        )

    def _fetch(self) -> tuple[str, float]:
        # Exactly as the reference: form-encoded, keys sorted (Go's url.Values.Encode), no Authorization, no scope.
        body = urlencode(sorted(self._credentials.form().items()))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        what = _doing("the access token request", "POST", self._url)
        response = self._retrying(lambda: self._http.request("POST", self._url, data=body, headers=headers), what)
        if response.status_code in (400, 401, 403):
            raise self.auth_error(response.status_code, what)
        if response.status_code == 429:
            raise _throttled(response, what)
        if response.status_code != 200:
            raise FlexeraUnavailable(f"{what}: the Flexera token service answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise FlexeraRejected(f"{what}: the Flexera token service answered 200 without an access_token")
        return token, _lifetime_seconds(answer.get("expires_in") if isinstance(answer, dict) else None)


def _lifetime_seconds(expires_in: object) -> float:
    """``expires_in`` as a positive number of seconds, whatever JSON type it came as; else the default hour."""
    lifetime: float | None = None
    if isinstance(expires_in, (int, float, str)) and not isinstance(expires_in, bool):
        try:
            lifetime = float(expires_in)
        except ValueError:
            lifetime = None
    if lifetime is not None and math.isfinite(lifetime) and lifetime > 0:
        return lifetime
    if expires_in is not None:
        logger.warning(
            "The token answer's expires_in is not a positive number; assuming the default lifetime",
            expires_in=repr(expires_in)[:40],
            lifetime_seconds=DEFAULT_TOKEN_LIFETIME_SECONDS,
        )
    return DEFAULT_TOKEN_LIFETIME_SECONDS


def _throttled(response: requests.Response, what: str) -> FlexeraThrottled:
    header = response.headers.get("Retry-After", "")
    seconds = int(header) if header.strip().isdigit() else DEFAULT_COOLOFF_SECONDS
    return FlexeraThrottled(f"Flexera throttled {what} (HTTP 429); retry after {seconds} s", seconds)


def _doing(action: str, method: str, url: str) -> str:
    """An action and the request that makes it, as every error and log line about it names it."""
    return f"{action} ({method} {url})"


def _succeeded(response: requests.Response) -> bool:
    """Any 2xx, the reference's ``checkForError`` rule for create, files and operations."""
    return 200 <= response.status_code < 300


def _excerpt(response: requests.Response) -> str:
    return response.text[:_BODY_EXCERPT_CHARS]


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
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._urls = endpoints(settings)
        self._http = HttpTransport(settings.request_timeout_seconds, deadline, session)
        self._retrying = Retrying(retry or RetryPolicy(), sleep, deadline)
        self._tokens = TokenSource(
            self._http, self._urls.token, credentials, retrying=self._retrying, monotonic=monotonic
        )
        self._bill_connect_attempted = False

    @classmethod
    def from_settings(cls, settings: FlexeraSettings, deadline: Deadline = NO_DEADLINE) -> FlexeraClient:
        """A client with the credentials of ``FLEXERA_SECRET_ARN`` (read now, through the Parameters cache)."""
        return cls(settings, load_credentials(settings.secret_arn), deadline=deadline)

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
        what = _doing(f"creating the bill connect {self._settings.bill_connect_id}", "POST", url)
        response = self._call("POST", url, what, json_body=body)
        if response.status_code == 201:
            logger.info("Created the Flexera bill connect", bill_connect_id=self._settings.bill_connect_id)
        elif response.status_code == 409:
            logger.info("The Flexera bill connect exists", bill_connect_id=self._settings.bill_connect_id)
        else:
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {_excerpt(response)}")

    # --- bill uploads ---

    def create_bill_upload(self, month: str) -> str:
        """Creates the month's bill upload; a conflicting in-progress one is aborted (bounded) and logged."""
        body = {"billConnectId": self._settings.bill_connect_id, "billingPeriod": month}
        what = _doing(f"creating the bill upload of {month}", "POST", self._urls.bill_uploads)
        for recovery in range(MAX_CONFLICT_RECOVERIES + 1):
            response = self._call("POST", self._urls.bill_uploads, what, json_body=body)
            if response.status_code == 429:
                raise _throttled(response, what)
            if response.status_code != 409:
                break
            blocking = _CONFLICT_ID_RE.search(response.text)
            if blocking is None:
                raise FlexeraRejected(f"{what}: HTTP 409 without an in-progress upload id: {_excerpt(response)}")
            if recovery == MAX_CONFLICT_RECOVERIES:
                raise FlexeraRejected(
                    f"{what}: still HTTP 409 after aborting {MAX_CONFLICT_RECOVERIES} in-progress uploads "
                    f"(another writer is uploading this month?): {_excerpt(response)}"
                )
            self._operation(blocking.group(1), "abort")
            logger.warning("Aborted the in-progress bill upload that blocked the month", aborted=blocking.group(1))
        if response.status_code == 404:
            raise FlexeraRejected(f"{what} failed with HTTP 404: {_excerpt(response)}: {self._missing_bill_connect()}")
        if not _succeeded(response):
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {_excerpt(response)}")
        upload_id = _json_field(response, "id")
        if upload_id is None:
            raise FlexeraRejected(f"{what}: HTTP {response.status_code} without a string id: {_excerpt(response)}")
        return upload_id

    def upload_file(self, upload_id: str, name: str, size: int, open_source: Callable[[], BinaryIO]) -> UploadedFile:
        """Streams one file; each attempt re-opens the source, so a transient fault re-sends it whole."""
        readers: list[_Md5Reader] = []

        def body() -> _Md5Reader:
            readers.append(_Md5Reader(open_source(), size, name))
            return readers[-1]

        url = f"{self._urls.bill_uploads}/{upload_id}/files/{quote(name, safe='')}"
        what = _doing(f"uploading {name}", "POST", url)
        try:
            response = self._call("POST", url, what, body=body)
        finally:
            for reader in readers:
                reader.close()
        if response.status_code == 429:
            raise _throttled(response, what)
        if not _succeeded(response):
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {_excerpt(response)}")
        sent = readers[-1]
        stored_md5 = _json_field(response, "md5")
        if stored_md5 is None or stored_md5.lower() != sent.md5:
            raise FlexeraRejected(f"{what}: Flexera stored MD5 {stored_md5!r}, the bytes sent have MD5 {sent.md5}")
        return UploadedFile(name, sent.md5, size)

    def commit(self, upload_id: str) -> None:
        """Commits; after an ambiguous failure the upload's status decides whether the commit happened."""
        policy = self._retrying.policy
        for attempt in range(1, policy.attempts + 1):
            try:
                self._operation(upload_id, "commit", attempts=1)
            except FlexeraUnavailable:
                status = self._status(upload_id)
                if status == "complete":
                    return
                if status != "in-progress" or attempt == policy.attempts:
                    raise
                self._retrying.pause(attempt, f"commit of bill upload {upload_id} still in progress")
            else:
                return

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
        what = _doing(f"{operation} of bill upload {upload_id}", "POST", url)
        response = self._call("POST", url, what, json_body={"operation": operation}, attempts=attempts)
        if not _succeeded(response):
            raise FlexeraRejected(f"{what} failed with HTTP {response.status_code}: {_excerpt(response)}")

    def _status(self, upload_id: str) -> str | None:
        url = f"{self._urls.bill_uploads}/{upload_id}"
        response = self._call("GET", url, _doing(f"reading bill upload {upload_id}", "GET", url))
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
        """Sends with a bearer token (renewed once on 401), through :class:`Retrying`.

        Returns any other answer for the caller to judge; 401/403 after the renewal raise :class:`FlexeraAuthError`.
        """

        def send() -> requests.Response:
            headers = {"Authorization": f"Bearer {self._tokens.token()}"}
            data: bytes | _Md5Reader | None = None
            if json_body is not None:
                headers["Content-Type"] = "application/json"
                data = json.dumps(json_body, separators=(",", ":")).encode()
            elif body is not None:
                headers["Content-Type"] = "application/octet-stream"
                data = body()
            return self._http.request(method, url, data=data, headers=headers)

        response = self._retrying(send, what, attempts)
        if response.status_code == 401:
            logger.info("Flexera refused the access token; renewing it once", call=what)
            self._tokens.invalidate()
            response = self._retrying(send, what, attempts)
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
