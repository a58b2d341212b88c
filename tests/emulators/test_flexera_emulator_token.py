"""The emulator's OIDC token service and bearer-token checks, over real HTTP (FX-TOKEN-1 to FX-TOKEN-3, FX-BU-2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import requests

from emulators.flexera import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN
from tests.fixtures.flexera import SAMPLE_GOA_ERROR, SAMPLE_TOKEN_REFRESH, TIMEOUT, request_token, shape

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulators.flexera import FlexeraEmulator
    from tests.fixtures.flexera import FlexeraApi, FlexeraEmulatorFactory


def _post_token(emulator: FlexeraEmulator, **kwargs: object) -> requests.Response:
    return requests.post(f"{emulator.url}/oidc/token", timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


def test_refresh_grant_answers_like_the_docs_example(flexera_emulator: FlexeraEmulatorFactory) -> None:
    # Given the emulator's default refresh token
    emulator = flexera_emulator()

    # When the exporter's form is posted
    response = _post_token(emulator, data={"grant_type": "refresh_token", "refresh_token": DEFAULT_REFRESH_TOKEN})

    # Then the answer has the docs example's keys and types, echoes the refresh token and lasts an hour
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert shape(body) == shape(SAMPLE_TOKEN_REFRESH)
    assert body["refresh_token"] == DEFAULT_REFRESH_TOKEN
    assert (body["expires_in"], body["token_type"]) == (3600, "Bearer")


def test_client_credentials_grant_answers_without_refresh_token(flexera_emulator: FlexeraEmulatorFactory) -> None:
    # Given a configured service-account client
    emulator = flexera_emulator(clients={"my-client": "my-secret"})

    # When the exporter's client-credentials form is posted
    response = _post_token(
        emulator, data={"client_id": "my-client", "client_secret": "my-secret", "grant_type": "client_credentials"}
    )

    # Then only the schema's required keys come back
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "expires_in", "token_type"}


def test_token_request_as_json_is_accepted(flexera_emulator: FlexeraEmulatorFactory) -> None:
    # Given the default client
    emulator = flexera_emulator()

    # When the body is JSON, as the Okta token service spec describes it
    response = _post_token(
        emulator,
        json={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )

    # Then a token is issued
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_token_form_without_content_type_is_accepted(flexera_emulator: FlexeraEmulatorFactory) -> None:
    # Given a raw form body sent with no Content-Type header
    emulator = flexera_emulator()
    body = f"grant_type=refresh_token&refresh_token={DEFAULT_REFRESH_TOKEN}".encode()

    # When it is posted
    response = _post_token(emulator, data=body)

    # Then it is understood as a form
    assert response.status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "refresh_token", "refresh_token": "revoked"},
        {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": "wrong"},
        {"grant_type": "client_credentials", "client_id": "unknown", "client_secret": DEFAULT_CLIENT_SECRET},
    ],
    ids=["unknown-refresh-token", "wrong-secret", "unknown-client"],
)
def test_wrong_credentials_get_401_goa_error(flexera_emulator: FlexeraEmulatorFactory, form: dict[str, str]) -> None:
    # Given credentials the emulator does not know
    emulator = flexera_emulator()

    # When they are exchanged for a token
    response = _post_token(emulator, data=form)

    # Then the answer is a goa "unauthorized" error
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/vnd.goa.error"
    assert shape(response.json()) == shape(SAMPLE_GOA_ERROR)
    assert response.json()["name"] == "unauthorized"


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"grant_type": "authorization_code", "code": "abc"},
        {"grant_type": "password"},
        {"grant_type": "refresh_token"},
        {"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID},
    ],
    ids=["no-grant", "authorization-code", "unknown-grant", "no-refresh-token", "no-secret"],
)
def test_malformed_or_unsupported_grant_gets_400(
    flexera_emulator: FlexeraEmulatorFactory, form: dict[str, str]
) -> None:
    # Given a token request that is not a supported, complete grant
    emulator = flexera_emulator()

    # When it is posted
    response = _post_token(emulator, data=form)

    # Then it is a goa "bad_request"
    assert response.status_code == 400
    assert response.json()["name"] == "bad_request"


def test_token_is_valid_until_its_lifetime_ends_on_the_clock(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a token issued with a 60-second lifetime
    api = flexera_api(token_lifetime_seconds=60)

    # When 59 seconds pass, then one more
    api.emulator.clock.advance(59)
    before = api.call("GET", api.uploads)
    api.emulator.clock.advance(1)
    after = api.call("GET", api.uploads)

    # Then the token works until it expires, then gets 401
    assert before.status_code == 200
    assert after.status_code == 401
    assert after.json()["name"] == "unauthorized"


def test_new_token_works_after_the_old_one_expired(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an expired token
    api = flexera_api(token_lifetime_seconds=60)
    api.emulator.clock.advance(60)

    # When a new one is requested with the same refresh token
    token = request_token(api.emulator, api.session, DEFAULT_REFRESH_TOKEN).json()["access_token"]

    # Then the API accepts it
    assert api.call("GET", api.uploads, token=token).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-issued", "Basic ZW11bGF0b3I6c2VjcmV0", "Bearer"],
    ids=["none", "unknown-token", "basic-scheme", "empty-token"],
)
def test_api_call_without_a_valid_bearer_token_gets_401(
    flexera_api: Callable[..., FlexeraApi], authorization: str | None
) -> None:
    # Given a running emulator and a token it issued (which is not sent)
    api = flexera_api()
    headers = {"Authorization": authorization} if authorization else {}

    # When the API is called without that token
    response = requests.get(f"{api.emulator.url}{api.uploads}", headers=headers, timeout=TIMEOUT)

    # Then the call is refused
    assert response.status_code == 401
    assert shape(response.json()) == shape(SAMPLE_GOA_ERROR)


def test_bearer_scheme_is_case_insensitive(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a valid token
    api = flexera_api()

    # When it is sent with a lower-case scheme
    response = requests.get(
        f"{api.emulator.url}{api.uploads}", headers={"Authorization": f"bearer {api.token}"}, timeout=TIMEOUT
    )

    # Then it is accepted
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path", ["/optima/orgs/999/billUploads", "/finops-onboarding/v1/orgs/999/bill-connects"], ids=["optima", "finops"]
)
def test_other_org_in_the_url_gets_403(flexera_api: Callable[..., FlexeraApi], path: str) -> None:
    # Given a token for the emulator's org 12345
    api = flexera_api(org_id="12345")

    # When another org's resources are asked for
    response = api.call("GET", path)

    # Then access is forbidden
    assert response.status_code == 403
    assert response.json()["name"] == "forbidden"


@pytest.mark.parametrize(("form", "expected"), [("string", "3600"), ("float", 3600.0), ("absent", None)])
def test_expires_in_is_written_in_the_configured_form(
    flexera_emulator: FlexeraEmulatorFactory, form: str, expected: object
) -> None:
    # Given an emulator writing expires_in as a string, a float or not at all
    emulator = flexera_emulator(expires_in_form=form)
    # When a token is requested / Then the answer has it in that form (JSON types, not just values)
    body = _post_token(emulator, data={"grant_type": "refresh_token", "refresh_token": DEFAULT_REFRESH_TOKEN}).json()
    assert type(body.get("expires_in")) is type(expected)
    assert body.get("expires_in") == expected
