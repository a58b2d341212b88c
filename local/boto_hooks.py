"""Hooks on boto3's default session: how a caller observes or alters the S3 calls the real handlers make.

The handlers create their clients with ``boto3.client("s3")`` at each invocation, from the default session, so a
hook registered there sees every client they create meanwhile and nothing else of the product is touched. The fault
matrix injects S3 faults this way; the cost model counts S3 requests.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@contextlib.contextmanager
def s3_event_hook(event: str, handler: Callable[..., Any]) -> Iterator[None]:
    """Registers ``handler`` for a botocore event of S3 on boto3's default session while the block runs.

    The default session is created only if none exists, so clients already made from it keep seeing the hook.
    """
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register(event, handler)
    try:
        yield
    finally:
        session.events.unregister(event, handler)
