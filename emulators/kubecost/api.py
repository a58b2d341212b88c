"""A Kubecost / OpenCost Allocation API emulator: a real HTTP server on 127.0.0.1 for tests, benchmarks and the demo.

Why: the exporter must be proven against the API as it really behaves (the Kubecost facts ``KC-*``, scope
``KC-EMU-1``), including its undocumented corners and failures, without a Kubernetes cluster. The data come from
``emulators.kubecost.data``: deterministic from ``(seed, day)``, ``allocations_per_day`` pods a day, aggregated
for real.

From Python: ``with KubecostEmulator(KubecostEmulatorConfig(...)) as emu: emu.url``; in tests the
``kubecost_emulator`` fixture (``tests/fixtures/kubecost.py``) starts one per call and stops it at teardown.

Flavours:

- **kubecost**: ``{api_path}allocation`` (default ``/model/allocation``) and ``{api_path}getConfigs``. Reads
  ``idle`` (default true), ``idleByNode``, ``shareIdle``, ``offset``/``limit`` (line items; non-idle items sorted
  by ``totalCost`` descending, ties by name, so pages are stable). With ``ignore_offset`` it honours ``limit`` but
  ignores ``offset``, answering every page with the first one, as some servers or proxies do.
- **opencost**: ``{api_path}allocation`` and ``{api_path}allocation/compute`` (default ``/``), no getConfigs (404).
  Reads ``includeIdle`` (default false) and ``idleByNode``; ``shareIdle`` too unless ``opencost_share_idle`` is
  false (OpenCost reads it since v1.112); ignores ``idle``, ``offset``, ``limit`` and the other share parameters.

Both: ``window`` must be an RFC 3339 pair of UTC midnights (``2025-07-15T00:00:00Z,2025-07-16T00:00:00Z``; several
days allowed). A malformed or missing window gets OpenCost's plain-text 400
``Invalid 'window' parameter: illegal window: <value>``; a window OpenCost would accept but the emulator does not
serve (durations, words, Unix pairs, not midnight-aligned) gets OpenCost's JSON 400 ``bad request`` error.
``aggregate`` is case-insensitive; known names: cluster, namespace, controllerKind, controller, node, pod,
container, providerID, ``label:<name>``; unknown ones are dropped (as OpenCost does); when none is left, the
default is ``namespace`` (Kubecost 2.x) or ``cluster,node,namespace,pod,container`` (OpenCost).
``accumulate=true`` gives one set for the window; otherwise ``step=1d`` (or Kubecost's default) gives one set per
day, and OpenCost without ``step`` one set for the window. ``shareNamespaces``, ``shareSplit`` and
``shareTenancyCosts`` are accepted and ignored: ``sharedCost`` comes from the generator.

Choices where the facts are silent (KC-PAGE-1, KC-NAME-2, KC-EMU-1):

- Idle entries are named ``<cluster>/<node>/__idle__`` with ``idleByNode=true``; otherwise ``<cluster>/__idle__``
  (``idle_naming="cluster"``, default), a single ``__idle__`` (``"single"``, OpenCost and Kubecost 1.x), or a single
  ``__idle__/__idle__/...`` with one part per aggregate key (``"padded"``, reported for Kubecost 2.x, unverified).
- With ``offset``/``limit`` the idle entries are appended to **every** page and not counted in ``limit``
  (default), or, with ``idle_in_limit=True``, they are ordinary line items of the cost-sorted list.
- ``shareIdle=true`` spreads idle over the other items by cost (see ``data``) and returns no idle entry.
- The envelope omits ``status`` as the Kubecost docs sample and OpenCost 1.121.3 do (``include_status`` adds it).
  A day with no data is ``{}`` (``empty_day_data``: or ``null``, or no set at all). Days after ``today``, at or
  before ``today - retention_days``, or in ``empty_days`` have no data; ``today`` itself has a full day.
- Strings are escaped like Go's encoder (``<`` ``>`` ``&`` as ``\\u003c`` ``\\u003e`` ``\\u0026``); numbers are
  rounded to 5 decimals, integral ones without a fraction, tiny ones may print in exponent form (valid JSON).
- ``getConfigs`` (``config_mode``): ``static`` (the 8-field object of Helm 2.8.3+), ``full`` (CustomPricing-like,
  all strings), ``not_found`` (404), ``error`` (HTTP 500 JSON), ``undecodable`` (200 with an HTML body).
- Faults: see ``emulators.kubecost.faults``. Authentication (``KubecostAuth``) guards allocation and getConfigs (401
  ``Unauthorized`` otherwise); ``latency_seconds`` delays every answer of those routes.
- Results are cached per (window, query without offset/limit) in an LRU of ``cache_size`` entries, and pod
  records per day in a small LRU, so each page of a paged day only slices and serialises.
- ``GET /__emulator__/expected?<allocation query>`` (never authenticated, never faulted) answers
  ``{"allocations", "names", "totalCost"}`` for the unpaged answer: the same code as ``emu.expected(day, ...)``.
  Parameters left out take the exporter's defaults (``EXPORTER_DEFAULTS``: pod level, idle on, no sharing), not
  the API's, so ``emu.expected(day)`` is what a default export of that day must contain.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Final, Generic, Literal, TypeVar

from emulators.http_server import EmulatorServer, Request, Response
from emulators.kubecost import data
from emulators.kubecost.faults import FaultPlan, KubecostFault, faulty_answer, opencost_error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

Flavour = Literal["kubecost", "opencost"]
ConfigMode = Literal["static", "full", "not_found", "error", "undecodable"]
EXPECTED_PATH: Final = "/__emulator__/expected"
MAX_WINDOW_DAYS: Final = 62
_RFC3339_PAIR: Final = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z),(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$")
# Windows OpenCost accepts that the emulator does not serve (core/pkg/opencost/window.go).
_OTHER_LEGAL_WINDOWS: Final = (
    re.compile(r"^\d+[mhdw]( offset \d+[mhdw])?$"),
    re.compile(r"^(today|yesterday|week|month|lastweek|lastmonth)$"),
    re.compile(r"^\d+[,-]\d+$"),
)
_AGGREGATE_NAMES: Final = {
    name.lower(): name
    for name in ("cluster", "namespace", "controllerKind", "controller", "node", "pod", "container", "providerID")
}
_DEFAULT_AGGREGATE: Final[Mapping[str, tuple[str, ...]]] = {
    "kubecost": ("namespace",),
    "opencost": ("cluster", "node", "namespace", "pod", "container"),
}
_DEFAULT_API_PATH: Final[Mapping[str, str]] = {"kubecost": "/model/", "opencost": "/"}
# What the Go exporter sends with its default settings (KC-QUERY-1), minus offset and limit.
EXPORTER_DEFAULTS: Final[Mapping[str, str]] = {
    "accumulate": "true",
    "aggregate": "cluster,namespace,controllerKind,controller,node,pod",
    "idle": "true",
    "idleByNode": "false",
    "includeIdle": "true",
    "shareIdle": "false",
    "shareNamespaces": "kube-system,cadvisor",
    "shareSplit": "weighted",
    "shareTenancyCosts": "true",
    "step": "1d",
}
_GO_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_DAY_CACHE_SIZE: Final = 4


@dataclass(frozen=True)
class KubecostAuth:
    """Required credentials: ``Authorization: Bearer <secret>``, basic ``username:secret``, or cookie
    ``<cookie_name>=<secret>`` (Kubecost SAML/OIDC sessions use ``token``; OIDC may use ``id_token``)."""

    scheme: Literal["bearer", "basic", "cookie"]
    secret: str
    username: str = ""
    cookie_name: str = "token"


@dataclass(frozen=True)
class KubecostEmulatorConfig:
    flavour: Flavour = "kubecost"
    seed: int = 1
    allocations_per_day: int = 50  # non-idle items at pod aggregation
    today: date | None = None  # None: the real UTC date
    retention_days: int = 400
    empty_days: frozenset[date] = frozenset()
    latency_seconds: float = 0.0
    auth: KubecostAuth | None = None
    currency: str = "USD"
    config_mode: ConfigMode = "static"
    api_path: str | None = None  # None: "/model/" (kubecost) or "/" (opencost)
    idle_naming: Literal["cluster", "single", "padded"] = "cluster"
    idle_in_limit: bool = False
    include_status: bool = False
    empty_day_data: Literal["empty_set", "null_set", "no_sets"] = "empty_set"
    opencost_share_idle: bool = True
    ignore_offset: bool = False  # kubecost flavour: honour limit, answer every offset as offset 0
    cache_size: int = 32


@dataclass(frozen=True)
class ExpectedDay:
    allocations: int  # non-idle + idle items
    names: frozenset[str]
    total_cost: float  # sum of the items' totalCost as written (5 decimals each)


class BadWindow(ValueError):
    """OpenCost's window parse error: plain text 400."""


