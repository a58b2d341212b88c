"""Unit tests of Flexera authentication's pure parts: the grant a secret describes, and that no value shows."""

from __future__ import annotations

import pytest

from kubecost_flexera.adapters.flexera_auth import ClientCredentialsGrant, RefreshTokenGrant, parse_credentials
from kubecost_flexera.errors import ConfigurationError

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:flexera-AbCdEf"
DISTINCT_SECRET = "zz-Secret-Value-7f3a9c"


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
