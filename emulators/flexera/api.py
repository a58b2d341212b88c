"""Flexera One emulator: OIDC token service, Bill Upload API (CBI) and FinOps Onboarding bill connects, on one URL.

Why it exists: the exporter's upload step must be tested against something that enforces Flexera's rules (one
upload in progress per bill connect and month, the 120-second cool-off, file name and size limits, md5 answers,
commit replacing a month) and that can fail on purpose (5xx, dropped connections, a wrong md5, tokens expiring
mid-run), without a Flexera account and without ever sleeping. It follows the Flexera facts (``FX-*``, scope
``FX-EMU-1``); every route answers with the shapes of the verbatim samples of ``SRC-FX-SPEC``.

One base URL serves every Flexera host (the client reaches it through ``FLEXERA_ENDPOINT_URL``)::

    POST   /oidc/token                                                   token (form or JSON body)
    GET    /optima/orgs/{org}/billUploads[?billConnectId=&billingPeriod=] list      (200, bare array)
    POST   /optima/orgs/{org}/billUploads                                create    (201)
    GET    /optima/orgs/{org}/billUploads/{id}                           show      (200, with files)
    DELETE /optima/orgs/{org}/billUploads/{id}                           delete    (204, aborted only)
    POST   /optima/orgs/{org}/billUploads/{id}/files/{fileId}            file      (201, raw bytes)
    POST   /optima/orgs/{org}/billUploads/{id}/operations                operation (200, commit or abort)
    POST   /finops-onboarding/v1/orgs/{org}/bill-connects/cbi            bill_connect (201)
    GET    /finops-onboarding/v1/orgs/{org}/bill-connects                bill_connect (200, list)
    GET    /__emulator__/committed?billConnectId=&month=                 inspection for the demo (no auth)
    POST   /__emulator__/clock?advance=SECONDS                           move the clock forward (no auth)

Command line (the clock follows real time there, so a second run two minutes later is not throttled)::

    python -m emulators.flexera --port 8081 --org-id 12345 --refresh-token my-refresh-token \\
        --client my-client-id:my-secret --bill-connect cbi-oi-kubecost-1 [--cooloff 120] [--max-files 500] \\
        [--max-file-bytes N] [--token-lifetime 3600] [--frozen-clock]

In tests use the ``flexera_emulator`` fixture (``tests/fixtures/flexera.py``): ``FlexeraEmulator`` with a frozen
clock that only ``emu.clock.advance(seconds)`` moves, ``emu.inject(FlexeraFault(...))``, and the inspection
``emu.committed(bill_connect_id, month)``, ``emu.bill_uploads``, ``emu.requests``.

Decisions where Flexera's behaviour is undocumented (FX-UNDOC-1) -- these are ours, not Flexera's facts:

============================================  ==================================================================
Question                                      Emulator behaviour
============================================  ==================================================================
Error body                                    goa error JSON (name, id, message, temporary, timeout, fault) with
                                              ``Content-Type: application/vnd.goa.error``; ``fault`` is true
                                              only for 5xx, ``temporary`` for 429 and 5xx.
Token request encoding                        form, or JSON when the Content-Type says json or the body starts
                                              with ``{``; no Content-Type required.
Token errors                                  400 ``bad_request``: no/unsupported ``grant_type`` (including
                                              ``authorization_code``) or a missing credential field; 401
                                              ``unauthorized``: unknown refresh token, client id or secret.
Client-credentials token answer               ``access_token``, ``expires_in``, ``token_type`` only (no
                                              ``refresh_token``); the refresh grant also echoes ``refresh_token``.
Token expiry                                  on the emulator clock: valid while ``now < issued + lifetime``.
Missing/invalid/expired bearer token          401 ``unauthorized`` on every API route (before the org check).
Org id in the URL differs from the config     403 ``forbidden`` (the token has no rights on that org).
Create for a bill connect that does not       404 ``not_found``; the connects that exist are the configured
exist                                         ``bill_connects`` plus those created through the API.
``billingPeriod`` validation                  the documented pattern ``^([0-9]{4})-([0-9]{2})$`` only, as goa.
``status`` right after create                 ``in-progress`` (the spec's examples show ``complete``).
409 on create, wording                        ``a billUpload is already in progress for bill connect <c> and
                                              billing period <p>: there is an existing billUpload (ID: <uuid>)``.
409 or 429 first                              409 first: a conflict is reported even inside the cool-off.
Cool-off                                      ``cooloff_seconds`` counted from the previous successful creation
                                              for the same bill connect and period, whatever happened since
                                              (commit, abort, delete); 429 ``too_many_requests`` with a
                                              ``Retry-After`` header holding the remaining whole seconds (≥ 1).
Malformed ``billUploadId`` / unknown one      400 ``bad_request`` / 404 ``not_found``.
``fileId`` rule                               ≤ 100 characters, no ``/``, a non-empty stem and one of ``.csv``,
                                              ``.json``, ``.jsonl``, optionally followed by ``.gz`` (lower case);
                                              otherwise 400.
File on an upload not ``in-progress``         409 ``conflict``.
Re-posting an existing ``fileId``             replaces that file (new md5, length, ``updatedAt``); it does not
                                              count as an extra file.
File over ``max_file_bytes``                  413 ``request_entity_too_large`` (the size of the bytes as sent).
File beyond ``max_files``                     400 ``bad_request``.
Order of file checks                          404 upload, 400 name, 409 not in progress, 413 size, 400 count.
Commit with no file                           400 ``bad_request``.
Operation on a ``complete``/``aborted`` one   409 ``conflict`` (the spec lists no 409 for operations; a closed
                                              upload is a state conflict, as for files).
Unknown ``operation`` or bad body             400 ``bad_request``.
After ``abort``                               the file objects stay listed; their bytes are discarded.
Delete of an upload not ``aborted``           400 ``bad_request`` (the documented codes have no 409 there).
Commit result                                 the month's committed files for that bill connect are replaced
                                              at once; like Flexera, the answer does not wait for processing,
                                              which happens when the month is first inspected. ``.gz`` files are
                                              decompressed, ``.csv`` files parsed; a file that cannot be
                                              decompressed, decoded as UTF-8 or parsed (a row whose field count
                                              differs from the header's, a ``Cost`` that is not a number) is
                                              recorded in ``CommittedMonth.errors`` and contributes no rows --
                                              the API itself never reports processing errors (UI only).
Content-Type / ``API-Version``                never required.
Unknown path or method                        the base server's plain-text 404 / 405 (outside the API).
Bill-connect pattern violations               400 ``bad_request`` (not 422), also for missing fields.
Bill connect that exists                      409 ``conflict``.
Configured (pre-existing) bill connects       listed as CBI connects split at their documented integration id
                                              (``cbi-oi-kubecost-1`` → ``cbi-oi-kubecost`` + ``1``), with
                                              ``name`` = the bill identifier and ``displayName`` =
                                              ``vendorName`` = ``Emulator``.
Fault endpoints                               ``token``, ``create``, ``file``, ``operation``, ``list`` (bill
                                              uploads), ``show``, ``delete``, ``bill_connect`` (create and list
                                              of bill connects).
Fault counting                                calls of the fault's endpoint counted from its injection; a fault
                                              fires on calls ``on_call`` … ``on_call + times - 1`` (``times``
                                              None: every call from ``on_call``). Faults act before
                                              authentication, like a gateway.
5xx and dropped faults                        the request is not processed (no state changes); 5xx answers are
                                              goa errors (``internal_error``, ``bad_gateway``,
                                              ``service_unavailable``).
``expire_tokens`` fault                       every issued access token becomes invalid at that call, which is
                                              then served normally -- so it gets a 401 unless it is a token call.
``wrong_md5`` fault                           only for ``file``: the 201 answer carries an md5 that differs from
                                              the bytes' (the stored file keeps the right one).
``expires_in`` form (``expires_in_form``)     an integer (the schema, default); or as servers may write it: a
                                              string (``"3600"``, as one Flexera page shows it), a float
                                              (``3600.0``) or ``absent``.
Status of create and file (``created_status``) 201 as documented (default); 200 stands for a server answering
                                              another 2xx, which the reference accepts.
============================================  ==================================================================
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import re
import secrets
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import parse_qs, unquote

from emulators.http_server import EmulatorServer, Request, Response

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

Endpoint = Literal["token", "create", "file", "operation", "bill_connect", "list", "show", "delete"]
FaultKind = Literal["http_500", "http_502", "http_503", "drop_connection", "wrong_md5", "expire_tokens"]
UploadStatus = Literal["in-progress", "complete", "aborted"]
ExpiresInForm = Literal["integer", "string", "float", "absent"]

DEFAULT_REFRESH_TOKEN = "emulator-refresh-token"  # noqa: S105 -- a fake credential the emulator accepts
DEFAULT_CLIENT_ID = "emulator-client"
DEFAULT_CLIENT_SECRET = "emulator-secret"  # noqa: S105 -- a fake credential the emulator accepts
DEFAULT_BILL_CONNECT_ID = "cbi-oi-kubecost-1"

#: Integration ids the FinOps Onboarding spec documents (FX-BC-1), used to split configured ids.
INTEGRATION_IDS = (
    "cbi-oi-optima",
    "cbi-oi-aws",
    "cbi-oi-oracle",
    "cbi-oi-alibaba",
    "cbi-oi-azure-china",
    "cbi-oi-kubecost",
    "cbi-oi-focus",
    "cbi-oi-ocean",
)

_BILLING_PERIOD_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_BILL_IDENTIFIER_RE = re.compile(r"^[0-9a-zA-Z_-]{1,45}$")
_INTEGRATION_ID_RE = re.compile(r"^[0-9a-zA-Z_-]{1,20}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_FILE_ID_RE = re.compile(r"^[^/]+\.(csv|json|jsonl)(\.gz)?$")
_MAX_FILE_ID_LENGTH = 100

_UPLOAD_MEDIA_TYPE = "application/vnd.flexera.optima-bill.bill_upload"
_FILE_MEDIA_TYPE = "application/vnd.flexera.optima-bill.file"
_ERROR_MEDIA_TYPE = "application/vnd.goa.error"

_FAULT_STATUS: dict[FaultKind, HTTPStatus] = {
    "http_500": HTTPStatus.INTERNAL_SERVER_ERROR,
    "http_502": HTTPStatus.BAD_GATEWAY,
    "http_503": HTTPStatus.SERVICE_UNAVAILABLE,
}
_ERROR_NAMES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "request_entity_too_large",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


# --- configuration, faults, clock ---


@dataclass(frozen=True)
class FlexeraEmulatorConfig:
    """Who may log in, which org and bill connects exist, and the Bill Upload limits (defaults as Flexera's)."""

    org_id: str = "12345"
    refresh_tokens: frozenset[str] = frozenset({DEFAULT_REFRESH_TOKEN})
    clients: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
    token_lifetime_seconds: int = 3600
    max_file_bytes: int = 1000 * 1024 * 1024
    max_files: int = 500
    cooloff_seconds: int = 120
    bill_connects: frozenset[str] = frozenset({DEFAULT_BILL_CONNECT_ID})
    start_time: datetime | None = None  # the clock's initial time (UTC); None = now
    wall_clock: bool = False  # False: time moves only through clock.advance(); True: it also follows real time
    expires_in_form: ExpiresInForm = "integer"  # how the token answer writes expires_in
    created_status: Literal[200, 201] = 201  # the status of a successful create and file upload

    def __post_init__(self) -> None:
        if not self.org_id.isdigit():
            raise ValueError(f"org_id must be the numeric Flexera org id, not {self.org_id!r}")
        for name in ("token_lifetime_seconds", "max_file_bytes", "max_files"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.cooloff_seconds < 0:
            raise ValueError("cooloff_seconds must not be negative")
        if self.start_time is not None and self.start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        if self.expires_in_form not in get_args(ExpiresInForm):
            raise ValueError(f"expires_in_form must be one of {get_args(ExpiresInForm)}")
        if self.created_status not in (200, 201):
            raise ValueError("created_status must be 200 or 201")
        for bill_connect_id in self.bill_connects:
            split_bill_connect_id(bill_connect_id)


@dataclass(frozen=True)
class FlexeraFault:
    """A misbehaviour of one endpoint on its ``on_call``-th call after injection, ``times`` times (None: always)."""

    endpoint: Endpoint
    kind: FaultKind
    on_call: int = 1
    times: int | None = 1

    def __post_init__(self) -> None:
        if self.endpoint not in get_args(Endpoint):
            raise ValueError(f"unknown endpoint {self.endpoint!r}; one of {get_args(Endpoint)}")
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {get_args(FaultKind)}")
        if self.kind == "wrong_md5" and self.endpoint != "file":
            raise ValueError("wrong_md5 only applies to the file endpoint")
        if self.on_call < 1 or (self.times is not None and self.times < 1):
            raise ValueError("on_call and times must be at least 1")


class ManualClock:
    """Time that moves only when a test says so: throttling and token expiry are tested without sleeping."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + self._offset

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock never goes back")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()


class WallClock(ManualClock):
    """Real time plus whatever was advanced: for the command line, where runs are minutes apart."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=time.monotonic() - self._started)


def split_bill_connect_id(bill_connect_id: str) -> tuple[str, str]:
    """``cbi-oi-kubecost-1`` → (``cbi-oi-kubecost``, ``1``), using the longest documented integration id."""
    for integration_id in sorted(INTEGRATION_IDS, key=len, reverse=True):
        identifier = bill_connect_id.removeprefix(f"{integration_id}-")
        if identifier != bill_connect_id and _BILL_IDENTIFIER_RE.match(identifier):
            return integration_id, identifier
    raise ValueError(
        f"bill connect id {bill_connect_id!r} is not <documented integration id>-<bill identifier>, "
        "e.g. cbi-oi-kubecost-1"
    )


# --- state and inspection records ---


@dataclass(frozen=True)
class FileRecord:
    """A file of a bill upload, as the API shows it (the bytes are kept apart)."""

    id: str
    bill_upload_id: str
    md5: str
    length: int
    created_at: datetime
    updated_at: datetime
    status: str = "uploaded"

    def to_json(self) -> dict[str, Any]:
        return {
            "billUploadId": self.bill_upload_id,
            "createdAt": _seconds(self.created_at),
            "id": self.id,
            "length": self.length,
            "md5": self.md5,
            "status": self.status,
            "updatedAt": _seconds(self.updated_at),
        }


@dataclass(frozen=True)
class BillUploadRecord:
    """A bill upload and its files, as the API shows it."""

    id: str
    bill_connect_id: str
    billing_period: str
    status: UploadStatus
    files: tuple[FileRecord, ...]
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "billConnectId": self.bill_connect_id,
            "billingPeriod": self.billing_period,
            "createdAt": _seconds(self.created_at),
            "files": [f.to_json() for f in self.files],
            "id": self.id,
            "status": self.status,
            "updatedAt": _seconds(self.updated_at),
        }


@dataclass(frozen=True)
class CommittedMonth:
    """What Flexera would ingest for a bill connect and month: the files of the last committed upload."""

    bill_connect_id: str
    month: str
    bill_upload_id: str
    committed_at: datetime
    files: dict[str, bytes]  # name -> decompressed bytes, by name
    rows: list[dict[str, str]]  # every CSV data row of the files without errors, files by name, keyed by header
    rows_per_file: dict[str, int]
    errors: dict[str, str]  # name -> why Flexera's processing would reject the file

    @property
    def total_cost(self) -> float:
        return math.fsum(float(row["Cost"]) for row in self.rows if "Cost" in row)

    def summary(self) -> dict[str, Any]:
        return {
            "billConnectId": self.bill_connect_id,
            "month": self.month,
            "billUploadId": self.bill_upload_id,
            "committedAt": _seconds(self.committed_at),
            "files": [
                {"name": name, "bytes": len(data), "rows": self.rows_per_file.get(name, 0)}
                for name, data in self.files.items()
            ],
            "errors": self.errors,
            "rows": len(self.rows),
            "cost": self.total_cost,
        }


def _seconds(moment: datetime) -> str:
    """The Bill Upload API's timestamps: ``2018-06-12T20:31:02Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis(moment: datetime) -> str:
    """The FinOps Onboarding API's timestamps: ``2020-11-26T12:17:38.369Z``."""
    utc = moment.astimezone(UTC)
    return f"{utc.strftime('%Y-%m-%dT%H:%M:%S')}.{utc.microsecond // 1000:03d}Z"


def _process(name: str, raw: bytes) -> tuple[bytes | None, list[dict[str, str]], str | None]:
    """Decompress and parse one committed file as Flexera's ingestion would: (bytes, rows, error)."""
    data = raw
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            return None, [], f"not a gzip file: {exc}"
    if not name.removesuffix(".gz").endswith(".csv"):
        return data, [], None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data, [], f"not UTF-8: {exc}"
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    rows: list[dict[str, str]] = []
    for number, fields in enumerate(reader, start=2):
        if len(fields) != len(header):
            return data, [], f"line {number}: {len(fields)} fields, the header has {len(header)}"
        row = dict(zip(header, fields, strict=True))
        if "Cost" in row:
            try:
                float(row["Cost"])
            except ValueError:
                return data, [], f"line {number}: Cost {row['Cost']!r} is not a number"
        rows.append(row)
    return data, rows, None


@dataclass(frozen=True)
class _CommittedFiles:
    """A month as committed, before Flexera's processing."""

    bill_upload_id: str
    committed_at: datetime
    contents: dict[str, bytes]  # name -> bytes as uploaded

    def process(self, bill_connect_id: str, month: str) -> CommittedMonth:
        files: dict[str, bytes] = {}
        rows: list[dict[str, str]] = []
        rows_per_file: dict[str, int] = {}
        errors: dict[str, str] = {}
        for name in sorted(self.contents):
            data, file_rows, error = _process(name, self.contents[name])
            if data is not None:
                files[name] = data
            if error is not None:
                errors[name] = error
            rows_per_file[name] = len(file_rows)
            rows.extend(file_rows)
        return CommittedMonth(
            bill_connect_id, month, self.bill_upload_id, self.committed_at, files, rows, rows_per_file, errors
        )


class _ApiError(Exception):
    """An answer in goa's error shape; raised anywhere in a handler, turned into the response in one place."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        payload = {
            "fault": self.status >= 500,
            "id": secrets.token_urlsafe(6),
            "message": self.message,
            "name": _ERROR_NAMES[self.status],
            "temporary": self.status == 429 or self.status >= 500,
            "timeout": False,
        }
        return Response.json(self.status, payload, self.headers, content_type=_ERROR_MEDIA_TYPE)


@dataclass
class _ArmedFault:
    fault: FlexeraFault
    calls: int = 0

    def count_call(self) -> bool:
        """Counts one call of the fault's endpoint; True when the fault fires on it."""
        self.calls += 1
        last = None if self.fault.times is None else self.fault.on_call + self.fault.times - 1
        return self.calls >= self.fault.on_call and (last is None or self.calls <= last)


# --- the emulator ---


class FlexeraEmulator(EmulatorServer):
    """Flexera One's token, Bill Upload and bill-connect APIs on 127.0.0.1, with faults and inspection."""

    def __init__(self, config: FlexeraEmulatorConfig | None = None, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.config = config or FlexeraEmulatorConfig()
        start = self.config.start_time or datetime.now(UTC).replace(microsecond=0)
        self.clock: ManualClock = WallClock(start) if self.config.wall_clock else ManualClock(start)
        self._state = threading.RLock()
        self._tokens: dict[str, datetime] = {}  # access token -> expiry
        self._uploads: dict[str, BillUploadRecord] = {}  # by id, in creation order
        self._contents: dict[tuple[str, str], bytes] = {}  # (upload id, file id) -> bytes as uploaded
        self._last_creation: dict[tuple[str, str], datetime] = {}  # (bill connect, period) -> time
        # What each bill connect and month holds: as committed (processed when first inspected), then processed.
        self._committed: dict[tuple[str, str], CommittedMonth | _CommittedFiles] = {}
        self._bill_connects: dict[str, dict[str, Any]] = {
            bill_connect_id: self._preconfigured_connect(bill_connect_id)
            for bill_connect_id in sorted(self.config.bill_connects)
        }
        self._faults: list[_ArmedFault] = []
        self._register_routes()

    # --- public controls and inspection ---

    def inject(self, fault: FlexeraFault) -> None:
        with self._state:
            self._faults.append(_ArmedFault(fault))

    def clear_faults(self) -> None:
        with self._state:
            self._faults.clear()

    def committed(self, bill_connect_id: str, month: str) -> CommittedMonth | None:
        key = (bill_connect_id, month)
        with self._state:
            entry = self._committed.get(key)
            if isinstance(entry, _CommittedFiles):
                entry = self._committed[key] = entry.process(*key)
            return entry

    @property
    def bill_uploads(self) -> list[BillUploadRecord]:
        """Every bill upload not deleted, in creation order, with its current status."""
        with self._state:
            return list(self._uploads.values())

    @property
    def bill_connects(self) -> list[str]:
        with self._state:
            return list(self._bill_connects)

    # --- routing ---

    def _register_routes(self) -> None:
        org = r"/optima/orgs/(?P<org>[^/]+)/billUploads"
        upload = rf"{org}/(?P<upload>[^/]+)"
        connects = r"/finops-onboarding/v1/orgs/(?P<org>[^/]+)/bill-connects"
        self.route("POST", "/oidc/token", self._endpoint("token", self._token, authenticated=False))
        self.route("GET", org, self._endpoint("list", self._list))
        self.route("POST", org, self._endpoint("create", self._create))
        self.route("GET", upload, self._endpoint("show", self._show))
        self.route("DELETE", upload, self._endpoint("delete", self._delete))
        self.route("POST", rf"{upload}/files/(?P<file>[^/]+)", self._endpoint("file", self._file))
        self.route("POST", rf"{upload}/operations", self._endpoint("operation", self._operation))
        self.route("POST", rf"{connects}/cbi", self._endpoint("bill_connect", self._create_bill_connect))
        self.route("GET", connects, self._endpoint("bill_connect", self._list_bill_connects))
        self.route("GET", "/__emulator__/committed", self._inspect_committed)
        self.route("POST", "/__emulator__/clock", self._advance_clock)

    def _endpoint(
        self, name: Endpoint, handler: Callable[[Request], Response], *, authenticated: bool = True
    ) -> Callable[[Request], Response]:
        """Wraps a handler with what every call goes through: faults, then bearer token and org, then errors."""

        def serve(request: Request) -> Response:
            with self._state:
                fired = {
                    armed.fault.kind for armed in self._faults if armed.fault.endpoint == name and armed.count_call()
                }
                if "expire_tokens" in fired:
                    self._tokens.clear()
                if "drop_connection" in fired:
                    return Response.dropped()
                try:
                    for kind, status in _FAULT_STATUS.items():
                        if kind in fired:
                            raise _ApiError(status, f"injected fault {kind} on {name}")
                    if authenticated:
                        self._authorize(request)
                    response = handler(request)
                except _ApiError as error:
                    return error.response()
                if "wrong_md5" in fired and 200 <= response.status < 300:
                    return _with_wrong_md5(response)
                return response

        return serve

    def _authorize(self, request: Request) -> None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None:
            raise _ApiError(HTTPStatus.UNAUTHORIZED, "missing or unknown bearer token")
        if self.clock.now() >= expiry:
            raise _ApiError(HTTPStatus.UNAUTHORIZED, "the access token has expired")
        if request.params.get("org") != self.config.org_id:
            raise _ApiError(HTTPStatus.FORBIDDEN, f"no access to org {request.params.get('org')}")

    # --- token ---

    def _token(self, request: Request) -> Response:
        form = _token_form(request)
        grant = form.get("grant_type")
        if grant == "refresh_token":
            refresh_token = _required(form, "refresh_token")
            if refresh_token not in self.config.refresh_tokens:
                raise _ApiError(HTTPStatus.UNAUTHORIZED, "invalid refresh token")
            return Response.json(HTTPStatus.OK, {**self._issue_token(), "refresh_token": refresh_token})
        if grant == "client_credentials":
            client_id, secret = _required(form, "client_id"), _required(form, "client_secret")
            if self.config.clients.get(client_id) != secret:
                raise _ApiError(HTTPStatus.UNAUTHORIZED, "invalid client credentials")
            return Response.json(HTTPStatus.OK, self._issue_token())
        raise _ApiError(HTTPStatus.BAD_REQUEST, f"unsupported grant_type {grant!r}")

    def _issue_token(self) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        lifetime = self.config.token_lifetime_seconds
        self._tokens[token] = self.clock.now() + timedelta(seconds=lifetime)
        forms: dict[ExpiresInForm, dict[str, object]] = {
            "integer": {"expires_in": lifetime},
            "string": {"expires_in": str(lifetime)},
            "float": {"expires_in": float(lifetime)},
            "absent": {},
        }
        expires_in = forms[self.config.expires_in_form]
        return {"access_token": token, **expires_in, "token_type": "Bearer"}

    # --- bill uploads ---

    def _list(self, request: Request) -> Response:
        connect, period = request.arg("billConnectId"), request.arg("billingPeriod")
        if period is not None:
            _check_period(period)
        uploads = [
            u.to_json()
            for u in self._uploads.values()
            if connect in (None, u.bill_connect_id) and period in (None, u.billing_period)
        ]
        return Response.json(HTTPStatus.OK, uploads, content_type=f"{_UPLOAD_MEDIA_TYPE}; type=collection")

    def _create(self, request: Request) -> Response:
        body = _json_object(request)
        connect, period = body.get("billConnectId"), body.get("billingPeriod")
        if not isinstance(connect, str) or not connect:
            raise _ApiError(HTTPStatus.BAD_REQUEST, '"billConnectId" is missing from request body')
        if not isinstance(period, str):
            raise _ApiError(HTTPStatus.BAD_REQUEST, '"billingPeriod" is missing from request body')
        _check_period(period)
        if connect not in self._bill_connects:
            raise _ApiError(HTTPStatus.NOT_FOUND, f"bill connect {connect} not found")
        for existing in self._uploads.values():
            if (existing.bill_connect_id, existing.billing_period, existing.status) == (connect, period, "in-progress"):
                raise _ApiError(
                    HTTPStatus.CONFLICT,
                    f"a billUpload is already in progress for bill connect {connect} and billing period {period}: "
                    f"there is an existing billUpload (ID: {existing.id})",
                )
        now = self.clock.now()
        last = self._last_creation.get((connect, period))
        if last is not None and (remaining := self.config.cooloff_seconds - (now - last).total_seconds()) > 0:
            raise _ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"bill uploads for bill connect {connect} and billing period {period} are limited to one every "
                f"{self.config.cooloff_seconds} seconds",
                {"Retry-After": str(max(1, math.ceil(remaining)))},
            )
        record = BillUploadRecord(str(uuid.uuid4()), connect, period, "in-progress", (), now, now)
        self._uploads[record.id] = record
        self._last_creation[(connect, period)] = now
        return Response.json(self.config.created_status, record.to_json(), content_type=_UPLOAD_MEDIA_TYPE)

    def _show(self, request: Request) -> Response:
        return Response.json(HTTPStatus.OK, self._upload(request).to_json(), content_type=_UPLOAD_MEDIA_TYPE)

    def _delete(self, request: Request) -> Response:
        record = self._upload(request)
        if record.status != "aborted":
            raise _ApiError(
                HTTPStatus.BAD_REQUEST, f"billUpload {record.id} is {record.status}; only aborted ones can be deleted"
            )
        del self._uploads[record.id]
        return Response(HTTPStatus.NO_CONTENT, content_type="text/plain")

    def _file(self, request: Request) -> Response:
        record = self._upload(request)
        file_id = unquote(request.params["file"])
        if len(file_id) > _MAX_FILE_ID_LENGTH or not _FILE_ID_RE.match(file_id):
            raise _ApiError(
                HTTPStatus.BAD_REQUEST,
                f"invalid fileId {file_id!r}: a base name of at most {_MAX_FILE_ID_LENGTH} characters ending in "
                ".csv, .json or .jsonl, optionally followed by .gz",
            )
        if record.status != "in-progress":
            raise _ApiError(HTTPStatus.CONFLICT, f"billUpload {record.id} is {record.status}, not in-progress")
        if len(request.body) > self.config.max_file_bytes:
            raise _ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"file {file_id} has {len(request.body)} bytes; the limit is {self.config.max_file_bytes}",
            )
        previous = next((f for f in record.files if f.id == file_id), None)
        if previous is None and len(record.files) >= self.config.max_files:
            raise _ApiError(HTTPStatus.BAD_REQUEST, f"a billUpload holds at most {self.config.max_files} files")
        now = self.clock.now()
        uploaded = FileRecord(
            id=file_id,
            bill_upload_id=record.id,
            md5=hashlib.md5(request.body, usedforsecurity=False).hexdigest(),
            length=len(request.body),
            created_at=previous.created_at if previous else now,
            updated_at=now,
        )
        files = (
            tuple(uploaded if f.id == file_id else f for f in record.files) if previous else (*record.files, uploaded)
        )
        self._uploads[record.id] = replace(record, files=files, updated_at=now)
        self._contents[(record.id, file_id)] = request.body
        return Response.json(self.config.created_status, uploaded.to_json(), content_type=_FILE_MEDIA_TYPE)

    def _operation(self, request: Request) -> Response:
        record = self._upload(request)
        operation = _json_object(request).get("operation")
        if operation not in ("commit", "abort"):
            raise _ApiError(HTTPStatus.BAD_REQUEST, f'"operation" must be one of "abort", "commit", not {operation!r}')
        if record.status != "in-progress":
            raise _ApiError(
                HTTPStatus.CONFLICT, f"billUpload {record.id} is {record.status}; it cannot be {operation}ed"
            )
        if operation == "commit" and not record.files:
            raise _ApiError(HTTPStatus.BAD_REQUEST, f"billUpload {record.id} has no file to commit")
        now = self.clock.now()
        contents = {f.id: self._contents.pop((record.id, f.id)) for f in record.files}
        if operation == "commit":
            self._commit(record, contents, now)
        closed = replace(record, status="complete" if operation == "commit" else "aborted", updated_at=now)
        self._uploads[record.id] = closed
        return Response.json(HTTPStatus.OK, closed.to_json(), content_type=_UPLOAD_MEDIA_TYPE)

    def _commit(self, record: BillUploadRecord, contents: Mapping[str, bytes], now: datetime) -> None:
        # Flexera answers the commit at once and ingests the files afterwards; so does the emulator, which processes
        # them when they are first inspected (a large month would otherwise hold the commit's answer for seconds).
        key = (record.bill_connect_id, record.billing_period)
        self._committed[key] = _CommittedFiles(record.id, now, dict(contents))

    def _upload(self, request: Request) -> BillUploadRecord:
        upload_id = request.params["upload"]
        if not _UUID_RE.match(upload_id):
            raise _ApiError(HTTPStatus.BAD_REQUEST, f"billUploadId {upload_id!r} must be a UUID")
        record = self._uploads.get(upload_id.lower())
        if record is None:
            raise _ApiError(HTTPStatus.NOT_FOUND, f"billUpload {upload_id} not found")
        return record

    # --- bill connects ---

    def _create_bill_connect(self, request: Request) -> Response:
        body = _json_object(request)
        identifier, integration, name, params = (
            body.get(key) for key in ("billIdentifier", "integrationId", "name", "params")
        )
        for key, value, pattern in (
            ("billIdentifier", identifier, _BILL_IDENTIFIER_RE),
            ("integrationId", integration, _INTEGRATION_ID_RE),
        ):
            if not isinstance(value, str) or not pattern.match(value):
                raise _ApiError(HTTPStatus.BAD_REQUEST, f"{key} {value!r} must match the regexp {pattern.pattern!r}")
        if not isinstance(name, str) or not name:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "name must be a string of at least 1 character")
        if not isinstance(params, dict) or not all(
            isinstance(params.get(k, ""), str) for k in ("displayName", "vendorName")
        ):
            raise _ApiError(HTTPStatus.BAD_REQUEST, "params must be an object with string displayName and vendorName")
        bill_connect_id = f"{integration}-{identifier}"
        if bill_connect_id in self._bill_connects:
            raise _ApiError(HTTPStatus.CONFLICT, f"bill connect {bill_connect_id} already exists")
        now = _millis(self.clock.now())
        connect = {
            "cbi": {"billIdentifier": identifier, "integrationId": integration, "name": name, "params": params},
            "createdAt": now,
            "id": bill_connect_id,
            "kind": "finops:bill-connect-cbi",
            "updatedAt": now,
        }
        self._bill_connects[bill_connect_id] = connect
        return Response.json(HTTPStatus.CREATED, connect)

    def _list_bill_connects(self, request: Request) -> Response:  # noqa: ARG002 -- the org is checked by the wrapper
        return Response.json(
            HTTPStatus.OK, {"kind": "finops:generic-bill-list", "values": list(self._bill_connects.values())}
        )

    def _preconfigured_connect(self, bill_connect_id: str) -> dict[str, Any]:
        integration, identifier = split_bill_connect_id(bill_connect_id)
        now = _millis(self.clock.now())
        return {
            "cbi": {
                "billIdentifier": identifier,
                "integrationId": integration,
                "name": identifier,
                "params": {"displayName": "Emulator", "vendorName": "Emulator"},
            },
            "createdAt": now,
            "id": bill_connect_id,
            "kind": "finops:bill-connect-cbi",
            "updatedAt": now,
        }

    # --- emulator-only routes (no auth, no faults) ---

    def _inspect_committed(self, request: Request) -> Response:
        connect, month = request.arg("billConnectId"), request.arg("month")
        if not connect or not month:
            return Response.json(HTTPStatus.BAD_REQUEST, {"message": "billConnectId and month are required"})
        committed = self.committed(connect, month)
        if committed is None:
            return Response.json(HTTPStatus.NOT_FOUND, {"message": f"nothing committed for {connect} {month}"})
        return Response.json(HTTPStatus.OK, committed.summary())

    def _advance_clock(self, request: Request) -> Response:
        try:
            seconds = float(request.arg("advance") or "")
            now = self.clock.advance(seconds)
        except ValueError as exc:
            return Response.json(HTTPStatus.BAD_REQUEST, {"message": f"advance must be a non-negative number: {exc}"})
        return Response.json(HTTPStatus.OK, {"now": _seconds(now)})


