"""The small HTTP server both emulators are built on: real sockets on 127.0.0.1, routes, a request log, faults.

Why not Flask or moto's server: the emulators must misbehave on purpose (drop a connection mid-answer, answer
slower than the client's timeout, send HTML from a "proxy"), which is simplest with the standard library's
``ThreadingHTTPServer``. An emulator subclasses :class:`EmulatorServer`, registers routes, and is used either
from a test (``with Emulator(...) as emu: emu.url``) or from the command line (``serve_forever``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Mapping
    from types import TracebackType


@dataclass(frozen=True)
class Request:
    """One request as the emulator received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    target: str = ""  # the request line's target as sent: a path and query, or a whole URL (to a proxy)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter (as Go's ``url.Values.Get`` returns the first; ours never repeat)."""
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # sleep before answering (slow proxy, latency)
    drop_connection: bool = False  # close the socket without any answer
    body_delay_seconds: float = 0.0  # sleep between the head and the body (a body in a later packet)

    @classmethod
    def json(
        cls,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
    ) -> Response:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), content_type, dict(headers or {}))

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode(), content_type)

    @classmethod
    def dropped(cls) -> Response:
        return cls(0, drop_connection=True)


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Request], Response]


class EmulatorServer:
    """A threaded HTTP server on 127.0.0.1 with regex routes and a request log."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self._routes: list[_Route] = []
        self._tls = tls  # a server context: HTTPS, with its certificate
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self._host = host
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- routes ---

    def route(self, method: str, pattern: str, handler: Callable[[Request], Response]) -> None:
        """``pattern`` is a regex on the path, anchored; named groups become ``Request.params``."""
        self._routes.append(_Route(method, re.compile(f"^{pattern}$"), handler))

    def dispatch(self, request: Request) -> Response:
        allowed: list[str] = []
        for route in self._routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            routed = Request(**{**request.__dict__, "params": match.groupdict()})
            return route.handler(routed)
        if allowed:
            return Response.text(HTTPStatus.METHOD_NOT_ALLOWED, "405 method not allowed\n")
        return Response.text(HTTPStatus.NOT_FOUND, "404 page not found\n")

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    # --- lifecycle ---

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

    def start(self) -> Self:
        self._httpd = ThreadingHTTPServer((self._host, self._port), _make_handler(self))
        self._httpd.daemon_threads = True
        if self._tls is not None:
            self._httpd.socket = self._tls.wrap_socket(self._httpd.socket, server_side=True)
        # A short poll interval: stop() waits for the serving loop to notice, and tests start one server each.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Runs in the foreground until interrupted (the command-line entry points)."""
        self.start()
        print(f"{type(self).__name__} listening on {self.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are separate writes; with Nagle's algorithm the body waits for the client's delayed
        # ACK of the headers, about 40 ms per kept-alive request.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            split = urlsplit(self.path)
            body = self._read_body()
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                target=self.path,
            )
            server.record(request)
            response = server.dispatch(request)
            if response.delay_seconds:
                time.sleep(response.delay_seconds)
            if response.drop_connection:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if response.body_delay_seconds:  # end_headers() has sent the head
                time.sleep(response.body_delay_seconds)
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _read_body(self) -> bytes:
            """The request body, sized by ``Content-Length`` or sent chunked (clients that stream a file do that)."""
            if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF closing the chunk
            while self.rfile.readline().strip():  # trailer fields, up to the empty line
                pass
            return b"".join(chunks)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the request log is ``server.requests``."""

    return _Handler