class BadRequest(ValueError):
    """OpenCost's other client errors: JSON 400 whose message contains "bad request"."""


@dataclass(frozen=True)
class Query:
    """An allocation query, normalised; hashable, it is the cache key (paging is applied afterwards)."""

    start: int
    end: int
    aggregate: tuple[str, ...]
    idle: bool
    idle_by_node: bool
    share_idle: bool
    per_day: bool  # one set per day (only ever true for windows of several days)


@dataclass(frozen=True)
class AllocationSet:
    """One step of the answer: non-idle items sorted by cost, then idle items (and both sorted, for idle_in_limit)."""

    start: int
    end: int
    items: tuple[data.Allocation, ...]
    idle: tuple[data.Allocation, ...]
    combined: tuple[data.Allocation, ...]

    @property
    def empty(self) -> bool:
        return not self.items and not self.idle


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, build: Callable[[], V]) -> V:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = build()
        self._entries[key] = value
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value


class KubecostEmulator(EmulatorServer):
    def __init__(self, config: KubecostEmulatorConfig | None = None, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.config = config or KubecostEmulatorConfig()
        self._compute_lock = threading.Lock()
        self._faults = FaultPlan()
        self._topology = data.build_topology(self.config.seed, self.config.allocations_per_day)
        self._days: _Lru[date, data.DayData] = _Lru(_DAY_CACHE_SIZE)
        self._results: _Lru[Query, tuple[AllocationSet, ...]] = _Lru(self.config.cache_size)
        prefix = self.config.api_path or _DEFAULT_API_PATH[self.config.flavour]
        prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
        self.api_path = prefix
        self.route("GET", re.escape(prefix) + "allocation", self._guarded(self._allocation))
        if self.config.flavour == "opencost":
            self.route("GET", re.escape(prefix) + "allocation/compute", self._guarded(self._allocation))
        else:
            self.route("GET", re.escape(prefix) + "getConfigs", self._guarded(self._get_configs))
        self.route("GET", re.escape(EXPECTED_PATH), self._expected_route)

    # --- runtime controls ---

    def inject(self, fault: KubecostFault) -> None:
        self._faults.inject(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def allocation_url(self) -> str:
        return f"{self.url}{self.api_path}allocation"

    def expected(self, day: date, **query: str | bool | int) -> ExpectedDay:
        """What an unpaged request for ``day`` returns (same code path), with these HTTP parameters on top of the
        exporter's defaults (``EXPORTER_DEFAULTS``)."""
        params = {name: _param(value) for name, value in query.items()}
        return self.expected_for({**params, "window": day_window(day)})

    def expected_for(self, params: Mapping[str, str]) -> ExpectedDay:
        return _expected(self.compute(self.parse_query({**EXPORTER_DEFAULTS, **params})))

    # --- query semantics ---

    def parse_query(self, params: Mapping[str, str]) -> Query:
        flavour = self.config.flavour
        start, end = parse_window(params.get("window", ""))
        names = [_aggregate_name(part) for part in params.get("aggregate", "").split(",")]
        aggregate = tuple(name for name in names if name) or _DEFAULT_AGGREGATE[flavour]
        if flavour == "kubecost":
            idle = _go_bool(params.get("idle"), default=True)
            share_idle = _go_bool(params.get("shareIdle"), default=False)
        else:
            idle = _go_bool(params.get("includeIdle"), default=False)
            share_idle = self.config.opencost_share_idle and _go_bool(params.get("shareIdle"), default=False)
        step = params.get("step")
        if step not in (None, "", "1d", "24h"):
            raise BadRequest(f"bad request: the emulator serves step=1d only, not {step!r}")
        accumulate = _go_bool(params.get("accumulate"), default=False)
        per_day = end - start > 86400 and not accumulate and (bool(step) or flavour == "kubecost")
        return Query(
            start=start,
            end=end,
            aggregate=aggregate,
            idle=idle and not share_idle,
            idle_by_node=_go_bool(params.get("idleByNode"), default=False),
            share_idle=share_idle,
            per_day=per_day,
        )

    def compute(self, query: Query) -> tuple[AllocationSet, ...]:
        """The whole, unpaged answer (cached): the single place where a query becomes allocation sets."""
        with self._compute_lock:
            return self._results.get(query, lambda: self._build(query))

    def _build(self, query: Query) -> tuple[AllocationSet, ...]:
        days = data.days_in(query.start, query.end)
        if query.per_day:
            return tuple(self._build_set(query, [day], *data.day_bounds(day)) for day in days)
        return (self._build_set(query, days, query.start, query.end),)

    def _build_set(self, query: Query, days: Sequence[date], start: int, end: int) -> AllocationSet:
        records: list[data.Allocation] = []
        idle: list[data.Allocation] = []
        for day in days:
            if not self.has_data(day):
                continue
            day_data = self._days.get(day, partial(self._generate, day))
            if query.share_idle:
                records.extend(data.share_idle(day_data.records, day_data.idle, by_node=query.idle_by_node))
            else:
                records.extend(day_data.records)
            idle.extend(day_data.idle)
        items = sorted(data.aggregate(records, query.aggregate), key=_cost_order)
        idle_items: list[data.Allocation] = []
        if query.idle:
            idle_items = sorted(
                data.aggregate_idle(
                    idle, self.config.idle_naming, by_node=query.idle_by_node, depth=len(query.aggregate)
                ),
                key=lambda a: a.name,
            )
        combined = tuple(sorted(items + idle_items, key=_cost_order)) if self.config.idle_in_limit else ()
        return AllocationSet(start, end, tuple(items), tuple(idle_items), combined)

    def _generate(self, day: date) -> data.DayData:
        return data.generate_day(self.config.seed, self.config.allocations_per_day, day, self._topology)

    def has_data(self, day: date) -> bool:
        today = self.config.today or datetime.now(UTC).date()
        oldest = today - timedelta(days=self.config.retention_days - 1)
        return oldest <= day <= today and day not in self.config.empty_days

    # --- routes ---

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            response = self._authenticate(request) or handler(request)
            if self.config.latency_seconds and not response.drop_connection:
                response = replace(response, delay_seconds=response.delay_seconds + self.config.latency_seconds)
            return response

        return guarded

    def _authenticate(self, request: Request) -> Response | None:
        auth = self.config.auth
        if auth is None:
            return None
        if auth.scheme == "bearer":
            given = request.header("authorization") or ""
            ok = hmac.compare_digest(given.encode(), f"Bearer {auth.secret}".encode())
        elif auth.scheme == "basic":
            token = base64.b64encode(f"{auth.username}:{auth.secret}".encode()).decode()
            ok = hmac.compare_digest((request.header("authorization") or "").encode(), f"Basic {token}".encode())
        else:
            ok = hmac.compare_digest(_cookie(request, auth.cookie_name).encode(), auth.secret.encode())
        if ok:
            return None
        headers = {"WWW-Authenticate": 'Basic realm="kubecost"'} if auth.scheme == "basic" else {}
        return Response(HTTPStatus.UNAUTHORIZED, b"Unauthorized\n", "text/plain; charset=utf-8", headers)

    def _allocation(self, request: Request) -> Response:
        number = self._faults.count_request()
        params = {name: values[-1] for name, values in request.query.items()}
        try:
            query = self.parse_query(params)
        except BadWindow as exc:
            return Response.text(HTTPStatus.BAD_REQUEST, f"Invalid 'window' parameter: {exc}\n")
        except BadRequest as exc:
            return opencost_error(HTTPStatus.BAD_REQUEST, str(exc))
        fault = self._faults.take(number, datetime.fromtimestamp(query.start, UTC).date())
        return faulty_answer(fault, lambda: self._answer(query, params))

    def _answer(self, query: Query, params: Mapping[str, str]) -> Response:
        sets = self.compute(query)
        offset, limit = 0, None
        if self.config.flavour == "kubecost":
            offset = 0 if self.config.ignore_offset else max(0, _int(params.get("offset")) or 0)
            limit = _int(params.get("limit"))
            limit = limit if limit is not None and limit > 0 else None
        payload: list[dict[str, object] | None] = []
        for allocation_set in sets:
            if allocation_set.empty:
                if self.config.empty_day_data == "empty_set":
                    payload.append({})
                elif self.config.empty_day_data == "null_set":
                    payload.append(None)
                continue
            page = self._page(allocation_set, offset, limit)
            payload.append({item.name: data.to_json(item, allocation_set.start, allocation_set.end) for item in page})
        envelope: dict[str, object] = {"code": 200}
        if self.config.include_status:
            envelope["status"] = "success"
        envelope["data"] = payload
        return Response(HTTPStatus.OK, go_json(envelope), "application/json")

    def _page(self, allocation_set: AllocationSet, offset: int, limit: int | None) -> Sequence[data.Allocation]:
        stop = None if limit is None else offset + limit
        if self.config.idle_in_limit:
            return allocation_set.combined[offset:stop]
        return allocation_set.items[offset:stop] + allocation_set.idle

    def _get_configs(self, request: Request) -> Response:  # noqa: ARG002 - every route handler takes the request
        mode = self.config.config_mode
        if mode == "not_found":
            return Response.text(HTTPStatus.NOT_FOUND, "404 page not found\n")
        if mode == "error":
            return opencost_error(HTTPStatus.INTERNAL_SERVER_ERROR, "Error: failed to read the pricing configuration")
        if mode == "undecodable":
            return Response(HTTPStatus.OK, b"<html><body>Kubecost</body></html>\n", "text/html")
        fields = _static_configs(self.config.currency) if mode == "static" else _full_configs(self.config.currency)
        return Response.json(HTTPStatus.OK, {"code": 200, "status": "success", "data": fields})

    def _expected_route(self, request: Request) -> Response:
        params = {name: values[-1] for name, values in request.query.items()}
        try:
            expected = self.expected_for(params)
        except (BadWindow, BadRequest) as exc:
            return opencost_error(HTTPStatus.BAD_REQUEST, str(exc))
        return Response.json(
            HTTPStatus.OK,
            {"allocations": expected.allocations, "names": sorted(expected.names), "totalCost": expected.total_cost},
        )


def _cost_order(item: data.Allocation) -> tuple[float, str]:
    written = data.num(item.total)
    return (-(written or 0), item.name)


def _expected(sets: Sequence[AllocationSet]) -> ExpectedDay:
    items = [item for allocation_set in sets for item in allocation_set.items + allocation_set.idle]
    total = math.fsum(data.num(item.total) or 0 for item in items)
    return ExpectedDay(len(items), frozenset(item.name for item in items), round(total, 5))


def day_window(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z,{(day + timedelta(days=1)).isoformat()}T00:00:00Z"


def parse_window(text: str) -> tuple[int, int]:
    match = _RFC3339_PAIR.match(text)
    if match is None:
        if any(pattern.match(text) for pattern in _OTHER_LEGAL_WINDOWS):
            raise BadRequest(f"bad request: the emulator serves RFC 3339 windows of whole UTC days, not {text!r}")
        raise BadWindow(f"illegal window: {text}")
    try:
        start, end = (datetime.strptime(part, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for part in match.groups())
    except ValueError:
        raise BadWindow(f"illegal window: {text}") from None
    midnight = start.time() == end.time() == datetime.min.time()
    if not midnight or end <= start or end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise BadRequest(f"bad request: the emulator serves 1 to {MAX_WINDOW_DAYS} whole UTC days, not {text!r}")
    return int(start.timestamp()), int(end.timestamp())


def _aggregate_name(part: str) -> str:
    part = part.strip()
    if part.lower().startswith("label:") and len(part) > 6:
        return "label:" + part[6:]
    return _AGGREGATE_NAMES.get(part.lower(), "")


def _go_bool(value: str | None, *, default: bool) -> bool:
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    return default


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _param(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cookie(request: Request, name: str) -> str:
    header = request.header("cookie")
    if not header:
        return ""
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header)
    except CookieError:
        return ""
    morsel = cookies.get(name)
    return morsel.value if morsel is not None else ""


_GO_ESCAPES: Final = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def go_json(payload: object) -> bytes:
    """Compact JSON as Go's ``encoding/json`` writes it: UTF-8, HTML characters escaped (only inside strings)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _GO_ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    return text.encode()


def _static_configs(currency: str) -> dict[str, str]:
    """The static nginx answer of Helm charts 2.8.3 - 3.1.x (SRC-KC-HELM, KC-CUR-1)."""
    return {
        "defaultIdle": "",
        "currencyCode": currency,
        "negotiatedDiscount": "",
        "sharedOverhead": "",
        "sharedNamespaces": "",
        "sharedLabelNames": "",
        "sharedLabelValues": "",
        "shareTenancyCosts": "",
    }


def _full_configs(currency: str) -> dict[str, str]:
    """A CustomPricing object as the 1.x - 2.7 cost-model returns it: every value a string."""
    return {
        "provider": "aws",
        "description": "Default prices based on AWS us-east-1 on-demand",
        "CPU": "0.031611",
        "spotCPU": "0.006655",
        "RAM": "0.004237",
        "spotRAM": "0.000892",
        "GPU": "0.95",
        "spotGPU": "0.308",
        "storage": "0.00005479452",
        "zoneNetworkEgress": "0.01",
        "regionNetworkEgress": "0.01",
        "internetNetworkEgress": "0.143",
        "firstFiveForwardingRulesCost": "",
        "additionalForwardingRuleCost": "",
        "LBIngressDataCost": "",
        "athenaBucketName": "",
        "athenaRegion": "",
        "athenaDatabase": "",
        "athenaCatalog": "",
        "athenaTable": "",
        "athenaWorkgroup": "",
        "masterPayerARN": "",
        "customPricesEnabled": "false",
        "defaultIdle": "",
        "azureSubscriptionID": "",
        "azureClientID": "",
        "azureClientSecret": "",
        "azureTenantID": "",
        "azureBillingRegion": "",
        "azureBillingAccount": "",
        "azureOfferDurableID": "",
        "azureStorageSubscriptionID": "",
        "azureStorageAccount": "",
        "azureStorageAccessKey": "",
        "azureStorageContainer": "",
        "azureContainerPath": "",
        "azureCloud": "",
        "currencyCode": currency,
        "discount": "",
        "negotiatedDiscount": "",
        "sharedOverhead": "",
        "clusterName": "",
        "sharedNamespaces": "",
        "sharedLabelNames": "",
        "sharedLabelValues": "",
        "shareTenancyCosts": "true",
        "readOnly": "",
        "editorAccess": "",
        "kubecostToken": "",
        "googleAnalyticsTag": "",
        "excludeProviderID": "",
        "defaultLBPrice": "0.025",
    }
