"""The day export end to end: the Kubecost emulator over real HTTP -> rows -> gzipped parts in moto S3 -> manifest."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
import requests

from emulators.http_server import EmulatorServer, Response
from emulators.kubecost import FaultKind, KubecostAuth, KubecostEmulator, KubecostFault
from kubecost_flexera.adapters.kubecost import KubecostClient, KubecostCredentials
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.config import AGGREGATE_CHAINS, KubecostSettings, load_kubecost
from kubecost_flexera.contracts import DayEvent, DayExported
from kubecost_flexera.domain.export import ExportResult, export_day
from kubecost_flexera.errors import KubecostRejected, KubecostUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from kubecost_flexera.domain.records import DayManifest

DAY = date(2025, 7, 15)
TODAY = date(2025, 7, 20)
SOURCE = "default"
TIMEOUT = 1.0  # seconds, for the "slow" fault, which answers three times later
# Every other request: a loaded machine's emulator answers well within it (0.3 s timed out a 600-pod day).
REQUEST_TIMEOUT = 30.0


@dataclass
class Harness:
    """One emulator, the bucket, and how to export a day with given settings."""

    emulator: KubecostEmulator
    storage: Storage
    settings: KubecostSettings
    sleeps: list[float] = field(default_factory=list)

    def export(self, day: date = DAY, credentials: KubecostCredentials | None = None) -> ExportResult:
        with KubecostClient(self.settings, credentials, sleep=self.sleeps.append) as client:
            request = DayEvent(day=day, currency="USD")
            return export_day(request, client=client, storage=self.storage, settings=self.settings)

    def reconfigure(self, **env: str) -> None:
        self.settings = kubecost_settings(self.emulator, **env)

    def manifest(self, day: date = DAY) -> DayManifest:
        manifest = self.storage.read_day_manifest(day)
        assert manifest is not None
        return manifest

    def rows(self, manifest: DayManifest) -> list[dict[str, str]]:
        """Every data row of the manifest's parts, read through the ETag-pinned reader; each part has the header."""
        rows: list[dict[str, str]] = []
        for part in manifest.parts:
            text = gzip.decompress(self.storage.open_part(part).read()).decode()
            part_rows = list(csv.DictReader(io.StringIO(text, newline="")))
            assert len(part_rows) == part.rows
            rows.extend(part_rows)
        return rows

    def object_keys(self) -> set[str]:
        listing = self.storage.s3.list_objects_v2(Bucket=self.storage.bucket)
        return {item["Key"] for item in listing.get("Contents", [])}

    def expected_query(self) -> dict[str, Any]:
        """The emulator's expected-totals query for the current settings (HTTP parameter names)."""
        s = self.settings
        idle_name = "idle" if s.cost_source == "kubecost" else "includeIdle"
        return {
            "aggregate": s.aggregate_chain,
            idle_name: s.idle,
            "idleByNode": s.idle_by_node,
            "shareIdle": s.share_idle,
            "accumulate": True,
            "step": "1d",
        }


def kubecost_settings(emulator: KubecostEmulator, **env: str) -> KubecostSettings:
    environ = {"KUBECOST_HOST": emulator.url, "PAGE_SIZE": "7", **env}
    if emulator.config.flavour == "opencost":
        environ |= {"COST_SOURCE": "opencost", "KUBECOST_API_PATH": "/"}
    return replace(load_kubecost(environ), request_timeout_seconds=REQUEST_TIMEOUT)


@pytest.fixture
def harness(kubecost_emulator: Callable[..., KubecostEmulator], s3: S3Client, bucket: str) -> Callable[..., Harness]:
    """``harness(env=..., timeout=..., **emulator_config)``: an emulator for ``TODAY`` and settings pointing at it."""

    def make(env: dict[str, str] | None = None, timeout: float = REQUEST_TIMEOUT, **config: Any) -> Harness:
        emulator = kubecost_emulator(today=TODAY, **{"allocations_per_day": 30, **config})
        settings = replace(kubecost_settings(emulator, **(env or {})), request_timeout_seconds=timeout)
        return Harness(emulator, Storage(s3, bucket, SOURCE), settings)

    return make


