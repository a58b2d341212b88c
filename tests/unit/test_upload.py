"""Unit tests of the month rules: which days make a month, fingerprint, limits, and the run's outcome."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, cast

import pytest

from kubecost_flexera.contracts import MonthOutcome, RunOptions
from kubecost_flexera.domain.calendar import month_days, parse_month
from kubecost_flexera.domain.records import PartInfo
from kubecost_flexera.domain.upload import (
    MAX_FILE_BYTES,
    MAX_FILES_PER_UPLOAD,
    MonthContent,
    MonthResult,
    MonthUploader,
    check_limits,
    raise_for_failures,
)
from kubecost_flexera.errors import (
    FlexeraRejected,
    FlexeraThrottled,
    FlexeraUnavailable,
    LimitExceeded,
    StorageRejected,
    StorageUnavailable,
    UploadFailed,
)

if TYPE_CHECKING:
    from kubecost_flexera.adapters.flexera import FlexeraClient
    from kubecost_flexera.adapters.storage import Storage


def part(name: str, etag: str = '"e1"', size: int = 10, export_id: str = "x1") -> PartInfo:
    return PartInfo(key=f"exports/default/2025-07/{export_id}/{name}", file_name=name, size=size, etag=etag, rows=1)


def test_past_month_needs_every_calendar_day() -> None:
    # Given a past month of 31 days / Then all 31 days are required
    days = month_days("2025-07", today=date(2025, 8, 2))
    assert (days[0], days[-1], len(days)) == (date(2025, 7, 1), date(2025, 7, 31), 31)


def test_february_of_a_leap_year_has_29_days() -> None:
    assert len(month_days("2024-02", today=date(2024, 3, 5))) == 29


def test_current_month_days_end_today() -> None:
    # Given today in the month / Then its days run from the 1st up to and including today
    assert month_days("2025-08", today=date(2025, 8, 2)) == (date(2025, 8, 1), date(2025, 8, 2))


@pytest.mark.parametrize("month", ["2025-7", "2025/07", "2025-13", "25-07-01", "2025-00"])
def test_malformed_month_is_rejected(month: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- the only contract is ValueError
        parse_month(month)


def test_fingerprint_ignores_order_but_not_etags() -> None:
    # Given the same parts in another order, and one part with a new ETag
    a, b = part("kubecost-2025-07-01.csv.gz"), part("kubecost-2025-07-02.csv.gz")
    same = MonthContent("2025-07", (a, b))
    reordered = MonthContent("2025-07", (b, a))
    changed = MonthContent("2025-07", (a, part("kubecost-2025-07-02.csv.gz", etag='"e2"')))
    # Then order does not matter and a new ETag does
    assert same.fingerprint == reordered.fingerprint
    assert same.fingerprint != changed.fingerprint


def test_fingerprint_ignores_the_export_key_of_identical_bytes() -> None:
    # Given a day exported again with the same bytes (same ETag) under a new export key
    before = MonthContent("2025-07", (part("kubecost-2025-07-01.csv.gz", export_id="x1"),))
    after = MonthContent("2025-07", (part("kubecost-2025-07-01.csv.gz", export_id="x2"),))
    # Then the month is unchanged
    assert before.fingerprint == after.fingerprint


def test_fingerprint_changes_when_a_part_disappears() -> None:
    a, b = part("kubecost-2025-07-01.csv.gz"), part("kubecost-2025-07-01-2.csv.gz")
    assert MonthContent("2025-07", (a, b)).fingerprint != MonthContent("2025-07", (a,)).fingerprint


def test_more_files_than_flexera_accepts_are_refused() -> None:
    # Given a month of 501 parts
    content = MonthContent("2025-07", tuple(part(f"f{i}.csv.gz") for i in range(MAX_FILES_PER_UPLOAD + 1)))
    # When the limits are checked / Then LimitExceeded says how many and what to change
    with pytest.raises(LimitExceeded, match=r"501 files.*at most 500.*MAX_FILE_ROWS"):
        check_limits(content)


def test_file_over_1000_mb_is_refused_by_name() -> None:
    # Given one part one byte over the limit
    big = part("kubecost-2025-07-03.csv.gz", size=MAX_FILE_BYTES + 1)
    content = MonthContent("2025-07", (part("kubecost-2025-07-01.csv.gz"), big))
    # Then LimitExceeded names that file
    with pytest.raises(LimitExceeded, match=r"kubecost-2025-07-03\.csv\.gz exceed.*1000 MB"):
        check_limits(content)


def test_month_at_the_limits_is_accepted() -> None:
    parts = tuple(part(f"f{i}.csv.gz", size=MAX_FILE_BYTES) for i in range(MAX_FILES_PER_UPLOAD))
    check_limits(MonthContent("2025-07", parts))


def test_no_failed_month_raises_nothing() -> None:
    raise_for_failures([MonthResult("2025-07", "committed", 3, 30, "id"), MonthResult("2025-08", "dry-run")])


def test_failed_months_raise_upload_failed_listing_each() -> None:
    # Given two failed months
    results = [
        MonthResult("2025-06", "failed", error="FlexeraRejected: HTTP 400", exception=FlexeraRejected("HTTP 400")),
        MonthResult("2025-07", "committed", 1, 1, "id"),
        MonthResult("2025-08", "failed", error="LimitExceeded: too big", exception=LimitExceeded("too big")),
    ]
    # Then UploadFailed names both with their errors
    with pytest.raises(UploadFailed, match=r"2 month\(s\) failed: 2025-06: FlexeraRejected: HTTP 400; 2025-08: Limit"):
        raise_for_failures(results)


def test_throttling_is_raised_as_retryable_with_the_longest_wait() -> None:
    # Given one throttled month (Retry-After 90) and one other failure
    results = [
        MonthResult("2025-07", "failed", error="x", exception=FlexeraThrottled("429", 90)),
        MonthResult("2025-08", "failed", error="y", exception=FlexeraRejected("400")),
    ]
    # Then the run raises FlexeraThrottled (the state machine retries it) carrying the wait
    with pytest.raises(FlexeraThrottled) as raised:
        raise_for_failures(results)
    assert raised.value.retry_after_seconds == 90
    assert "2025-08: y" in str(raised.value)


def test_flexera_unavailable_is_raised_as_retryable_naming_every_failed_month() -> None:
    # Given one month whose Flexera calls stayed unavailable after the client's retries, and one refused month
    results = [
        MonthResult("2025-07", "failed", error="x", exception=FlexeraUnavailable("HTTP 503 (after 3 attempts)")),
        MonthResult("2025-08", "failed", error="y", exception=FlexeraRejected("400")),
    ]
    # Then the run raises FlexeraUnavailable, which the state machine retries later
    with pytest.raises(FlexeraUnavailable, match=r"2025-07: x; 2025-08: y"):
        raise_for_failures(results)


class FailingStorage:
    """Storage whose reads of day manifests fail with ``error``, as Storage raises S3's failures (typed)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read_day_manifest(self, day: date) -> None:
        raise self.error


