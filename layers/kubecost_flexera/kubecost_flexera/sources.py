"""The sources document: several Kubecost/OpenCost sources in one stack (``docs/sources.md`` is its reference).

The document is JSON, ``{"sources": [{"name": "prod-eu", "KUBECOST_HOST": "...", ...}, ...]}``. Each source sets
some of the single-source variables (:data:`SOURCE_KEYS`); what it does not set comes from the stack's environment.
A value is read exactly as that environment variable would be (``config.py``'s readers over the merged mapping), so
a source's problem reads as the environment's, prefixed with the source's index and name. A JSON number or boolean
stands for its text (``500``, ``0.85``, ``true``); null, arrays and objects are refused, as is any key but these.

Every problem of the document is listed in one :class:`ConfigurationError`: its shape, each source's keys and
values, the secret rule, all at once, so a user fixes the document in one go. The plan validates it, then passes each
source's settings in the execution's state, so one run uses one version of the document whatever is put meanwhile.

Secrets, least privilege: the functions may read the stack's ``KUBECOST_SECRET_ARN`` and the secrets whose name
starts with ``KUBECOST_SECRET_PREFIX`` (the template's grant), so a source may name only those.
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from kubecost_flexera.config import read_source
from kubecost_flexera.contracts import SOURCE_NAME_PATTERN
from kubecost_flexera.errors import ConfigurationError, InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from kubecost_flexera.adapters.storage import Storage
    from kubecost_flexera.config import KubecostSettings

SOURCE_KEYS: Final = (
    "KUBECOST_HOST",
    "KUBECOST_API_PATH",
    "KUBECOST_CONFIG_HOST",
    "KUBECOST_CONFIG_API_PATH",
    "COST_SOURCE",
    "KUBECOST_SECRET_ARN",
    "KUBECOST_CA_BUNDLE",
    "AGGREGATION",
    "IDLE",
    "IDLE_BY_NODE",
    "SHARE_IDLE",
    "SHARE_NAMESPACES",
    "SHARE_TENANCY_COSTS",
    "MULTIPLIER",
    "PAGE_SIZE",
    "MAX_FILE_ROWS",
    "DEFAULT_CURRENCY",
    "OVERRIDE_POD_LABELS",
    "REQUEST_TIMEOUT",
    "BILL_CONNECT_ID",
)
MAX_SOURCES: Final = 50
# The run's state holds every source's settings (the document, once): 32 KiB of it leaves the rest of Step Functions'
# 256 KiB to the source-days (domain/plan.py's MAX_RUN_SOURCE_DAYS); a source's settings are a few hundred bytes, so
# 50 sources fit in it easily.
MAX_DOCUMENT_BYTES: Final = 32 * 1024
DOCUMENT_VARIABLE: Final = "SOURCES_DOCUMENT_KEY"
SECRET_VARIABLE: Final = "KUBECOST_SECRET_ARN"  # noqa: S105 -- a variable's name, not a secret
PREFIX_VARIABLE: Final = "KUBECOST_SECRET_PREFIX"
_SOURCE_NAME_RE: Final = re.compile(SOURCE_NAME_PATTERN)
_NAME_TEXT: Final = "a string of 1 to 32 characters a-z, 0-9 and '-'"
# state/uploads/<source>/ is a single source's, state/uploads/bill-connects/ the bill connects' (storage.py).
RESERVED_NAME: Final = "bill-connects"
_VALUE_TEXT: Final = "a string, a number or true/false, as the environment variable's text"
_SHOWN_CHARS: Final = 80
# A number is written in decimal form; one whose exponent is far outside a double's range is kept as written
# (it is refused as not finite or not an integer all the same) rather than spelt out in thousands of digits.
_MAX_DECIMAL_EXPONENT: Final = 400


@dataclass(frozen=True)
class Source:
    """One source of the document: what it sets (as environment text) and what it exports with."""

    name: str
    settings: Mapping[str, str]
    kubecost: KubecostSettings
    bill_connect_id: str


@dataclass(frozen=True)
class SourcesDocument:
    """The validated document, its sources in the document's order."""

    sources: tuple[Source, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(source.name for source in self.sources)

    def members(self, bill_connect_id: str) -> tuple[str, ...]:
        """Every source of the document that uploads to ``bill_connect_id``, in the document's order."""
        return tuple(source.name for source in self.sources if source.bill_connect_id == bill_connect_id)


class _Number(str):
    """A JSON number's text in decimal form, told apart from a JSON string holding the same text."""

    __slots__ = ()


def _number(text: str) -> _Number:
    value = Decimal(text)
    if abs(value.adjusted()) > _MAX_DECIMAL_EXPONENT:
        return _Number(text)
    return _Number(format(value, "f"))


# What belongs to the stack's Kubecost: a source that names another Kubecost does not inherit them.
HOST_BOUND_KEYS: Final = ("KUBECOST_SECRET_ARN", "KUBECOST_CA_BUNDLE")


def source_environment(environ: Mapping[str, str], settings: Mapping[str, str]) -> Mapping[str, str]:
    """The mapping a source is read from: what it sets over the stack's environment. A source that sets its own
    ``KUBECOST_HOST`` gets neither the stack's Kubecost credentials nor its CA bundle unless it names them itself:
    the stack's token must never be sent to another cluster's Kubecost."""
    own = dict(settings)
    if "KUBECOST_HOST" in own:
        own = dict.fromkeys(HOST_BOUND_KEYS, "") | own
    return ChainMap(own, dict(environ))


def day_environment(environ: Mapping[str, str], settings: Mapping[str, str]) -> Mapping[str, str]:
    """The mapping a day of a source is exported with (its event's ``source.settings`` over ``environ``); a key no
    source may set is refused, so an event cannot redirect the function's bucket or Flexera settings."""
    unknown = unknown_keys(settings)
    if unknown:
        raise InvalidRequest(
            f"source.settings has unknown key(s) {', '.join(map(repr, unknown))}: allowed {', '.join(SOURCE_KEYS)}"
        )
    return source_environment(environ, settings)


def read_document(
    storage: Storage, key: str, *, environ: Mapping[str, str], secret_prefix: str | None
) -> SourcesDocument:
    """The document at ``key`` of the exports bucket, validated; a missing one is a :class:`ConfigurationError`."""
    where = f"s3://{storage.bucket}/{key}"
    data = storage.read_sources_document(key, max_bytes=MAX_DOCUMENT_BYTES)
    if data is None:
        raise ConfigurationError(
            f"{DOCUMENT_VARIABLE}={key!r}: there is no sources document at {where}: put it there "
            f"(aws s3 cp sources.json {where}), or set the parameter SourcesDocumentKey empty for one source"
        )
    return parse_document(data, where=where, environ=environ, secret_prefix=secret_prefix)


def unknown_keys(keys: Iterable[str]) -> list[str]:
    """The ``keys`` that no source may set, sorted."""
    return sorted(key for key in keys if key not in SOURCE_KEYS)


def allowed_keys() -> str:
    return "name, " + ", ".join(SOURCE_KEYS)


def parse_document(
    data: bytes, *, where: str, environ: Mapping[str, str], secret_prefix: str | None
) -> SourcesDocument:
    """The document in ``data`` (read from ``where``, an s3 URL), validated against the stack's ``environ``.

    Raises :class:`ConfigurationError` listing every problem of it.
    """
    heading = f"Invalid sources document {where}"
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ConfigurationError(
            f"{heading}: larger than {MAX_DOCUMENT_BYTES} bytes ({MAX_DOCUMENT_BYTES // 1024} KiB): allowed at most "
            "that"
        )
    problems: list[str] = []

    def unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        problems.extend(
            f"key {key!r} appears {keys.count(key)} times in one object: allowed each key once"
            for key in dict.fromkeys(keys)
            if keys.count(key) > 1
        )
        return dict(pairs)

    try:
        body = json.loads(
            data.decode("utf-8"),
            parse_int=_number,
            parse_float=_number,
            parse_constant=_refuse,
            object_pairs_hook=unique_keys,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigurationError(
            f'{heading}: not JSON ({_reason(exc)}): allowed a JSON object {{"sources": [...]}}'
        ) from None
    sources = _sources(body, problems, environ, secret_prefix)
    if problems:
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        raise ConfigurationError(f"{heading}: {count}: " + "; ".join(problems))
    return SourcesDocument(tuple(sources))


def _refuse(text: str) -> None:
    raise ValueError(f"{text} is not a JSON number")


def _reason(exc: Exception) -> str:
    # json's message names the line and column, never the document's text.
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(":", 1)[0] if isinstance(exc, UnicodeDecodeError) else str(exc)


def _sources(body: object, problems: list[str], environ: Mapping[str, str], secret_prefix: str | None) -> list[Source]:
    if not isinstance(body, dict):
        problems.append('the document must be a JSON object {"sources": [...]}')
        return []
    extra = sorted(key for key in body if key != "sources")
    if extra:
        problems.append(f"unknown key(s) {', '.join(map(repr, extra))} in the document: allowed only 'sources'")
    items = body.get("sources")
    if not isinstance(items, list) or not items:
        problems.append(f"sources={_shown(items)} is invalid: allowed a list of 1 to {MAX_SOURCES} source objects")
        return []
    if len(items) > MAX_SOURCES:
        problems.append(f"sources has {len(items)} sources: allowed at most {MAX_SOURCES}")
    seen: dict[str, int] = {}
    sources: list[Source] = []
    for index, item in enumerate(items):
        source = _source(index, item, seen, problems, environ, secret_prefix)
        if source is not None:
            sources.append(source)
    return sources


def _name_problem(item: dict[str, object], name: str | None, seen: Mapping[str, int]) -> str | None:
    """What is wrong with a source's name, if anything: missing, malformed, reserved or another source's."""
    if "name" not in item:
        return f"missing key 'name': allowed {_NAME_TEXT}"
    if name is None or not _SOURCE_NAME_RE.match(name):
        return f"name={_shown(item['name'])} is invalid: allowed {_NAME_TEXT}"
    if name == RESERVED_NAME:
        return (
            f"name={name!r} is invalid: allowed any other name ({RESERVED_NAME!r} holds the bill connects' upload "
            "states in the bucket)"
        )
    if name in seen:
        return f"name={name!r} is invalid: allowed a name no other source has (sources[{seen[name]}])"
    return None


def _source(  # noqa: PLR0917 -- one source's checks, with what they report to
    index: int,
    item: object,
    seen: dict[str, int],
    problems: list[str],
    environ: Mapping[str, str],
    secret_prefix: str | None,
) -> Source | None:
    if not isinstance(item, dict):
        problems.append(
            f'sources[{index}]={_shown(item)} is invalid: allowed a JSON object such as {{"name": "prod-eu"}}'
        )
        return None
    given = item.get("name")
    name = given if isinstance(given, str) and not isinstance(given, _Number) else None
    label = f"sources[{index}]" if name is None else f"sources[{index}] ({name!r})"
    found = len(problems)
    name_problem = _name_problem(item, name, seen)
    if name_problem is not None:
        problems.append(f"{label}: {name_problem}")
    elif name is not None:
        seen[name] = index
    unknown = unknown_keys(key for key in item if key != "name")
    if unknown:
        problems.append(f"{label}: unknown key(s) {', '.join(map(repr, unknown))}: allowed {allowed_keys()}")
    settings: dict[str, str] = {}
    skipped = {"name", *unknown}
    for key, value in item.items():
        if key in skipped:
            continue
        text = _text(value)
        if text is None:
            problems.append(f"{label}: {key}={_shown(value)} is invalid: allowed {_VALUE_TEXT}")
        else:
            settings[key] = text
    config, config_problems = read_source(source_environment(environ, settings))
    problems.extend(f"{label}: {problem}" for problem in config_problems)
    secret_problem = _secret_problem(config.kubecost.secret_arn, environ, secret_prefix)
    if secret_problem is not None:
        problems.append(f"{label}: {secret_problem}")
    if len(problems) > found or name is None:
        return None
    return Source(name, settings, config.kubecost, config.bill_connect_id)


def _text(value: object) -> str | None:
    """A value as the environment variable's text; None for a value no variable can hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # a JSON string or, as _Number, a JSON number
        return str(value)
    return None


def _secret_problem(secret_arn: str | None, environ: Mapping[str, str], secret_prefix: str | None) -> str | None:
    """Why a source may not name ``secret_arn``: the functions may read only the stack's secret and the prefix's."""
    stack_arn = environ.get(SECRET_VARIABLE) or None
    if secret_arn is None or secret_arn == stack_arn:
        return None
    name = secret_arn.split(":secret:", 1)[-1]
    if secret_prefix is not None and name.startswith(secret_prefix):
        return None
    allowed = f"the stack's {SECRET_VARIABLE} ({stack_arn or 'unset'})"
    if secret_prefix is None:
        allowed += f", as {PREFIX_VARIABLE} (the stack's parameter KubecostSecretPrefix) is empty"
    else:
        allowed += (
            f" or a secret whose name starts with {PREFIX_VARIABLE}={secret_prefix!r} "
            "(the stack's parameter KubecostSecretPrefix)"
        )
    return f"{SECRET_VARIABLE}={secret_arn!r} is invalid: allowed {allowed}"


def _shown(value: object) -> str:
    """A value as the document wrote it (a string quoted as Python does), cut when long."""
    text = repr(value) if type(value) is str else _json_text(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _json_text(value: object) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_json_text, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {_json_text(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)