def assert_reconciles(h: Harness, result: ExportResult, multiplier: float = 1.0) -> list[dict[str, str]]:
    """Every expected item exactly once (8 rows each), totals equal to the emulator's to rounding."""
    expected = h.emulator.expected(DAY, **h.expected_query())
    manifest = h.manifest()
    rows = h.rows(manifest)
    rows_per_name = Counter(row["ResourceID"] for row in rows)
    assert set(rows_per_name) == expected.names
    assert set(rows_per_name.values()) == {8}
    assert result.allocations == manifest.allocations == expected.allocations
    assert result.rows == manifest.rows == len(rows) == 8 * expected.allocations
    # Each item's 8 printed costs are rounded separately, its totalCost once: 8 half-units of the 5th decimal.
    tolerance = expected.allocations * 8 * 0.5e-5 * max(1.0, multiplier) + 1e-9
    assert result.cost == pytest.approx(expected.total_cost * multiplier, abs=tolerance)
    assert result.cost == pytest.approx(sum(float(row["Cost"]) for row in rows), abs=1e-6)
    return rows


# --- what is exported ---


@pytest.mark.parametrize("idle", ["true", "false"])
@pytest.mark.parametrize("aggregation", sorted(AGGREGATE_CHAINS))
def test_every_aggregation_with_and_without_idle_reconciles(harness: Any, aggregation: str, idle: str) -> None:
    # Given a paging Kubecost and a page size much smaller than the day
    h = harness(env={"AGGREGATION": aggregation, "IDLE": idle})
    # When the day is exported
    result = h.export()
    # Then every item is there once and the totals reconcile
    rows = assert_reconciles(h, result)
    assert {row["Aggregation"] for row in rows} == {aggregation}
    assert any("_idle_" in row["ResourceID"] for row in rows) == (idle == "true")


def test_idle_items_are_written_after_all_others(harness: Any) -> None:
    h = harness(env={"IDLE": "true"})
    h.export()
    names = [row["ResourceID"] for row in h.rows(h.manifest())]
    idle_flags = ["_idle_" in name for name in names]
    assert idle_flags == sorted(idle_flags)  # all False first, then all True
    assert any(idle_flags)


def test_idle_by_node_reconciles(harness: Any) -> None:
    h = harness(env={"IDLE_BY_NODE": "true"})
    assert_reconciles(h, h.export())


def test_share_idle_reconciles_without_idle_items(harness: Any) -> None:
    h = harness(env={"SHARE_IDLE": "true"})
    rows = assert_reconciles(h, h.export())
    assert not any("_idle_" in row["ResourceID"] for row in rows)


def test_multiplier_scales_the_day_cost(harness: Any) -> None:
    h = harness(env={"MULTIPLIER": "1.5"})
    assert_reconciles(h, h.export(), multiplier=1.5)


def test_idle_off_keeps_rows_past_the_first_page(harness: Any) -> None:
    # Given IDLE=false, where the Go exporter stops after the first page (defect GO-D3)
    h = harness(env={"IDLE": "false", "PAGE_SIZE": "5"})
    # When the day is exported
    result = h.export()
    # Then every item of every page is there
    assert result.allocations > 5
    assert_reconciles(h, result)


def test_idle_counted_inside_limit_reconciles(harness: Any) -> None:
    h = harness(idle_in_limit=True)
    assert_reconciles(h, h.export())


@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
def test_both_flavours_reconcile(harness: Any, flavour: str) -> None:
    h = harness(flavour=flavour)
    assert_reconciles(h, h.export())


def test_server_ignoring_paging_gives_each_item_once_in_two_requests(harness: Any) -> None:
    # Given OpenCost, which ignores offset and limit and answers the whole day every time
    h = harness(flavour="opencost", env={"IDLE": "true"})
    # When the day is exported with a page size smaller than the day
    result = h.export()
    # Then the second answer brought no new item, paging stopped, and nothing is duplicated
    assert_reconciles(h, result)
    assert len([r for r in h.emulator.requests if r.path.endswith("/allocation")]) == 2


def test_server_honouring_limit_but_ignoring_offset_publishes_the_whole_day(harness: Any) -> None:
    # Given a Kubecost that honours limit but answers every offset with the first page (100 of 600 pods, + idle)
    h = harness(env={"PAGE_SIZE": "100"}, allocations_per_day=600, ignore_offset=True)
    # When the day is exported
    result = h.export()
    # Then the repeated page was not taken for the end of the day: the day was fetched unpaged, and is whole
    assert assert_reconciles(h, result)
    assert result.allocations > 600
    offsets = [r.arg("offset") for r in h.emulator.requests if r.path.endswith("/allocation")]
    assert offsets == ["0", "100", None]