def run_month_against(storage: FailingStorage) -> list[MonthResult]:
    def no_flexera() -> FlexeraClient:
        raise AssertionError("no Flexera call is expected")

    uploader = MonthUploader(cast("Storage", storage), no_flexera, clock_today=date(2025, 8, 2), options=RunOptions())
    return uploader.run(["2025-07"])


def test_s3_throttling_is_raised_as_retryable_storage_unavailable() -> None:
    # Given a month whose manifests cannot be read because S3 throttles beyond the SDK's retries
    results = run_month_against(FailingStorage(StorageUnavailable("S3 failed after the SDK's retries: SlowDown")))
    # Then the month failed, and the run raises StorageUnavailable, which the state machine retries later
    assert [(r.month, r.status) for r in results] == [("2025-07", "failed")]
    with pytest.raises(StorageUnavailable, match="2025-07"):
        raise_for_failures(results)


def test_a_permanent_s3_error_is_not_retryable() -> None:
    # Given a month that fails because S3 refuses the request (a missing bucket: not a passing problem)
    results = run_month_against(FailingStorage(StorageRejected("S3 refused the request: NoSuchBucket")))
    # Then the run fails with UploadFailed
    with pytest.raises(UploadFailed, match="2025-07"):
        raise_for_failures(results)


def test_result_json_has_the_contract_keys() -> None:
    result = MonthResult("2025-07", "committed", 2, 20, "abc", exception=None)
    assert MonthOutcome.of(result).model_dump(mode="json") == {
        "month": "2025-07",
        "status": "committed",
        "billUploadId": "abc",
        "files": 2,
        "bytes": 20,
        "error": None,
        "missingDays": [],
    }
