"""Unit tests of the bill-upload client's pure parts: the URLs per shard and their override."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kubecost_flexera.adapters.flexera import Endpoints, endpoints
from kubecost_flexera.config import FlexeraSettings

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
