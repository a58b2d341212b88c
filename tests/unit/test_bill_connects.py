"""Unit tests of a bill connect's merged month: file names, limits, completeness, currencies, fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Final, cast

import pytest

from kubecost_flexera.contracts import RunOptions, SourcesMonthOutcome
from kubecost_flexera.domain.bill_connects import upload_bill_connects
from kubecost_flexera.domain.calendar import month_days
from kubecost_flexera.domain.plan import BillConnectRun
from kubecost_flexera.domain.records import DayManifest, PartInfo, UploadState, part_file_name
from kubecost_flexera.domain.upload import (
    MAX_FILE_BYTES,
    MAX_FILES_PER_UPLOAD,
    MonthContent,
    UploadScope,
    check_currencies,
    check_limits,
    raise_for_failures,
)
from kubecost_flexera.errors import LimitExceeded, MixedCurrencies, UploadFailed

if TYPE_CHECKING:
    from kubecost_flexera.adapters.flexera import FlexeraClient
    from kubecost_flexera.adapters.storage import Storage

TODAY: Final = date(2025, 8, 2)
JULY: Final = month_days("2025-07", TODAY)
SHARED: Final = "cbi-oi-kubecost-shared"


@dataclass
class MemoryStorage:
    """A source's manifests in memory, with the upload states of the bucket it shares with the other sources."""

    source: str
    states: dict[tuple[str, str | None], UploadState]
    manifests: dict[date, DayManifest] = field(default_factory=dict)

    def export(self, days: tuple[date, ...], *, parts: int = 1, etag: str = '"e1"', currency: str = "USD") -> None:
        for day in days:
            infos = tuple(
                PartInfo(f"exports/{self.source}/{day}/x/{part_file_name(day, n)}", part_file_name(day, n), 10, etag, 1)
                for n in range(1, parts + 1)
            )
            self.manifests[day] = DayManifest(day, self.source, currency, "2025-08-02T03:00:00Z", infos, parts, 1, 1.0)

    def read_day_manifest(self, day: date) -> DayManifest | None:
        return self.manifests.get(day)

    def read_upload_state(self, month: str, bill_connect_id: str | None = None) -> UploadState | None:
        return self.states.get((month, bill_connect_id))


def sources(*names: str) -> dict[str, MemoryStorage]:
    states: dict[tuple[str, str | None], UploadState] = {}
    return {name: MemoryStorage(name, states) for name in names}


def scope(storages: dict[str, MemoryStorage], bill_connect_id: str | None = SHARED) -> UploadScope:
    return UploadScope(tuple(cast("Storage", storage) for storage in storages.values()), bill_connect_id)


def july(storages: dict[str, MemoryStorage], bill_connect_id: str | None = SHARED) -> MonthContent:
    return scope(storages, bill_connect_id).read_month("2025-07", TODAY)


# --- names ---


def test_several_sources_files_are_named_by_source_in_source_then_day_then_part_order() -> None:
    storages = sources("eu", "us")
    storages["eu"].export(JULY[:2])
    storages["us"].export(JULY[:1], parts=3)
    names = [part.file_name for part in july(storages).parts]
    assert names == [
        "kubecost-eu-2025-07-01.csv.gz",
        "kubecost-eu-2025-07-02.csv.gz",
        "kubecost-us-2025-07-01.csv.gz",
        "kubecost-us-2025-07-01-2.csv.gz",
        "kubecost-us-2025-07-01-3.csv.gz",
    ]


def test_renamed_parts_keep_their_s3_key_size_and_etag() -> None:
    storages = sources("eu", "us")
    storages["eu"].export(JULY[:1], etag='"abc"')
    (part, *_) = july(storages).parts
    assert (part.key, part.size, part.etag) == ("exports/eu/2025-07-01/x/kubecost-2025-07-01.csv.gz", 10, '"abc"')


def test_a_single_member_bill_connect_keeps_the_go_names() -> None:
    storages = sources("apac")
    storages["apac"].export(JULY[:1], parts=2)
    assert [part.file_name for part in july(storages).parts] == [
        "kubecost-2025-07-01.csv.gz",
        "kubecost-2025-07-01-2.csv.gz",
    ]


