"""Which S3 failures the workflow retries (throttling, 5xx and broken connections, never a refusal), and what a
refused read means."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from kubecost_flexera.adapters.storage import Storage, transient_errors_retryable
from kubecost_flexera.errors import ConfigurationError, StorageAccessDenied, StorageUnavailable
from tests.fixtures.aws import client_error

if TYPE_CHECKING:
    from collections.abc import Callable


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


def storage_answering(code: str, status: int) -> Storage:
    """A Storage whose GetObject is answered by S3 with ``status`` and error ``code``."""
    s3 = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(s3)
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    stubber.activate()
    return Storage(s3, "bucket", "default")


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("404", 404)])
def test_a_missing_manifest_reads_as_absent(code: str, status: int) -> None:
    # Given S3 answering 404 (the caller may list the prefix, so a missing key is said to be missing)
    # Then there is no manifest
    assert storage_answering(code, status).read_day_manifest(date(2025, 7, 15)) is None


@pytest.mark.parametrize(
    "read",
    [
        lambda storage: storage.read_day_manifest(date(2025, 7, 15)),
        lambda storage: storage.read_upload_state("2025-07"),
    ],
    ids=["manifest", "upload-state"],
)
def test_access_denied_on_a_read_is_never_taken_for_absent(read: Callable[[Storage], object]) -> None:
    # Given S3 answering 403, as it does for a missing key when the caller may not list the bucket for that prefix
    storage = storage_answering("AccessDenied", 403)

    # When a manifest or an upload state is read
    # Then it is a typed, non-retried error naming the object and the missing permission, not "absent" (which
    # would replace the day without deleting the previous export, or upload an unchanged month again)
    with pytest.raises(StorageAccessDenied, match=r"s3://bucket/state/.* \(AccessDenied\).*s3:ListBucket"):
        read(storage)
    assert issubclass(StorageAccessDenied, ConfigurationError)
