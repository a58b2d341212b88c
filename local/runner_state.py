"""``--out DIR``: the persistent bucket of local runs, so that a run repeated into the same folder behaves as the next
run in AWS would.

Before the run every file under DIR is put into the emulated bucket under its relative path as key (day files,
day manifests, upload records: the bucket's whole layout, ``exports/`` and ``state/``); after the run the folder is
made to mirror the bucket: objects written or replaced are written, objects the run deleted (a day's previous
export, replaced by its manifest) are deleted, unchanged files are left as they are. The folder therefore shows
exactly what S3 holds, and what the next run starts from: one export per day, the upload records that let an
unchanged month be skipped, the days a one-day backfill completes a month with.

What S3 keeps besides the bytes is carried over as S3 would have it:

- LastModified is the file's modification time: restored when loading, set from S3 when writing. The bucket's
  expiration rules (``template.yaml``, e.g. ``exports/`` after ``RetentionDays``) are applied to it when loading, as
  S3 would have applied them in between: an object expires at the first midnight UTC after its last write plus the
  rule's days, by the real clock (S3's, whatever date a run is pinned to).
- The ETag of a single-part object is the MD5 of its bytes, which S3 computes again when loading. A multipart
  object's ETag depends on the part sizes it was uploaded in, which a file does not keep; the day manifest that
  names the object records it, and it is restored from there when the file still has the recorded size.

moto keeps LastModified and ETag in its in-memory key objects, which no S3 call can set; loading sets those two
fields there (:func:`_restore`), everything else goes through the S3 API. A folder that holds anything besides the
layout is refused before anything is read or changed: mirroring would otherwise put it into the bucket, or delete
it. Incomplete multipart uploads are not objects and are not kept (the exporter completes or aborts its own).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Final

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from kubecost_flexera.domain.records import DayManifest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from local.runner_template import Expiration

LAYOUT: Final = ("exports", "state")  # the bucket's top-level prefixes (README, "Data, retention and deletion")
DAY_MANIFESTS_PREFIX: Final = "state/days/"
INCOMPLETE_DIR: Final = ".local-run-incomplete"  # files being written back; only ever holds unfinished copies
_COPY_CHUNK: Final = 1024 * 1024


class FolderError(ValueError):
    """``--out`` names a folder that is not a bucket folder; nothing was read or changed."""


@dataclass(frozen=True)
class ObjectVersion:
    """What tells one write of an object from another: its ETag and LastModified as S3 lists them."""

    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class LoadResult:
    loaded: int
    expired: tuple[str, ...]  # keys left out because a lifecycle rule expired them since the last run

    def describe(self, directory: Path) -> str:
        expired = f"; {len(self.expired)} expired by the bucket's lifecycle rules" if self.expired else ""
        return f"Bucket: {self.loaded} object(s) loaded from {directory}{expired}"


@dataclass(frozen=True)
class SaveResult:
    written: int
    deleted: int
    unchanged: int

    def describe(self, directory: Path) -> str:
        return (
            f"\nBucket saved to {directory}: {self.written} object(s) written, {self.deleted} deleted, "
            f"{self.unchanged} unchanged"
        )


def check_folder(directory: Path) -> None:
    """Raises :class:`FolderError` unless ``directory`` is absent, empty or holds only the bucket's layout."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise FolderError(f"--out {directory} is not a directory: allowed a folder for the bucket's objects")
    foreign = sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.name != INCOMPLETE_DIR and not (entry.name in LAYOUT and entry.is_dir())
    )
    if foreign:
        raise FolderError(
            f"--out {directory} holds {', '.join(foreign)}, which are not part of the bucket's layout "
            f"({', '.join(f'{name}/' for name in LAYOUT)}): allowed an empty folder or one a local run wrote, "
            "since the folder is made to mirror the bucket after the run"
        )


