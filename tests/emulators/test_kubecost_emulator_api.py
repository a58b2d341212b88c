"""The Kubecost/OpenCost emulator over HTTP: shapes as the verbatim samples, errors, getConfigs, auth, data days."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
import requests

from emulators.kubecost import KubecostAuth, day_window
from tests.fixtures.kubecost import (
    CHAINS,
    DAY,
    KUBECOST_DOCS_ENVELOPE,
    KUBECOST_DOCS_FIELDS,
    KUBECOST_DOCS_PROPERTIES,
    OPENCOST_121_FIELDS,
    OPENCOST_121_IDLE_FIELDS,
    OPENCOST_121_RAW_FIELDS,
    OPENCOST_BAD_WINDOW_BODY,
    OPENCOST_NO_WINDOW_BODY,
    PROPERTY_KEYS,
    STATIC_GET_CONFIGS_FIELDS,
    TIMEOUT,
    TODAY,
    allocation_set,
    is_idle,
    query,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.kubecost import KubecostEmulator

    Factory = Callable[..., KubecostEmulator]


def _numbers(item: dict[str, object]) -> dict[str, float | None]:
    return {k: v for k, v in item.items() if v is None or (isinstance(v, int | float) and not isinstance(v, bool))}


# --- shapes against the samples ---


def test_kubecost_envelope_has_the_keys_of_the_kubecost_docs_sample(kubecost_emulator: Factory) -> None:
    # Given a Kubecost emulator
    emulator = kubecost_emulator(today=TODAY)
    # When a day is queried
    body = query(emulator, aggregate=CHAINS["pod"]).json()
    # Then the envelope is the docs sample's: code and one set per step, no status
    assert tuple(body) == KUBECOST_DOCS_ENVELOPE
    assert body["code"] == 200
    assert isinstance(body["data"], list)
    assert len(body["data"]) == 1


def test_envelope_carries_status_when_configured(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, include_status=True)
    body = query(emulator).json()
    assert body["status"] == "success"


def test_items_have_the_opencost_1_121_fields_in_order(kubecost_emulator: Factory) -> None:
    # Given an emulator with idle on
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=40)
    # When the pod level and the namespace level are queried
    pods = allocation_set(query(emulator, aggregate=CHAINS["pod"], idle="true"))
    namespaces = allocation_set(query(emulator, aggregate=CHAINS["namespace"], idle="true"))
    # Then every item has the field order of the 1.121.3 capture: idle items with the breakdowns, single-pod items
    # with rawAllocationOnly, merged ones without
    for item in [*pods.values(), *namespaces.values()]:
        if is_idle(item["name"]):
            assert tuple(item) == OPENCOST_121_IDLE_FIELDS
        elif "rawAllocationOnly" in item:
            assert tuple(item) == OPENCOST_121_RAW_FIELDS
        else:
            assert tuple(item) == OPENCOST_121_FIELDS
    assert any("rawAllocationOnly" in item for item in pods.values())
    assert any("rawAllocationOnly" not in item and not is_idle(name) for name, item in namespaces.items())


def test_items_carry_every_field_of_the_kubecost_docs_sample(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    for item in allocation_set(query(emulator, aggregate=CHAINS["pod"])).values():
        assert set(item) >= KUBECOST_DOCS_FIELDS


def test_pod_level_properties_use_the_documented_keys_and_cover_the_docs_sample(kubecost_emulator: Factory) -> None:
    # Given the pod level of a day
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=200)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"], idle="false"))
    # Then no property key is unknown, and the docs sample's keys all occur
    keys = {key for item in found.values() for key in item["properties"]}
    assert keys <= PROPERTY_KEYS
    assert keys >= KUBECOST_DOCS_PROPERTIES | {"namespaceLabels"}


def test_numbers_are_rounded_to_five_decimals_and_nan_is_null(kubecost_emulator: Factory) -> None:
    # Given a day as raw text
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=120)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"]))
    numbers = [value for item in found.values() for value in _numbers(item).values()]
    # Then each top-level number has at most 5 decimals, and some are null (Kubecost's NaN)
    assert all(round(value, 5) == value for value in numbers if value is not None)
    assert None in numbers


def test_html_characters_are_escaped_as_go_does_and_decode_to_the_original(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    response = query(emulator, aggregate=CHAINS["pod"])
    assert "\\u003c" in response.text
    assert "<" not in response.text
    assert "&" not in response.text
    values = {v for item in response.json()["data"][0].values() for v in item["properties"].get("labels", {}).values()}
    assert 'R&D, "EMEA" <north>' in values
    assert "Zoë Ångström-Øster, São Paulo" in values


# --- errors ---


@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
@pytest.mark.parametrize(
    ("window", "expected"), [("notawindow", OPENCOST_BAD_WINDOW_BODY), ("", OPENCOST_NO_WINDOW_BODY)]
)
def test_malformed_window_gets_the_opencost_plain_text_400(
    kubecost_emulator: Factory, flavour: str, window: str, expected: str
) -> None:
    # Given an emulator of either flavour
    emulator = kubecost_emulator(flavour=flavour, today=TODAY)
    # When the window is malformed or empty
    response = requests.get(emulator.allocation_url, params={"window": window}, timeout=TIMEOUT)
    # Then the answer is byte for byte the 1.121.3 capture
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == expected


def test_missing_window_is_answered_like_an_empty_one(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    response = requests.get(emulator.allocation_url, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.text == OPENCOST_NO_WINDOW_BODY


@pytest.mark.parametrize(
    "window", ["7d", "yesterday", "1752537600,1752624000", "2025-07-15T06:00:00Z,2025-07-16T06:00:00Z"]
)
def test_window_legal_for_opencost_but_not_served_gets_a_json_bad_request(
    kubecost_emulator: Factory, window: str
) -> None:
    emulator = kubecost_emulator(today=TODAY)
    response = requests.get(emulator.allocation_url, params={"window": window}, timeout=TIMEOUT)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert body["data"] is None
    assert body["message"].startswith("Error: bad request")


# --- getConfigs ---


def test_get_configs_static_mode_answers_the_eight_helm_fields_with_the_currency(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(config_mode="static", currency="EUR")
    body = requests.get(f"{emulator.url}/model/getConfigs", timeout=TIMEOUT).json()
    assert body["code"] == 200
    assert tuple(body["data"]) == STATIC_GET_CONFIGS_FIELDS
    assert body["data"]["currencyCode"] == "EUR"


def test_get_configs_static_mode_with_unset_currency_is_an_empty_string(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(config_mode="static", currency="")
    body = requests.get(f"{emulator.url}/model/getConfigs", timeout=TIMEOUT).json()
    assert body["data"]["currencyCode"] == ""


def test_get_configs_full_mode_answers_a_custom_pricing_object_of_strings(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(config_mode="full", currency="JPY")
    data = requests.get(f"{emulator.url}/model/getConfigs", timeout=TIMEOUT).json()["data"]
    assert data["currencyCode"] == "JPY"
    assert len(data) > 40
    assert all(isinstance(value, str) for value in data.values())
    assert {"CPU", "RAM", "clusterName", "sharedNamespaces"} <= set(data)


def test_get_configs_not_found_mode_answers_404(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(config_mode="not_found")
    assert requests.get(f"{emulator.url}/model/getConfigs", timeout=TIMEOUT).status_code == 404


def test_get_configs_error_mode_answers_500(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(config_mode="error")
    response = requests.get(f"{emulator.url}/model/getConfigs", timeout=TIMEOUT)
    assert response.status_code == 500
    assert response.json()["code"] == 500


def test_get_configs_undecodable_mode_answers_200_that_is_not_json(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(config_mode="undecodable")
    response = requests.get(f"{emulator.url}/model/getConfigs", timeout=TIMEOUT)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_opencost_has_no_get_configs_route(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(flavour="opencost")
    for path in ("/getConfigs", "/model/getConfigs"):
        assert requests.get(f"{emulator.url}{path}", timeout=TIMEOUT).status_code == 404


# --- paths ---


def test_opencost_serves_allocation_and_allocation_compute_at_the_root(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(flavour="opencost", today=TODAY)
    params = {"window": day_window(DAY), "aggregate": CHAINS["namespace"]}
    plain = requests.get(f"{emulator.url}/allocation", params=params, timeout=TIMEOUT)
    compute = requests.get(f"{emulator.url}/allocation/compute", params=params, timeout=TIMEOUT)
    assert plain.status_code == 200
    assert plain.content == compute.content


def test_api_path_prefix_is_configurable(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(api_path="/kubecost/api", today=TODAY)
    params = {"window": day_window(DAY)}
    assert emulator.allocation_url == f"{emulator.url}/kubecost/api/allocation"
    assert requests.get(emulator.allocation_url, params=params, timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{emulator.url}/model/allocation", params=params, timeout=TIMEOUT).status_code == 404


# --- authentication ---

AUTHS = {
    "bearer": (KubecostAuth("bearer", "tok-123"), {"Authorization": "Bearer tok-123"}),
    "basic": (
        KubecostAuth("basic", "pa:ss", username="finops"),
        {"Authorization": "Basic " + base64.b64encode(b"finops:pa:ss").decode()},
    ),
    "cookie": (KubecostAuth("cookie", "jwt.abc.def"), {"Cookie": "other=1; token=jwt.abc.def"}),
}


@pytest.mark.parametrize("scheme", sorted(AUTHS))
def test_required_credentials_are_accepted(kubecost_emulator: Factory, scheme: str) -> None:
    auth, headers = AUTHS[scheme]
    emulator = kubecost_emulator(auth=auth, today=TODAY)
    response = requests.get(emulator.allocation_url, params={"window": day_window(DAY)}, headers=headers, timeout=5)
    assert response.status_code == 200
    assert requests.get(f"{emulator.url}/model/getConfigs", headers=headers, timeout=5).status_code == 200


@pytest.mark.parametrize("scheme", sorted(AUTHS))
@pytest.mark.parametrize("sent", ["none", "wrong", "other scheme"])
def test_missing_or_wrong_credentials_get_401(kubecost_emulator: Factory, scheme: str, sent: str) -> None:
    # Given an emulator that requires credentials
    auth, good = AUTHS[scheme]
    emulator = kubecost_emulator(auth=auth, today=TODAY)
    other = AUTHS["basic" if scheme != "basic" else "bearer"][1]
    headers = {"none": {}, "wrong": {k: v[:-1] + "X" for k, v in good.items()}, "other scheme": other}[sent]
    # When a request comes without them, with a wrong value, or with another scheme's
    allocation = requests.get(emulator.allocation_url, params={"window": day_window(DAY)}, headers=headers, timeout=5)
    configs = requests.get(f"{emulator.url}/model/getConfigs", headers=headers, timeout=5)
    # Then both routes answer 401
    assert allocation.status_code == 401
    assert configs.status_code == 401


# --- days with and without data, determinism ---


@pytest.mark.parametrize(
    ("day_offset", "retention_days", "listed_empty"),
    [(-400, 400, False), (-3, 3, False), (1, 400, False), (-2, 400, True)],
    ids=["beyond-default-retention", "beyond-short-retention", "future", "listed-empty"],
)
def test_days_without_data_answer_an_empty_set(
    kubecost_emulator: Factory, day_offset: int, retention_days: int, listed_empty: bool
) -> None:
    # Given a day outside the retention, in the future, or listed as empty
    day = TODAY + timedelta(days=day_offset)
    emulator = kubecost_emulator(
        today=TODAY, retention_days=retention_days, empty_days=frozenset({day}) if listed_empty else frozenset()
    )
    # When it is queried
    response = query(emulator, day, aggregate=CHAINS["pod"], idle="true")
    # Then the answer is one empty set, and the expected figures say so too
    assert allocation_set(response) == {}
    assert emulator.expected(day, aggregate=CHAINS["pod"]).allocations == 0


def test_oldest_retained_day_and_today_have_data(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, retention_days=3)
    assert allocation_set(query(emulator, TODAY - timedelta(days=2)))
    assert allocation_set(query(emulator, TODAY))


@pytest.mark.parametrize(("mode", "data"), [("null_set", [None]), ("no_sets", [])])
def test_empty_day_shape_is_configurable(kubecost_emulator: Factory, mode: str, data: list[object]) -> None:
    emulator = kubecost_emulator(today=TODAY, empty_days=frozenset({DAY}), empty_day_data=mode)
    assert query(emulator).json() == {"code": 200, "data": data}


def test_same_seed_gives_the_same_bytes(kubecost_emulator: Factory) -> None:
    first = kubecost_emulator(seed=7, today=TODAY, allocations_per_day=300)
    second = kubecost_emulator(seed=7, today=TODAY, allocations_per_day=300)
    first_body = query(first, aggregate=CHAINS["pod"], idle="true", offset=0, limit=100).content
    second_body = query(second, aggregate=CHAINS["pod"], idle="true", offset=0, limit=100).content
    assert first_body == second_body


@pytest.mark.parametrize("change", ["seed", "day"])
def test_another_seed_or_day_gives_other_data(kubecost_emulator: Factory, change: str) -> None:
    base = kubecost_emulator(seed=7, today=TODAY)
    other = kubecost_emulator(seed=8 if change == "seed" else 7, today=TODAY)
    other_day = DAY - timedelta(days=1) if change == "day" else DAY
    first = allocation_set(query(base, DAY, aggregate=CHAINS["pod"]))
    second = allocation_set(query(other, other_day, aggregate=CHAINS["pod"]))
    assert first != second


@pytest.mark.parametrize("size", [10, 137])
def test_allocations_per_day_is_the_number_of_pod_level_items(kubecost_emulator: Factory, size: int) -> None:
    emulator = kubecost_emulator(today=TODAY, allocations_per_day=size)
    found = allocation_set(query(emulator, aggregate=CHAINS["pod"], idle="false"))
    assert len(found) == size
