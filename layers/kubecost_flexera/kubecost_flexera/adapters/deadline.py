"""Time limits of the HTTP calls to Kubecost and Flexera: each request ends within its own total limit and before
the invocation's deadline, whatever the server does.

``requests``' ``timeout`` bounds the connection and each socket read, not the request: a server that trickles a byte
per read timeout keeps a call waiting for ever, and a Lambda function past its ``Timeout`` is killed
(``Sandbox.Timedout``) before it can raise the typed error the state machine retries. Here every read and write on a
connection's socket may block only for what is left of the request's deadline, so a request as a whole (connection,
answer, body sent) ends by then with a ``requests`` timeout or connection error, which the clients turn into
``KubecostUnavailable``/``FlexeraUnavailable``. A request's deadline is the earlier of ``REQUEST_TIMEOUT`` from its
start (Go's ``http.Client.Timeout``, which also covers the whole request) and the invocation's :class:`Deadline`.

Not covered: name resolution (the system resolver's own timeouts) and the TLS handshake, whose reads are bounded by
the connect timeout each.

The handler turns ``context.get_remaining_time_in_millis()`` into a plain :class:`Deadline`
(:func:`invocation_deadline`), so the domain knows nothing of Lambda.
"""

from __future__ import annotations

import io
import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, Final, cast

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Iterator

    from urllib3 import PoolManager

# Time kept back from the invocation for what follows a timed-out call: aborting the day's multipart upload or the
# month's bill upload, the error's log line and metrics. A fraction of short budgets (local runs scale time down).
SAFETY_MARGIN_SECONDS: Final = 10.0
SAFETY_MARGIN_FRACTION: Final = 0.1
CONNECT_TIMEOUT_SECONDS: Final = 5.0
# A retry is started only when its wait and at least this much of an attempt fit before the deadline.
MIN_ATTEMPT_SECONDS: Final = 1.0


