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

With a sources document the upload is per bill connect (:class:`UploadScope`): one bill upload of a month holds the
day files of every member source, the same rules apply to the merged month (complete when every member has every
day; limits, fingerprint and upload state over the merged files), and a month whose members' days name different
currencies is refused (:class:`MixedCurrencies`). ``domain/bill_connects.py`` runs the bill connects.

The upload event (the plan output plus one result per day, ``contracts.UploadEvent``) is validated before any side
effect, by the handler.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.calendar import month_days, month_of
from kubecost_flexera.domain.records import UploadState, part_file_name
from kubecost_flexera.errors import (
    ConfigurationError,
    ExporterError,
    FlexeraThrottled,
    FlexeraUnavailable,
    LimitExceeded,
    MixedCurrencies,
    StorageUnavailable,
    UploadFailed,
)
from kubecost_flexera.observability import logger, tracer

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import date, datetime

    from kubecost_flexera.adapters.flexera import FlexeraClient
    from kubecost_flexera.adapters.storage import Storage
    from kubecost_flexera.contracts import MonthStatus, RunOptions
    from kubecost_flexera.domain.records import DayManifest, PartInfo

# Flexera's defaults (FX-BU-6). Whether "MB" means 10^6 or 2^20 bytes is undocumented: the smaller
# reading is enforced, so a file we accept is within the limit either way.
MAX_FILE_BYTES: Final = 1000 * 1000 * 1000
MAX_FILES_PER_UPLOAD: Final = 500


@dataclass(frozen=True)
class MonthContent:
    """What the day manifests of a month name, in upload order (source, day, then part).

    ``missing_by_source`` says which member source misses which days (``missing_days``: any of them);
    ``currencies`` and ``files_by_source`` are per member source; ``bill_connect_id`` is set in a
    sources document's upload (None: a single-source stack).
    """

    month: str
    parts: tuple[PartInfo, ...]
    missing_by_source: Mapping[str, tuple[date, ...]] = field(default_factory=dict)
    currencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    files_by_source: Mapping[str, int] = field(default_factory=dict)
    bill_connect_id: str | None = None

    @property
    def where(self) -> str:
        """The month as messages name it: with its bill connect in a sources document's upload."""
        return self.month if self.bill_connect_id is None else f"bill connect {self.bill_connect_id}, {self.month}"

    @cached_property
    def missing_days(self) -> tuple[date, ...]:
        """The days some member source has no export of."""
        return tuple(sorted({day for days in self.missing_by_source.values() for day in days}))

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
            self.month,
            status,
            len(self.parts),
            self.bytes,
            bill_upload_id,
            missing_days=self.missing_days,
            missing_by_source=self.missing_by_source,
            bill_connect_id=self.bill_connect_id,
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
    missing_by_source: Mapping[str, tuple[date, ...]] = field(default_factory=dict)  # the sources that block it
    bill_connect_id: str | None = None  # a sources document's bill connect; None: a single-source stack

    @property
    def where(self) -> str:
        return self.month if self.bill_connect_id is None else f"{self.bill_connect_id} {self.month}"


@dataclass(frozen=True)
class UploadScope:
    """What one bill upload of a month holds, and where its last commit is recorded.

    A single-source stack's scope is its one source (no ``bill_connect_id``): the Go file names, the upload state
    under the source, as always. A sources document's bill connect has every member source (those outside the run
    too: a commit replaces the whole month), its files named by source when there are several, its upload state
    under the bill connect. Every member's ``Storage`` is of the same bucket.
    """

    members: tuple[Storage, ...]
    bill_connect_id: str | None = None

    def read_month(self, month: str, clock_today: date) -> MonthContent:
        parts: list[PartInfo] = []
        missing: dict[str, list[date]] = {}  # only the sources that miss days
        currencies: dict[str, tuple[str, ...]] = {}
        files: dict[str, int] = {}
        days = month_days(month, clock_today)
        for storage in self.members:
            read = {day: storage.read_day_manifest(day) for day in days}
            source = storage.source
            manifests = [manifest for manifest in read.values() if manifest is not None]
            if len(manifests) < len(days):
                missing[source] = [day for day, manifest in read.items() if manifest is None]
            named = [part for manifest in manifests for part in self._named(manifest, source)]
            parts.extend(named)
            files[source] = len(named)
            currencies[source] = tuple(sorted({manifest.currency for manifest in manifests}))
        return MonthContent(
            month,
            tuple(parts),
            missing_by_source={source: tuple(days_missing) for source, days_missing in missing.items()},
            currencies=currencies,
            files_by_source=files,
            bill_connect_id=self.bill_connect_id,
        )

    def _named(self, manifest: DayManifest, source: str) -> tuple[PartInfo, ...]:
        """The day's parts as Flexera sees them: named by source when the upload holds several sources' files."""
        if len(self.members) == 1:
            return manifest.parts
        return tuple(
            replace(part, file_name=part_file_name(manifest.day, number, source))
            for number, part in enumerate(manifest.parts, start=1)
        )

    def read_state(self, month: str) -> UploadState | None:
        return self.members[0].read_upload_state(month, self.bill_connect_id)

    def write_state(self, state: UploadState) -> None:
        self.members[0].write_upload_state(state, self.bill_connect_id)

    def open_part(self, part: PartInfo) -> BinaryIO:
        return self.members[0].open_part(part)


