"""The records the workflow keeps in S3: a day's parts and manifest, a month's last commit at Flexera.

Plain values with their JSON form; where they live and how they are written is ``adapters/storage.py``'s. The
domain (export, upload, refresh) works with these and needs no adapter at run time.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from datetime import datetime

MANIFEST_VERSION: Final = 1


def new_export_id(now: datetime) -> str:
    """A key segment unique to one export of a day, sortable by time: ``20250715T030000Z-1a2b3c4d``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def part_file_name(day: date, part: int, source: str | None = None) -> str:
    """``kubecost-YYYY-MM-DD.csv.gz`` for part 1, ``kubecost-YYYY-MM-DD-N.csv.gz`` after (there is no ``-1``).

    With ``source`` (a bill connect of several sources, whose files share one bill upload):
    ``kubecost-<source>-YYYY-MM-DD[-N].csv.gz``, unique within the upload as source names are unique; a source name
    of at most 32 characters keeps it within Flexera's 100 characters.
    """
    suffix = "" if part == 1 else f"-{part}"
    prefix = "kubecost-" if source is None else f"kubecost-{source}-"
    return f"{prefix}{day.isoformat()}{suffix}.csv.gz"


@dataclass(frozen=True)
class PartInfo:
    """One gzipped CSV part of a day as written to S3."""

    key: str
    file_name: str
    size: int
    etag: str
    rows: int


@dataclass(frozen=True)
class DayManifest:
    """The latest complete export of a day. Written after its parts, so it never names a missing or partial part."""

    day: date
    source: str
    currency: str
    exported_at: str
    parts: tuple[PartInfo, ...]
    rows: int
    allocations: int
    cost: float

    def to_json(self) -> str:
        body = asdict(self)
        body["day"] = self.day.isoformat()
        body["version"] = MANIFEST_VERSION
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> DayManifest:
        body = json.loads(text)
        return cls(
            day=date.fromisoformat(body["day"]),
            source=body["source"],
            currency=body["currency"],
            exported_at=body["exported_at"],
            parts=tuple(PartInfo(**part) for part in body["parts"]),
            rows=int(body["rows"]),
            allocations=int(body["allocations"]),
            cost=float(body["cost"]),
        )


@dataclass(frozen=True)
class UploadState:
    """The last month committed at Flexera: what it contained (fingerprint) and which bill upload committed it."""

    month: str
    fingerprint: str
    bill_upload_id: str
    committed_at: str
    files: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> UploadState:
        body = json.loads(text)
        return cls(
            month=body["month"],
            fingerprint=body["fingerprint"],
            bill_upload_id=body["bill_upload_id"],
            committed_at=body["committed_at"],
            files=tuple(body["files"]),
        )
