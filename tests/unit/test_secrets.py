"""The one secrets loader, for both kinds of credentials (Kubecost's optional secret, Flexera's grant): the same
cache, the same checks of empty values and malformed JSON, the same typed errors, and no secret in errors or logs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

import pytest

from kubecost_flexera.adapters import flexera_auth, kubecost
from kubecost_flexera.adapters.flexera_auth import RefreshTokenGrant
from kubecost_flexera.adapters.kubecost import KubecostCredentials
from kubecost_flexera.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_secretsmanager import SecretsManagerClient

    from tests.fixtures.aws import MakeSecret

SECRET: Final = "zz-Secret-Value-5b1e"
NO_SUCH_SECRET: Final = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf"
# Each kind: its variable, its loader, a valid value of it and what it becomes.
KINDS: Final[dict[str, tuple[str, Callable[[str], object], dict[str, object], object]]] = {
    "kubecost": (
        "KUBECOST_SECRET_ARN",
        kubecost.load_credentials,
        {"bearer_token": SECRET},
        KubecostCredentials({"Authorization": f"Bearer {SECRET}"}),
    ),
    "flexera": (
        "FLEXERA_SECRET_ARN",
        flexera_auth.load_credentials,
        {"refresh_token": SECRET},
        RefreshTokenGrant(SECRET),
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_a_secret_is_read_once_then_served_from_the_cache(
    kind: str, make_secret: MakeSecret, secretsmanager: SecretsManagerClient
) -> None:
    # Given a valid secret of the kind, read once
    _, load, value, expected = KINDS[kind]
    arn = make_secret(f"{kind}-cached", value)
    assert load(arn) == expected
    # When it is rotated and read again within the cache's age
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"bearer_token": "x", "refresh_token": "x"}))
    # Then the cached value serves (a rotated secret is seen once the cache entry expires)
    assert load(arn) == expected


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("empty", ["", " \n "], ids=["empty", "blank"])
def test_an_empty_or_blank_value_is_refused_alike(kind: str, empty: str, make_secret: MakeSecret) -> None:
    # Given a secret whose one credential is empty or only white space
    variable, load, value, _ = KINDS[kind]
    key = next(iter(value))
    arn = make_secret(f"{kind}-blank", {key: empty})
    # When it is read / Then it is a configuration error naming the variable, the ARN and the empty key
    with pytest.raises(ConfigurationError) as raised:
        load(arn)
    assert f"{variable}={arn!r}" in str(raised.value)
    assert f"empty or not a string: [{key!r}]" in str(raised.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_secret_that_is_not_json_is_refused_without_its_text(
    kind: str, make_secret: MakeSecret, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a secret whose text is not JSON
    variable, load, _, _ = KINDS[kind]
    arn = make_secret(f"{kind}-not-json", f"{SECRET} {{")
    # When it is read
    with pytest.raises(ConfigurationError) as raised:
        load(arn)
    # Then the error names the variable, the ARN and the accepted shape, and neither it, its cause nor a log line
    # quotes the secret
    error = raised.value
    assert f"{variable}={arn!r}: the secret could not be read as JSON; it must be a JSON object" in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__
    assert SECRET not in str(error) + capsys.readouterr().out


@pytest.mark.parametrize("kind", KINDS)
def test_a_secret_that_cannot_be_read_names_the_arn(kind: str, secretsmanager: Any) -> None:
    variable, load, _, _ = KINDS[kind]
    with pytest.raises(
        ConfigurationError, match=rf"{variable}='{NO_SUCH_SECRET}': the secret cannot be read .*existing"
    ):
        load(NO_SUCH_SECRET)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [[SECRET], SECRET], ids=["list", "string"])
def test_a_json_value_that_is_not_an_object_is_refused(
    kind: str, value: object, make_secret: MakeSecret, capsys: pytest.CaptureFixture[str]
) -> None:
    variable, load, _, _ = KINDS[kind]
    arn = make_secret(f"{kind}-not-object", json.dumps(value))
    with pytest.raises(ConfigurationError, match=rf"{variable}='{arn}': the secret must be a JSON object") as raised:
        load(arn)
    assert SECRET not in str(raised.value) + capsys.readouterr().out
