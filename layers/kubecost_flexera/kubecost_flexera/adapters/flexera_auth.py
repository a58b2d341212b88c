"""Flexera One authentication: the token grant secret, and access tokens from it (``FX-TOKEN-*``).

The secret holds a user's refresh token or a service account's client credentials; the token request is the Go
exporter's (``GO-UP-1``: form-encoded, keys sorted, no ``Authorization``, no scope). Unlike the Go program the token
is renewed before it expires and once when Flexera answers 401 (``GO-D12``). What the token service's answer must
hold is what the reference reads: a 200 whose ``access_token`` counts. ``expires_in`` (which the reference never
reads) may be an integer, a float, a numeric string or absent; when it is absent or unusable the token is taken to
last :data:`DEFAULT_TOKEN_LIFETIME_SECONDS`, Flexera's documented hour.

Also here, since the token request and the bill-upload client (``flexera.py``) share them: which Flexera faults are
transient (connection errors, 500/502/503/504, retried under the one policy of ``retry.py``) and how a 429 becomes
:class:`FlexeraThrottled` (``GO-D10``: never slept on here, the state machine waits).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import urlencode

import requests

from kubecost_flexera.adapters.retry import Transient
from kubecost_flexera.adapters.secrets import load_secret, non_empty, parse_secret
from kubecost_flexera.errors import FlexeraAuthError, FlexeraRejected, FlexeraThrottled, FlexeraUnavailable
from kubecost_flexera.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kubecost_flexera.adapters.deadline import HttpTransport
    from kubecost_flexera.adapters.retry import Failed, GaveUp, Retrier

ARN_VARIABLE: Final = "FLEXERA_SECRET_ARN"
# Renew the access token when less than this is left: a 1000 MB file must not outlive it mid-transfer.
TOKEN_RENEWAL_MARGIN_SECONDS: Final = 300
DEFAULT_TOKEN_LIFETIME_SECONDS: Final = 3600  # FX-TOKEN-2: access tokens last one hour
DEFAULT_COOLOFF_SECONDS: Final = 120  # FX-BU-5, when no Retry-After comes with the 429
TRANSIENT_STATUSES: Final = frozenset({500, 502, 503, 504})
ROLE_HINT: Final = 'the account needs the "Manage bill ingestion" role in the Flexera organization'
_BODY_EXCERPT_CHARS: Final = 500


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
    return parse_secret(f"{ARN_VARIABLE}={secret_arn!r}", value, _EXPECTED_SHAPE, _grant)


def _grant(value: Mapping[str, object]) -> Credentials:
    keys = sorted(value)
    refresh_token, client_id, client_secret = (
        value.get("refresh_token"),
        value.get("client_id"),
        value.get("client_secret"),
    )
    if keys == ["refresh_token"] and non_empty(refresh_token):
        return RefreshTokenGrant(refresh_token)
    if keys == ["client_id", "client_secret"] and non_empty(client_id) and non_empty(client_secret):
        return ClientCredentialsGrant(client_id, client_secret)
    raise ValueError("not a Flexera grant")


def load_credentials(secret_arn: str) -> Credentials:
    """The grant in the ``FLEXERA_SECRET_ARN`` secret (:mod:`secrets`: cached, checked, never logged)."""
    return load_secret(ARN_VARIABLE, secret_arn, _EXPECTED_SHAPE, _grant)


# --- Calls: what is transient, what is throttling ---


def send_retried(
    retrier: Retrier, send: Callable[[], requests.Response], what: str, attempts: int | None = None
) -> requests.Response:
    """Any answer but a transient or a throttled one: spent attempts (or time) raise :class:`FlexeraUnavailable`, and
    a 429, from any endpoint, :class:`FlexeraThrottled` at once (GO-D10: the state machine waits the cool-off)."""

    def attempt() -> requests.Response:
        try:
            response = send()
        except requests.RequestException as exc:
            raise Transient(f"{what}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in TRANSIENT_STATUSES:
            raise Transient(f"{what}: HTTP {response.status_code}: {excerpt(response)}")
        if response.status_code == 429:
            raise throttled(response, what)
        return response

    return retrier.run(attempt, unavailable, attempts)


def log_failure(failed: Failed) -> None:
    """Only a failure that is retried is logged here; the last one is the error the caller records."""
    if failed.retrying:
        logger.warning("Transient Flexera failure; retrying", failure=failed.failure, attempt=failed.attempt)


def unavailable(ended: GaveUp) -> Exception:
    """The error that ends Flexera's retries: the last attempt's own, or :class:`FlexeraUnavailable`."""
    if ended.out_of_time:
        return FlexeraUnavailable(
            f"{ended.failure} (after {ended.attempts} attempt(s); no time left for another before the invocation's "
            "deadline)"
        )
    if ended.last.error is not None:
        return ended.last.error
    return FlexeraUnavailable(f"{ended.failure} (after {ended.attempts} attempts)")


def throttled(response: requests.Response, what: str) -> FlexeraThrottled:
    header = response.headers.get("Retry-After", "")
    seconds = int(header) if header.strip().isdigit() else DEFAULT_COOLOFF_SECONDS
    return FlexeraThrottled(f"Flexera throttled {what} (HTTP 429); retry after {seconds} s", seconds)


def doing(action: str, method: str, url: str) -> str:
    """An action and the request that makes it, as every error and log line about it names it."""
    return f"{action} ({method} {url})"


def excerpt(response: requests.Response) -> str:
    return response.text[:_BODY_EXCERPT_CHARS]


# --- Access tokens ---


class TokenSource:
    """Access tokens for one set of credentials: fetched lazily, renewed before expiry or when Flexera says 401."""

    def __init__(
        self,
        http: HttpTransport,
        token_url: str,
        credentials: Credentials,
        *,
        retrier: Retrier,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._retrier = retrier
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
        what = doing("the access token request", "POST", self._url)
        response = send_retried(
            self._retrier, lambda: self._http.request("POST", self._url, data=body, headers=headers), what
        )
        if response.status_code in (400, 401, 403):
            raise self.auth_error(response.status_code, what)
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