class BucketFolder:
    """One folder as the content of one emulated bucket: :meth:`load` before the run, :meth:`save` after."""

    def __init__(
        self,
        directory: Path,
        s3: S3Client,
        bucket: str,
        expirations: Sequence[Expiration],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self._s3 = s3
        self._bucket = bucket
        self._expirations = tuple(expirations)
        self._now = now
        self._loaded: dict[str, ObjectVersion] = {}

    def load(self) -> LoadResult:
        """Puts every file of the folder into the bucket, except those a lifecycle rule has expired since."""
        check_folder(self.directory)
        shutil.rmtree(self.directory / INCOMPLETE_DIR, ignore_errors=True)  # left by an interrupted save
        now = self._now()
        expired: list[str] = []
        loaded = 0
        for key, path in self._files():
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            if self._expired(key, modified, now):
                expired.append(key)
                continue
            with path.open("rb") as body:
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)
            _restore(self._bucket, key, last_modified=modified)
            loaded += 1
        self._restore_multipart_etags()
        self._loaded = self._versions()
        return LoadResult(loaded, tuple(expired))

    def save(self) -> SaveResult:
        """Makes the folder mirror the bucket: day files first, then state, then the deletions (the commit order)."""
        current = self._versions()
        changed = sorted(
            (
                key
                for key, version in current.items()
                if self._loaded.get(key) != version or not self._path(key).exists()
            ),
            key=lambda key: (not key.startswith("exports/"), key),
        )
        incomplete = self.directory / INCOMPLETE_DIR
        incomplete.mkdir(parents=True, exist_ok=True)
        try:
            for number, key in enumerate(changed):
                self._write(key, current[key], incomplete / str(number))
        finally:
            shutil.rmtree(incomplete, ignore_errors=True)
        deleted = 0
        for key, path in list(self._files()):
            if key not in current:
                path.unlink()
                deleted += 1
        self._prune_empty_directories()
        self._loaded = current
        return SaveResult(written=len(changed), deleted=deleted, unchanged=len(current) - len(changed))

    # --- helpers ---

    def _files(self) -> Iterator[tuple[str, Path]]:
        for top in LAYOUT:
            root = self.directory / top
            if root.is_dir():
                for path in sorted(root.rglob("*")):
                    if path.is_file():
                        yield path.relative_to(self.directory).as_posix(), path

    def _path(self, key: str) -> Path:
        return self.directory / key

    def _expired(self, key: str, modified: datetime, now: datetime) -> bool:
        """S3's rule: the expiry is the last write plus the rule's days, rounded up to the next midnight UTC."""
        for rule in self._expirations:
            if key.startswith(rule.prefix):
                expiry_day = (modified + timedelta(days=rule.days)).date() + timedelta(days=1)
                if now >= datetime.combine(expiry_day, time(), UTC):
                    return True
        return False

    def _versions(self) -> dict[str, ObjectVersion]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket)
        return {
            item["Key"]: ObjectVersion(item["ETag"], item["LastModified"])
            for page in pages
            for item in page.get("Contents", [])
        }

    def _restore_multipart_etags(self) -> None:
        for key, path in self._files():
            if not key.startswith(DAY_MANIFESTS_PREFIX) or not key.endswith(".json"):
                continue
            try:
                manifest = DayManifest.from_json(path.read_bytes())
            except (ValueError, KeyError, TypeError):
                continue  # the exporter reads it from the bucket and fails as it would in AWS
            for part in manifest.parts:
                if "-" not in part.etag.strip('"'):
                    continue  # a single-part ETag is the MD5 S3 computed again when loading
                part_path = self._path(part.key)
                if part_path.is_file() and part_path.stat().st_size == part.size:
                    _restore(self._bucket, part.key, etag=part.etag)

    def _write(self, key: str, version: ObjectVersion, scratch: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        with scratch.open("wb") as out:
            for chunk in body.iter_chunks(_COPY_CHUNK):
                out.write(chunk)
        stamp = version.last_modified.timestamp()
        os.utime(scratch, (stamp, stamp))
        os.replace(scratch, target)

    def _prune_empty_directories(self) -> None:
        for top in LAYOUT:
            root = self.directory / top
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
            if not any(root.iterdir()):
                root.rmdir()


def _restore(bucket: str, key: str, *, last_modified: datetime | None = None, etag: str | None = None) -> None:
    """Sets what no S3 call can set on moto's stored object: its LastModified (naive UTC in moto) or its ETag."""
    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys[key]
    if last_modified is not None:
        stored.last_modified = last_modified.astimezone(UTC).replace(tzinfo=None)
    if etag is not None:
        stored._etag = etag.strip('"')  # moto computes the ETag from this field
