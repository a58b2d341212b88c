"""The monthly upload: which months go to Flexera, whether they changed, and the bill-upload run for each.

A Flexera commit replaces the whole billing period (``FX-BU-7``), so a month is always sent whole, from
the parts its day manifests name (never a bucket listing). The rules (``GO-MONTH-1`` to ``GO-MONTH-3``, the contracts):

- The current month is the month of the real clock (``calendar.now``), never of a *today* the run pinned: a run
  pinned to a past date must not replace a complete month at Flexera with a partial one. It is uploaded with
  whatever days have manifests; any month that has ended by the clock only when every one of its days has one,
  otherwise it is reported ``skipped-incomplete`` (GO-D14: visible, not silent).
- ``force_upload`` also uploads an ended month that misses days, with the days that exist (a month installed
  mid-month, or older than Kubecost's retention, would otherwise never be finalised): its result lists the
  ``missingDays`` and a warning says so.
- A month whose files (name and ETag) are those of its last commit is ``skipped-unchanged`` unless forced (GO-D22).
- Flexera's documented limits are checked before any call (:class:`LimitExceeded`).
- A dry run reports what would be uploaded and calls nothing at Flexera, not even the token service.
- Months go in ascending order, files by day and part (GO-D13). Every month is tried; a failure is recorded for that
  month only, and :func:`raise_for_failures` turns the results into the workflow's outcome afterwards.

The upload event (the plan output plus one result per day, ``contracts.UploadEvent``) is validated before any side
effect, by the handler.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TYPE_CHECKING, Final

from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.calendar import month_days, month_of
from kubecost_flexera.domain.records import UploadState
from kubecost_flexera.errors import (
    ConfigurationError,
    ExporterError,
    FlexeraThrottled,
    FlexeraUnavailable,
    LimitExceeded,
    StorageUnavailable,
    UploadFailed,
)
from kubecost_flexera.observability import logger, tracer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date, datetime

    from kubecost_flexera.adapters.flexera import FlexeraClient
    from kubecost_flexera.adapters.storage import Storage
    from kubecost_flexera.contracts import MonthStatus, RunOptions
    from kubecost_flexera.domain.records import PartInfo

# Flexera's defaults (FX-BU-6). Whether "MB" means 10^6 or 2^20 bytes is undocumented: the smaller
# reading is enforced, so a file we accept is within the limit either way.
MAX_FILE_BYTES: Final = 1000 * 1000 * 1000
MAX_FILES_PER_UPLOAD: Final = 500


@dataclass(frozen=True)
class MonthContent:
    """What the day manifests of a month name, in upload order (day, then part)."""

    month: str
    parts: tuple[PartInfo, ...]
    missing_days: tuple[date, ...]

    @cached_property
    def bytes(self) -> int:
        return sum(part.size for part in self.parts)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 over the sorted (file name, ETag) pairs: equal exactly when the month would send the same files.

        The file name is what Flexera sees and the ETag identifies the bytes. The S3 key is left out on purpose:
        every export of a day writes under a new key (``storage.py``), so an unchanged re-export (same bytes, hence
        the same ETag, as the gzip output is deterministic) must not count as a change.
        """
        pairs = sorted((part.file_name, part.etag) for part in self.parts)
        return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()

    def result(self, status: MonthStatus, bill_upload_id: str | None = None) -> MonthResult:
        """The month's result with this content's file count, size and missing days."""
        return MonthResult(
            self.month, status, len(self.parts), self.bytes, bill_upload_id, missing_days=self.missing_days
        )


@dataclass(frozen=True)
class MonthResult:
    """What the upload did with one month (``contracts.MonthOutcome``)."""

    month: str
    status: MonthStatus
    files: int = 0
    bytes: int = 0
    bill_upload_id: str | None = None
    error: str | None = None
    missing_days: tuple[date, ...] = ()  # days without an export in what was (or would be) uploaded
    # The typed error of a failed month, for raise_for_failures; not part of the JSON result.
    exception: Exception | None = field(default=None, compare=False, repr=False)


def read_month(storage: Storage, month: str, clock_today: date) -> MonthContent:
    parts: list[PartInfo] = []
    missing: list[date] = []
    for day in month_days(month, clock_today):
        manifest = storage.read_day_manifest(day)
        if manifest is None:
            missing.append(day)
        else:
            parts.extend(manifest.parts)
    return MonthContent(month, tuple(parts), tuple(missing))


def check_limits(content: MonthContent) -> None:
    if len(content.parts) > MAX_FILES_PER_UPLOAD:
        raise LimitExceeded(
            f"{content.month} has {len(content.parts)} files; Flexera accepts at most {MAX_FILES_PER_UPLOAD} per "
            "bill upload: raise MAX_FILE_ROWS so days have fewer parts"
        )
    too_big = [part.file_name for part in content.parts if part.size > MAX_FILE_BYTES]
    if too_big:
        raise LimitExceeded(
            f"{content.month}: {', '.join(too_big)} exceed Flexera's {MAX_FILE_BYTES // 1_000_000} MB per file: "
            "lower MAX_FILE_ROWS so days are split into smaller parts"
        )