def test_the_longest_source_name_keeps_a_file_name_within_flexeras_100_characters() -> None:
    name = part_file_name(date(2025, 7, 31), 999_999, "a" * 32)
    assert name == f"kubecost-{'a' * 32}-2025-07-31-999999.csv.gz"
    assert len(name) == 66


# --- limits ---


def test_merged_files_over_the_limit_are_refused_naming_the_bill_connect_month_and_files_per_source() -> None:
    # Given 17 sources of one part a day: 527 files in July, although each source alone has 31
    storages = sources(*(f"s{i:02}" for i in range(17)))
    for storage in storages.values():
        storage.export(JULY)
    content = july(storages)
    assert len(content.parts) == 17 * 31 > MAX_FILES_PER_UPLOAD
    # Then LimitExceeded names the bill connect, the month and each source's count, and what to change
    with pytest.raises(LimitExceeded) as raised:
        check_limits(content)
    message = str(raised.value)
    assert message.startswith("bill connect cbi-oi-kubecost-shared, 2025-07 has 527 files (s00 31, s01 31, ")
    assert "s16 31); Flexera accepts at most 500 per bill upload" in message
    assert "another BILL_CONNECT_ID" in message


def test_merged_files_at_the_limit_are_accepted() -> None:
    storages = sources("eu", "us")
    storages["eu"].export(JULY, parts=8)  # 248
    storages["us"].export(JULY, parts=8)
    storages["us"].export(JULY[:1], parts=12)  # 252: 500 in all
    content = july(storages)
    assert len(content.parts) == MAX_FILES_PER_UPLOAD
    check_limits(content)


def test_a_file_over_the_size_limit_is_named_with_its_source() -> None:
    storages = sources("eu", "us")
    storages["eu"].export(JULY[:1])
    storages["us"].export(JULY[:1])
    content = july(storages)
    big = PartInfo("k", "kubecost-us-2025-07-01.csv.gz", MAX_FILE_BYTES + 1, '"e"', 1)
    with pytest.raises(LimitExceeded, match=r"^bill connect cbi-oi-kubecost-shared, 2025-07: kubecost-us-2025-07-01"):
        check_limits(MonthContent("2025-07", (content.parts[0], big), bill_connect_id=SHARED))


# --- completeness ---


def test_missing_days_are_named_per_source_and_together() -> None:
    storages = sources("eu", "us", "ap")
    storages["eu"].export(JULY)
    storages["us"].export(tuple(day for day in JULY if day.day not in {3, 20}))
    storages["ap"].export(tuple(day for day in JULY if day.day != 3))
    content = july(storages)
    assert content.missing_by_source == {
        "us": (date(2025, 7, 3), date(2025, 7, 20)),
        "ap": (date(2025, 7, 3),),
    }
    assert content.missing_days == (date(2025, 7, 3), date(2025, 7, 20))
    outcome = SourcesMonthOutcome.of(content.result("skipped-incomplete")).model_dump(mode="json")
    assert outcome["missingBySource"] == {"us": ["2025-07-03", "2025-07-20"], "ap": ["2025-07-03"]}


def test_incomplete_merged_month_is_skipped_unless_forced() -> None:
    storages = sources("eu", "us")
    storages["eu"].export(JULY)
    storages["us"].export(JULY[1:])

    def no_flexera(bill_connect_id: str) -> FlexeraClient:
        raise AssertionError(f"no call expected for {bill_connect_id}")

    def run(**options: bool) -> str:
        (result,) = upload_bill_connects(
            [BillConnectRun(SHARED, ("eu", "us"))],
            ["2025-07"],
            storage_of=lambda source: cast("Storage", storages[source]),
            connect=no_flexera,
            clock_today=TODAY,
            options=RunOptions.of(options),
        )
        (month,) = result.months
        assert month.missing_by_source == {"us": (date(2025, 7, 1),)}
        return month.status

    assert run() == "skipped-incomplete"
    assert run(force_upload=True, dry_run=True) == "dry-run"


# --- currencies ---


