"""S3 layout, day manifests and upload state: the one place that knows where things live in the bucket.

Layout (``ARCH-S3-1``; its atomic replacement is ``ARCH-S3-2``)::

    exports/<source>/<YYYY-MM>/<YYYY-MM-DD>/<export-id>/kubecost-<YYYY-MM-DD>.csv.gz      part 1 of one export of a day
    exports/<source>/<YYYY-MM>/<YYYY-MM-DD>/<export-id>/kubecost-<YYYY-MM-DD>-<N>.csv.gz  part N >= 2
    state/days/<source>/<YYYY-MM-DD>.json                         day manifest: the commit point of a day
    state/uploads/<source>/<YYYY-MM>.json                         last committed upload of a month
    state/uploads/bill-connects/<bill-connect-id>/<YYYY-MM>.json  the same, of a bill connect (sources document)

The uploader reads manifests, never a bare listing: a part exists for the workflow only once a manifest names it.
The records themselves (parts, manifests, upload states) are ``domain/records.py``'s.

Errors: no S3 failure leaves this module as botocore's. A transient one (throttling, 5xx, a broken connection that
outlasted the SDK's retries, a part's stream broken mid-read) is :class:`StorageUnavailable`, which the state machine
retries; a 403 on a read is :class:`StorageAccessDenied` (never "absent"); any other refusal is
:class:`StorageRejected`. Callers translate nothing.

Why every export of a day writes under its own ``<export-id>`` (a UTC timestamp and a random suffix): a day is
replaced atomically, and its parts must be in S3 before the manifest that names them (the commit point). Had the new
export written ``kubecost-<day>.csv.gz`` under the key the previous manifest names, a failure between that write and
the new manifest (a later Kubecost page, the manifest write itself, a Lambda timeout) would leave the previous
manifest naming an object whose ETag no longer matches: the previous export would be lost. With a key per export
nothing the current manifest names is ever touched before the commit. The file name Flexera sees is unchanged: it
is ``PartInfo.file_name`` (the Go exporter's ``kubecost-YYYY-MM-DD[-N].csv.gz``), not the key.

Replacing a day (:meth:`Storage.replace_day`): the parts are complete under their keys, then the manifest is
written, then the parts of the previous manifest that the new one does not name are deleted. A failed export
deletes what it wrote (:meth:`DayPartsWriter.abort`); an export killed outright leaves unreferenced objects that the
bucket's lifecycle rule expires (and incomplete multipart uploads are aborted after a day).

Writing is streamed (:class:`DayPartsWriter`): CSV lines go through a gzip compressor into a buffer that is sent
as an S3 multipart upload part whenever it reaches :data:`UPLOAD_CHUNK_BYTES`, so memory does not depend on the
size of the day; a part smaller than one chunk is sent with a single ``PutObject``.

The compressor is zlib-ng's (``zlib_ng``, an ordinary DEFLATE in an ordinary gzip member: any gzip reader reads it)
at :data:`GZIP_LEVEL`. Its output is deterministic (the gzip header has no file name and a zero time) for one
zlib-ng version on one CPU type: the month fingerprint over (file name, ETag) relies on that (``upload.py``).
"""

from __future__ import annotations

import functools
from datetime import date
from typing import TYPE_CHECKING, Any, BinaryIO, Final, ParamSpec, Self, TypeVar, cast

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from zlib_ng import zlib_ng

from kubecost_flexera.domain.records import DayManifest, PartInfo, UploadState, part_file_name
from kubecost_flexera.errors import StorageAccessDenied, StorageRejected, StorageUnavailable
from kubecost_flexera.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from types import TracebackType

    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

P = ParamSpec("P")
R = TypeVar("R")

JSON_CONTENT_TYPE: Final = "application/json"
GZIP_CONTENT_TYPE: Final = "application/gzip"
UPLOAD_CHUNK_BYTES: Final = 5 * 1024 * 1024  # S3's minimum multipart part size (except the last): the least memory
COMPRESS_BATCH_BYTES: Final = 256 * 1024  # lines are compressed in batches: one zlib call per item costs 10 % more CPU
# zlib-ng's level 5 (its "medium" matcher): files 3-5 % larger than zlib's level 6 (Go's default) on these rows, for
# a quarter of zlib 6's CPU and three quarters of zlib 3's (whose files were 40 % larger); level 4 is 15 % faster
# still but within 1 % of the 10 % size bound. Measured in docs/design-decisions.md.
GZIP_LEVEL: Final = 5
_DELETE_BATCH: Final = 1000  # DeleteObjects limit
_TRANSIENT_S3_CODES: Final = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"}
)


