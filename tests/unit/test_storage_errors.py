"""S3's failures leave Storage as typed errors: which the workflow retries (throttling, 5xx and broken connections,
never a refusal), and what a refused read means. Callers translate nothing."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Final, cast

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.domain.cbi_csv import split_rows
from kubecost_flexera.domain.records import DayManifest, PartInfo, UploadState
from kubecost_flexera.errors import ConfigurationError, StorageAccessDenied, StorageRejected, StorageUnavailable
from tests.fixtures.aws import client_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client


class FailingS3:
    """An S3 client every call of which raises ``error``, as botocore raises S3's answer or a broken connection."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        def call(*_args: object, **_kwargs: object) -> Any:
            raise self.error

        return call


class OpeningS3:
    """An S3 client whose GetObject answers with ``body``."""

    def __init__(self, body: object) -> None:
        self.body = body

    def get_object(self, **_kwargs: object) -> dict[str, object]:
        return {"Body": self.body}


class BrokenBody:
    """A GetObject body whose stream breaks mid-read."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, _amount: int | None = None) -> bytes:
        raise self.error

    def close(self) -> None:
        pass


def write_day(storage: Storage) -> object:
    with storage.day_writer(date(2025, 7, 15), "x", header=b"h\n", max_rows=10, split_rows=split_rows) as writer:
        writer.write(b"a\n", 1)
        return writer.close()


PART: Final = PartInfo(
    key="exports/default/2025-07/2025-07-15/x/kubecost-2025-07-15.csv.gz", file_name="f", size=1, etag='"e"', rows=1
)
MANIFEST: Final = DayManifest(date(2025, 7, 15), "default", "USD", "2025-07-16T00:00:00+00:00", (PART,), 1, 1, 1.0)
# Every Storage operation that calls S3, as the domain calls them.
OPERATIONS: Final[dict[str, Callable[[Storage], object]]] = {
    "read-manifest": lambda storage: storage.read_day_manifest(date(2025, 7, 15)),
    "list-manifests": lambda storage: storage.day_manifests_written("2025-07"),
    "replace-day": lambda storage: storage.replace_day(MANIFEST),
    "read-upload-state": lambda storage: storage.read_upload_state("2025-07"),
    "write-upload-state": lambda storage: storage.write_upload_state(
        UploadState("2025-07", "f", "b", "2025-08-01T00:00:00+00:00", ("f",))
    ),
    "open-part": lambda storage: storage.open_part(PART),
    "write-day": write_day,
    "delete-keys": lambda storage: storage.delete_keys(["k"]),
}
TRANSIENT: Final = {
    "slow-down": client_error("SlowDown", 503),
    "internal-error": client_error("InternalError", 500),
    "request-timeout": client_error("RequestTimeout", 400),
    "any-5xx": client_error("SomethingNew", 502),
    "no-connection": EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
    "read-timeout": ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
}
REFUSALS: Final = {
    "no-such-bucket": client_error("NoSuchBucket", 404),
    "precondition-failed": client_error("PreconditionFailed", 412),
    "write-denied": client_error("AccessDenied", 403),
}


def failing_storage(error: Exception) -> Storage:
    return Storage(cast("S3Client", FailingS3(error)), "bucket", "default")


@pytest.mark.parametrize("operation", [name for name in OPERATIONS if name != "delete-keys"])
@pytest.mark.parametrize("error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_transient_s3_failures_leave_storage_as_storage_unavailable(operation: str, error: Exception) -> None:
    # Given S3 failing transiently (throttling, 5xx, a broken connection) beyond the SDK's retries
    # When any Storage operation meets it / Then it is StorageUnavailable, which the state machine retries
    with pytest.raises(StorageUnavailable, match="S3 failed after the SDK's retries") as raised:
        OPERATIONS[operation](failing_storage(error))
    assert raised.value.__cause__ is error


# Reads of manifests and upload states (replace_day reads the previous manifest first) take a 403 for a missing
# permission: StorageAccessDenied, below.
@pytest.mark.parametrize("operation", ["list-manifests", "write-upload-state", "open-part", "write-day"])
@pytest.mark.parametrize("error", REFUSALS.values(), ids=REFUSALS.keys())
def test_refusals_leave_storage_as_storage_rejected(operation: str, error: ClientError) -> None:
    # Given S3 refusing a request for a reason a retry cannot fix
    # When a Storage operation meets it / Then it is StorageRejected (not retried), naming S3's error code
    with pytest.raises(StorageRejected, match=rf"S3 refused the request: {_code(error)}") as raised:
        OPERATIONS[operation](failing_storage(error))
    assert raised.value.__cause__ is error


def test_a_part_whose_stream_breaks_mid_read_is_storage_unavailable() -> None:
    # Given a part that opens, then whose stream times out while the upload reads it
    s3 = OpeningS3(BrokenBody(ReadTimeoutError(endpoint_url="https://s3")))
    reader = Storage(cast("S3Client", s3), "bucket", "default").open_part(PART)
    # When it is read / Then the failure is typed, as any other S3 call's
    with pytest.raises(StorageUnavailable, match="ReadTimeoutError"):
        reader.read(8192)


def test_deleting_leftovers_is_best_effort_but_a_broken_connection_is_typed() -> None:
    # Given S3 refusing a delete: only logged (what is left is garbage the lifecycle rule expires)
    failing_storage(client_error("AccessDenied", 403)).delete_keys(["k"])
    # Given no connection at all: typed like every other S3 failure
    with pytest.raises(StorageUnavailable):
        failing_storage(EndpointConnectionError(endpoint_url="https://s3")).delete_keys(["k"])


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code"))


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
