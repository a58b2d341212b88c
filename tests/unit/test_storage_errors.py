"""Which S3 failures the workflow retries: throttling, 5xx and broken connections, never a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from kubecost_flexera.errors import StorageUnavailable
from kubecost_flexera.storage import transient_errors_retryable


def client_error(code: str, status: int) -> ClientError:
    """The error botocore raises when S3 answers ``status`` with error ``code``."""
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Operation")


@pytest.mark.parametrize(
    "error",
    [
        client_error("SlowDown", 503),
        client_error("InternalError", 500),
        client_error("RequestTimeout", 400),
        client_error("SomethingNew", 502),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    ],
    ids=["slow-down", "internal-error", "request-timeout", "any-5xx", "no-connection", "read-timeout"],
)
def test_transient_s3_failures_become_storage_unavailable(error: Exception) -> None:
    with pytest.raises(StorageUnavailable, match="S3 failed after the SDK's retries"), transient_errors_retryable():
        raise error


@pytest.mark.parametrize(
    "error",
    [client_error("AccessDenied", 403), client_error("NoSuchBucket", 404), client_error("PreconditionFailed", 412)],
    ids=["access-denied", "no-such-bucket", "precondition-failed"],
)
def test_refusals_pass_unchanged(error: ClientError) -> None:
    with pytest.raises(ClientError) as raised, transient_errors_retryable():
        raise error
    assert raised.value is error