class MonthUploader:
    """Uploads the months of one run. The Flexera client is made on the first month that needs it."""

    def __init__(
        self,
        storage: Storage,
        connect: Callable[[], FlexeraClient],
        *,
        clock_today: date,
        options: RunOptions,
        now: Callable[[], datetime] = calendar.now,
    ) -> None:
        """``clock_today`` is the UTC date of the real clock: its month is the current month."""
        self._storage = storage
        self._connect = connect
        self._client: FlexeraClient | None = None
        self._clock_today = clock_today
        self._options = options
        self._now = now

    def run(self, months: Sequence[str]) -> list[MonthResult]:
        """Every month, in ascending order, each with its result; one month's failure does not stop the others."""
        results = []
        for month in sorted(months):
            logger.append_keys(month=month)
            try:
                results.append(self.month(month))
            finally:
                logger.remove_keys(["month"])
        return results

    @tracer.capture_method(capture_response=False)
    def month(self, month: str) -> MonthResult:
        """The month's result; a failure is recorded in it (S3 throttling and 5xx as :class:`StorageUnavailable`)."""
        content: MonthContent | None = None
        try:
            content = read_month(self._storage, month, self._clock_today)
            return self._send(content)
        except ConfigurationError:
            raise  # the credentials are unusable: not a fault of this month, and every other month would fail too
        except ExporterError as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.error("Month failed", error=error)
            files, size = (len(content.parts), content.bytes) if content is not None else (0, 0)
            return MonthResult(month, "failed", files, size, error=error, exception=exc)

    def _send(self, content: MonthContent) -> MonthResult:
        month = content.month
        current = month == month_of(self._clock_today)
        missing = [day.isoformat() for day in content.missing_days]
        if not content.parts or (missing and not current and not self._options.force_upload):
            logger.warning("Month skipped: days without an export", missing_days=missing, current_month=current)
            return content.result("skipped-incomplete")
        if missing and not current:
            logger.warning(
                "Forced upload of an incomplete month: it replaces the month at Flexera with the days that exist",
                missing_days=missing,
            )
        previous = self._storage.read_upload_state(month)
        if previous is not None and previous.fingerprint == content.fingerprint and not self._options.force_upload:
            logger.info("Month skipped: unchanged since its last commit", bill_upload_id=previous.bill_upload_id)
            return content.result("skipped-unchanged", previous.bill_upload_id)
        check_limits(content)
        if self._options.dry_run:
            logger.info("Dry run: month would be uploaded", files=[part.file_name for part in content.parts])
            return content.result("dry-run")
        return self._upload(content)

    def _upload(self, content: MonthContent) -> MonthResult:
        client = self._client_for_run()
        client.ensure_bill_connect_once()
        upload_id = client.create_bill_upload(content.month)
        logger.info("Bill upload created", bill_upload_id=upload_id, files=len(content.parts), bytes=content.bytes)
        try:
            for part in content.parts:
                client.upload_file(upload_id, part.file_name, part.size, partial(self._storage.open_part, part))
            client.commit(upload_id)
        except BaseException:
            client.abort(upload_id)
            raise
        self._storage.write_upload_state(
            UploadState(
                month=content.month,
                fingerprint=content.fingerprint,
                bill_upload_id=upload_id,
                committed_at=self._now().isoformat(),
                files=tuple(part.file_name for part in content.parts),
            )
        )
        logger.info("Month committed", bill_upload_id=upload_id, files=len(content.parts), bytes=content.bytes)
        return content.result("committed", upload_id)

    def _client_for_run(self) -> FlexeraClient:
        if self._client is None:
            self._client = self._connect()
        return self._client


def raise_for_failures(results: Sequence[MonthResult]) -> None:
    """The run's outcome once every month was tried.

    A transient cause wins, so that the state machine tries again later (committed months are then skipped as
    unchanged): throttling (:class:`FlexeraThrottled`, after the cool-off), then Flexera or S3 unavailable after the
    clients' own retries (:class:`FlexeraUnavailable`, :class:`StorageUnavailable`). Otherwise
    :class:`UploadFailed` names every failed month and its error.
    """
    failed = [result for result in results if result.status == "failed"]
    if not failed:
        return
    summary = "; ".join(f"{result.month}: {result.error}" for result in failed)
    exceptions = [result.exception for result in failed if result.exception is not None]
    throttled = [exc for exc in exceptions if isinstance(exc, FlexeraThrottled)]
    if throttled:
        wait = max(exc.retry_after_seconds for exc in throttled)
        raise FlexeraThrottled(f"Flexera throttled the upload; retry after {wait} s. Failed months: {summary}", wait)
    if any(isinstance(exc, FlexeraUnavailable) for exc in exceptions):
        raise FlexeraUnavailable(f"Flexera was unavailable after the client's retries. Failed months: {summary}")
    if any(isinstance(exc, StorageUnavailable) for exc in exceptions):
        raise StorageUnavailable(f"S3 was unavailable after the SDK's retries. Failed months: {summary}")
    raise UploadFailed(f"{len(failed)} month(s) failed: {summary}")