def check_limits(content: MonthContent) -> None:
    if len(content.parts) > MAX_FILES_PER_UPLOAD:
        counts, hint = "", ""
        if content.bill_connect_id is not None:  # several sources: which holds how many, and a way out
            counts = " (" + ", ".join(f"{source} {count}" for source, count in content.files_by_source.items()) + ")"
            hint = ", or give some of these sources another BILL_CONNECT_ID"
        raise LimitExceeded(
            f"{content.where} has {len(content.parts)} files{counts}; Flexera accepts at most {MAX_FILES_PER_UPLOAD} "
            f"per bill upload: raise MAX_FILE_ROWS so days have fewer parts{hint}"
        )
    too_big = [part.file_name for part in content.parts if part.size > MAX_FILE_BYTES]
    if too_big:
        raise LimitExceeded(
            f"{content.where}: {', '.join(too_big)} exceed Flexera's {MAX_FILE_BYTES // 1_000_000} MB per file: "
            "lower MAX_FILE_ROWS so days are split into smaller parts"
        )


def check_currencies(content: MonthContent) -> None:
    """One bill holds one currency: a bill connect's month whose sources exported different ones is refused."""
    if content.bill_connect_id is None or len({c for codes in content.currencies.values() for c in codes}) <= 1:
        return
    named = ", ".join(f"{source} {'/'.join(codes)}" for source, codes in content.currencies.items() if codes)
    raise MixedCurrencies(
        f"{content.where} mixes currencies ({named}): one bill upload holds one currency; give these sources the "
        "same currency (DEFAULT_CURRENCY, or Kubecost's own) or separate BILL_CONNECT_IDs"
    )


class MonthUploader:
    """Uploads the months of one run. The Flexera client is made on the first month that needs it."""

    def __init__(
        self,
        storage: Storage | UploadScope,
        connect: Callable[[], FlexeraClient],
        *,
        clock_today: date,
        options: RunOptions,
        now: Callable[[], datetime] = calendar.now,
    ) -> None:
        """``storage`` is a single-source stack's source, or the scope of a bill connect; ``clock_today`` is the
        UTC date of the real clock: its month is the current month."""
        self._scope = storage if isinstance(storage, UploadScope) else UploadScope((storage,))
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
            content = self._scope.read_month(month, self._clock_today)
            return self._send(content)
        except ConfigurationError:
            raise  # the credentials are unusable: not a fault of this month, and every other month would fail too
        except ExporterError as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.error("Month failed", error=error)
            files, size = (len(content.parts), content.bytes) if content is not None else (0, 0)
            return MonthResult(
                month, "failed", files, size, error=error, exception=exc, bill_connect_id=self._scope.bill_connect_id
            )

    def _send(self, content: MonthContent) -> MonthResult:
        month = content.month
        check_currencies(content)
        current = month == month_of(self._clock_today)
        missing = [day.isoformat() for day in content.missing_days]
        if not content.parts or (missing and not current and not self._options.force_upload):
            logger.warning(
                "Month skipped: days without an export",
                missing_days=missing,
                current_month=current,
                **_by_source(content),
            )
            return content.result("skipped-incomplete")
        if missing and not current:
            logger.warning(
                "Forced upload of an incomplete month: it replaces the month at Flexera with the days that exist",
                missing_days=missing,
                **_by_source(content),
            )
        previous = self._scope.read_state(month)
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
                client.upload_file(upload_id, part.file_name, part.size, partial(self._scope.open_part, part))
            client.commit(upload_id)
        except BaseException:
            client.abort(upload_id)
            raise
        self._scope.write_state(
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
    summary = "; ".join(f"{result.where}: {result.error}" for result in failed)
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


def _by_source(content: MonthContent) -> dict[str, Any]:
    """A bill connect's missing days per source, for its log entries (a single source's are ``missing_days``)."""
    if content.bill_connect_id is None:
        return {}
    missing = {source: [day.isoformat() for day in days] for source, days in content.missing_by_source.items()}
    return {"missing_by_source": missing}
