"""The Kubecost client's own logic: URLs, query strings, credentials, paging rules and error classification.

The server here is a tiny scripted fake on ``emulators.http_server.EmulatorServer`` (real HTTP on 127.0.0.1), so each
test states exactly what the server answers; the full emulator is exercised in ``tests/integration/test_export_day.py``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest

from emulators.http_server import EmulatorServer, Request, Response
from kubecost_flexera.adapters.kubecost import (
    KubecostClient,
    KubecostCredentials,
    allocation_query,
    credentials_from_secret,
    join_url,
    load_credentials,
)
from kubecost_flexera.config import load_kubecost
from kubecost_flexera.errors import ConfigurationError, KubecostRejected, KubecostUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.fixtures.aws import MakeSecret

DAY = date(2025, 7, 15)


def item(name: str) -> dict[str, Any]:
    return {"name": name, "cpuCost": 1.0}


def page(*names: str) -> Response:
    return Response.json(200, {"code": 200, "data": [{name: item(name) for name in names}]})


class FakeKubecost:
    """A scripted Allocation API: ``answer(request)`` decides each response."""

    def __init__(self, answer: Callable[[Request], Response]) -> None:
        self.server = EmulatorServer()
        self.server.route("GET", "/model/allocation", answer)
        self.server.route("GET", "/model/getConfigs", answer)
        self.sleeps: list[float] = []

    def client(self, page_size: int = 3, max_pages: int = 100) -> KubecostClient:
        settings = load_kubecost({"KUBECOST_HOST": self.server.url, "PAGE_SIZE": str(page_size)})
        return KubecostClient(settings, sleep=self.sleeps.append, max_pages=max_pages)

    def names(self, **client_options: Any) -> list[str | None]:
        with self.client(**client_options) as client:
            return [allocation.name for allocation in client.allocations(DAY)]

    def offsets(self) -> list[str | None]:
        return [r.arg("offset") for r in self.server.requests if r.path.endswith("allocation")]


@pytest.fixture
def fake() -> Iterator[Callable[[Callable[[Request], Response]], FakeKubecost]]:
    servers: list[FakeKubecost] = []

    def start(answer: Callable[[Request], Response]) -> FakeKubecost:
        server = FakeKubecost(answer)
        server.server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.server.stop()


def paged(names: list[str], *, idle: tuple[str, ...] = ()) -> Callable[[Request], Response]:
    """A server that honours offset/limit and appends the idle items to every page."""

    def answer(request: Request) -> Response:
        offset, limit = int(request.arg("offset") or 0), int(request.arg("limit") or 0)
        return page(*names[offset : offset + limit], *idle)

    return answer


# --- URLs and query strings ---


@pytest.mark.parametrize(
    ("base", "path", "last", "expected"),
    [
        ("http://h:9090", "/model/", "allocation", "http://h:9090/model/allocation"),
        ("http://h:9090", "/", "allocation", "http://h:9090/allocation"),
        ("http://h:9090", "", "allocation", "http://h:9090/allocation"),
        ("http://h:9090", "model", "allocation", "http://h:9090/model/allocation"),
        ("http://h:9090", "//model//", "allocation", "http://h:9090/model/allocation"),
        ("http://h", "/a/../model/./", "getConfigs", "http://h/model/getConfigs"),
        ("http://h", "/../../model", "allocation", "http://h/model/allocation"),
        ("https://h/kubecost", "/model/", "allocation", "https://h/kubecost/model/allocation"),
        ("http://h", "/model/", "allocation/", "http://h/model/allocation/"),
    ],
)
def test_urls_are_joined_like_go_url_join_path(base: str, path: str, last: str, expected: str) -> None:
    assert join_url(base, path, last) == expected


def test_kubecost_query_is_the_reference_exporters_byte_for_byte() -> None:
    # Given the default configuration
    settings = load_kubecost({})
    # When the first page of 15 July 2025 is requested
    query = allocation_query(settings, DAY, offset=0)
    # Then the query string is the one of KC-QUERY-1
    assert query == (
        "accumulate=true&aggregate=cluster%2Cnamespace%2CcontrollerKind%2Ccontroller%2Cnode%2Cpod"
        "&idle=true&idleByNode=false&includeIdle=true&limit=500&offset=0&shareIdle=false"
        "&shareNamespaces=kube-system%2Ccadvisor&shareSplit=weighted&shareTenancyCosts=true&step=1d"
        "&window=2025-07-15T00%3A00%3A00Z%2C2025-07-16T00%3A00%3A00Z"
    )


def test_opencost_query_has_include_idle_and_no_kubecost_sharing_parameters() -> None:
    settings = load_kubecost({"COST_SOURCE": "opencost", "IDLE": "false", "SHARE_IDLE": "true", "AGGREGATION": "node"})
    query = allocation_query(settings, DAY, offset=1000)
    assert query == (
        "accumulate=true&aggregate=cluster%2Cnamespace%2CcontrollerKind%2Ccontroller%2Cnode"
        "&idleByNode=false&includeIdle=false&limit=500&offset=1000&shareIdle=true&step=1d"
        "&window=2025-07-15T00%3A00%3A00Z%2C2025-07-16T00%3A00%3A00Z"
    )


def test_window_is_the_utc_day_across_a_year_end() -> None:
    query = allocation_query(load_kubecost({}), date(2025, 12, 31), offset=0)
    assert query.endswith("&window=2025-12-31T00%3A00%3A00Z%2C2026-01-01T00%3A00%3A00Z")


def test_client_urls_use_the_separate_config_host_and_path() -> None:
    settings = load_kubecost(
        {
            "KUBECOST_HOST": "https://kubecost.example.com/",
            "KUBECOST_API_PATH": "kc/model",
            "KUBECOST_CONFIG_HOST": "config:9003",
            "KUBECOST_CONFIG_API_PATH": "/",
        }
    )
    with KubecostClient(settings) as client:
        assert client.allocation_url == "https://kubecost.example.com/kc/model/allocation"
        assert client.config_url == "https://config:9003/getConfigs"


# --- credentials ---


def test_bearer_token_secret_becomes_an_authorization_header() -> None:
    assert credentials_from_secret({"bearer_token": "abc"}).headers == {"Authorization": "Bearer abc"}


def test_username_and_password_secret_becomes_basic_auth() -> None:
    credentials = credentials_from_secret({"username": "kc", "password": "pa55"})
    assert credentials.headers == {"Authorization": "Basic a2M6cGE1NQ=="}


def test_headers_secret_is_sent_as_given() -> None:
    credentials = credentials_from_secret({"headers": {"Cookie": "token=jwt", "X-Org": "7"}})
    assert credentials.headers == {"Cookie": "token=jwt", "X-Org": "7"}


def test_credentials_are_never_printed() -> None:
    assert "abc" not in repr(credentials_from_secret({"bearer_token": "abc"}))


@pytest.mark.parametrize(
    "secret",
    [
        ["s3cr3t-value"],
        {"bearer_token": "s3cr3t-value", "username": "kc"},
        {"bearer_token": ""},
        {"username": "kc"},
        {"username": "kc", "password": 12345},
        {"headers": {}},
        {"headers": {"Cookie": 5}},
        {"headers": "s3cr3t-value"},
        {"token": "s3cr3t-value"},
    ],
)
def test_any_other_secret_shape_is_a_configuration_error_that_does_not_print_it(secret: object) -> None:
    with pytest.raises(ConfigurationError, match="KUBECOST_SECRET_ARN") as raised:
        credentials_from_secret(secret)
    assert "s3cr3t-value" not in str(raised.value)
    assert "12345" not in str(raised.value)


def test_no_secret_arn_means_no_credentials() -> None:
    assert load_credentials(None) is None


def test_credentials_are_read_from_secrets_manager(make_secret: MakeSecret) -> None:
    arn = make_secret("kubecost-bearer", {"bearer_token": "from-secrets-manager"})
    credentials = load_credentials(arn)
    assert credentials == KubecostCredentials({"Authorization": "Bearer from-secrets-manager"})


def test_secret_that_is_not_json_is_a_configuration_error_without_its_text(make_secret: MakeSecret) -> None:
    arn = make_secret("kubecost-not-json", "s3cr3t-value")
    with pytest.raises(ConfigurationError, match="could not be read as JSON") as raised:
        load_credentials(arn)
    assert "s3cr3t-value" not in str(raised.value)


def test_missing_secret_is_a_configuration_error(secretsmanager: Any) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf"
    with pytest.raises(ConfigurationError, match="KUBECOST_SECRET_ARN"):
        load_credentials(arn)


def test_credentials_are_sent_on_every_request(fake: Any) -> None:
    server = fake(paged(["a"]))
    settings = load_kubecost({"KUBECOST_HOST": server.server.url})
    with KubecostClient(settings, KubecostCredentials({"Authorization": "Bearer t"})) as client:
        list(client.allocations(DAY))
    assert [r.header("authorization") for r in server.server.requests] == ["Bearer t"]


# --- paging ---


def test_paging_continues_while_pages_are_full_and_stops_on_a_short_page(fake: Any) -> None:
    server = fake(paged([f"p{i}" for i in range(7)]))
    assert server.names(page_size=3) == [f"p{i}" for i in range(7)]
    assert server.offsets() == ["0", "3", "6"]


def test_a_day_that_fills_its_last_page_exactly_costs_one_empty_request(fake: Any) -> None:
    server = fake(paged([f"p{i}" for i in range(6)]))
    assert len(server.names(page_size=3)) == 6
    assert server.offsets() == ["0", "3", "6"]


def test_server_ignoring_offset_is_detected_and_nothing_is_duplicated(fake: Any) -> None:
    server = fake(lambda _request: page("a", "b", "c", "d"))
    assert server.names(page_size=3) == ["a", "b", "c", "d"]
    assert server.offsets() == ["0", "3"]


def limit_only(names: list[str], *, unpaged: list[str] | None = None) -> Callable[[Request], Response]:
    """A server that honours limit but ignores offset; without limit it answers ``unpaged`` (default: every name)."""

    def answer(request: Request) -> Response:
        limit = request.arg("limit")
        return page(*names[: int(limit)]) if limit else page(*(names if unpaged is None else unpaged))

    return answer


def test_server_honouring_limit_but_ignoring_offset_gets_the_day_unpaged(fake: Any) -> None:
    # Given a server that answers every offset with the first page
    names = [f"p{i}" for i in range(10)]
    server = fake(limit_only(names))
    # When the day is read / Then the repeated full page is not the end: the day is asked once without paging
    assert server.names(page_size=3) == names
    assert server.offsets() == ["0", "3", None]
    assert server.server.requests[-1].arg("limit") is None


def test_unpaged_answer_lacking_a_paged_item_is_rejected_not_published_short(fake: Any) -> None:
    # Given a server that ignores offset and whose answer without limit misses an item its pages gave
    server = fake(limit_only([f"p{i}" for i in range(10)], unpaged=["p1", "p2", "p3"]))
    # When the day is read / Then it fails naming the cause
    with pytest.raises(KubecostRejected, match=r"ignores offset.*lacks 1 item"), server.client() as client:
        list(client.allocations(DAY))


def test_items_repeated_across_pages_are_written_once(fake: Any) -> None:
    # Given a server whose unstable order repeats "c" on the second page
    answers = {"0": page("a", "b", "c"), "3": page("c", "d", "e"), "6": page("f")}
    server = fake(lambda request: answers[request.arg("offset") or "0"])
    assert server.names(page_size=3) == ["a", "b", "c", "d", "e", "f"]


def test_idle_items_come_last_once_with_the_latest_copy(fake: Any) -> None:
    # Given idle entries appended to every page (not counted in limit), the later copy differing
    copies = iter(range(10))

    def answer(request: Request) -> Response:
        offset = int(request.arg("offset") or 0)
        names = ["a", "b", "c", "d"][offset : offset + 3]
        sets = {name: item(name) for name in names}
        sets["cluster-1/__idle__"] = {"name": "cluster-1/__idle__", "cpuCost": float(next(copies))}
        return Response.json(200, {"code": 200, "data": [sets]})

    server = fake(answer)
    with server.client(page_size=3) as client:
        allocations = list(client.allocations(DAY))
    assert [a.name for a in allocations] == ["a", "b", "c", "d", "cluster-1/__idle__"]
    assert allocations[-1].cpu_cost == 1.0  # the second page's copy


@pytest.mark.parametrize("data", [[], None, [None], [{}]])
def test_no_set_or_an_empty_set_ends_the_day_without_items(fake: Any, data: object) -> None:
    server = fake(lambda _request: Response.json(200, {"code": 200, "data": data}))
    assert server.names() == []
    assert server.offsets() == ["0"]


def test_a_server_that_never_stops_paging_hits_the_page_cap(fake: Any) -> None:
    counter = iter(range(10_000))
    server = fake(lambda _request: page(*(f"p{next(counter)}" for _ in range(3))))
    with pytest.raises(KubecostRejected, match="after 5 pages"):
        server.names(page_size=3, max_pages=5)
    assert len(server.offsets()) == 5


# --- errors ---


def test_server_errors_are_retried_with_backoff_then_unavailable(fake: Any) -> None:
    server = fake(lambda _request: Response.text(502, "bad gateway"))
    with pytest.raises(KubecostUnavailable, match="failed 4 times; last: HTTP 502: bad gateway"):
        server.names()
    # each wait drawn from [0, ceiling], the ceilings of KUBECOST_RETRY
    assert len(server.sleeps) == 3
    assert all(0.0 <= wait <= ceiling for wait, ceiling in zip(server.sleeps, (1.0, 3.0, 9.0), strict=True))


def test_connection_refused_is_unavailable(fake: Any) -> None:
    server = fake(paged(["a"]))
    with server.client() as client:
        server.server.stop()
        with pytest.raises(KubecostUnavailable, match="ConnectionError"):
            list(client.allocations(DAY))


def test_bad_request_is_rejected_at_once_with_the_server_message(fake: Any) -> None:
    server = fake(lambda _request: Response.text(400, "Invalid 'window' parameter: illegal window: x\n"))
    with pytest.raises(KubecostRejected, match=r"HTTP 400.*illegal window: x"):
        server.names()
    assert server.sleeps == []


def test_not_found_is_rejected(fake: Any) -> None:
    server = fake(lambda _request: Response.text(404, "404 page not found\n"))
    with pytest.raises(KubecostRejected, match="HTTP 404"):
        server.names()


def test_not_found_names_the_url_and_the_settings_that_make_it(fake: Any) -> None:
    # Given a server without the Allocation API at the path asked (KUBECOST_API_PATH is /model/ by default)
    server = fake(lambda _request: Response.text(404, "404 page not found\n"))
    # When a day is asked / Then the error names the URL asked and both settings to check, with the path in force
    with pytest.raises(KubecostRejected) as raised:
        server.names()
    message = str(raised.value)
    assert f"(GET {server.server.url}/model/allocation?accumulate=true&" in message
    assert "HTTP 404 (404 page not found)" in message
    assert "check KUBECOST_HOST (scheme://host[:port]) and KUBECOST_API_PATH (now '/model/'" in message


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda: Response.text(502, "bad gateway"), KubecostUnavailable),
        (lambda: Response.text(400, "bad window"), KubecostRejected),
        (lambda: Response.text(401, "Unauthorized"), KubecostRejected),
        (lambda: Response.text(200, "<html>"), KubecostRejected),
        (lambda: Response.json(200, [1]), KubecostRejected),
        (lambda: Response.json(200, {"code": 500, "message": "boom"}), KubecostRejected),
        (lambda: Response.json(200, {"code": 200, "data": {"a": 1}}), KubecostRejected),
        (lambda: Response.json(200, {"code": 200, "data": [{"a": 1}]}), KubecostRejected),
    ],
)
def test_every_error_about_an_answer_names_the_full_url_asked(
    fake: Any, answer: Callable[[], Response], error: type[Exception]
) -> None:
    # Given a server answering with a failure, a refusal or an unusable body
    server = fake(lambda _request: answer())
    # When a day is asked / Then the error names the URL with its query (the day's window)
    with pytest.raises(error) as raised:
        server.names()
    assert f"(GET {server.server.url}/model/allocation?accumulate=true&" in str(raised.value)
    assert "window=2025-07-15T00%3A00%3A00Z" in str(raised.value)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_authentication_is_rejected_saying_so(fake: Any, status: int) -> None:
    server = fake(lambda _request: Response.text(status, "Unauthorized"))
    with pytest.raises(KubecostRejected, match=f"refused authentication \\(HTTP {status}\\)"):
        server.names()


def test_code_other_than_200_is_rejected_with_the_message(fake: Any) -> None:
    body = {"code": 500, "data": None, "message": "Error: error querying Prometheus"}
    server = fake(lambda _request: Response.json(200, body))
    with pytest.raises(KubecostRejected, match=r"code 500.*error querying Prometheus"):
        server.names()


@pytest.mark.parametrize(
    "body",
    [b"<html>proxy error</html>", b'{"code":200,"data":[{"a":{"cpuCost":NaN}}]}', b"[1, 2]", b'{"code":200,"data":5}'],
)
def test_bodies_that_are_not_the_expected_json_are_rejected(fake: Any, body: bytes) -> None:
    server = fake(lambda _request: Response(200, body))
    with pytest.raises(KubecostRejected):
        server.names()


def test_a_set_that_is_not_a_map_of_objects_is_rejected(fake: Any) -> None:
    server = fake(lambda _request: Response.json(200, {"code": 200, "data": [{"a": 1}]}))
    with pytest.raises(KubecostRejected, match=r"malformed allocation page: Expected `object`.* at `\$\.data\[0\]"):
        server.names()


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"name": "b", "cpuCost": "0.5"}, "cpuCost"),
        ({"name": "b", "minutes": True}, "minutes"),
        ({"name": "b", "properties": {"labels": ["app"]}}, "properties.labels"),
        ({"name": 7}, "name"),
    ],
)
def test_a_field_of_the_wrong_json_type_refuses_the_page_naming_the_field(
    fake: Any, item: dict[str, Any], field: str
) -> None:
    # Given a page whose second item has a field of a type Go's decoder refuses
    server = fake(lambda _request: Response.json(200, {"code": 200, "data": [{"a": {"name": "a"}, "b": item}]}))
    # When the day is read, then the page is refused with the path of the field
    with pytest.raises(KubecostRejected, match=rf"malformed allocation page: .* at `\$\.data\[0\]\[\.\.\.\]\.{field}`"):
        server.names()


def test_fields_the_csv_does_not_use_are_skipped_whatever_their_type(fake: Any) -> None:
    # Given an item with fields of every shape that no CSV column reads
    extra = {"rawAllocationOnly": {"x": [1, None]}, "pvs": None, "cpuEfficiency": "n/a", "services": [1]}
    server = fake(lambda _request: Response.json(200, {"code": 200, "data": [{"a": {"name": "a", **extra}}]}))
    # When the day is read, then the item is there
    assert server.names() == ["a"]


def test_integers_are_decoded_as_numbers_and_negative_zero_keeps_its_sign(fake: Any) -> None:
    server = fake(
        lambda _request: Response(200, b'{"code":200,"data":[{"a":{"name":"a","minutes":1440,"sharedCost":-0}}]}')
    )
    with server.client() as client:
        (allocation,) = client.allocations(DAY)
    assert allocation.minutes == 1440.0
    assert json.dumps(allocation.shared_cost) == "-0.0"


def test_a_lone_surrogate_escape_is_decoded_as_go_decodes_it(fake: Any) -> None:
    # Given a page whose item name holds a lone UTF-16 surrogate escape (which typed decoding refuses)
    server = fake(lambda _request: Response(200, b'{"code":200,"data":[{"a":{"name":"x\\ud800y","minutes":60}}]}'))
    # When the day is read
    with server.client() as client:
        (allocation,) = client.allocations(DAY)
    # Then the page is not refused; the CSV formatter later writes the surrogate as U+FFFD, as Go does
    assert allocation.name == "x\ud800y"
    assert allocation.minutes == 60.0


# --- currency ---


def configs(data: object, status: int = 200) -> Callable[[Request], Response]:
    return lambda _request: Response.json(status, {"code": 200, "data": data})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (configs({"currencyCode": "EUR"}), "EUR"),
        (configs({"currencyCode": ""}), "CHF"),
        (configs({}), "CHF"),
        (configs(None), "CHF"),
        (configs({"currencyCode": "usd"}), "USD"),
        (configs({"currencyCode": " EUR \n"}), "EUR"),
        (configs({"currencyCode": "dollars"}), "CHF"),
        (configs({"currencyCode": "U$D"}), "CHF"),
        (configs({"currencyCode": "uß"}), "CHF"),
        (configs({"currencyCode": 840}), "CHF"),
        (configs({"currencyCode": "EUR"}, status=500), "CHF"),
        (lambda _request: Response(200, b"not json"), "CHF"),
    ],
)
def test_currency_from_get_configs_or_the_default(fake: Any, answer: Any, expected: str) -> None:
    server = fake(answer)
    settings = load_kubecost({"KUBECOST_HOST": server.server.url, "DEFAULT_CURRENCY": "CHF"})
    with KubecostClient(settings) as client:
        assert client.currency() == expected


def test_currency_is_asked_once_without_retries(fake: Any) -> None:
    server = fake(lambda _request: Response.text(503, "unavailable"))
    settings = replace(load_kubecost({"KUBECOST_HOST": server.server.url}), default_currency="JPY")
    with KubecostClient(settings, sleep=server.sleeps.append) as client:
        assert client.currency() == "JPY"
    assert len(server.server.requests) == 1
