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

The command line is ``python -m emulators.flexera`` (``emulators/flexera/__main__.py``).

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

import hashlib
import math
import re
import secrets
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from emulators.flexera.faults import FAULT_STATUS, Endpoint, FaultPlan, FlexeraFault, with_wrong_md5
from emulators.flexera.state import (
    BILL_IDENTIFIER_RE,
    INTEGRATION_ID_RE,
    BillUploadRecord,
    CommittedFiles,
    CommittedMonth,
    ExpiresInForm,
    FileRecord,
    FlexeraEmulatorConfig,
    ManualClock,
    WallClock,
    iso_millis,
    iso_seconds,
    split_bill_connect_id,
)
from emulators.http_server import EmulatorServer, Request, Response

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_BILLING_PERIOD_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_FILE_ID_RE = re.compile(r"^[^/]+\.(csv|json|jsonl)(\.gz)?$")
_MAX_FILE_ID_LENGTH = 100

_UPLOAD_MEDIA_TYPE = "application/vnd.flexera.optima-bill.bill_upload"
_FILE_MEDIA_TYPE = "application/vnd.flexera.optima-bill.file"
_ERROR_MEDIA_TYPE = "application/vnd.goa.error"

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
        self._committed: dict[tuple[str, str], CommittedMonth | CommittedFiles] = {}
        self._bill_connects: dict[str, dict[str, Any]] = {
            bill_connect_id: self._preconfigured_connect(bill_connect_id)
            for bill_connect_id in sorted(self.config.bill_connects)
        }
        self._faults = FaultPlan()
        self._register_routes()

    # --- public controls and inspection ---

    def inject(self, fault: FlexeraFault) -> None:
        with self._state:
            self._faults.inject(fault)

    def clear_faults(self) -> None:
        with self._state:
            self._faults.clear()

    def committed(self, bill_connect_id: str, month: str) -> CommittedMonth | None:
        key = (bill_connect_id, month)
        with self._state:
            entry = self._committed.get(key)
            if isinstance(entry, CommittedFiles):
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
                fired = self._faults.fire(name)
                if "expire_tokens" in fired:
                    self._tokens.clear()
                if "drop_connection" in fired:
                    return Response.dropped()
                try:
                    for kind, status in FAULT_STATUS.items():
                        if kind in fired:
                            raise _ApiError(status, f"injected fault {kind} on {name}")
                    if authenticated:
                        self._authorize(request)
                    response = handler(request)
                except _ApiError as error:
                    return error.response()
                if "wrong_md5" in fired and 200 <= response.status < 300:
                    return with_wrong_md5(response)
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
        self._committed[key] = CommittedFiles(record.id, now, dict(contents))

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
            ("billIdentifier", identifier, BILL_IDENTIFIER_RE),
            ("integrationId", integration, INTEGRATION_ID_RE),
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
        now = iso_millis(self.clock.now())
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
        now = iso_millis(self.clock.now())
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
        return Response.json(HTTPStatus.OK, {"now": iso_seconds(now)})


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