def _is_transient(exc: BaseException) -> bool:
    """S3 throttling, 5xx or a broken connection that outlasted the SDK's retries: a later attempt can succeed."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _error_code(exc) in _TRANSIENT_S3_CODES or status >= 500
    return isinstance(exc, BotocoreConnectionError | HTTPClientError)


def _s3_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Every S3 failure leaves :class:`Storage` as one of our typed errors: :class:`StorageUnavailable` when transient,
    so the state machine retries the step later instead of recording it as final; else :class:`StorageRejected`.
    An error already typed (``StorageAccessDenied``) passes unchanged."""

    @functools.wraps(method)
    def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            if _is_transient(exc):
                raise StorageUnavailable(f"S3 failed after the SDK's retries: {_describe(exc)}") from exc
            raise StorageRejected(f"S3 refused the request: {_describe(exc)}") from exc

    return translated


def _describe(exc: ClientError | BotoCoreError) -> str:
    return f"{_error_code(exc)} ({exc})" if isinstance(exc, ClientError) else f"{type(exc).__name__} ({exc})"


class _PartReader:
    """A part's bytes as S3 streams them; a failure while reading is a typed error, as any other S3 call's."""

    def __init__(self, body: StreamingBody) -> None:
        self._body = body

    @_s3_errors
    def read(self, size: int = -1) -> bytes:
        return self._body.read(None if size < 0 else size)

    def close(self) -> None:
        self._body.close()