def test_mixed_currencies_are_refused_naming_each_source_and_its_currency() -> None:
    storages = sources("eu", "us", "ap")
    storages["eu"].export(JULY, currency="EUR")
    storages["us"].export(JULY)
    storages["ap"].export(JULY[:10], currency="JPY")
    storages["ap"].export(JULY[10:])
    with pytest.raises(MixedCurrencies) as raised:
        check_currencies(july(storages))
    assert isinstance(raised.value, UploadFailed)
    assert str(raised.value).startswith(
        "bill connect cbi-oi-kubecost-shared, 2025-07 mixes currencies (eu EUR, us USD, ap JPY/USD)"
    )


def test_one_currency_across_sources_is_accepted() -> None:
    storages = sources("eu", "us")
    storages["eu"].export(JULY, currency="EUR")
    storages["us"].export(JULY[:1], currency="EUR")
    check_currencies(july(storages))


def test_a_single_source_stacks_currencies_are_not_checked_as_before() -> None:
    storages = sources("default")
    storages["default"].export(JULY[:1], currency="EUR")
    storages["default"].export(JULY[1:])
    check_currencies(july(storages, bill_connect_id=None))


def test_a_mixed_month_fails_only_its_bill_connect_and_the_run_fails_naming_it() -> None:
    storages = sources("eu", "us", "ap")
    storages["eu"].export(JULY, currency="EUR")
    storages["us"].export(JULY)
    storages["ap"].export(JULY)
    results = upload_bill_connects(
        [BillConnectRun(SHARED, ("eu", "us")), BillConnectRun("cbi-oi-kubecost-ap", ("ap",))],
        ["2025-07"],
        storage_of=lambda source: cast("Storage", storages[source]),
        connect=lambda bill_connect_id: pytest.fail(f"no call expected for {bill_connect_id}"),
        clock_today=TODAY,
        options=RunOptions.of({"dry_run": True}),
    )
    statuses = [(r.bill_connect_id, month.status) for r in results for month in r.months]
    assert statuses == [(SHARED, "failed"), ("cbi-oi-kubecost-ap", "dry-run")]
    with pytest.raises(UploadFailed, match=r"1 month\(s\) failed: cbi-oi-kubecost-shared 2025-07: MixedCurrencies"):
        raise_for_failures([month for r in results for month in r.months])


# --- fingerprint ---


def test_identical_bytes_of_two_sources_are_two_files_of_the_fingerprint() -> None:
    # Given two sources whose July files have the same ETags
    both = sources("eu", "us")
    for storage in both.values():
        storage.export(JULY)
    one = sources("eu", "us")
    one["eu"].export(JULY)
    # Then the merged month of both differs from the month of one of them (the names differ by source)
    assert july(both).fingerprint != july(one).fingerprint
    assert len(july(both).parts) == 62


def test_the_merged_fingerprint_changes_with_any_members_etag_only() -> None:
    first, second = sources("eu", "us"), sources("eu", "us")
    for storages in (first, second):
        storages["eu"].export(JULY)
        storages["us"].export(JULY)
    assert july(first).fingerprint == july(second).fingerprint
    second["us"].export(JULY[4:5], etag='"e2"')
    assert july(first).fingerprint != july(second).fingerprint


def test_a_merged_month_unchanged_since_its_bill_connects_commit_is_skipped() -> None:
    storages = sources("eu", "us")
    storages["eu"].export(JULY)
    storages["us"].export(JULY)
    fingerprint = july(storages).fingerprint
    # Given the commit recorded under the bill connect only (the single-source key holds nothing)
    storages["eu"].states["2025-07", SHARED] = UploadState("2025-07", fingerprint, "bu-1", "2025-08-01T00:00:00Z", ())
    (result,) = upload_bill_connects(
        [BillConnectRun(SHARED, ("eu", "us"))],
        ["2025-07"],
        storage_of=lambda source: cast("Storage", storages[source]),
        connect=lambda bill_connect_id: pytest.fail(f"no call expected for {bill_connect_id}"),
        clock_today=TODAY,
        options=RunOptions(),
    )
    (month,) = result.months
    assert (month.status, month.bill_upload_id, month.files) == ("skipped-unchanged", "bu-1", 62)
