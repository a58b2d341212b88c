"""The emulator's query semantics over HTTP: aggregation names and properties, derived fields, idle, sharing, steps."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests

from emulators.kubecost import day_window
from tests.fixtures.kubecost import CHAINS, DAY, TIMEOUT, TODAY, allocation_set, is_idle, query

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.kubecost import KubecostEmulator

    Factory = Callable[..., KubecostEmulator]

KINDS = {"deployment", "statefulset", "daemonset", "job", "replicaset"}


def _non_idle(found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: item for name, item in found.items() if not is_idle(name)}


def _close(a: float, b: float, tolerance: float = 2e-5) -> bool:
    return abs(a - b) <= tolerance + 1e-3 * abs(b)


# --- names and properties ---


@pytest.mark.parametrize("level", sorted(CHAINS))
def test_names_are_the_aggregate_values_joined_by_slash(kubecost_emulator: Factory, level: str) -> None:
    # Given a day at one aggregation level
    chain = CHAINS[level].split(",")
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=150)
    found = _non_idle(allocation_set(query(emulator, aggregate=CHAINS[level])))
    for name, item in found.items():
        parts = dict(zip(chain, name.split("/"), strict=True))
        properties = item["properties"]
        # Then each name part agrees with the (intersected) properties, as OpenCost's GenerateKey writes it
        assert item["name"] == name
        assert parts["namespace"] == properties["namespace"]
        assert parts["cluster"] == properties.get("cluster", "")
        if "controller" in parts:
            kind = parts["controllerKind"]
            assert kind in KINDS or kind == "__unallocated__"
            expected = f"{kind}:{properties['controller']}" if kind != "__unallocated__" else "__unallocated__"
            assert parts["controller"] == expected
        if "node" in parts:
            assert parts["node"] == properties.get("node", "")
        if "pod" in parts:
            assert parts["pod"] == properties["pod"]


@pytest.mark.parametrize(
    ("level", "name"),
    [
        ("pod", "prod-us-east-1/monitoring/__unallocated__/__unallocated__//monitoring-unmounted-pvcs"),
        ("pod", "/default/__unallocated__/__unallocated__//debug-shell"),
        (
            "pod",
            r"prod-us-east-1/payments/__unallocated__/__unallocated__/ip-[-0-9]+\.ec2\.internal/ledger-migration-2024",
        ),
        ("controller", "staging-ap-southeast-2/checkout/statefulset/statefulset:orders-db"),
        ("controller", "prod-eu-west-1/ml-training/job/job:resnet-train-nightly"),
        ("namespace", "/default"),
    ],
)
def test_awkward_records_are_named_as_opencost_names_them(kubecost_emulator: Factory, level: str, name: str) -> None:
    # Given a day with the awkward records (unmounted PVs, no cluster name, bare pods, no node)
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=10)
    found = allocation_set(query(emulator, aggregate=CHAINS[level]))
    # Then they appear under the names of KC-NAME-1 (empty values stay empty, e.g. "//")
    assert any(re.fullmatch(name, found_name) for found_name in found)


def test_coarser_levels_keep_only_the_properties_common_to_their_pods(kubecost_emulator: Factory) -> None:
    # Given the pod level and the namespace level of the same day
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=300)
    pods = _non_idle(allocation_set(query(emulator, aggregate=CHAINS["pod"])))
    namespaces = _non_idle(allocation_set(query(emulator, aggregate=CHAINS["namespace"])))
    merged = 0
    for name, item in namespaces.items():
        members = [pod for pod_name, pod in pods.items() if pod_name.startswith(name + "/")]
        if len(members) < 2:
            continue
        merged += 1
        properties = item["properties"]
        # Then a property survives only with a value shared by every member, label maps key by key
        for key, value in properties.items():
            if isinstance(value, dict):
                assert all(member["properties"][key].items() >= value.items() for member in members)
            else:
                assert all(member["properties"].get(key) == value for member in members)
        for key in ("pod", "node", "controller", "container"):
            if key not in properties:
                assert len({member["properties"].get(key) for member in members}) > 1
    assert merged > 10


def test_pod_labels_keep_their_values_when_they_clash_with_namespace_labels(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=100)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"]))
    clashes = [
        item
        for item in found.values()
        if "team" in item["properties"].get("labels", {})
        and item["properties"]["labels"]["team"] != item["properties"].get("namespaceLabels", {}).get("team")
    ]
    assert clashes


def test_coarser_levels_sum_the_numbers_of_their_pods(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=300)
    pods = _non_idle(allocation_set(query(emulator, aggregate=CHAINS["pod"])))
    controllers = _non_idle(allocation_set(query(emulator, aggregate=CHAINS["controller"])))
    for name, item in controllers.items():
        members = [pod for pod_name, pod in pods.items() if pod_name.startswith(name + "/")]
        for field in ("cpuCost", "ramCostAdjustment", "pvCost", "gpuHours", "totalCost"):
            assert _close(item[field], sum(member[field] for member in members), 1e-5 * (len(members) + 1))
        assert item["start"] == min(member["start"] for member in members)


# --- derived fields (KC-BODY-3) ---


@pytest.mark.parametrize("level", ["pod", "controller"])
def test_derived_fields_are_consistent(kubecost_emulator: Factory, level: str) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=200)
    for item in allocation_set(query(emulator, aggregate=CHAINS[level], idle="true")).values():
        hours = item["minutes"] / 60
        assert hours > 0
        assert _close(item["cpuCores"], item["cpuCoreHours"] / hours)
        assert _close(item["ramBytes"], item["ramByteHours"] / hours, 1)
        assert _close(item["gpuCount"], item["gpuHours"] / hours)
        assert _close(item["pvBytes"], item["pvByteHours"] / hours, 1)
        assert _close(item["pvCost"], sum(pv["cost"] for pv in (item["pvs"] or {}).values()))
        parts = [
            item[f"{resource}{suffix}"] or 0
            for resource in ("cpu", "gpu", "ram", "pv", "network", "loadBalancer")
            for suffix in ("Cost", "CostAdjustment")
        ]
        assert _close(item["totalCost"], sum(parts) + item["sharedCost"] + (item["externalCost"] or 0), 1e-4)


def test_window_is_the_query_and_start_end_may_be_narrower(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=100)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"]))
    start, end = day_window(DAY).split(",")
    assert all(item["window"] == {"start": start, "end": end} for item in found.values())
    assert all(start <= item["start"] <= item["end"] <= end for item in found.values())
    assert any(item["start"] > start for item in found.values())


def test_the_day_carries_every_kind_of_cost(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=10)
    found = _non_idle(allocation_set(query(emulator, aggregate=CHAINS["pod"])))
    for field in ("gpuCost", "pvCost", "networkCost", "loadBalancerCost", "sharedCost", "externalCost"):
        assert any((item[field] or 0) > 0 for item in found.values()), field
    adjustments = [item["cpuCostAdjustment"] for item in found.values()]
    assert min(adjustments) < 0 < max(adjustments)


# --- idle ---


def test_kubecost_idle_false_returns_no_idle_item(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    assert not any(is_idle(name) for name in allocation_set(query(emulator, idle="false")))


def test_kubecost_idle_defaults_to_one_idle_item_per_cluster(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"]))
    idle = sorted(name for name in found if is_idle(name))
    clusters = sorted({item["properties"]["cluster"] for item in found.values() if "cluster" in item["properties"]})
    assert idle == [f"{cluster}/__idle__" for cluster in clusters]


@pytest.mark.parametrize(
    ("naming", "level", "name"),
    [
        ("single", "pod", "__idle__"),
        ("padded", "namespace", "__idle__/__idle__"),
        ("padded", "controller", "/".join(["__idle__"] * 4)),
    ],
)
def test_single_idle_namings_return_one_idle_item(
    kubecost_emulator: Factory, naming: str, level: str, name: str
) -> None:
    emulator = kubecost_emulator(today=TODAY, idle_naming=naming)
    found = allocation_set(query(emulator, aggregate=CHAINS[level], idle="true"))
    assert [found_name for found_name in found if is_idle(found_name)] == [name]


def test_idle_by_node_returns_one_idle_item_per_node_that_ran_pods(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=200)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"], idle="true", idleByNode="true"))
    nodes = {
        f"{p['cluster']}/{p['node']}/__idle__"
        for name, item in found.items()
        if not is_idle(name) and "node" in (p := item["properties"]) and "cluster" in p
    }
    assert {name for name in found if is_idle(name)} == nodes


@pytest.mark.parametrize("by_node", ["false", "true"])
def test_share_idle_removes_idle_items_and_preserves_the_total(kubecost_emulator: Factory, by_node: str) -> None:
    # Given a day with idle
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=200)
    separate = allocation_set(query(emulator, aggregate=CHAINS["controller"], idle="true", idleByNode=by_node))
    # When idle is shared
    shared = allocation_set(
        query(emulator, aggregate=CHAINS["controller"], idle="true", idleByNode=by_node, shareIdle="true")
    )
    # Then no idle item is left, the other items grew, and the day's total is unchanged
    assert not any(is_idle(name) for name in shared)
    assert set(shared) == set(_non_idle(separate))
    assert all(shared[name]["totalCost"] >= separate[name]["totalCost"] for name in shared)
    assert any(shared[name]["cpuCostIdle"] > 0 for name in shared)
    total = sum(item["totalCost"] for item in separate.values())
    assert abs(sum(item["totalCost"] for item in shared.values()) - total) < 1e-5 * len(separate) + 1e-6


def test_opencost_include_idle_defaults_to_false_and_ignores_idle(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(flavour="opencost", today=TODAY)
    assert not any(is_idle(name) for name in allocation_set(query(emulator, idle="true")))
    assert any(is_idle(name) for name in allocation_set(query(emulator, includeIdle="true")))


def test_kubecost_ignores_include_idle(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    assert not any(is_idle(name) for name in allocation_set(query(emulator, idle="false", includeIdle="true")))


@pytest.mark.parametrize(("reads", "idle_items"), [(True, False), (False, True)])
def test_opencost_share_idle_support_is_configurable(kubecost_emulator: Factory, reads: bool, idle_items: bool) -> None:
    emulator = kubecost_emulator(flavour="opencost", today=TODAY, opencost_share_idle=reads)
    found = allocation_set(query(emulator, includeIdle="true", shareIdle="true"))
    assert any(is_idle(name) for name in found) is idle_items


def test_default_aggregation_differs_by_flavour(kubecost_emulator: Factory) -> None:
    kubecost = kubecost_emulator(today=TODAY, allocations_per_day=10)
    opencost = kubecost_emulator(flavour="opencost", today=TODAY, allocations_per_day=10)
    assert "payments" in allocation_set(query(kubecost, idle="false"))
    names = allocation_set(query(opencost))
    assert all(len(name.split("/")) == 5 for name in names)


def test_aggregate_is_case_insensitive_and_drops_unknown_names(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(flavour="opencost", today=TODAY)
    exact = allocation_set(query(emulator, aggregate="cluster,namespace,controllerKind"))
    loose = allocation_set(query(emulator, aggregate="Cluster,NAMESPACE,bogus,controllerkind"))
    assert exact == loose


def test_label_aggregation_uses_unallocated_for_pods_without_the_label(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=60)
    found = allocation_set(query(emulator, aggregate="label:team", idle="false"))
    assert "__unallocated__" in found
    assert "payments" in found


# --- steps and accumulation ---


def test_multi_day_window_gives_one_set_per_day_or_one_accumulated_set(kubecost_emulator: Factory) -> None:
    # Given a three-day window
    emulator = kubecost_emulator(today=TODAY)
    window = f"{day_window(DAY).split(',')[0]},{day_window(DAY + timedelta(days=2)).split(',')[1]}"
    params = {"window": window, "aggregate": CHAINS["namespace"], "step": "1d"}
    # When it is asked per step and accumulated
    steps = requests.get(emulator.allocation_url, params=params, timeout=TIMEOUT).json()["data"]
    accumulated = requests.get(emulator.allocation_url, params={**params, "accumulate": "true"}, timeout=TIMEOUT)
    [whole] = accumulated.json()["data"]
    # Then there are three day sets whose totals add up to the accumulated one
    assert len(steps) == 3
    assert [next(iter(s.values()))["window"]["start"][:10] for s in steps] == [
        str(DAY + timedelta(days=i)) for i in range(3)
    ]
    step_total = sum(item["totalCost"] for s in steps for item in s.values())
    assert abs(sum(item["totalCost"] for item in whole.values()) - step_total) < 1e-3
    assert next(iter(whole.values()))["window"]["end"] == window.split(",")[1]


def test_unsupported_step_is_a_bad_request(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    response = query(emulator, step="1h")
    assert response.status_code == 400
    assert "bad request" in response.json()["message"]


# --- expected figures ---


@pytest.mark.parametrize("idle", ["true", "false"])
@pytest.mark.parametrize("level", sorted(CHAINS))
def test_expected_matches_an_unpaged_answer(kubecost_emulator: Factory, level: str, idle: str) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=120)
    found = allocation_set(query(emulator, aggregate=CHAINS[level], idle=idle))
    expected = emulator.expected(DAY, aggregate=CHAINS[level], idle=idle == "true")
    assert expected.allocations == len(found)
    assert expected.names == frozenset(found)
    assert abs(expected.total_cost - sum(item["totalCost"] for item in found.values())) < 1e-6


def test_expected_is_served_over_http(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=80)
    params = {"window": day_window(DAY), "aggregate": CHAINS["node"], "idleByNode": "true"}
    body = requests.get(f"{emulator.url}/__emulator__/expected", params=params, timeout=TIMEOUT).json()
    expected = emulator.expected(DAY, aggregate=CHAINS["node"], idleByNode=True)
    assert body == {
        "allocations": expected.allocations,
        "names": sorted(expected.names),
        "totalCost": expected.total_cost,
    }


@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
def test_expected_without_parameters_is_the_exporters_default_query(kubecost_emulator: Factory, flavour: str) -> None:
    # Given the query the Go exporter sends with default settings (KC-QUERY-1), unpaged
    emulator = kubecost_emulator(flavour=flavour, today=TODAY, allocations_per_day=50)
    found = allocation_set(
        query(
            emulator,
            accumulate="true",
            aggregate=CHAINS["pod"],
            idle="true",
            idleByNode="false",
            includeIdle="true",
            shareIdle="false",
            shareNamespaces="kube-system,cadvisor",
            shareSplit="weighted",
            shareTenancyCosts="true",
            step="1d",
        )
    )
    # When the expected figures are asked with no parameter
    expected = emulator.expected(DAY)
    # Then they describe that answer, idle items included
    assert expected.names == frozenset(found)
    assert any(is_idle(name) for name in expected.names)
    assert expected.allocations == 50 + sum(is_idle(name) for name in found)
