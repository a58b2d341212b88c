"""The way to Kubecost as ``requests`` would take it: proxies and CA bundles from the environment, TLS verified,
redirects followed, compressed answers read, the same headers, and its errors.

The client sends its GETs straight to the connection pool ``requests`` would use (``deadline.HttpTransport``,
``docs/design-decisions.md``); each test here is a behaviour that shortcut must keep, over real HTTP(S) on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import select
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Self

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from emulators.http_server import EmulatorServer, Request, Response
from kubecost_flexera.adapters.deadline import NO_DEADLINE, HttpTransport
from kubecost_flexera.adapters.kubecost import KubecostClient, KubecostCredentials
from kubecost_flexera.config import load_kubecost
from kubecost_flexera.errors import KubecostUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

DAY = date(2025, 7, 15)
NAMES = ["a", "b", "c", "d", "e"]  # two full pages of 2 and a last one of 1


def _page(request: Request) -> Response:
    """Pages of the day by ``offset``/``limit``, as Kubecost pages them."""
    offset, limit = int(request.arg("offset") or 0), int(request.arg("limit") or len(NAMES))
    names = NAMES[offset : offset + limit]
    return Response.json(200, {"code": 200, "data": [{name: {"name": name, "cpuCost": 1.5} for name in names}]})


def _kubecost(answer: Callable[[Request], Response], tls: ssl.SSLContext | None = None) -> EmulatorServer:
    server = EmulatorServer(tls=tls)
    server.route("GET", "/model/allocation", answer)
    return server


def _names(
    host: str, credentials: KubecostCredentials | None = None, *, timeout: float | None = None, **environ: str
) -> list[str | None]:
    settings = load_kubecost({"KUBECOST_HOST": host, "PAGE_SIZE": "2", **environ})
    if timeout is not None:
        settings = replace(settings, request_timeout_seconds=timeout)
    with KubecostClient(settings, credentials, sleep=lambda _seconds: None) as client:
        return [item.name for item in client.allocations(DAY)]


@pytest.fixture
def kubecost() -> Iterator[EmulatorServer]:
    with _kubecost(_page) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_every_page_carries_the_headers_requests_would_send(kubecost: EmulatorServer) -> None:
    # Given credentials from the Kubecost secret
    credentials = KubecostCredentials({"Authorization": "Bearer t0ken", "X-Team": "finops"})
    # When the day is fetched
    assert _names(kubecost.url, credentials) == NAMES
    # Then each of the 3 pages asked for its page, with the credentials and requests' own headers
    assert [(r.arg("offset"), r.arg("limit")) for r in kubecost.requests] == [("0", "2"), ("2", "2"), ("4", "2")]
    for request in kubecost.requests:
        assert request.header("authorization") == "Bearer t0ken"
        assert request.header("x-team") == "finops"
        assert request.header("accept") == "application/json"
        assert "gzip" in (request.header("accept-encoding") or "")
        assert (request.header("user-agent") or "").startswith("python-requests/")
        assert request.header("host") == kubecost.url.removeprefix("http://")
        assert request.target.startswith("/model/allocation?accumulate=true&")


def test_a_gzip_answer_is_read_decompressed() -> None:
    # Given a Kubecost (or an ingress in front of it) that compresses its answers
    def compressed(request: Request) -> Response:
        answer = _page(request)
        return Response(200, gzip.compress(answer.body), headers={"Content-Encoding": "gzip"})

    # When the day is fetched / Then the items are those of the decompressed pages
    with _kubecost(compressed) as server:
        assert _names(server.url) == NAMES


def test_a_corrupt_compressed_answer_is_retried_then_unavailable() -> None:
    # Given answers that say gzip and are not (a proxy mangling them)
    def corrupt(_request: Request) -> Response:
        return Response(200, b"\x1f\x8b\x08\x00not gzip at all", headers={"Content-Encoding": "gzip"})

    # When the day is fetched / Then each attempt fails as a decoding error, and the day is unavailable (retried)
    with (
        _kubecost(corrupt) as server,
        pytest.raises(KubecostUnavailable, match=r"failed 4 times.*ContentDecodingError"),
    ):
        _names(server.url)


def test_http_proxy_from_the_environment_carries_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given HTTP_PROXY naming a proxy, and a Kubecost host that only the proxy can reach
    with _kubecost(_page) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        # When the day is fetched
        assert _names("http://kubecost.invalid:9090") == NAMES
    # Then every request went through the proxy, naming the Kubecost host
    assert len(proxy.requests) == 3
    assert {request.header("host") for request in proxy.requests} == {"kubecost.invalid:9090"}
    assert all(r.target.startswith("http://kubecost.invalid:9090/model/allocation?") for r in proxy.requests)


def test_a_proxy_that_cannot_be_reached_is_a_proxy_error_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given HTTP_PROXY naming a port where nothing listens
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    # When the day is fetched / Then each attempt fails as requests' ProxyError, and the day is unavailable
    with pytest.raises(KubecostUnavailable, match=r"failed 4 times; last: ProxyError"):
        _names("http://kubecost.invalid:9090")


def test_an_answer_slower_than_the_request_timeout_is_a_read_timeout_retried() -> None:
    # Given a Kubecost that answers after 1 s, and a request timeout of 0.3 s
    def slow(request: Request) -> Response:
        return replace(_page(request), delay_seconds=1.0)

    # When the day is fetched / Then each attempt ends as requests' ReadTimeout, and the day is unavailable
    with _kubecost(slow) as server, pytest.raises(KubecostUnavailable, match=r"failed 4 times; last: ReadTimeout"):
        _names(server.url, timeout=0.3)


def test_no_proxy_sends_the_requests_directly(kubecost: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a proxy that does not answer, and NO_PROXY naming the Kubecost host
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    # When the day is fetched / Then Kubecost itself answered every page
    assert _names(kubecost.url) == NAMES
    assert len(kubecost.requests) == 3


def test_a_redirect_to_another_host_is_followed_once_learnt_on_every_page(kubecost: EmulatorServer) -> None:
    # Given an ingress that redirects every page to the Kubecost service, with a cookie and an HTML body as nginx
    # writes one
    def redirect(request: Request) -> Response:
        html = b"<html><head><title>302 Found</title></head><body>302 Found</body></html>"
        location = {"Location": f"{kubecost.url}{request.target}", "Set-Cookie": "ingress=sticky; Path=/"}
        return Response(302, html, "text/html", location, body_delay_seconds=0.02)  # the body in its own packet

    # When the day is fetched from the ingress
    with _kubecost(redirect) as ingress:
        assert _names(ingress.url) == NAMES
    # Then the service gave the pages, and the ingress was asked once a page, the first page twice (once to learn
    # that it redirects): no attempt failed on a connection left with the redirect's body in it
    assert [r.arg("offset") for r in kubecost.requests] == ["0", "2", "4"]
    assert [r.arg("offset") for r in ingress.requests] == ["0", "0", "2", "4"]
    # And no later request sent the ingress's cookie back, as Go's client (no cookie jar) sends none
    assert [r.header("cookie") for r in ingress.requests] == [None] * 4


@pytest.mark.parametrize(
    "path_and_query",
    [
        "/model/allocation?window=a|b&x=%41%7e",  # characters requests quotes, escapes of unreserved ones it unquotes
        "/model/allocation#part?offset=2",  # a fragment: never sent
        "/model/allocation?offset=2",
    ],
)
def test_the_request_line_is_the_one_requests_sends(kubecost: EmulatorServer, path_and_query: str) -> None:
    # Given what requests itself sends for a URL
    url = f"{kubecost.url}{path_and_query}"
    requests.get(url, timeout=10).raise_for_status()
    # When the transport gets a plain URL of that path first (so the path has its route), then that URL
    transport = HttpTransport(10, NO_DEADLINE)
    for address in (f"{kubecost.url}/model/allocation?offset=0", url):
        assert transport.get_body(address)[0] == 200
    # Then Kubecost saw requests' request line for that URL
    sent_by_requests, _, sent_by_transport = (request.target for request in kubecost.requests)
    assert sent_by_transport == sent_by_requests


def test_a_slow_redirect_ends_within_the_one_time_limit_of_its_request(kubecost: EmulatorServer) -> None:
    # Given an ingress whose redirects take 0.6 s, and a request timeout of 1 s
    def slow_redirect(request: Request) -> Response:
        return Response(302, headers={"Location": f"{kubecost.url}{request.target}"}, delay_seconds=0.6)

    transport = HttpTransport(1.0, NO_DEADLINE)
    with _kubecost(slow_redirect) as ingress:
        url = f"{ingress.url}/model/allocation?offset=0"
        # When a page is asked: the transport learns that the path redirects, and asks again
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            transport.get_body(url)
        # Then both requests together ended within the 1 s limit of the one request (not 1.2 s)
        assert time.monotonic() - started < 1.15
        # And the next request of that path follows the redirect at once, in time: the service's page
        status, body = transport.get_body(url)
    assert (status, body) == (200, _page(kubecost.requests[-1]).body)


@pytest.fixture(scope="module")
def tls_server_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the CA bundle a private Kubecost's users set) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubecost.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    certificate_file, key_file = folder / "ca.pem", folder / "key.pem"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificate_file, key_file


@pytest.fixture
def https_kubecost(tls_server_files: tuple[Path, Path]) -> Iterator[EmulatorServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_server_files)
    with _kubecost(_page, tls=context) as server:
        yield server


def test_https_with_kubecost_ca_bundle_is_verified_against_it(
    https_kubecost: EmulatorServer, tls_server_files: tuple[Path, Path]
) -> None:
    # Given a Kubecost whose certificate a private CA signed, and KUBECOST_CA_BUNDLE naming that CA
    # When the day is fetched / Then it comes over TLS
    assert _names(https_kubecost.url, KUBECOST_CA_BUNDLE=str(tls_server_files[0])) == NAMES


class _TcpServer(socketserver.ThreadingTCPServer):
    """A raw TCP server on 127.0.0.1, serving in a thread while in ``with``: for what ``EmulatorServer`` cannot be
    (a tunnelling proxy, a broken answer). ``heads`` is for its handler to record the request heads it reads."""

    daemon_threads = True

    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.heads: list[list[str]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()


class _ConnectProxy(socketserver.StreamRequestHandler):
    """An HTTPS proxy: answers ``CONNECT host:port``, then relays the bytes both ways. Records each request head."""

    server: _TcpServer

    def handle(self) -> None:
        head = []
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            head.append(line.decode().strip())
        self.server.heads.append(head)
        host, port = head[0].split()[1].rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            sockets = [self.connection, upstream]
            while ready := select.select(sockets, [], [], 5)[0]:
                for side in ready:
                    data = side.recv(65536)
                    if not data:
                        return
                    (upstream if side is self.connection else self.connection).sendall(data)


def test_https_through_an_https_proxy_tunnel(
    https_kubecost: EmulatorServer, tls_server_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given HTTPS_PROXY naming a proxy that tunnels (CONNECT), with credentials in its URL
    with _TcpServer(_ConnectProxy) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://finops:s3cret@"))
        # When the day is fetched from a Kubecost over TLS
        assert _names(https_kubecost.url, KUBECOST_CA_BUNDLE=str(tls_server_files[0])) == NAMES
    # Then the pages went through one tunnel to Kubecost, the proxy authenticated, and Kubecost saw paths only
    target = https_kubecost.url.removeprefix("https://")
    ((connect, *headers),) = proxy.heads
    assert connect.startswith(f"CONNECT {target} HTTP/1.")
    assert "Proxy-Authorization: Basic Zmlub3BzOnMzY3JldA==" in headers
    assert [r.target.partition("?")[0] for r in https_kubecost.requests] == ["/model/allocation"] * 3
    assert [r.header("proxy-authorization") for r in https_kubecost.requests] == [None] * 3


def test_requests_ca_bundle_from_the_environment_is_honoured(
    https_kubecost: EmulatorServer, tls_server_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no KUBECOST_CA_BUNDLE but REQUESTS_CA_BUNDLE naming the CA, as requests reads it
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server_files[0]))
    # When the day is fetched / Then the certificate is verified against it
    assert _names(https_kubecost.url) == NAMES


def test_a_certificate_no_trusted_ca_signed_is_refused(https_kubecost: EmulatorServer) -> None:
    # Given the same Kubecost and no CA bundle: the certificate is checked against the system's CAs
    # When the day is fetched / Then no page is accepted: the day is unavailable, naming the TLS failure
    with pytest.raises(KubecostUnavailable, match=r"SSLError.*CERTIFICATE_VERIFY_FAILED"):
        _names(https_kubecost.url)
    assert https_kubecost.requests == []


class _CutShort(socketserver.BaseRequestHandler):
    """Answers every request with a body that ends 100 bytes before its ``Content-Length``, then closes."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 112\r\n\r\n")
        self.request.sendall(b'{"code":200,"data":[]}')
        self.request.close()


def test_an_answer_cut_short_is_retried_then_unavailable() -> None:
    # Given a Kubecost whose answers end before their Content-Length
    # When the day is fetched / Then every attempt fails as a broken connection, and the day is unavailable
    with (
        _TcpServer(_CutShort) as server,
        pytest.raises(KubecostUnavailable, match=r"failed 4 times; last: ChunkedEncodingError.*IncompleteRead"),
    ):
        _names(server.url)
