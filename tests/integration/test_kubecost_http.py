"""The way to Kubecost as ``requests`` would take it: proxies and CA bundles from the environment, TLS verified,
redirects followed, compressed answers read, the same headers, and its errors.

The client sends its GETs straight to the connection pool ``requests`` would use (``deadline.HttpTransport``,
``docs/design-decisions.md``); each test here is a behaviour that shortcut must keep, over real HTTP(S) on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import socketserver
import ssl
import threading
from datetime import date
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from emulators.http_server import EmulatorServer, Request, Response
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


def _names(host: str, credentials: KubecostCredentials | None = None, **environ: str) -> list[str | None]:
    settings = load_kubecost({"KUBECOST_HOST": host, "PAGE_SIZE": "2", **environ})
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


def test_no_proxy_sends_the_requests_directly(kubecost: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a proxy that does not answer, and NO_PROXY naming the Kubecost host
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    # When the day is fetched / Then Kubecost itself answered every page
    assert _names(kubecost.url) == NAMES
    assert len(kubecost.requests) == 3


def test_a_redirect_to_another_host_is_followed(kubecost: EmulatorServer) -> None:
    # Given an ingress that redirects every page to the Kubecost service on another host, query kept
    def redirect(request: Request) -> Response:
        query = "&".join(f"{name}={values[-1]}" for name, values in request.query.items())
        return Response(302, headers={"Location": f"{kubecost.url}{request.path}?{query}"})

    # When the day is fetched from the ingress / Then the pages are those of the service
    with _kubecost(redirect) as ingress:
        assert _names(ingress.url) == NAMES
    assert [r.arg("offset") for r in kubecost.requests] == ["0", "2", "4"]


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
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _CutShort) as server:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        host, port = server.server_address[:2]
        # When the day is fetched / Then every attempt fails as a broken connection, and the day is unavailable
        with pytest.raises(KubecostUnavailable, match=r"failed 4 times; last: ChunkedEncodingError.*IncompleteRead"):
            _names(f"http://{host!s}:{port}")
        server.shutdown()
