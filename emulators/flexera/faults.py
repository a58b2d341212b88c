"""Misbehaviours the Flexera emulator injects on purpose: 5xx answers, dropped connections, a wrong md5, tokens that
expire mid-run (the table of ``emulators.flexera.api`` says how each acts).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal, get_args

from emulators.http_server import Response

Endpoint = Literal["token", "create", "file", "operation", "bill_connect", "list", "show", "delete"]
FaultKind = Literal["http_500", "http_502", "http_503", "drop_connection", "wrong_md5", "expire_tokens"]

FAULT_STATUS: dict[FaultKind, HTTPStatus] = {
    "http_500": HTTPStatus.INTERNAL_SERVER_ERROR,
    "http_502": HTTPStatus.BAD_GATEWAY,
    "http_503": HTTPStatus.SERVICE_UNAVAILABLE,
}


@dataclass(frozen=True)
class FlexeraFault:
    """A misbehaviour of one endpoint on its ``on_call``-th call after injection, ``times`` times (None: always)."""

    endpoint: Endpoint
    kind: FaultKind
    on_call: int = 1
    times: int | None = 1

    def __post_init__(self) -> None:
        if self.endpoint not in get_args(Endpoint):
            raise ValueError(f"unknown endpoint {self.endpoint!r}; one of {get_args(Endpoint)}")
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {get_args(FaultKind)}")
        if self.kind == "wrong_md5" and self.endpoint != "file":
            raise ValueError("wrong_md5 only applies to the file endpoint")
        if self.on_call < 1 or (self.times is not None and self.times < 1):
            raise ValueError("on_call and times must be at least 1")


@dataclass
class _ArmedFault:
    fault: FlexeraFault
    calls: int = 0

    def count_call(self) -> bool:
        """Counts one call of the fault's endpoint; True when the fault fires on it."""
        self.calls += 1
        last = None if self.fault.times is None else self.fault.on_call + self.fault.times - 1
        return self.calls >= self.fault.on_call and (last is None or self.calls <= last)


class FaultPlan:
    """The injected faults, each counting the calls of its endpoint; the emulator's state lock guards it."""

    def __init__(self) -> None:
        self._armed: list[_ArmedFault] = []

    def inject(self, fault: FlexeraFault) -> None:
        self._armed.append(_ArmedFault(fault))

    def clear(self) -> None:
        self._armed.clear()

    def fire(self, endpoint: Endpoint) -> set[FaultKind]:
        """Counts one call of ``endpoint``: the kinds of the faults that fire on it."""
        return {armed.fault.kind for armed in self._armed if armed.fault.endpoint == endpoint and armed.count_call()}


def with_wrong_md5(response: Response) -> Response:
    """The answer with an md5 that is not the bytes' (the ``wrong_md5`` fault)."""
    payload = json.loads(response.body)
    payload["md5"] = hashlib.md5(payload["md5"].encode(), usedforsecurity=False).hexdigest()
    return Response.json(response.status, payload, response.headers, content_type=response.content_type)