class Storage:
    """The exports bucket for one Kubecost source."""

    def __init__(self, s3: S3Client, bucket: str, source: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.source = source

    def export_part_key(self, day: date, export_id: str, part: int) -> str:
        """Where part ``part`` of export ``export_id`` of ``day`` is written (see the module docstring for why)."""
        return f"exports/{self.source}/{day:%Y-%m}/{day.isoformat()}/{export_id}/{part_file_name(day, part)}"

    def day_manifest_key(self, day: date) -> str:
        return f"{self._manifests_prefix}{day.isoformat()}.json"

    @property
    def _manifests_prefix(self) -> str:
        return f"state/days/{self.source}/"

    def upload_state_key(self, month: str, bill_connect_id: str | None = None) -> str:
        """The month's last commit: this source's, or with ``bill_connect_id`` that bill connect's (a sources
        document's upload is per bill connect, whatever sources it holds)."""
        if bill_connect_id is None:
            return f"state/uploads/{self.source}/{month}.json"
        return f"state/uploads/bill-connects/{bill_connect_id}/{month}.json"

    @_s3_errors
    def read_day_manifest(self, day: date) -> DayManifest | None:
        body = self._get_optional(self.day_manifest_key(day))
        return None if body is None else DayManifest.from_json(body)

    def day_manifests_prefix(self, month: str) -> str:
        """The key prefix of the day manifests of ``month`` (``YYYY-MM``), as the plan lists them."""
        return f"{self._manifests_prefix}{month}-"

    @_s3_errors
    def day_manifests_written(self, month: str) -> dict[date, datetime]:
        """When the manifest of each day of ``month`` that has one was last written (S3's ``LastModified``).

        A listing, not one GET per day: the plan needs only which days are committed and when, never the content.
        """
        prefix = self.day_manifests_prefix(month)
        written: dict[date, datetime] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"].removeprefix(self._manifests_prefix).removesuffix(".json")
                try:
                    day = date.fromisoformat(name)
                except ValueError:
                    continue  # not a manifest this code writes; the upload would not read it either
                written[day] = item["LastModified"]
        return written

    @_s3_errors
    def write_day_manifest(self, manifest: DayManifest) -> None:
        self._put_json(self.day_manifest_key(manifest.day), manifest.to_json())

    def day_writer(
        self, day: date, export_id: str, *, header: bytes, max_rows: int, split_rows: Callable[[bytes], list[bytes]]
    ) -> DayPartsWriter:
        """A streaming writer of the parts of one export of ``day``; nothing is written before the first row."""
        return DayPartsWriter(self, day, export_id, header=header, max_rows=max_rows, split_rows=split_rows)

    @_s3_errors
    def replace_day(self, manifest: DayManifest) -> None:
        """Commits ``manifest`` (its parts must be written), then deletes the previous export's parts it does not name.

        A failure before or during the manifest write leaves the previous manifest and all its parts as they were.
        """
        previous = self.read_day_manifest(manifest.day)
        self.write_day_manifest(manifest)
        if previous is None:
            return
        kept = {part.key for part in manifest.parts}
        self.delete_keys([part.key for part in previous.parts if part.key not in kept])

    @_s3_errors
    def delete_keys(self, keys: Sequence[str]) -> None:
        """Best effort: an object left behind is garbage no manifest names, expired by the lifecycle rule."""
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                response = self.s3.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
            except ClientError as exc:
                logger.warning("Could not delete objects", keys=batch, error=_error_code(exc))
                continue
            for error in response.get("Errors", []):
                logger.warning("Could not delete an object", key=error.get("Key"), error=error.get("Code"))

    @_s3_errors
    def read_upload_state(self, month: str, bill_connect_id: str | None = None) -> UploadState | None:
        body = self._get_optional(self.upload_state_key(month, bill_connect_id))
        return None if body is None else UploadState.from_json(body)

    @_s3_errors
    def write_upload_state(self, state: UploadState, bill_connect_id: str | None = None) -> None:
        self._put_json(self.upload_state_key(state.month, bill_connect_id), state.to_json())

    @_s3_errors
    def read_sources_document(self, key: str, *, max_bytes: int) -> bytes | None:
        """The sources document's bytes, at most ``max_bytes + 1`` of them (more says it is too large), or None when
        there is no object at ``key``."""
        return self._get_optional(key, max_bytes + 1)

    @_s3_errors
    def open_part(self, part: PartInfo) -> BinaryIO:
        """A streaming reader of the part's bytes, pinned to the ETag the manifest recorded."""
        response = self.s3.get_object(Bucket=self.bucket, Key=part.key, IfMatch=part.etag)
        return cast("BinaryIO", _PartReader(response["Body"]))

    def _get_optional(self, key: str, limit: int | None = None) -> bytes | None:
        """The object's bytes (its first ``limit`` ones), or None when S3 says it does not exist (404).

        A 403 is not "absent": S3 answers it for a missing key when the caller may not list the bucket for that
        prefix, and for an existing one the caller may not read. Each role is granted ``s3:ListBucket`` on exactly
        the prefixes it reads (``template.yaml``), so a 403 here is a missing permission: it raises
        :class:`StorageAccessDenied` instead of replacing a day or uploading a month again.
        """
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("NoSuchKey", "404"):
                return None
            if code in ("AccessDenied", "403"):
                raise StorageAccessDenied(
                    f"S3 denied reading s3://{self.bucket}/{key} (AccessDenied): the function's role needs "
                    f"s3:GetObject on the key and s3:ListBucket for its prefix (a missing key reads as 403 "
                    "without it); check the role, the bucket policy and any SCP"
                ) from exc
            raise
        body = response["Body"]
        try:
            return body.read(limit)
        finally:
            body.close()

    def _put_json(self, key: str, body: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType=JSON_CONTENT_TYPE)


def _error_code(exc: ClientError) -> str:
    error = cast("dict[str, Any]", exc.response.get("Error", {}))
    return str(error.get("Code", ""))


def gzip_compressor() -> zlib_ng._Compress:
    """A streaming compressor to one gzip member: no file name, modification time 0, so the same text always gives
    the same bytes."""
    return zlib_ng.compressobj(GZIP_LEVEL, zlib_ng.DEFLATED, 16 + zlib_ng.MAX_WBITS)


class _PartUpload:
    """One gzip stream to one S3 object: a multipart upload once the output exceeds a chunk, else one PutObject."""

    def __init__(self, storage: Storage, key: str, file_name: str, *, chunk_bytes: int) -> None:
        self._storage = storage
        self._key = key
        self._file_name = file_name
        self._chunk_bytes = chunk_bytes
        self._compressor = gzip_compressor()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._uploaded: list[CompletedPartTypeDef] = []
        self.rows = 0
        self.size = 0

    def write(self, data: bytes, rows: int) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self.rows += rows
        if self._pending_bytes >= COMPRESS_BATCH_BYTES:
            self._compress_pending()
            if len(self._buffer) >= self._chunk_bytes:
                self._send_chunk()

    def _compress_pending(self) -> None:
        self._buffer += self._compressor.compress(b"".join(self._pending))
        self._pending.clear()
        self._pending_bytes = 0

    @_s3_errors
    def finish(self) -> PartInfo:
        self._compress_pending()
        self._buffer += self._compressor.flush()
        s3, bucket = self._storage.s3, self._storage.bucket
        if self._upload_id is None:
            self.size = len(self._buffer)
            etag = s3.put_object(Bucket=bucket, Key=self._key, Body=self._body(), ContentType=GZIP_CONTENT_TYPE)["ETag"]
        else:
            self._send_chunk()
            etag = s3.complete_multipart_upload(
                Bucket=bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._uploaded}
            )["ETag"]
        self._buffer = bytearray()
        return PartInfo(key=self._key, file_name=self._file_name, size=self.size, etag=etag, rows=self.rows)

    @_s3_errors
    def abort(self) -> None:
        if self._upload_id is not None:
            self._storage.s3.abort_multipart_upload(
                Bucket=self._storage.bucket, Key=self._key, UploadId=self._upload_id
            )

    def _body(self) -> bytes:
        # botocore sends any bytes-like blob; the stubs say bytes. Passing the buffer itself saves a copy of a chunk.
        return cast("bytes", self._buffer)

    @_s3_errors
    def _send_chunk(self) -> None:
        s3, bucket = self._storage.s3, self._storage.bucket
        if self._upload_id is None:
            self._upload_id = s3.create_multipart_upload(Bucket=bucket, Key=self._key, ContentType=GZIP_CONTENT_TYPE)[
                "UploadId"
            ]
        number = len(self._uploaded) + 1
        etag = s3.upload_part(
            Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=self._body()
        )["ETag"]
        self._uploaded.append({"ETag": etag, "PartNumber": number})
        self.size += len(self._buffer)
        self._buffer = bytearray()


