"""Injected faults and latency of the Kubecost emulator, seen by a plain HTTP client."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
import requests

from emulators.kubecost import KubecostFault
from tests.fixtures.kubecost import DAY, TODAY, allocation_set, query

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.kubecost import FaultKind, KubecostEmulator

    Factory = Callable[..., KubecostEmulator]

CLIENT_TIMEOUT = 0.3


def _assert_fault_seen(kind: FaultKind, emulator: KubecostEmulator) -> None:
    """One request, and the symptom the exporter's client must handle for that kind of fault."""
    if kind == "drop_connection":
        with pytest.raises(requests.ConnectionError):
            query(emulator)
        return
    if kind == "slow":
        with pytest.raises(requests.Timeout):
            query(emulator, timeout=CLIENT_TIMEOUT)
        return
    response = query(emulator)
    if kind == "http_500":
        assert response.status_code == 500
        assert response.json()["code"] == 500
    elif kind == "html_504":
        assert response.status_code == 504
        assert response.headers["Content-Type"].startswith("text/html")
        assert "504 Gateway Time-out" in response.text
    elif kind == "malformed_json":
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.text)
    else:
        assert response.status_code == 200
        body = response.json()
        assert body["code"] != 200
        assert body["data"] is None


KINDS: list[FaultKind] = ["http_500", "html_504", "malformed_json", "code_error", "drop_connection", "slow"]


@pytest.mark.parametrize("kind", KINDS)
def test_fault_fires_on_the_nth_allocation_request_only(kubecost_emulator: Factory, kind: FaultKind) -> None:
    # Given a fault on the second allocation request
    emulator = kubecost_emulator(today=TODAY)
    emulator.inject(KubecostFault(kind, on_request=2, delay_seconds=1.0))
    # When three requests are made
    first = allocation_set(query(emulator))
    _assert_fault_seen(kind, emulator)
    # Then the first and the third are normal and identical
    assert allocation_set(query(emulator)) == first


def test_fault_for_given_days_hits_only_windows_starting_on_them(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    emulator.inject(KubecostFault("http_500", days=frozenset({DAY}), times=None))
    assert query(emulator, DAY - timedelta(days=1)).status_code == 200
    assert query(emulator, DAY).status_code == 500
    assert query(emulator, DAY).status_code == 500
    assert query(emulator, DAY + timedelta(days=1)).status_code == 200


def test_fault_fires_the_given_number_of_times(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    emulator.inject(KubecostFault("http_500", times=2))
    assert [query(emulator).status_code for _ in range(3)] == [500, 500, 200]


def test_cleared_faults_no_longer_fire(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    emulator.inject(KubecostFault("html_504", times=None))
    emulator.clear_faults()
    assert query(emulator).status_code == 200


def test_faults_leave_get_configs_alone(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY)
    emulator.inject(KubecostFault("http_500", times=None))
    assert requests.get(f"{emulator.url}/model/getConfigs", timeout=5).status_code == 200


def test_latency_delays_every_answer(kubecost_emulator: Factory) -> None:
    emulator = kubecost_emulator(today=TODAY, latency_seconds=0.2)
    started = time.monotonic()
    assert query(emulator).status_code == 200
    assert requests.get(f"{emulator.url}/model/getConfigs", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.4
