"""The Flexera emulator's configuration, clock and records: what it holds, apart from how it is reached over HTTP.

Bill uploads and their files as the API shows them, and the months as committed (``CommittedMonth``: what Flexera
would ingest, processed when first inspected). Timestamps follow the emulator's clock (``ManualClock``: time moves
only when a test says so; ``WallClock`` on the command line).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping

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

BILL_IDENTIFIER_RE = re.compile(r"^[0-9a-zA-Z_-]{1,45}$")
INTEGRATION_ID_RE = re.compile(r"^[0-9a-zA-Z_-]{1,20}$")


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
        if identifier != bill_connect_id and BILL_IDENTIFIER_RE.match(identifier):
            return integration_id, identifier
    raise ValueError(
        f"bill connect id {bill_connect_id!r} is not <documented integration id>-<bill identifier>, "
        "e.g. cbi-oi-kubecost-1"
    )


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
            "createdAt": iso_seconds(self.created_at),
            "id": self.id,
            "length": self.length,
            "md5": self.md5,
            "status": self.status,
            "updatedAt": iso_seconds(self.updated_at),
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
            "createdAt": iso_seconds(self.created_at),
            "files": [f.to_json() for f in self.files],
            "id": self.id,
            "status": self.status,
            "updatedAt": iso_seconds(self.updated_at),
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
    cost_per_file: dict[str, float]  # the sum of the Cost column of each file's rows (0 for a rejected file)
    errors: dict[str, str]  # name -> why Flexera's processing would reject the file

    @property
    def total_cost(self) -> float:
        return math.fsum(float(row["Cost"]) for row in self.rows if "Cost" in row)

    def summary(self) -> dict[str, Any]:
        return {
            "billConnectId": self.bill_connect_id,
            "month": self.month,
            "billUploadId": self.bill_upload_id,
            "committedAt": iso_seconds(self.committed_at),
            "files": [
                {"name": name, "bytes": len(data), "rows": self.rows_per_file.get(name, 0)}
                for name, data in self.files.items()
            ],
            "errors": self.errors,
            "rows": len(self.rows),
            "cost": self.total_cost,
        }


def iso_seconds(moment: datetime) -> str:
    """The Bill Upload API's timestamps: ``2018-06-12T20:31:02Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
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
class CommittedFiles:
    """A month as committed, before Flexera's processing."""

    bill_upload_id: str
    committed_at: datetime
    contents: dict[str, bytes]  # name -> bytes as uploaded

    def process(self, bill_connect_id: str, month: str) -> CommittedMonth:
        files: dict[str, bytes] = {}
        rows: list[dict[str, str]] = []
        rows_per_file: dict[str, int] = {}
        cost_per_file: dict[str, float] = {}
        errors: dict[str, str] = {}
        for name in sorted(self.contents):
            data, file_rows, error = _process(name, self.contents[name])
            if data is not None:
                files[name] = data
            if error is not None:
                errors[name] = error
            rows_per_file[name] = len(file_rows)
            cost_per_file[name] = math.fsum(float(row["Cost"]) for row in file_rows if "Cost" in row)
            rows.extend(file_rows)
        return CommittedMonth(
            bill_connect_id,
            month,
            self.bill_upload_id,
            self.committed_at,
            files,
            rows,
            rows_per_file,
            cost_per_file,
            errors,
        )