def _with_wrong_md5(response: Response) -> Response:
    payload = json.loads(response.body)
    payload["md5"] = hashlib.md5(payload["md5"].encode(), usedforsecurity=False).hexdigest()
    return Response.json(response.status, payload, response.headers, content_type=response.content_type)


def _token_form(request: Request) -> dict[str, str]:
    if "json" in (request.header("Content-Type") or "") or request.body.lstrip().startswith(b"{"):
        body = _json_object(request)
        return {key: value for key, value in body.items() if isinstance(value, str)}
    try:
        text = request.body.decode()
    except UnicodeDecodeError as exc:
        raise _ApiError(HTTPStatus.BAD_REQUEST, "the form body is not UTF-8") from exc
    return {key: values[-1] for key, values in parse_qs(text).items()}


def _required(form: Mapping[str, str], key: str) -> str:
    value = form.get(key)
    if not value:
        raise _ApiError(HTTPStatus.BAD_REQUEST, f"{key} is required for grant_type {form.get('grant_type')}")
    return value


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _ApiError(HTTPStatus.BAD_REQUEST, f"failed to decode request body: {exc}") from exc
    if not isinstance(body, dict):
        raise _ApiError(HTTPStatus.BAD_REQUEST, "the request body must be a JSON object")
    return body


def _check_period(period: str) -> None:
    if not _BILLING_PERIOD_RE.match(period):
        raise _ApiError(
            HTTPStatus.BAD_REQUEST, f"billingPeriod {period!r} must match the regexp {_BILLING_PERIOD_RE.pattern!r}"
        )


