"""What goes wrong on the Kubecost emulator's allocation route: injected faults, and OpenCost's error answers.

Faults (``emu.inject(KubecostFault(...))``) apply to allocation requests only, counted from 1 among requests that
passed authentication; a fault matches from its ``on_request`` on and/or when the window starts on one of its
``days``, and fires ``times`` times (None: always). Kinds: ``http_500`` (OpenCost's JSON error), ``html_504``
(nginx's HTML page), ``malformed_json`` (the real answer cut in half, HTTP 200), ``code_error`` (HTTP 200, JSON
``code`` 500, ``data`` null), ``drop_connection`` (socket closed without an answer), ``slow`` (the real answer after
the fault's ``delay_seconds``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Literal

from emulators.http_server import Response

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import date

FaultKind = Literal["http_500", "html_504", "malformed_json", "code_error", "drop_connection", "slow"]
NGINX_504: Final = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class KubecostFault:
    kind: FaultKind
    on_request: int | None = None  # the Nth allocation request (1-based) and the following ones
    days: frozenset[date] | None = None  # windows starting on one of these days
    times: int | None = 1  # how many times it fires; None = always
    delay_seconds: float = 2.0  # for "slow": longer than the client's timeout


@dataclass
class _ActiveFault:
    fault: KubecostFault
    remaining: int | None


class FaultPlan:
    """The injected faults and the allocation requests they are counted against; safe across serving threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_ActiveFault] = []
        self._requests = 0

    def inject(self, fault: KubecostFault) -> None:
        with self._lock:
            self._faults.append(_ActiveFault(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def count_request(self) -> int:
        """Counts one allocation request (well-formed or not) and returns its number, from 1."""
        with self._lock:
            self._requests += 1
            return self._requests

    def take(self, number: int, day: date) -> KubecostFault | None:
        """The first fault that matches request ``number`` for a window starting on ``day``; it fires once more."""
        with self._lock:
            for active in self._faults:
                fault = active.fault
                if active.remaining == 0:
                    continue
                if fault.on_request is not None and number < fault.on_request:
                    continue
                if fault.days is not None and day not in fault.days:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                return fault
        return None


def faulty_answer(fault: KubecostFault | None, answer: Callable[[], Response]) -> Response:  # noqa: PLR0911 - one branch per fault kind
    """The answer as ``fault`` makes it: the real one (``answer()``), altered, or replaced without computing it."""
    if fault is None:
        return answer()
    if fault.kind == "slow":
        return replace(answer(), delay_seconds=fault.delay_seconds)
    if fault.kind == "malformed_json":
        response = answer()
        return replace(response, body=response.body[: len(response.body) // 2])
    if fault.kind == "http_500":
        return opencost_error(HTTPStatus.INTERNAL_SERVER_ERROR, "error computing allocation: injected failure")
    if fault.kind == "html_504":
        return Response(HTTPStatus.GATEWAY_TIMEOUT, NGINX_504.encode(), "text/html")
    if fault.kind == "code_error":
        body = {"code": 500, "status": "", "data": None, "message": "Error: error querying Prometheus: timeout"}
        return Response.json(HTTPStatus.OK, body)
    return Response.dropped()


def opencost_error(status: int, message: str) -> Response:
    """OpenCost's ``WriteError`` shape."""
    text = message if message.startswith("Error: ") else f"Error: {message}"
    return Response.json(status, {"code": status, "status": "", "data": None, "message": text})
