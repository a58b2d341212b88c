"""S3 layout, day manifests and upload state: the one place that knows where things live in the bucket.

Layout (``ARCHITECTURE.md``, "Data layout in S3")::

    exports/<source>/<YYYY-MM>/kubecost-<YYYY-MM-DD>.csv.gz       part 1 of a day
    exports/<source>/<YYYY-MM>/kubecost-<YYYY-MM-DD>-<N>.csv.gz   part N >= 2 (the Go exporter's names)
    state/days/<source>/<YYYY-MM-DD>.json                         day manifest: the commit point of a day
    state/uploads/<source>/<YYYY-MM>.json                         last committed upload of a month

The uploader reads manifests, never a bare listing: a part exists for the workflow only once a manifest names it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, BinaryIO, Final, cast

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANIFEST_VERSION: Final = 1
JSON_CONTENT_TYPE: Final = "application/json"


def part_file_name(day: date, part: int) -> str:
    """``kubecost-YYYY-MM-DD.csv.gz`` for part 1, ``kubecost-YYYY-MM-DD-N.csv.gz`` after (there is no ``-1``)."""
    suffix = "" if part == 1 else f"-{part}"
    return f"kubecost-{day.isoformat()}{suffix}.csv.gz"


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


class Storage:
    """The exports bucket for one Kubecost source."""

    def __init__(self, s3: S3Client, bucket: str, source: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.source = source

    def part_key(self, day: date, part: int) -> str:
        return f"exports/{self.source}/{day:%Y-%m}/{part_file_name(day, part)}"

    def day_manifest_key(self, day: date) -> str:
        return f"state/days/{self.source}/{day.isoformat()}.json"

    def upload_state_key(self, month: str) -> str:
        return f"state/uploads/{self.source}/{month}.json"

    def read_day_manifest(self, day: date) -> DayManifest | None:
        body = self._get_optional(self.day_manifest_key(day))
        return None if body is None else DayManifest.from_json(body)

    def write_day_manifest(self, manifest: DayManifest) -> None:
        self._put_json(self.day_manifest_key(manifest.day), manifest.to_json())

    def read_upload_state(self, month: str) -> UploadState | None:
        body = self._get_optional(self.upload_state_key(month))
        return None if body is None else UploadState.from_json(body)

    def write_upload_state(self, state: UploadState) -> None:
        self._put_json(self.upload_state_key(state.month), state.to_json())

    def open_part(self, part: PartInfo) -> BinaryIO:
        """A streaming reader of the part's bytes, pinned to the ETag the manifest recorded."""
        response = self.s3.get_object(Bucket=self.bucket, Key=part.key, IfMatch=part.etag)
        return cast("BinaryIO", response["Body"])

    def _get_optional(self, key: str) -> bytes | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return response["Body"].read()

    def _put_json(self, key: str, body: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType=JSON_CONTENT_TYPE)


def _error_code(exc: ClientError) -> str:
    error = cast("dict[str, Any]", exc.response.get("Error", {}))
    return str(error.get("Code", ""))