# --- command line ---


def config_from_args(argv: Sequence[str] | None = None) -> tuple[FlexeraEmulatorConfig, int]:
    """The configuration and port the command line asks for."""
    defaults = FlexeraEmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m emulators.flexera", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    parser.add_argument("--org-id", default=defaults.org_id)
    parser.add_argument("--refresh-token", action="append", help=f"repeatable; default {DEFAULT_REFRESH_TOKEN}")
    parser.add_argument("--client", action="append", metavar="ID:SECRET", help="repeatable; default the emulator's")
    parser.add_argument(
        "--bill-connect", action="append", help=f"existing bill connect; default {DEFAULT_BILL_CONNECT_ID}"
    )
    parser.add_argument("--token-lifetime", type=int, default=defaults.token_lifetime_seconds, help="seconds")
    parser.add_argument("--cooloff", type=int, default=defaults.cooloff_seconds, help="seconds")
    parser.add_argument("--max-files", type=int, default=defaults.max_files)
    parser.add_argument("--max-file-bytes", type=int, default=defaults.max_file_bytes)
    parser.add_argument("--frozen-clock", action="store_true", help="time moves only through /__emulator__/clock")
    args = parser.parse_args(argv)
    clients = dict(defaults.clients)
    if args.client:
        pairs = [client.partition(":") for client in args.client]
        if any(not sep or not client_id or not secret for client_id, sep, secret in pairs):
            parser.error("--client takes ID:SECRET")
        clients = {client_id: secret for client_id, _, secret in pairs}
    try:
        config = FlexeraEmulatorConfig(
            org_id=args.org_id,
            refresh_tokens=frozenset(args.refresh_token) if args.refresh_token else defaults.refresh_tokens,
            clients=clients,
            token_lifetime_seconds=args.token_lifetime,
            max_file_bytes=args.max_file_bytes,
            max_files=args.max_files,
            cooloff_seconds=args.cooloff,
            bill_connects=frozenset(args.bill_connect) if args.bill_connect else defaults.bill_connects,
            wall_clock=not args.frozen_clock,
        )
    except ValueError as exc:
        parser.error(str(exc))
    return config, args.port


def main(argv: Sequence[str] | None = None) -> None:
    config, port = config_from_args(argv)
    FlexeraEmulator(config, port=port).serve_forever()


if __name__ == "__main__":
    main()
