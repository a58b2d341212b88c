"""A slow Kubecost or Flexera always ends in the typed error before the function's time is up.

``requests``' timeouts bound each socket read, so a server that trickles its answer (a byte now and then) kept a
call going for as long as it liked, and Lambda killed the function (``Sandbox.Timedout``) before the state machine
saw ``KubecostUnavailable``. These tests use a real HTTP server on 127.0.0.1 that sends its headers, then one byte
every few hundredths of a second: each read succeeds well within any read timeout, the whole answer takes seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Final

import pytest

from emulators.kubecost import KubecostFault
from functions.export_day.app import lambda_handler as export_day_handler
from functions.upload.app import lambda_handler as upload_handler
from kubecost_flexera.adapters.deadline import Deadline, invocation_deadline
from kubecost_flexera.adapters.flexera import FlexeraClient
from kubecost_flexera.adapters.flexera_auth import RefreshTokenGrant
from kubecost_flexera.adapters.kubecost import KubecostClient
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.config import load_flexera, load_kubecost
from kubecost_flexera.domain.calendar import use_clock
from kubecost_flexera.errors import FlexeraUnavailable, KubecostUnavailable
from tests.fixtures.day_exports import AUGUST, JULY, sample_event, write_days

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_s3 import S3Client

    from emulators.kubecost import KubecostEmulator
    from tests.fixtures.aws import FakeLambdaContext, MakeSecret

BYTE_INTERVAL_SECONDS: Final = 0.02
TRICKLED_BYTES: Final = 400  # 8 s for the whole answer
DAY: Final = date(2025, 7, 15)
SLACK_SECONDS: Final = 1.0  # scheduling on a shared machine


class _Trickle(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests_seen: ClassVar[list[str]]

    def _trickle(self) -> None:
        self.requests_seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(TRICKLED_BYTES))
        self.end_headers()
        try:
            for _ in range(TRICKLED_BYTES):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(BYTE_INTERVAL_SECONDS)
        except OSError:
            return  # the client gave up, as it should

    do_GET = _trickle  # noqa: N815 - BaseHTTPRequestHandler's names
    do_POST = _trickle  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Trickler:
    url: str
    requests: list[str]


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    seen: list[str] = []
    handler = type("Handler", (_Trickle,), {"requests_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Trickler(f"http://127.0.0.1:{server.server_port}", seen)
    server.shutdown()
    server.server_close()


def elapsed(action: Callable[[], object]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        action()
    except Exception as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def kubecost_client(url: str, *, request_timeout: float, deadline: Deadline, sleeps: list[float]) -> KubecostClient:
    settings = replace(load_kubecost({"KUBECOST_HOST": url}), request_timeout_seconds=request_timeout)
    return KubecostClient(settings, deadline=deadline, sleep=sleeps.append)


def flexera_client(url: str, *, deadline: Deadline, sleeps: list[float]) -> FlexeraClient:
    environ = {
        "ORG_ID": "12345",
        "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
        "FLEXERA_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:flexera-AbCdEf",
        "FLEXERA_ENDPOINT_URL": url,
    }
    return FlexeraClient(load_flexera(environ), RefreshTokenGrant("token"), deadline=deadline, sleep=sleeps.append)


@dataclass(frozen=True)
class TrickledCall:
    """A call to a trickling server, and how it must end: the error, the server's paths, within how many seconds."""

    call: Callable[[str, list[float]], Callable[[], object]]  # (server url, sleeps) -> the call
    error: type[Exception]
    message: str
    paths: list[str]  # the request paths the server saw, one per attempt
    seconds: float


TRICKLED_CALLS: Final = {
    # REQUEST_TIMEOUT of half a second: each of the 4 attempts ends after it, as Go's http.Client.Timeout would end it
    "kubecost-at-the-request-time-limit": TrickledCall(
        lambda url, sleeps: (
            lambda: list(
                kubecost_client(url, request_timeout=0.5, deadline=Deadline.after(60), sleeps=sleeps).allocations(DAY)
            )
        ),
        KubecostUnavailable,
        "failed 4 times",
        ["/model/allocation"] * 4,
        4 * 0.5,
    ),
    # A long REQUEST_TIMEOUT and one second left: the request ends at the deadline, and no retry is started (its
    # wait could not end before it)
    "kubecost-at-the-invocation-deadline": TrickledCall(
        lambda url, sleeps: (
            lambda: list(
                kubecost_client(url, request_timeout=300, deadline=Deadline.after(1.0), sleeps=sleeps).allocations(DAY)
            )
        ),
        KubecostUnavailable,
        "no time left for another attempt",
        ["/model/allocation"],
        1.0,
    ),
    # The token service trickles, one second left: creating a bill upload (the token comes first) ends at the deadline
    "flexera-at-the-invocation-deadline": TrickledCall(
        lambda url, sleeps: (
            lambda: flexera_client(url, deadline=Deadline.after(1.0), sleeps=sleeps).create_bill_upload("2025-07")
        ),
        FlexeraUnavailable,
        "no time left",
        ["/oidc/token"],
        1.0,
    ),
}


