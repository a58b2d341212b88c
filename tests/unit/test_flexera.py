"""Unit tests of the Flexera client's pure parts: URLs per shard, credential parsing, backoff."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kubecost_flexera.adapters.flexera import (
    ClientCredentialsGrant,
    Endpoints,
    RefreshTokenGrant,
    RetryPolicy,
    endpoints,
    parse_credentials,
)
from kubecost_flexera.config import FlexeraSettings
from kubecost_flexera.errors import ConfigurationError

SETTINGS = FlexeraSettings(
    org_id="12345",
    bill_connect_id="cbi-oi-kubecost-1",
    shard="NAM",
    create_bill_connect=False,
    vendor_name="Kubecost",
    secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:flexera-AbCdEf",
    endpoint_url=None,
    request_timeout_seconds=300.0,
)
ARN = SETTINGS.secret_arn
DISTINCT_SECRET = "zz-Secret-Value-7f3a9c"


@pytest.mark.parametrize(
    ("shard", "expected"),
    [
        (
            "NAM",
            Endpoints(
                "https://login.flexera.com/oidc/token",
                "https://api.optima.flexeraeng.com/optima/orgs/12345/billUploads",
                "https://api.flexera.com/finops-onboarding/v1/orgs/12345/bill-connects/cbi",
            ),
        ),
        (
            "EU",
            Endpoints(
                "https://login.flexera.eu/oidc/token",
                "https://api.optima-eu.flexeraeng.com/optima/orgs/12345/billUploads",
                "https://api.flexera.eu/finops-onboarding/v1/orgs/12345/bill-connects/cbi",
            ),
        ),
        (
            "AU",
            Endpoints(
                "https://login.flexera.au/oidc/token",
                "https://api.optima-apac.flexeraeng.com/optima/orgs/12345/billUploads",
                "https://api.flexera.au/finops-onboarding/v1/orgs/12345/bill-connects/cbi",
            ),
        ),
        (
            "DEV",
            Endpoints(
                "https://login.flexeratest.com/oidc/token",
                "https://api.optima.flexeraengdev.com/optima/orgs/12345/billUploads",
                "https://api.flexeratest.com/finops-onboarding/v1/orgs/12345/bill-connects/cbi",
            ),
        ),
    ],
)
def test_each_shard_uses_its_documented_hosts(shard: str, expected: Endpoints) -> None:
    # Given the settings of a shard
    settings = replace(SETTINGS, shard=shard)
    # When the URLs are built / Then they are those of FX-HOST-1
    assert endpoints(settings) == expected


def test_endpoint_override_replaces_every_host() -> None:
    # Given FLEXERA_ENDPOINT_URL
    settings = replace(SETTINGS, shard="EU", endpoint_url="http://127.0.0.1:8081")
    # When the URLs are built
    urls = endpoints(settings)
    # Then all three go to that base URL with the documented paths
    assert urls == Endpoints(
        "http://127.0.0.1:8081/oidc/token",
        "http://127.0.0.1:8081/optima/orgs/12345/billUploads",
        "http://127.0.0.1:8081/finops-onboarding/v1/orgs/12345/bill-connects/cbi",
    )


def test_refresh_token_secret_gives_the_refresh_grant_form() -> None:
    # Given a secret with only a refresh token
    credentials = parse_credentials({"refresh_token": "rt-1"}, ARN)
    # Then the grant is the refresh-token one, with the reference's form fields
    assert credentials == RefreshTokenGrant("rt-1")
    assert credentials.form() == {"grant_type": "refresh_token", "refresh_token": "rt-1"}


def test_client_secret_gives_the_client_credentials_form() -> None:
    # Given a secret with a service account client
    credentials = parse_credentials({"client_id": "id-1", "client_secret": "s-1"}, ARN)
    # Then the grant is client credentials
    assert credentials == ClientCredentialsGrant("id-1", "s-1")
    assert credentials.form() == {"client_id": "id-1", "client_secret": "s-1", "grant_type": "client_credentials"}


@pytest.mark.parametrize(
    "value",
    [
        {"refresh_token": DISTINCT_SECRET, "client_id": DISTINCT_SECRET, "client_secret": DISTINCT_SECRET},
        {"refresh_token": ""},
        {"refresh_token": "   "},
        {"client_id": DISTINCT_SECRET, "client_secret": ""},
        {"client_id": DISTINCT_SECRET},
        {"token": DISTINCT_SECRET},
        {"refresh_token": 12345},
        {},
        [DISTINCT_SECRET],
        DISTINCT_SECRET,
    ],
)
def test_any_other_secret_shape_is_a_configuration_error_without_the_value(value: object) -> None:
    # Given a secret that is neither grant (both, empty, other keys, not an object)
    # When it is parsed
    with pytest.raises(ConfigurationError) as raised:
        parse_credentials(value, ARN)
    # Then the error names the secret and the expected shape, never a value
    message = str(raised.value)
    assert ARN in message
    assert "refresh_token" in message
    assert DISTINCT_SECRET not in message


def test_credentials_repr_hides_the_values() -> None:
    # Given both kinds of credentials / When they are printed / Then no value shows
    assert DISTINCT_SECRET not in repr(RefreshTokenGrant(DISTINCT_SECRET))
    assert DISTINCT_SECRET not in repr(ClientCredentialsGrant(DISTINCT_SECRET, DISTINCT_SECRET))


def test_backoff_grows_and_stays_bounded() -> None:
    # Given the retry policy
    policy = RetryPolicy(attempts=6, base_delay_seconds=1.0, max_delay_seconds=8.0)
    # When delays are drawn for successive attempts
    delays = [policy.delay(attempt) for attempt in range(1, 7)]
    # Then each lies in [ceiling/2, ceiling] with the ceiling doubling up to the maximum
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
