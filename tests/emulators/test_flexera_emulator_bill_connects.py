"""The emulator's FinOps Onboarding bill-connect routes over real HTTP (FX-BC-1, FX-BC-2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.fixtures.flexera import EXPORTER_BILL_CONNECT_BODY, SAMPLE_CBI_BILL_CONNECT, SAMPLE_GOA_ERROR, shape

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fixtures.flexera import FlexeraApi


def test_create_with_the_exporters_body_answers_201_like_the_sample(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given no bill connect yet
    api = flexera_api(bill_connects=frozenset())

    # When the exporter's body is posted
    response = api.call("POST", f"{api.bill_connects}/cbi", EXPORTER_BILL_CONNECT_BODY)

    # Then a CBI bill connect named <integrationId>-<billIdentifier> is created, shaped like the sample
    assert response.status_code == 201
    body = response.json()
    assert shape(body) == shape(SAMPLE_CBI_BILL_CONNECT)
    assert (body["id"], body["kind"], body["cbi"]) == (
        "cbi-oi-kubecost-1",
        "finops:bill-connect-cbi",
        EXPORTER_BILL_CONNECT_BODY,
    )


def test_created_bill_connect_accepts_bill_uploads(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a bill connect created through the API
    api = flexera_api(bill_connects=frozenset())
    api.call("POST", f"{api.bill_connects}/cbi", EXPORTER_BILL_CONNECT_BODY)

    # When an upload is created for it
    response = api.create("cbi-oi-kubecost-1")

    # Then it is accepted
    assert response.status_code == 201


def test_create_of_an_existing_bill_connect_gets_409(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given the default configuration, where cbi-oi-kubecost-1 exists
    api = flexera_api()

    # When the exporter creates it again
    response = api.call("POST", f"{api.bill_connects}/cbi", EXPORTER_BILL_CONNECT_BODY)

    # Then it conflicts
    assert response.status_code == 409
    assert shape(response.json()) == shape(SAMPLE_GOA_ERROR)
    assert response.json()["name"] == "conflict"


def test_second_create_through_the_api_gets_409(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a bill connect created through the API
    api = flexera_api(bill_connects=frozenset())
    api.call("POST", f"{api.bill_connects}/cbi", EXPORTER_BILL_CONNECT_BODY)

    # When it is created again
    response = api.call("POST", f"{api.bill_connects}/cbi", EXPORTER_BILL_CONNECT_BODY)

    # Then it conflicts
    assert response.status_code == 409


@pytest.mark.parametrize(
    "change",
    [
        {"billIdentifier": "with space"},
        {"billIdentifier": "x" * 46},
        {"billIdentifier": ""},
        {"integrationId": "cbi-oi-kubecost-too-long"},
        {"integrationId": "cbi.oi"},
        {"billIdentifier": None},
        {"name": ""},
        {"name": None},
        {"params": None},
        {"params": {"displayName": 1, "vendorName": "Kubecost"}},
    ],
    ids=[
        "identifier-space",
        "identifier-46-chars",
        "identifier-empty",
        "integration-21-chars",
        "integration-dot",
        "identifier-missing",
        "name-empty",
        "name-missing",
        "params-missing",
        "params-not-strings",
    ],
)
def test_create_breaking_the_documented_rules_gets_400(
    flexera_api: Callable[..., FlexeraApi], change: dict[str, Any]
) -> None:
    # Given no bill connect yet
    api = flexera_api(bill_connects=frozenset())
    body = {key: value for key, value in {**EXPORTER_BILL_CONNECT_BODY, **change}.items() if value is not None}

    # When the body breaks a documented pattern or misses a required field
    response = api.call("POST", f"{api.bill_connects}/cbi", body)

    # Then it is a bad request and nothing is created
    assert response.status_code == 400
    assert response.json()["name"] == "bad_request"
    assert api.emulator.bill_connects == []


def test_longest_allowed_identifiers_are_accepted(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given identifiers at the documented maximum lengths (45 and 20 characters)
    api = flexera_api(bill_connects=frozenset())
    body = {**EXPORTER_BILL_CONNECT_BODY, "billIdentifier": "b" * 45, "integrationId": "i" * 20}

    # When they are posted
    response = api.call("POST", f"{api.bill_connects}/cbi", body)

    # Then the connect is created
    assert response.status_code == 201
    assert response.json()["id"] == f"{'i' * 20}-{'b' * 45}"


def test_list_holds_configured_and_created_connects(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a configured connect and one created through the API
    api = flexera_api(bill_connects=frozenset({"cbi-oi-optima-test"}))
    api.call("POST", f"{api.bill_connects}/cbi", EXPORTER_BILL_CONNECT_BODY)

    # When the bill connects are listed
    response = api.call("GET", api.bill_connects)

    # Then both are CBI connects in the generic bill list, shaped like the create sample
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "finops:generic-bill-list"
    assert [c["id"] for c in body["values"]] == ["cbi-oi-optima-test", "cbi-oi-kubecost-1"]
    assert all(shape(c) == shape(SAMPLE_CBI_BILL_CONNECT) for c in body["values"])
    assert (body["values"][0]["cbi"]["integrationId"], body["values"][0]["cbi"]["billIdentifier"]) == (
        "cbi-oi-optima",
        "test",
    )


def test_bill_connect_routes_need_a_token(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a running emulator
    api = flexera_api()

    # When the list is asked for with a token it never issued
    response = api.call("GET", api.bill_connects, token="forged")

    # Then it is refused
    assert response.status_code == 401
