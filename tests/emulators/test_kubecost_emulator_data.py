"""The emulator's data generator and aggregation rules (``emulators.kubecost.data``), without HTTP."""

from __future__ import annotations

import math
from datetime import date

import pytest

from emulators.kubecost import data

DAY = date(2025, 7, 15)


def _record(
    properties: dict[str, data.PropertyValue], cpu_cost: float, *, start: int = 0, end: int = 3600
) -> data.Allocation:
    values = [0.0] * data.VALUE_COUNT
    values[data.CPU_COST] = cpu_cost
    values[data.CPU_HOURS] = cpu_cost * 10
    values[data.CPU_REQ_MIN] = 0.5 * (end - start) / 60
    values[data.CPU_USE_MIN] = 0.25 * (end - start) / 60
    return data.Allocation(
        name="", properties=properties, start=start, end=end, values=values, raw={"cpuCoreUsageMax": 1}
    )


@pytest.fixture(scope="module")
def day() -> data.DayData:
    topology = data.build_topology(3, 400)
    return data.generate_day(3, 400, DAY, topology)


# --- keys (KC-NAME-1) ---


@pytest.mark.parametrize(
    ("properties", "aggregate", "key"),
    [
        ({"cluster": "c", "namespace": "n", "controllerKind": "deployment", "controller": "web"},
         ["cluster", "namespace", "controllerKind", "controller"], "c/n/deployment/deployment:web"),
        ({"cluster": "c", "namespace": "n"}, ["cluster", "namespace", "controllerKind", "controller"],
         "c/n/__unallocated__/__unallocated__"),
        ({"namespace": "n", "pod": "p"}, ["cluster", "namespace", "node", "pod"], "/n//p"),
        ({"labels": {"team": "a"}}, ["label:team", "label:app"], "a/__unallocated__"),
    ],
)  # fmt: skip
def test_item_key_follows_opencost_generate_key(
    properties: dict[str, data.PropertyValue], aggregate: list[str], key: str
) -> None:
    assert data.item_key(properties, aggregate) == key


# --- merging ---


def test_merge_sums_numbers_spans_the_window_and_drops_raw_allocation() -> None:
    first = _record({"namespace": "n"}, 1.0, start=0, end=3600)
    second = _record({"namespace": "n"}, 2.0, start=1800, end=7200)
    merged = data.merge("n", [first, second])
    assert merged.values[data.CPU_COST] == 3.0
    assert (merged.start, merged.end) == (0, 7200)
    assert merged.raw is None
    assert merged.total == 3.0


def test_merge_of_one_record_keeps_raw_allocation_and_renames() -> None:
    merged = data.merge("x", [_record({"namespace": "n"}, 1.0)])
    assert merged.name == "x"
    assert merged.raw == {"cpuCoreUsageMax": 1}


def test_intersection_keeps_common_values_and_common_labels_only() -> None:
    properties = data.intersect(
        [
            {"cluster": "c", "node": "a", "labels": {"app": "x", "team": "t"}, "services": ["s1", "s2"]},
            {"cluster": "c", "node": "b", "labels": {"app": "x", "team": "u"}, "services": ["s2"]},
        ]
    )
    assert properties == {"cluster": "c", "labels": {"app": "x"}, "services": ["s2"]}


def test_intersection_drops_maps_with_nothing_in_common() -> None:
    assert data.intersect([{"labels": {"a": "1"}}, {"labels": {"a": "2"}}]) == {}


def test_nan_propagates_through_sums_but_not_into_total_cost() -> None:
    first = _record({}, 1.0)
    first.values[data.NET_ADJ] = math.nan
    merged = data.merge("m", [first, _record({}, 2.0)])
    written = data.to_json(merged, 0, 86400)
    assert written["networkCostAdjustment"] is None
    assert written["totalCost"] == 3


def test_written_averages_are_time_weighted_over_the_merged_span() -> None:
    merged = data.merge("m", [_record({}, 1.0, start=0, end=3600), _record({}, 1.0, start=0, end=3600)])
    written = data.to_json(merged, 0, 86400)
    assert written["cpuCoreRequestAverage"] == 1
    assert written["cpuEfficiency"] == 0.5
    assert written["minutes"] == 60