@pytest.mark.parametrize("case", TRICKLED_CALLS.values(), ids=TRICKLED_CALLS.keys())
def test_a_trickled_answer_ends_in_the_retried_error_in_time(trickler: Trickler, case: TrickledCall) -> None:
    # Given a server that trickles its answer over 8 s, and a client of it
    sleeps: list[float] = []
    call = case.call(trickler.url, sleeps)

    # When the call is made
    took, error = elapsed(call)

    # Then it ends in the retried error, after one request per attempt and a retry wait between two, in time
    assert isinstance(error, case.error)
    assert case.message in str(error)
    assert [path.split("?")[0] for path in trickler.requests] == case.paths
    assert len(sleeps) == len(case.paths) - 1
    assert took < case.seconds + SLACK_SECONDS


def test_the_currency_request_ends_at_the_deadline_with_the_default_currency(trickler: Trickler) -> None:
    # Given the plan's currency request to a trickling Kubecost, with one second left
    client = kubecost_client(trickler.url, request_timeout=300, deadline=Deadline.after(1.0), sleeps=[])

    # When the currency is asked for
    started = time.monotonic()
    currency = client.currency()

    # Then the default currency is used once the deadline is reached, as for any other failure of getConfigs
    assert currency == "USD"
    assert time.monotonic() - started < 1.0 + SLACK_SECONDS


@dataclass
class ShortContext:
    """A Lambda context with little time left, as an invocation near its Timeout has."""

    remaining_millis: int
    function_name: str = "export-day"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:export-day"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def test_export_handler_ends_a_hung_kubecost_in_kubecost_unavailable_before_its_timeout(
    kubecost_emulator: Callable[..., KubecostEmulator], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Kubecost that answers only after 5 s, REQUEST_TIMEOUT of 1 minute, and 2 s left in the invocation
    emulator = kubecost_emulator(today=date(2025, 7, 20))
    emulator.inject(KubecostFault("slow", times=None, delay_seconds=5.0))
    monkeypatch.setenv("KUBECOST_HOST", emulator.url)
    monkeypatch.setenv("REQUEST_TIMEOUT", "1")
    event = {"day": DAY.isoformat(), "currency": "USD", "options": {}}

    # When the export handler runs
    took, error = elapsed(lambda: export_day_handler(event, ShortContext(2000)))

    # Then it raises the retried error while the function still runs, the margin kept back
    assert isinstance(error, KubecostUnavailable)
    assert took < 2.0


def test_handlers_keep_a_margin_of_the_remaining_time(lambda_context: FakeLambdaContext) -> None:
    # Given the clock frozen at 0, an invocation with 900 s left and a scaled-down local one with 9 s left
    def clock() -> float:
        return 0.0

    # Then the work ends 10 s before Lambda's limit, or 10 % before it for short budgets
    assert invocation_deadline(lambda_context.get_remaining_time_in_millis(), clock).at == 890.0
    assert invocation_deadline(9000, clock).at == pytest.approx(8.1)


def test_upload_handler_ends_a_trickling_flexera_in_flexera_unavailable_before_its_timeout(
    trickler: Trickler, s3: S3Client, bucket: str, make_secret: MakeSecret, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two complete months to upload, a Flexera that trickles every answer, and 2 s left in the invocation
    write_days(s3, Storage(s3, bucket, "default"), JULY + AUGUST)
    for name, value in {
        "ORG_ID": "12345",
        "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
        "FLEXERA_SECRET_ARN": make_secret("flexera-time-budget", {"refresh_token": "token"}),
        "FLEXERA_ENDPOINT_URL": trickler.url,
        "REQUEST_TIMEOUT": "1",
    }.items():
        monkeypatch.setenv(name, value)

    # When the upload handler runs on the event's day (August is the clock's month, so both months are sent)
    with use_clock(lambda: datetime.combine(date(2025, 8, 2), time_of_day(12), UTC)):
        took, error = elapsed(lambda: upload_handler(sample_event(), ShortContext(2000)))

    # Then every month fails with the retried error while the function still runs (the state machine tries again)
    assert isinstance(error, FlexeraUnavailable)
    assert "2025-07" in str(error)
    assert "2025-08" in str(error)
    assert took < 2.0
