"""Typed errors of the exporter.

Each class name is a stable contract: a Lambda function error carries it as ``errorType`` and the state machine's
``Retry`` and ``Catch`` match it by name (``statemachine/export.asl.json``). Rename one only together with the
definition. Messages must never contain a secret.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

# A failed day's result carries its error's message into the Map's output, which Step Functions limits to 256 KiB
# with every other day's result: 366 failed days with messages of this size take 55 % of it
# (tests/integration/test_failed_day_results.py measures it; docs/design-decisions.md).
MAX_DAY_ERROR_MESSAGE_BYTES: Final = 256
_ELLIPSIS: Final = "..."


class ExporterError(Exception):
    """Base class of every error the exporter raises on purpose."""


# --- Not retryable: the input or the configuration is wrong; retrying cannot help. ---


class ConfigurationError(ExporterError):
    """An environment variable or a secret is missing or invalid. The message names each variable."""


class InvalidRequest(ExporterError):
    """The event given to a function is malformed. The message names the field and what is allowed."""


class ConcurrentExecution(ExporterError):
    """Another execution of the workflow is running; starting a second one could commit a month twice."""


class StorageAccessDenied(ConfigurationError):
    """S3 answered 403 to a read: the role, the bucket policy or a key policy does not allow it.

    Never read as "absent": with ``s3:ListBucket`` granted for the prefix S3 answers 404 for a missing object, so
    a 403 means a permission is missing, and treating it as absent could replace a day or upload a month again.
    """


class StorageRejected(ExporterError):
    """S3 refused a request for a reason a retry cannot fix (no such bucket, a part changed since its manifest named
    it, a write the role may not make)."""


class KubecostRejected(ExporterError):
    """Kubecost answered, but refused the query (HTTP 4xx, JSON ``code`` other than 200, undecodable body)."""


class FlexeraAuthError(ExporterError):
    """Flexera refused the credentials or the token (HTTP 401/403)."""


class FlexeraRejected(ExporterError):
    """Flexera refused a request for a reason a retry cannot fix (4xx other than 401/403/429, bad answer)."""


class LimitExceeded(ExporterError):
    """A month exceeds a documented Flexera limit (file size, file count); refused before any call."""


class UploadFailed(ExporterError):
    """At least one month could not be uploaded; raised after every month was tried, so the workflow fails."""


class MixedCurrencies(UploadFailed):
    """The sources of one bill connect exported a month in different currencies: one bill holds one currency, so
    that month of that bill connect is refused (never retried); the message names each source and its currency."""


class ExportFailed(ExporterError):
    """At least one day could not be exported; raised at the end of the workflow so that it fails and alarms."""


# --- Retryable: a transient fault; the state machine retries with backoff. ---


class KubecostUnavailable(ExporterError):
    """Kubecost could not be reached or answered 5xx / 504 after the client's own bounded retries."""


class FlexeraUnavailable(ExporterError):
    """Flexera could not be reached or answered 5xx after the client's own bounded retries."""


class StorageUnavailable(ExporterError):
    """S3 throttled or failed (5xx, connection) even after the SDK's own retries; a later attempt can succeed."""


class FlexeraThrottled(ExporterError):
    """Flexera answered 429 (the 120-second cool-off between bill uploads); the state machine waits, not Lambda."""

    def __init__(self, message: str, retry_after_seconds: int = 120) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


def truncated(text: str, limit_bytes: int) -> str:
    """``text`` cut so that its JSON string encoding (UTF-8, escapes included) fits in ``limit_bytes``."""

    def size(value: str) -> int:
        return len(json.dumps(value, ensure_ascii=False).encode()) - 2  # without the quotes

    if size(text) <= limit_bytes:
        return text
    budget = limit_bytes - len(_ELLIPSIS)
    kept: list[str] = []
    for char in text:
        budget -= size(char)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept) + _ELLIPSIS


@contextmanager
def messages_bounded(limit_bytes: int) -> Iterator[None]:
    """A typed error leaving the block has its message cut to ``limit_bytes``; its type and attributes are kept."""
    try:
        yield
    except ExporterError as exc:
        exc.args = (truncated(str(exc), limit_bytes),)
        raise
