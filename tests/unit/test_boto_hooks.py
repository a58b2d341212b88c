"""``s3_event_hook``: a hook on boto3's default session sees the S3 calls of clients created while it is installed."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from local.boto_hooks import s3_event_hook


class _Calls:
    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


@pytest.mark.usefixtures("aws")
def test_the_hook_sees_calls_while_installed_and_none_after() -> None:
    # Given a hook counting S3 calls
    calls = _Calls()
    # When a client made from the default session calls S3 inside the block, and another one after it
    with s3_event_hook("before-call.s3", calls):
        boto3.client("s3").list_buckets()
    boto3.client("s3").list_buckets()
    # Then only the call made inside was seen
    assert calls.names == ["ListBuckets"]


@pytest.mark.usefixtures("aws")
def test_an_existing_default_session_is_kept() -> None:
    # Given a default session that already exists
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    # When the hook is installed
    with s3_event_hook("before-call.s3", _Calls()):
        # Then it is on that same session, not on a new one
        assert boto3.DEFAULT_SESSION is session