class DayPartsWriter:
    """Streams the CSV lines of one export of a day into gzipped parts of at most ``max_rows`` data rows each.

    Lines arrive in blocks (an item's rows); ``split_rows`` cuts a block into its lines when it straddles two parts.
    Each part starts with ``header`` (not counted as a row). A part is opened only when a row must be written, so an
    empty day writes nothing, and a day of exactly ``max_rows`` rows has one part. Used as a context manager, an
    exception inside the block aborts: the multipart upload in progress is aborted and finished parts are deleted.
    """

    def __init__(
        self,
        storage: Storage,
        day: date,
        export_id: str,
        *,
        header: bytes,
        max_rows: int,
        split_rows: Callable[[bytes], list[bytes]],
        chunk_bytes: int = UPLOAD_CHUNK_BYTES,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be positive")
        self._storage = storage
        self._day = day
        self._export_id = export_id
        self._header = header
        self._max_rows = max_rows
        self._split_rows = split_rows
        self._chunk_bytes = chunk_bytes
        self._current: _PartUpload | None = None
        self._finished: list[PartInfo] = []

    def write(self, block: bytes, rows: int) -> None:
        """Appends ``rows`` complete CSV lines (each ending in ``\\n``); they may straddle two parts, as in Go."""
        current = self._current
        if current is not None and current.rows + rows <= self._max_rows:
            current.write(block, rows)
            return
        lines = self._split_rows(block)
        if len(lines) != rows:
            raise ValueError(f"the block has {len(lines)} CSV lines, not {rows}")
        start = 0
        while start < len(lines):
            current = self._part_with_room()
            end = start + self._max_rows - current.rows
            chunk = lines[start:end]
            current.write(b"".join(chunk), len(chunk))
            start += len(chunk)

    def close(self) -> tuple[PartInfo, ...]:
        """Completes the last part; returns every part in order (none for an empty day)."""
        if self._current is not None:
            self._finished.append(self._current.finish())
            self._current = None
        return tuple(self._finished)

    def abort(self) -> None:
        if self._current is not None:
            self._current.abort()
            self._current = None
        self._storage.delete_keys([part.key for part in self._finished])
        self._finished.clear()

    def _part_with_room(self) -> _PartUpload:
        current = self._current
        if current is not None and current.rows < self._max_rows:
            return current
        if current is not None:
            self._finished.append(current.finish())
        number = len(self._finished) + 1
        current = _PartUpload(
            self._storage,
            self._storage.export_part_key(self._day, self._export_id, number),
            part_file_name(self._day, number),
            chunk_bytes=self._chunk_bytes,
        )
        current.write(self._header, 0)
        self._current = current
        return current

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.abort()
