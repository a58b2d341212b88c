"""Configuration from environment variables, parsed once and validated.

Variable names and defaults are the Go exporter's (``GO-CFG-1``), so a migration is copy and paste.
Values are read as the Go exporter's ``caarlos0/env`` v11 reads them: exactly as given, never trimmed (so
``SHARE_NAMESPACES=" "`` shares nothing, as there), an empty value meaning the default; booleans are Go's
``strconv.ParseBool`` spellings, integers what ``strconv.ParseInt(v, 10, 64)`` accepts (an optional sign and ASCII
digits: no ``1_000``, no spaces, no other scripts' digits) and the multiplier a decimal ``strconv.ParseFloat``
accepts (``.85``, ``1e3``). The deliberate differences (finite numbers only, no hexadecimal floats, ranges,
``DEFAULT_CURRENCY`` a three-letter code) are listed in the README's migration table.
Unlike the Go program every value is validated up front (defect GO-D20): a bad value fails the invocation at once with
one message that names every offending variable, the value given and what is allowed. Secrets are never read
from the environment, only the ARNs of the Secrets Manager secrets that hold them.

Each concern has its own loader, so a function validates exactly what it uses: ``export_day`` loads Kubecost,
CSV and storage settings; ``upload`` loads Flexera and storage settings; ``plan`` loads everything. A source of a
sources document is read from its merged mapping by the same readers (:func:`read_source`), so its problems read as
the environment's do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeVar
from urllib.parse import urlsplit

from kubecost_flexera.contracts import currency_code
from kubecost_flexera.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

T = TypeVar("T")

SHARDS: Final = ("NAM", "EU", "AU", "DEV")
COST_SOURCES: Final = ("kubecost", "opencost")
AGGREGATE_CHAINS: Final[Mapping[str, str]] = {
    "namespace": "cluster,namespace",
    "controller": "cluster,namespace,controllerKind,controller",
    "node": "cluster,namespace,controllerKind,controller,node",
    "pod": "cluster,namespace,controllerKind,controller,node,pod",
}
BILL_CONNECT_PREFIX: Final = "cbi-oi-kubecost"
DEFAULT_API_PATH: Final = "/model/"
# Go's strconv.ParseBool, which caarlos0/env uses for the Go exporter's booleans (GO-CFG-5).
_GO_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
# strconv.ParseInt base 10 and ParseFloat's decimal form; \Z, not $, which would let a final newline through.
_GO_INT_RE: Final = re.compile(r"^[+-]?[0-9]+\Z")
_GO_DECIMAL_RE: Final = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_SOURCE_RE: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ORG_RE: Final = re.compile(r"^[0-9]+$")
_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ARN_RE: Final = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$")
# Secrets Manager's name characters; the IAM grant is secret:<prefix>*, so the prefix is a name's beginning.
_SECRET_PREFIX_RE: Final = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
# A key of the bucket outside what the workflow writes (exports/, state/: their lifecycle rules expire objects).
_DOCUMENT_KEY_RE: Final = re.compile(r"^(?!exports/|state/|/)[!-~]{1,1024}$")
MAX_REQUEST_TIMEOUT_MINUTES: Final = 15  # a Lambda invocation cannot outlive 15 minutes
MAX_REFRESH_DAYS: Final = 62  # the longest scheduled window: two months of 31 days
MAX_MONTH_CLOSE_REFRESH_DAY: Final = 28  # a day every month has


class _Env:
    """Reads variables and collects every problem, so one error lists them all."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def raw(self, name: str) -> str:
        # As given, untrimmed; an empty value counts as unset, as in the Go exporter (the Helm chart sets every
        # variable, often to "").
        return self._environ.get(name, "")

    def _parse(self, name: str, default: T, parse: Callable[[str], T], allowed: str) -> T:
        value = self.raw(name)
        if not value:
            return default
        try:
            return parse(value)
        except ValueError:
            self.problems.append(f"{name}={value!r} is invalid: allowed {allowed}")
            return default

    def string(self, name: str, default: str = "") -> str:
        return self.raw(name) or default

    def required(self, name: str, pattern: re.Pattern[str], allowed: str) -> str:
        value = self.raw(name)
        if not value:
            self.problems.append(f"{name} is required: {allowed}")
        elif not pattern.fullmatch(value):
            self.problems.append(f"{name}={value!r} is invalid: allowed {allowed}")
        return value

    def optional(self, name: str, pattern: re.Pattern[str], allowed: str) -> str | None:
        value = self.raw(name)
        if value and not pattern.fullmatch(value):
            self.problems.append(f"{name}={value!r} is invalid: allowed {allowed}")
        return value or None

    def boolean(self, name: str, default: bool) -> bool:
        return self._parse(name, default, _parse_go_bool, "true or false (also 1/0, t/f, TRUE/FALSE, True/False)")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        return self._parse(
            name, default, lambda v: _in_range(_go_int(v), low, high), f"an integer from {low} to {high} (digits 0-9)"
        )

    def optional_integer(self, name: str, low: int, high: int, unset: str) -> int | None:
        """An integer from ``low`` to ``high``, or ``None`` when empty; ``unset`` says what empty means."""
        return self._parse(
            name, None, lambda v: _in_range(int(v), low, high), f"an integer from {low} to {high}, or empty for {unset}"
        )

    def number(self, name: str, default: float) -> float:
        return self._parse(name, default, _go_float, "a finite decimal number such as 1.0, 0.85, .85 or 1e3")

    def currency(self, name: str, default: str) -> str:
        return self._parse(name, default, _currency, "an ISO 4217 code such as USD (three letters)")

    def choice(self, name: str, default: str, allowed: tuple[str, ...], *, fold_case: bool = False) -> str:
        value = self.raw(name) or default
        candidate = value.lower() if fold_case else value
        if candidate not in allowed:
            self.problems.append(f"{name}={value!r} is invalid: allowed {', '.join(allowed)}")
            return default
        return candidate

    def url(
        self, name: str, default: str, *, bare_host_scheme: str | None, api_path: tuple[str, str] | None = None
    ) -> str:
        value = self.raw(name) or default
        try:
            return normalise_base_url(value, bare_host_scheme=bare_host_scheme, api_path=api_path)
        except ValueError as exc:
            self.problems.append(f"{name}={value!r} is invalid: {exc}")
            return value

    def check(self, what: str) -> None:
        if self.problems:
            raise ConfigurationError(f"Invalid {what} configuration: " + "; ".join(self.problems))