def test_paging_server_is_asked_until_a_short_page(harness: Any) -> None:
    h = harness(env={"IDLE": "false", "PAGE_SIZE": "10"}, allocations_per_day=30)
    result = h.export()
    offsets = [r.arg("offset") for r in h.emulator.requests if r.path.endswith("/allocation")]
    pages = -(-result.allocations // 10) + (result.allocations % 10 == 0)
    assert offsets == [str(10 * page) for page in range(pages)]


@pytest.mark.parametrize("override", ["true", "false"])
def test_label_override_decides_between_pod_and_namespace_label(harness: Any, override: str) -> None:
    # Given items whose pod and namespace labels share a key with different values
    h = harness(env={"OVERRIDE_POD_LABELS": override})
    raw = requests.get(
        h.emulator.allocation_url,
        params={
            "window": f"{DAY}T00:00:00Z,2025-07-16T00:00:00Z",
            "aggregate": AGGREGATE_CHAINS["pod"],
            "accumulate": "true",
        },
        timeout=10,
    ).json()
    clashes = {
        item["name"]: {
            k: (v, item["properties"]["namespaceLabels"][k])
            for k, v in item["properties"]["labels"].items()
            if item["properties"].get("namespaceLabels", {}).get(k, v) != v and not k.startswith("kc-")
        }
        for item in raw["data"][0].values()
        if item.get("properties", {}).get("labels")
    }
    clashes = {name: keys for name, keys in clashes.items() if keys}
    assert clashes
    # When the day is exported
    h.export()
    # Then the namespace value wins with the override, the pod value without
    labels = {row["ResourceID"]: json.loads(row["Labels"]) for row in h.rows(h.manifest())}
    for name, keys in clashes.items():
        for key, (pod_value, namespace_value) in keys.items():
            assert labels[name][key] == (namespace_value if override == "true" else pod_value)


# --- parts, replacement, and what a failure leaves ---


def test_small_max_file_rows_splits_the_day_into_named_parts(harness: Any) -> None:
    # Given 20 rows per part, not a multiple of 8, so items straddle parts
    h = harness(env={"MAX_FILE_ROWS": "20"}, allocations_per_day=10)
    # When the day is exported
    result = h.export()
    # Then the parts are full except the last, named like the Go exporter's, and together hold every item
    manifest = h.manifest()
    assert [p.rows for p in manifest.parts[:-1]] == [20] * (len(manifest.parts) - 1)
    assert 0 < manifest.parts[-1].rows <= 20
    assert [p.file_name for p in manifest.parts] == [
        "kubecost-2025-07-15.csv.gz",
        *(f"kubecost-2025-07-15-{n}.csv.gz" for n in range(2, len(manifest.parts) + 1)),
    ]
    assert result.parts == len(manifest.parts) == -(-result.rows // 20)
    assert_reconciles(h, result)


def test_parts_are_at_most_a_tenth_larger_than_zlib_level_6_would_make_them(harness: Any) -> None:
    # Given a day of realistic size and variety (the emulator's clusters, labels and costs), one part
    h = harness(env={"PAGE_SIZE": "500"}, allocations_per_day=2_000)
    # When it is exported
    h.export()
    (part,) = h.manifest().parts
    data = h.storage.open_part(part).read()
    # Then the file is no more than 10 % larger than the same text at zlib's level 6 (Go's gzip default)
    level_6 = gzip.compress(gzip.decompress(data), compresslevel=6, mtime=0)
    assert part.size == len(data) <= 1.10 * len(level_6)


def test_reexport_with_fewer_parts_removes_the_stale_ones(harness: Any) -> None:
    # Given a day exported in several parts
    h = harness(env={"MAX_FILE_ROWS": "40"}, allocations_per_day=10)
    h.export()
    old = h.manifest()
    assert len(old.parts) > 1
    # When it is exported again with room for the whole day in one part
    h.reconfigure(MAX_FILE_ROWS="100000")
    h.export()
    # Then only the new manifest's part is left in the bucket
    new = h.manifest()
    assert len(new.parts) == 1
    assert {k for k in h.object_keys() if k.startswith("exports/")} == {new.parts[0].key}
    assert_reconciles(h, ExportResult(DAY, "written", 1, new.rows, new.allocations, new.cost, new.parts[0].size))


def test_empty_day_keeps_the_previous_export_and_writes_nothing(
    harness: Any, kubecost_emulator: Callable[..., KubecostEmulator]
) -> None:
    # Given a day already exported
    h = harness()
    h.export()
    before_manifest, before_keys = h.manifest(), h.object_keys()
    # When Kubecost now has no allocation for it
    h.emulator = kubecost_emulator(today=TODAY, empty_days=frozenset({DAY}))
    h.reconfigure()
    result = h.export()
    # Then the result is "empty" and the bucket is unchanged
    assert DayExported.of(result).model_dump(mode="json") == {
        "day": "2025-07-15",
        "status": "empty",
        "parts": 0,
        "rows": 0,
        "allocations": 0,
        "cost": 0.0,
    }
    assert h.manifest() == before_manifest
    assert h.object_keys() == before_keys


@pytest.mark.parametrize("empty_day_data", ["empty_set", "null_set", "no_sets"])
def test_every_empty_answer_shape_is_an_empty_day(harness: Any, empty_day_data: str) -> None:
    h = harness(empty_days=frozenset({DAY}), empty_day_data=empty_day_data)
    assert h.export().status == "empty"
    assert h.object_keys() == set()


def test_crash_after_parts_before_manifest_keeps_the_previous_export_valid(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a day already exported
    h = harness(env={"MAX_FILE_ROWS": "40"}, allocations_per_day=10)
    h.export()
    previous = h.manifest()
    previous_rows = h.rows(previous)

    # When a new export writes its parts and then fails to write the manifest
    def fail(manifest: DayManifest) -> None:
        raise RuntimeError("injected: manifest write failed")

    monkeypatch.setattr(h.storage, "write_day_manifest", fail)
    with pytest.raises(RuntimeError, match="manifest write failed"):
        h.export()
    monkeypatch.undo()
    # Then the previous manifest is still the day's, and every part it names is intact (ETag-pinned reads)
    assert h.manifest() == previous
    assert h.rows(previous) == previous_rows


def test_failure_on_a_later_page_keeps_the_previous_export_and_leaves_no_new_part(harness: Any) -> None:
    # Given a day already exported, and parts small enough that the new export completes some before failing
    h = harness(env={"MAX_FILE_ROWS": "16", "PAGE_SIZE": "3"}, allocations_per_day=10)
    h.export()
    previous, keys = h.manifest(), h.object_keys()
    # When Kubecost refuses the third page of the next export
    h.emulator.inject(KubecostFault("code_error", on_request=allocation_requests(h.emulator) + 3))
    with pytest.raises(KubecostRejected, match="code 500"):
        h.export()
    # Then the previous export is untouched and the parts the failed export completed are gone
    assert h.manifest() == previous
    assert h.object_keys() == keys
    assert not h.storage.s3.list_multipart_uploads(Bucket=h.storage.bucket).get("Uploads")


def allocation_requests(emulator: KubecostEmulator) -> int:
    return len([r for r in emulator.requests if r.path.endswith("/allocation")])


# --- Kubecost faults ---


@pytest.mark.parametrize("kind", ["http_500", "html_504", "drop_connection", "slow"])
def test_persistent_transient_fault_raises_unavailable_after_bounded_retries_and_writes_nothing(
    harness: Any, kind: FaultKind
) -> None:
    # Given a Kubecost that fails every request the same transient way
    h = harness(timeout=TIMEOUT)
    h.emulator.inject(KubecostFault(kind, times=None, delay_seconds=TIMEOUT * 3))
    # When the day is exported
    with pytest.raises(KubecostUnavailable):
        h.export()
    # Then the client tried 4 times with growing (jittered) backoff, and nothing was written
    assert allocation_requests(h.emulator) == 4
    assert len(h.sleeps) == 3
    assert all(0.0 <= wait <= ceiling for wait, ceiling in zip(h.sleeps, (1.0, 3.0, 9.0), strict=True))
    assert h.object_keys() == set()


@pytest.mark.parametrize("kind", ["http_500", "html_504", "drop_connection", "slow"])
def test_single_transient_fault_is_retried_and_the_day_is_complete(harness: Any, kind: FaultKind) -> None:
    # Given a Kubecost that fails the second page once
    h = harness(timeout=TIMEOUT)
    h.emulator.inject(KubecostFault(kind, on_request=2, delay_seconds=TIMEOUT * 3))
    # When the day is exported
    result = h.export()
    # Then one retry sufficed and nothing is missing or duplicated
    assert len(h.sleeps) == 1
    assert 0.0 <= h.sleeps[0] <= 1.0
    assert_reconciles(h, result)


@pytest.mark.parametrize(("kind", "message"), [("malformed_json", "not JSON"), ("code_error", "code 500")])
def test_refused_or_undecodable_answer_raises_rejected_without_retry_and_writes_nothing(
    harness: Any, kind: FaultKind, message: str
) -> None:
    h = harness()
    h.emulator.inject(KubecostFault(kind))
    with pytest.raises(KubecostRejected, match=message):
        h.export()
    assert allocation_requests(h.emulator) == 1
    assert h.object_keys() == set()


# --- authentication ---


@pytest.mark.parametrize(
    ("auth", "credentials"),
    [
        (KubecostAuth("bearer", "t0ken"), {"Authorization": "Bearer t0ken"}),
        (KubecostAuth("basic", "pa55", username="kc"), {"Authorization": "Basic a2M6cGE1NQ=="}),
        (KubecostAuth("cookie", "jwt"), {"Cookie": "token=jwt"}),
    ],
)
def test_authenticated_kubecost_accepts_the_configured_credentials(
    harness: Any, auth: KubecostAuth, credentials: dict[str, str]
) -> None:
    h = harness(auth=auth)
    assert_reconciles(h, h.export(credentials=KubecostCredentials(credentials)))


def test_refused_credentials_raise_rejected_saying_authentication_was_refused(harness: Any) -> None:
    h = harness(auth=KubecostAuth("bearer", "right"))
    with pytest.raises(KubecostRejected, match="refused authentication"):
        h.export(credentials=KubecostCredentials({"Authorization": "Bearer wrong"}))
    assert h.object_keys() == set()


# --- currency ---


@pytest.mark.parametrize(("config_mode", "expected"), [("static", "EUR"), ("full", "EUR")])
def test_currency_comes_from_get_configs(harness: Any, config_mode: str, expected: str) -> None:
    h = harness(config_mode=config_mode, currency="EUR")
    with KubecostClient(h.settings) as client:
        assert client.currency() == expected


@pytest.mark.parametrize(("written", "expected"), [("usd", "USD"), ("EUR ", "EUR"), ("Euro", "CHF"), ("€", "CHF")])
def test_currency_in_another_form_is_normalised_or_replaced_by_the_default(
    harness: Any, written: str, expected: str
) -> None:
    # Given getConfigs answering a currency code written another way, or something that is no ISO 4217 code
    h = harness(currency=written, env={"DEFAULT_CURRENCY": "CHF"})
    # When the currency is asked for / Then it is the code, trimmed and upper-cased, or the default
    with KubecostClient(h.settings) as client:
        currency = client.currency()
    assert currency == expected
    # And a day exports with it (the run does not fail on it)
    request = DayEvent(day=DAY, currency=currency)
    with KubecostClient(h.settings) as client:
        assert export_day(request, client=client, storage=h.storage, settings=h.settings).status == "written"


@pytest.mark.parametrize("config_mode", ["not_found", "error", "undecodable"])
def test_currency_falls_back_to_the_default_on_any_failure(harness: Any, config_mode: str) -> None:
    h = harness(config_mode=config_mode, currency="EUR", env={"DEFAULT_CURRENCY": "CHF"})
    with KubecostClient(h.settings) as client:
        assert client.currency() == "CHF"


def test_currency_falls_back_to_the_default_when_kubecost_is_unreachable(harness: Any) -> None:
    h = harness()
    h.emulator.stop()
    with KubecostClient(h.settings) as client:
        assert client.currency() == "USD"


def test_opencost_has_no_get_configs_and_gets_the_default_currency(harness: Any) -> None:
    h = harness(flavour="opencost", env={"DEFAULT_CURRENCY": "GBP"})
    with KubecostClient(h.settings) as client:
        assert client.currency() == "GBP"


# --- malformed items ---


def test_an_item_with_a_field_of_the_wrong_type_is_rejected_and_nothing_is_written(s3: S3Client, bucket: str) -> None:
    # Given a server whose second item has a string where a cost must be a number (Go's decoder refuses the page)
    body = {"code": 200, "data": [{"a": {"name": "a"}, "b": {"name": "b", "cpuCost": "0.5"}}]}
    with EmulatorServer() as server:
        server.route("GET", "/model/allocation", lambda _request: Response.json(200, body))
        settings = load_kubecost({"KUBECOST_HOST": server.url})
        storage = Storage(s3, bucket, SOURCE)
        # When the day is exported
        with (
            KubecostClient(settings) as client,
            pytest.raises(KubecostRejected, match=r"malformed allocation page.*cpuCost"),
        ):
            export_day(DayEvent(day=DAY, currency="USD"), client=client, storage=storage, settings=settings)
    # Then nothing is in the bucket
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
