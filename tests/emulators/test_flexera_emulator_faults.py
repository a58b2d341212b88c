"""Injected faults: 5xx and dropped connections per endpoint and call number, wrong md5, tokens expiring mid-run."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest
import requests

from emulators.flexera import DEFAULT_REFRESH_TOKEN, FlexeraFault
from tests.fixtures.flexera import EXPORTER_BILL_CONNECT_BODY, SAMPLE_GOA_ERROR, request_token, shape

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.flexera import Endpoint, FaultKind
    from tests.fixtures.flexera import FlexeraApi

CSV = b"ResourceID,Cost\nc/ns,1.5\n"

CALLS: dict[Endpoint, Callable[[FlexeraApi, str], requests.Response]] = {
    "token": lambda api, _: request_token(api.emulator, api.session, DEFAULT_REFRESH_TOKEN),
    "create": lambda api, _: api.create(period="2025-06"),
    "file": lambda api, upload_id: api.upload(upload_id, "a.csv", CSV),
    "operation": lambda api, upload_id: api.operate(upload_id, "abort"),
    "bill_connect": lambda api, _: api.call("POST", f"{api.bill_connects}/cbi", EXPORTER_BILL_CONNECT_BODY),
    "list": lambda api, _: api.call("GET", api.uploads),
    "show": lambda api, upload_id: api.call("GET", f"{api.uploads}/{upload_id}"),
    "delete": lambda api, upload_id: api.call("DELETE", f"{api.uploads}/{upload_id}"),
}


@pytest.mark.parametrize("endpoint", list(CALLS))
@pytest.mark.parametrize(
    ("kind", "status", "name"),
    [("http_500", 500, "internal_error"), ("http_502", 502, "bad_gateway"), ("http_503", 503, "service_unavailable")],
)
def test_5xx_fault_answers_a_temporary_goa_error_on_its_endpoint(
    flexera_api: Callable[..., FlexeraApi], endpoint: Endpoint, kind: FaultKind, status: int, name: str
) -> None:
    # Given an upload in progress and a 5xx fault on the next call of one endpoint
    api = flexera_api()
    upload_id = api.created_id()
    api.emulator.inject(FlexeraFault(endpoint=endpoint, kind=kind))

    # When that endpoint is called
    response = CALLS[endpoint](api, upload_id)

    # Then the answer is the injected server error in goa's shape
    assert response.status_code == status
    body = response.json()
    assert shape(body) == shape(SAMPLE_GOA_ERROR)
    assert (body["name"], body["fault"], body["temporary"]) == (name, True, True)


def test_faulted_call_changes_no_state(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a 500 on the next create
    api = flexera_api()
    api.emulator.inject(FlexeraFault(endpoint="create", kind="http_500"))

    # When an upload is created, then created again
    failed = api.create()
    retried = api.create()

    # Then the failed call created nothing (no 409 and no cool-off on the retry)
    assert failed.status_code == 500
    assert retried.status_code == 201
    assert len(api.emulator.bill_uploads) == 1


def test_fault_fires_on_the_nth_call_only(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a 503 on the second list call after injection
    api = flexera_api()
    api.emulator.inject(FlexeraFault(endpoint="list", kind="http_503", on_call=2))

    # When the list is called three times
    statuses = [api.call("GET", api.uploads).status_code for _ in range(3)]

    # Then only the second call fails
    assert statuses == [200, 503, 200]


def test_fault_repeats_the_given_number_of_times(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a 502 on two calls from the first
    api = flexera_api()
    api.emulator.inject(FlexeraFault(endpoint="list", kind="http_502", times=2))

    # When the list is called three times
    statuses = [api.call("GET", api.uploads).status_code for _ in range(3)]

    # Then the first two fail
    assert statuses == [502, 502, 200]


def test_fault_without_a_count_fires_until_cleared(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a 500 on every list call
    api = flexera_api()
    api.emulator.inject(FlexeraFault(endpoint="list", kind="http_500", times=None))

    # When the list is called, the faults cleared, and the list called again
    during = [api.call("GET", api.uploads).status_code for _ in range(3)]
    api.emulator.clear_faults()
    after = api.call("GET", api.uploads).status_code

    # Then every call failed until the faults were cleared
    assert (during, after) == ([500, 500, 500], 200)


def test_fault_counts_only_its_own_endpoint(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a 500 on the first show call
    api = flexera_api()
    upload_id = api.created_id()
    api.emulator.inject(FlexeraFault(endpoint="show", kind="http_500"))

    # When other endpoints are called first, then show
    other = api.call("GET", api.uploads).status_code
    show = api.call("GET", f"{api.uploads}/{upload_id}").status_code

    # Then the other call was not counted
    assert (other, show) == (200, 500)


def test_drop_connection_fault_closes_without_an_answer_and_changes_nothing(
    flexera_api: Callable[..., FlexeraApi],
) -> None:
    # Given an upload in progress and a dropped connection on the next file call
    api = flexera_api()
    upload_id = api.created_id()
    api.emulator.inject(FlexeraFault(endpoint="file", kind="drop_connection"))

    # When a file is posted
    with pytest.raises(requests.ConnectionError):
        api.upload(upload_id, "a.csv", CSV)

    # Then no file was stored, and the next attempt succeeds
    assert api.emulator.bill_uploads[0].files == ()
    assert api.upload(upload_id, "a.csv", CSV).status_code == 201


def test_wrong_md5_fault_answers_an_md5_that_differs_from_the_bytes(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload in progress and a wrong md5 on the next file answer
    api = flexera_api()
    upload_id = api.created_id()
    api.emulator.inject(FlexeraFault(endpoint="file", kind="wrong_md5"))
    right = hashlib.md5(CSV, usedforsecurity=False).hexdigest()

    # When a file is posted
    response = api.upload(upload_id, "a.csv", CSV)

    # Then the answer's md5 is a well-formed lower-case hex md5 of something else; the stored file keeps the right one
    assert response.status_code == 201
    wrong = response.json()["md5"]
    assert wrong != right
    assert len(wrong) == 32
    assert wrong == wrong.lower()
    assert api.call("GET", f"{api.uploads}/{upload_id}").json()["files"][0]["md5"] == right


def test_expire_tokens_fault_makes_that_call_and_later_ones_401(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload in progress and token expiry on the second file call
    api = flexera_api()
    upload_id = api.created_id()
    api.emulator.inject(FlexeraFault(endpoint="file", kind="expire_tokens", on_call=2))

    # When two files are posted, then the upload is shown
    first = api.upload(upload_id, "a.csv", CSV)
    second = api.upload(upload_id, "b.csv", CSV)
    show = api.call("GET", f"{api.uploads}/{upload_id}")

    # Then the token stopped working mid-run
    assert (first.status_code, second.status_code, show.status_code) == (201, 401, 401)


def test_new_token_works_after_the_expire_tokens_fault(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given tokens expired by a fault on the list endpoint
    api = flexera_api()
    api.emulator.inject(FlexeraFault(endpoint="list", kind="expire_tokens"))
    assert api.call("GET", api.uploads).status_code == 401

    # When a new token is obtained
    token = request_token(api.emulator, api.session, DEFAULT_REFRESH_TOKEN).json()["access_token"]

    # Then it works
    assert api.call("GET", api.uploads, token=token).status_code == 200


def test_faults_fire_before_authentication(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a 502 on the next list call
    api = flexera_api()
    api.emulator.inject(FlexeraFault(endpoint="list", kind="http_502"))

    # When the call carries no valid token
    response = api.call("GET", api.uploads, token="forged")

    # Then the gateway error comes first, as from a proxy in front of the API
    assert response.status_code == 502