def _parse_go_bool(value: str) -> bool:
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise ValueError(value)


def _go_int(value: str) -> int:
    """Go's ``strconv.ParseInt(value, 10, 64)``; ``int`` would also take ``1_000``, spaces, non-ASCII digits."""
    if not _GO_INT_RE.match(value):
        raise ValueError(value)
    return int(value)


def _go_float(value: str) -> float:
    """A finite decimal as Go's ``strconv.ParseFloat(value, 64)`` reads it (``float`` would take ``1_0``, spaces)."""
    if not _GO_DECIMAL_RE.match(value):
        raise ValueError(value)
    return _finite_float(value)


def _currency(value: str) -> str:
    code = currency_code(value)
    if code is None:
        raise ValueError(value)
    return code


def _in_range(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(value)
    return value


def _finite_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def normalise_base_url(value: str, *, bare_host_scheme: str | None, api_path: tuple[str, str] | None = None) -> str:
    """Returns ``scheme://host[:port][/path]`` without a trailing slash.

    ``bare_host_scheme`` is the scheme assumed for a value without one; ``None`` requires an explicit scheme. For
    ``KUBECOST_HOST`` it is ``https``: the Go exporter spoke plain HTTP inside the cluster, but from Lambda the API
    crosses a network, so TLS is the default and plain HTTP must be asked for explicitly with ``http://``.

    ``api_path`` (the variable that holds the path prefix, and its value) refuses a path: the request path is that
    variable's alone, so ``http://host:9090/model`` with the default ``/model/`` would ask ``/model/model/...``
    and every day would fail with a 404 that names neither setting. The error says which values to use instead.
    """
    if "://" not in value:
        if bare_host_scheme is None:
            raise ValueError("allowed an absolute URL such as https://host[:port]")
        value = f"{bare_host_scheme}://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("allowed schemes are http and https")
    if not parts.hostname or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("allowed host[:port] or http(s)://host[:port][/path], no credentials, query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError("the port must be a number from 1 to 65535") from exc
    if api_path is not None and parts.path.strip("/"):
        raise ValueError(_path_advice(f"{parts.scheme}://{parts.netloc}", parts.path, *api_path))
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _path_advice(origin: str, path: str, api_path_name: str, api_path: str) -> str:
    """What to set instead of a host with a path: the origin, and the path prefix in ``api_path_name``.

    A host path that already ends with the API path (``/model`` and ``/model/``) was meant as the whole prefix;
    any other (``/kubecost`` behind an ingress) goes before it.
    """
    host_path, prefix = path.strip("/"), api_path.strip("/")
    whole = (
        host_path if not prefix or host_path == prefix or host_path.endswith(f"/{prefix}") else f"{host_path}/{prefix}"
    )
    return (
        f"allowed scheme://host[:port] without a path, since the path prefix is {api_path_name} "
        f"(now {api_path!r}): use {origin!r} and {api_path_name}='/{whole}/'"
    )


@dataclass(frozen=True)
class KubecostSettings:
    """How to query the Allocation API and shape the CSV rows (``export_day``)."""

    base_url: str
    api_path: str
    config_base_url: str
    config_api_path: str
    cost_source: Literal["kubecost", "opencost"]
    aggregation: str
    idle: bool
    idle_by_node: bool
    share_idle: bool
    share_namespaces: str
    share_tenancy_costs: bool
    multiplier: float
    page_size: int
    max_file_rows: int
    default_currency: str
    override_pod_labels: bool
    request_timeout_seconds: float
    secret_arn: str | None
    ca_bundle: str | None

    @property
    def aggregate_chain(self) -> str:
        return AGGREGATE_CHAINS[self.aggregation]


@dataclass(frozen=True)
class FlexeraSettings:
    """Where and as whom to upload (``upload``)."""

    org_id: str
    bill_connect_id: str
    shard: str
    create_bill_connect: bool
    vendor_name: str
    secret_arn: str
    endpoint_url: str | None
    request_timeout_seconds: float


@dataclass(frozen=True)
class StorageSettings:
    """Where day files and state live in S3."""

    bucket: str
    source: str


@dataclass(frozen=True)
class PlanSettings:
    """How the plan chooses the days and months, and which days of a scheduled window it re-exports (``refresh.py``).

    ``refresh_days`` ``None`` re-exports every day of the window, as the Go exporter does.
    """

    include_previous_month: bool
    refresh_days: int | None = None
    month_close_refresh_day: int = 3


@dataclass(frozen=True)
class SourcesSettings:
    """Where the sources document is (``None``: one source, from the environment) and which Kubecost secrets a
    source of it may name besides the stack's (``sources.py``)."""

    document_key: str | None
    secret_prefix: str | None


@dataclass(frozen=True)
class SourceConfig:
    """What one source of a sources document exports with: its Kubecost settings and its bill connect."""

    kubecost: KubecostSettings
    bill_connect_id: str


@dataclass(frozen=True)
class Settings:
    """Everything, for the plan function, which validates the whole configuration before the workflow starts."""

    kubecost: KubecostSettings
    flexera: FlexeraSettings
    storage: StorageSettings
    plan: PlanSettings
    sources: SourcesSettings


def _timeout_seconds(env: _Env) -> float:
    minutes = env.integer("REQUEST_TIMEOUT", 5, 1, MAX_REQUEST_TIMEOUT_MINUTES)
    return float(minutes * 60)


def _read_kubecost(env: _Env) -> KubecostSettings:
    api_path = env.string("KUBECOST_API_PATH", DEFAULT_API_PATH)
    base_url = env.url(
        "KUBECOST_HOST", "localhost:9090", bare_host_scheme="https", api_path=("KUBECOST_API_PATH", api_path)
    )
    cost_source = env.choice("COST_SOURCE", "kubecost", COST_SOURCES, fold_case=True)
    config_host = env.raw("KUBECOST_CONFIG_HOST")
    config_api_path = env.string("KUBECOST_CONFIG_API_PATH", api_path)
    config_base_url = (
        env.url(
            "KUBECOST_CONFIG_HOST",
            "",
            bare_host_scheme="https",
            api_path=("KUBECOST_CONFIG_API_PATH", config_api_path),
        )
        if config_host
        else base_url
    )
    return KubecostSettings(
        base_url=base_url,
        api_path=api_path,
        config_base_url=config_base_url,
        config_api_path=config_api_path,
        cost_source="opencost" if cost_source == "opencost" else "kubecost",
        aggregation=env.choice("AGGREGATION", "pod", tuple(AGGREGATE_CHAINS), fold_case=True),
        idle=env.boolean("IDLE", True),
        idle_by_node=env.boolean("IDLE_BY_NODE", False),
        share_idle=env.boolean("SHARE_IDLE", False),
        share_namespaces=env.string("SHARE_NAMESPACES", "kube-system,cadvisor"),
        share_tenancy_costs=env.boolean("SHARE_TENANCY_COSTS", True),
        multiplier=env.number("MULTIPLIER", 1.0),
        page_size=env.integer("PAGE_SIZE", 500, 1, 100_000),
        max_file_rows=env.integer("MAX_FILE_ROWS", 1_000_000, 1, 100_000_000),
        default_currency=env.currency("DEFAULT_CURRENCY", "USD"),
        override_pod_labels=env.boolean("OVERRIDE_POD_LABELS", True),
        request_timeout_seconds=_timeout_seconds(env),
        secret_arn=env.optional("KUBECOST_SECRET_ARN", _ARN_RE, "a Secrets Manager secret ARN"),
        ca_bundle=env.raw("KUBECOST_CA_BUNDLE") or None,
    )


def bill_connect_id_problem(bill_connect_id: str, *, create: bool) -> str | None:
    """Why ``bill_connect_id`` may not be used: Flexera creates only bill connects of the ``cbi-oi-kubecost`` type."""
    if create and not bill_connect_id.startswith(BILL_CONNECT_PREFIX):
        return (
            f"BILL_CONNECT_ID={bill_connect_id!r} is invalid: with CREATE_BILL_CONNECT_IF_NOT_EXIST=true it must "
            f"start with {BILL_CONNECT_PREFIX!r}, e.g. cbi-oi-kubecost-1"
        )
    return None


def _read_bill_connect_id(env: _Env, *, create: bool) -> str:
    bill_connect_id = env.raw("BILL_CONNECT_ID")
    if not bill_connect_id:
        env.problems.append("BILL_CONNECT_ID is required: the Flexera bill connect id, e.g. cbi-oi-kubecost-1")
    elif (problem := bill_connect_id_problem(bill_connect_id, create=create)) is not None:
        env.problems.append(problem)
    return bill_connect_id


def _read_flexera(env: _Env) -> FlexeraSettings:
    create = env.boolean("CREATE_BILL_CONNECT_IF_NOT_EXIST", False)
    endpoint = env.raw("FLEXERA_ENDPOINT_URL")
    return FlexeraSettings(
        org_id=env.required("ORG_ID", _ORG_RE, "the numeric Flexera organization id"),
        bill_connect_id=_read_bill_connect_id(env, create=create),
        shard=env.choice("SHARD", "NAM", SHARDS),
        create_bill_connect=create,
        vendor_name=env.string("VENDOR_NAME", "Kubecost"),
        secret_arn=env.required("FLEXERA_SECRET_ARN", _ARN_RE, "the ARN of the Secrets Manager secret"),
        endpoint_url=env.url("FLEXERA_ENDPOINT_URL", "", bare_host_scheme=None) if endpoint else None,
        request_timeout_seconds=_timeout_seconds(env),
    )


def _read_storage(env: _Env) -> StorageSettings:
    return StorageSettings(
        bucket=env.required("BUCKET_NAME", _BUCKET_RE, "an S3 bucket name"),
        source=env.optional("SOURCE_NAME", _SOURCE_RE, "lower-case letters, digits and '-'") or "default",
    )


def _read_plan(env: _Env) -> PlanSettings:
    return PlanSettings(
        include_previous_month=env.boolean("INCLUDE_PREVIOUS_MONTH", True),
        refresh_days=env.optional_integer("REFRESH_DAYS", 1, MAX_REFRESH_DAYS, "every day of the window"),
        month_close_refresh_day=env.integer("MONTH_CLOSE_REFRESH_DAY", 3, 1, MAX_MONTH_CLOSE_REFRESH_DAY),
    )


def _read_sources(env: _Env) -> SourcesSettings:
    return SourcesSettings(
        document_key=env.optional(
            "SOURCES_DOCUMENT_KEY",
            _DOCUMENT_KEY_RE,
            "empty (one source), or the key of the sources document in the bucket, outside exports/ and state/, "
            "such as config/sources.json",
        ),
        secret_prefix=env.optional(
            "KUBECOST_SECRET_PREFIX",
            _SECRET_PREFIX_RE,
            "empty, or the beginning of a Secrets Manager secret name such as kubecost-flexera/prod/ "
            "(letters, digits and /_+=.@-)",
        ),
    )


def _load(environ: Mapping[str, str], what: str, read: Callable[[_Env], T]) -> T:
    env = _Env(environ)
    result = read(env)
    env.check(what)
    return result


def load_kubecost(environ: Mapping[str, str]) -> KubecostSettings:
    return _load(environ, "Kubecost", _read_kubecost)


def load_flexera(environ: Mapping[str, str]) -> FlexeraSettings:
    return _load(environ, "Flexera", _read_flexera)


def load_storage(environ: Mapping[str, str]) -> StorageSettings:
    return _load(environ, "storage", _read_storage)


def read_source(environ: Mapping[str, str]) -> tuple[SourceConfig, list[str]]:
    """A source's settings from its merged mapping (the stack's environment under what the source sets), and the
    problems of it, not raised: the sources document lists every source's problems in one error (``sources.py``)."""
    env = _Env(environ)
    kubecost = _read_kubecost(env)
    create = env.boolean("CREATE_BILL_CONNECT_IF_NOT_EXIST", False)
    return SourceConfig(kubecost, _read_bill_connect_id(env, create=create)), env.problems


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The whole configuration; one error lists every problem in every section."""

    def read(env: _Env) -> Settings:
        return Settings(
            _read_kubecost(env), _read_flexera(env), _read_storage(env), _read_plan(env), _read_sources(env)
        )

    return _load(environ, "exporter", read)