@dataclass(frozen=True)
class Deadline:
    """A point in time on ``clock`` (monotonic seconds) by which work must have ended."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def fits(self, seconds: float) -> bool:
        """Whether ``seconds`` of waiting and a minimal attempt still end before the deadline."""
        return self.remaining() >= seconds + MIN_ATTEMPT_SECONDS

    def within(self, seconds: float) -> Deadline:
        """The earlier of this deadline and ``seconds`` from now."""
        return Deadline(min(self.at, self.clock() + seconds), self.clock)


NO_DEADLINE: Final = Deadline(math.inf)  # for code run outside an invocation (benchmarks, tools)


def invocation_deadline(remaining_millis: int, clock: Callable[[], float] = time.monotonic) -> Deadline:
    """The deadline of work in an invocation with ``remaining_millis`` left, a safety margin kept back."""
    remaining = remaining_millis / 1000
    return Deadline.after(remaining - min(SAFETY_MARGIN_SECONDS, remaining * SAFETY_MARGIN_FRACTION), clock)


# The deadline of the request in progress in this thread (each Lambda invocation, or local Map thread, has its own).
_request_deadline: ContextVar[Deadline | None] = ContextVar("request_deadline", default=None)


def _time_left() -> float | None:
    """What the request in progress may still block for; raises once it is spent. None outside a request."""
    deadline = _request_deadline.get()
    if deadline is None:
        return None
    left = deadline.remaining()
    if left <= 0.0:
        raise TimeoutError("the request's time limit is spent")
    return left


class _DeadlineReader(io.RawIOBase):
    """The socket's reading side, each read bounded by the request's time left (``http.client`` reads through it)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        # A real SocketIO: it keeps the socket open until the response is done with it, as http.client expects.
        self._raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = _time_left()
        if left is not None:
            self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """A connected (TLS) socket whose reads and writes each block at most for the request's time left."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode == "rb":
            return io.BufferedReader(_DeadlineReader(self._sock))
        return getattr(self._sock, "makefile")(mode, *args, **kwargs)  # noqa: B009 - untyped pass-through

    def sendall(self, data: Any, flags: int = 0) -> None:
        left = _time_left()
        if left is not None:
            self._sock.settimeout(left)  # sendall's timeout bounds the whole call (Python 3.5+)
        self._sock.sendall(data, flags)


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock)


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _use_deadline_connections(manager: PoolManager) -> PoolManager:
    manager.pool_classes_by_scheme = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}
    return manager


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections whose sockets respect the request deadline (proxied ones too)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_deadline_connections(self.poolmanager)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        return _use_deadline_connections(super().proxy_manager_for(*args, **kwargs))


_Errors = tuple[tuple[type[Exception], type[requests.RequestException]], ...]
# The requests error for a urllib3 error, the first that matches: as HTTPAdapter.send raises it while the request is
# sent and the answer's head read, and as Response.iter_content raises it while the body is read. Anything else (a
# socket error) is a ConnectionError.
_SENDING_ERRORS: Final[_Errors] = (
    (urllib3.exceptions.SSLError, requests.exceptions.SSLError),
    (urllib3.exceptions.NewConnectionError, requests.ConnectionError),  # a ConnectTimeoutError, yet no timeout
    (urllib3.exceptions.ConnectTimeoutError, requests.ConnectTimeout),
    (urllib3.exceptions.TimeoutError, requests.ReadTimeout),
    (urllib3.exceptions.ProxyError, requests.exceptions.ProxyError),
)
_READING_ERRORS: Final[_Errors] = (
    (urllib3.exceptions.SSLError, requests.exceptions.SSLError),
    (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError),
    (urllib3.exceptions.DecodeError, requests.exceptions.ContentDecodingError),
)


def _requests_error(exc: Exception, errors: _Errors) -> requests.RequestException:
    error = next((theirs for ours, theirs in errors if isinstance(exc, ours)), requests.ConnectionError)
    return error(exc)


@dataclass(frozen=True)
class _Route:
    """What ``requests`` works out for every request to one URL path, worked out once (:meth:`HttpTransport._route`):
    the adapter, the prepared request (its headers and URL), the settings from the environment, and whether the
    request line names the whole URL (a plain HTTP proxy) or only the path and query."""

    adapter: HTTPAdapter
    prepared: requests.PreparedRequest
    verify: Any
    proxies: dict[str, str]
    cert: Any
    absolute: bool
    path: str


class HttpTransport:
    """A ``requests`` session whose every request ends within ``request_timeout_seconds`` and by ``deadline``."""

    def __init__(
        self, request_timeout_seconds: float, deadline: Deadline, session: requests.Session | None = None
    ) -> None:
        self.request_timeout_seconds = request_timeout_seconds
        self.deadline = deadline
        self.session = session or requests.Session()
        adapter = _DeadlineAdapter()
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # No cookie jar, as Go's http.Client has none: what a server sets is never sent back, on either path.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._routes: dict[str, _Route | None] = {}

    @contextmanager
    def _limited(self) -> Iterator[dict[str, Any]]:
        """The request's deadline for the sockets, and requests' own timeouts no longer than it."""
        limit = self.deadline.within(self.request_timeout_seconds)
        left = limit.remaining()
        if left <= 0.0:
            raise requests.Timeout("no time left for the request before the invocation's deadline")
        token = _request_deadline.set(limit)
        try:
            yield {"timeout": (min(CONNECT_TIMEOUT_SECONDS, left), left)}
        finally:
            _request_deadline.reset(token)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The whole answer (its body read within the limit)."""
        with self._limited() as limits:
            return self.session.request(method, url, **kwargs, **limits)

    def get_body(self, url: str) -> tuple[int, bytes]:
        """Status and body of a GET, as ``session.get`` would send and read it, for less CPU.

        ``requests`` works out every request from scratch: the proxy and CA settings from the environment, the
        headers, the URL parsed and re-encoded character by character, three times. On a day's hundred pages that is
        about half the client's HTTP time (``docs/design-decisions.md``). Here ``requests`` works out the route once
        per URL path (:meth:`_route`), and each GET goes straight to the connection pool that ``requests`` would have
        used. Its errors are the ``requests`` ones its callers handle. A URL ``requests`` would rewrite takes the
        ``session.get`` path, and so does a path that answered a redirect, from that answer on: ``session.get`` asks
        again and follows it, within the same time limit.
        """
        path_url, _, query = url.partition("?")
        if path_url not in self._routes:
            self._routes[path_url] = self._route(url)
        route = self._routes[path_url]
        with self._limited() as limits:
            # Only the query changes between the requests to one path: one requests would rewrite takes its path.
            if route is not None and "#" not in url and requote_uri(query) == query:
                status, body = self._pool_get_body(route, url, query, limits["timeout"])
                if body is not None:
                    return status, body
                self._routes[path_url] = None
            return self._session_get_body(url, limits)

    def _route(self, url: str) -> _Route | None:
        """How ``session.get(url)`` reaches ``url``'s path, as ``requests`` works it out; None if ``requests`` would
        send another URL than ``url`` (a host to IDNA-encode, characters to quote): those keep the session path."""
        session = self.session
        prepared = session.prepare_request(requests.Request("GET", url))
        if prepared.url != url:
            return None
        settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
        adapter = session.get_adapter(prepared.url)
        if not isinstance(adapter, HTTPAdapter):
            return None
        proxies, path = dict(settings["proxies"]), prepared.path_url.partition("?")[0]
        absolute = adapter.request_url(prepared, proxies) != prepared.path_url
        return _Route(adapter, prepared, settings["verify"], proxies, settings["cert"], absolute, path)

    @staticmethod
    def _pool_get_body(route: _Route, url: str, query: str, timeout: tuple[float, float]) -> tuple[int, bytes | None]:
        """What ``HTTPAdapter.send`` does for a GET, then the whole body; None as the body of a redirect. Errors are
        those ``requests`` raises (:data:`_SENDING_ERRORS`, :data:`_READING_ERRORS`)."""
        adapter, prepared = route.adapter, route.prepared
        # Per request, as requests does: a pool manager may have closed a pool it no longer keeps.
        pool = cast(
            "HTTPConnectionPool",
            adapter.get_connection_with_tls_context(prepared, route.verify, route.proxies, route.cert),
        )
        adapter.cert_verify(pool, prepared.url, route.verify, route.cert)  # type: ignore[no-untyped-call]
        target = url if route.absolute else f"{route.path}?{query}" if query else route.path
        try:
            response = pool.urlopen(
                "GET",
                target,
                headers=prepared.headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=False,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _requests_error(exc, _SENDING_ERRORS) from exc
        try:
            if response.get_redirect_location():
                response.read()  # as requests reads a redirect's body: the connection is then clean to reuse
                return response.status, None
            return response.status, response.read(decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _requests_error(exc, _READING_ERRORS) from exc
        finally:
            response.release_conn()

    def _session_get_body(self, url: str, limits: dict[str, Any]) -> tuple[int, bytes]:
        """The GET through ``session.get``, the body read in one piece (requests' default 10 KiB chunks cost CPU)."""
        with self.session.get(url, stream=True, **limits) as response:
            return response.status_code, b"".join(response.iter_content(chunk_size=None))

    def close(self) -> None:
        self.session.close()