@pytest.mark.parametrize(("value", "written"), [(0.123456789, 0.12346), (60.0, 60), (-0.0, 0), (math.inf, None)])
def test_numbers_are_written_with_five_decimals(value: float, written: float | None) -> None:
    assert data.num(value) == written


# --- idle ---


@pytest.mark.parametrize("by_node", [False, True])
def test_sharing_idle_preserves_the_total_and_fills_cost_idle(day: data.DayData, by_node: bool) -> None:
    shared = data.share_idle(day.records, day.idle, by_node=by_node)
    before = math.fsum(r.total for r in day.records) + math.fsum(i.total for i in day.idle)
    assert math.fsum(r.total for r in shared) == pytest.approx(before, rel=1e-12)
    assert all(s.values[data.CPU_IDLE] >= 0 for s in shared)
    assert day.records[0].values[data.CPU_IDLE] == 0  # the cached records are not modified


def test_idle_exists_only_for_nodes_that_ran_pods(day: data.DayData) -> None:
    nodes = {(r.properties.get("cluster"), r.properties.get("node")) for r in day.records}
    assert {(i.properties["cluster"], i.properties["node"]) for i in day.idle} <= nodes
    assert all(i.values[data.CPU_ADJ] == 0 and i.values[data.CPU_COST] > 0 for i in day.idle)


@pytest.mark.parametrize(
    ("naming", "names"),
    [
        ("single", ["__idle__"]),
        ("padded", ["__idle__/__idle__/__idle__"]),
        ("cluster", [f"{cluster}/__idle__" for cluster in data.CLUSTERS]),
    ],
)
def test_idle_naming(day: data.DayData, naming: str, names: list[str]) -> None:
    idle = data.aggregate_idle(day.idle, naming, by_node=False, depth=3)
    assert sorted(item.name for item in idle) == sorted(names)


def test_idle_by_node_wins_over_the_naming(day: data.DayData) -> None:
    idle = data.aggregate_idle(day.idle, "single", by_node=True, depth=3)
    assert len(idle) == len(day.idle) > 3
    assert all(item.name == f"{item.properties['cluster']}/{item.properties['node']}/__idle__" for item in idle)


# --- generated days ---


def test_generated_pods_are_distinct_at_pod_level(day: data.DayData) -> None:
    chain = ["cluster", "namespace", "controllerKind", "controller", "node", "pod"]
    assert len(day.records) == 400
    assert len(data.aggregate(day.records, chain)) == 400


def test_generated_day_has_every_controller_kind_and_bare_pods(day: data.DayData) -> None:
    kinds = {r.properties.get("controllerKind", "") for r in day.records}
    assert kinds >= {"deployment", "statefulset", "daemonset", "job", "replicaset", ""}


def test_generated_day_has_gpus_pvs_and_adjustments_of_both_signs(day: data.DayData) -> None:
    assert any(r.values[data.GPU_HOURS] > 0 for r in day.records)
    assert any(r.pvs for r in day.records)
    adjustments = [r.values[data.CPU_ADJ] for r in day.records]
    assert min(adjustments) < 0 < max(adjustments)
    assert all(r.total > 0 for r in day.records)


def test_generation_is_deterministic() -> None:
    topology = data.build_topology(5, 50)
    first = data.generate_day(5, 50, DAY, topology)
    second = data.generate_day(5, 50, DAY, data.build_topology(5, 50))
    assert [data.to_json(r, 0, 1) for r in first.records] == [data.to_json(r, 0, 1) for r in second.records]


def test_fifty_thousand_pods_generate_and_aggregate_to_one_item_each() -> None:
    # The largest day the benchmarks ask for; how fast it is made is the benchmarks' to print, not a test's to time.
    topology = data.build_topology(1, 50_000)
    generated = data.generate_day(1, 50_000, DAY, topology)
    pods = data.aggregate(generated.records, ["cluster", "namespace", "controllerKind", "controller", "node", "pod"])
    assert len(pods) == 50_000
