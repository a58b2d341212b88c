"""Kubecost / OpenCost Allocation API client: one UTC day of allocation items, paged, deduplicated, classified errors.

It sends what the Go exporter sends (``GO-FETCH-1``, ``GO-FETCH-2``, ``KC-QUERY-1``) but fixes its paging
defects (GO-D1 to GO-D4, GO-D6): whatever the server does with ``offset``/``limit`` the day comes out once,
complete, or not at all.

- Paging stops on a page with fewer than ``limit`` items (idle ones included), on a page that brings no name not
  seen before (a server that ignores ``offset`` and ``limit``, as OpenCost does: its first page was the whole day),
  or on ``data`` that is ``[]`` or ``null``. A hard page cap raises instead of looping. Items are deduplicated by
  their key in the set (Kubecost's item name).
- A page that repeats the previous one while holding no more than ``limit`` non-idle items means the server honours
  ``limit`` but ignores ``offset``: what it has beyond the first page would never come. The day is then fetched
  once more without ``limit``/``offset`` and that answer completes it; an unpaged answer lacking an item the pages
  gave raises :class:`KubecostRejected` (never a short day). See ``docs/kubecost-paging.md``.
- Idle items (name containing ``_idle_``) are held back and yielded after all others, a later copy replacing an
  earlier one, as the Go exporter writes them.
- HTTP status is checked first: connection errors, timeouts and 5xx (a proxy's 504 HTML included) are retried a
  bounded number of times with backoff, then raise :class:`KubecostUnavailable` (the workflow retries the day); 4xx,
  a JSON ``code`` other than 200 and an undecodable body raise :class:`KubecostRejected`, since asking again gives
  the same answer.
- Time: each request ends within ``REQUEST_TIMEOUT`` as a whole and by the invocation's deadline
  (``deadline.HttpTransport``); a retry whose wait does not fit before the deadline is not started, so a slow or
  hung Kubecost ends in :class:`KubecostUnavailable` while the function still runs.
- Pages are decoded into typed items (``domain.allocation.Allocation``): only the fields the CSV uses, typed as the
  Go exporter's struct, so a string where a number belongs refuses the page as Go's decoder does
  (:class:`KubecostRejected`). ``NaN``/``Infinity`` literals are refused, numbers are Go's ``float64`` (``-0`` keeps
  its sign), ``null`` stays None (the CSV formatter reads it as Go's zero value).

Credentials (optional, ``KUBECOST_SECRET_ARN``) become request headers: a bearer token, basic auth, or any headers
(e.g. the ``Cookie: token=...`` of Kubecost's SAML mode). TLS is verified, against ``KUBECOST_CA_BUNDLE`` if set.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Self
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec
import requests

from kubecost_flexera.adapters.deadline import NO_DEADLINE, HttpTransport
from kubecost_flexera.adapters.retry import KUBECOST_RETRY, Retrier, RetryPolicy, Transient
from kubecost_flexera.adapters.secrets import load_secret, non_empty, parse_secret
from kubecost_flexera.contracts import currency_code
from kubecost_flexera.domain.allocation import Allocation  # noqa: TC001 - msgspec reads _Page's types at run time
from kubecost_flexera.errors import KubecostRejected, KubecostUnavailable
from kubecost_flexera.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import date
    from types import TracebackType

    from kubecost_flexera.adapters.deadline import Deadline
    from kubecost_flexera.adapters.retry import Failed, GaveUp
    from kubecost_flexera.config import KubecostSettings

IDLE_MARKER: Final = "_idle_"  # the Go exporter's isIdleRecord: covers __idle__, <cluster>/__idle__, __idle__/...
MAX_PAGES: Final = 10_000  # 5 million items at the default page size: far beyond any real day
ARN_VARIABLE: Final = "KUBECOST_SECRET_ARN"
_BODY_EXCERPT: Final = 300
# What a failed connection or a broken answer raises: retried (a compressed body that does not decompress included,
# such as a proxy mangling it), never passed on untyped.
_BROKEN_ANSWER: Final = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def join_url(base_url: str, *elements: str) -> str:
    """Go's ``url.JoinPath``: the path elements joined and cleaned (``//``, ``.`` and ``..`` resolved), keeping a
    trailing slash only if the last element has one. ``base_url`` is ``scheme://host[:port][/path]``."""
    parts = urlsplit(base_url)
    segments: list[str] = []
    for element in (parts.path, *elements):
        for segment in element.split("/"):
            if segment == "..":
                if segments:
                    segments.pop()
            elif segment not in ("", "."):
                segments.append(segment)
    path = "/" + "/".join(segments)
    if elements and elements[-1].endswith("/") and not path.endswith("/"):
        path += "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def allocation_query(settings: KubecostSettings, day: date, offset: int | None) -> str:
    """The query string of one page, keys sorted and values escaped as Go's ``url.Values.Encode`` writes them.

    For OpenCost only the parameters it reads are sent: ``includeIdle`` instead of ``idle`` and none of Kubecost's
    sharing parameters except ``shareIdle`` (read since OpenCost 1.112). ``limit``/``offset`` go to both: OpenCost
    ignores them, which the paging loop detects. ``offset=None`` asks for the whole day: neither is sent.
    """
    window = f"{day.isoformat()}T00:00:00Z,{(day + timedelta(days=1)).isoformat()}T00:00:00Z"
    params = {
        "accumulate": "true",
        "aggregate": settings.aggregate_chain,
        "idleByNode": _go_bool(settings.idle_by_node),
        "includeIdle": _go_bool(settings.idle),
        "shareIdle": _go_bool(settings.share_idle),
        "step": "1d",
        "window": window,
    }
    if offset is not None:
        params |= {"limit": str(settings.page_size), "offset": str(offset)}
    if settings.cost_source == "kubecost":
        params |= {
            "idle": _go_bool(settings.idle),
            "shareNamespaces": settings.share_namespaces,
            "shareSplit": "weighted",
            "shareTenancyCosts": _go_bool(settings.share_tenancy_costs),
        }
    return urlencode(sorted(params.items()))


@dataclass(frozen=True)
class KubecostCredentials:
    """Headers that authenticate every Kubecost request. Never printed: the values are secrets."""

    headers: Mapping[str, str] = field(repr=False)


_ACCEPTED_SHAPES: Final = (
    'a JSON object with exactly one of: {"bearer_token": "..."}, {"username": "...", "password": "..."}, '
    '{"headers": {"Name": "value", ...}}'
)


def credentials_from_secret(value: object) -> KubecostCredentials:
    """The credentials in a ``KUBECOST_SECRET_ARN`` secret's value. Error messages name keys, never values."""
    return parse_secret(ARN_VARIABLE, value, _ACCEPTED_SHAPES, _credentials)


def _credentials(value: Mapping[str, object]) -> KubecostCredentials:
    keys = set(value)
    bearer, username, password = value.get("bearer_token"), value.get("username"), value.get("password")
    if keys == {"bearer_token"} and non_empty(bearer):
        return KubecostCredentials({"Authorization": f"Bearer {bearer}"})
    if keys == {"username", "password"} and non_empty(username) and non_empty(password):
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return KubecostCredentials({"Authorization": f"Basic {token}"})
    headers = value.get("headers")
    if keys == {"headers"} and isinstance(headers, dict) and headers:
        pairs = {name: header for name, header in headers.items() if non_empty(name) and non_empty(header)}
        if len(pairs) == len(headers):
            return KubecostCredentials(pairs)
    raise ValueError("not a Kubecost credential")


def load_credentials(secret_arn: str | None) -> KubecostCredentials | None:
    """The credentials in Secrets Manager (:mod:`secrets`); None without a secret."""
    if secret_arn is None:
        return None
    return load_secret(ARN_VARIABLE, secret_arn, _ACCEPTED_SHAPES, _credentials)


def _log_failure(failed: Failed) -> None:
    logger.warning("Kubecost request failed", attempt=failed.attempt, attempts=failed.attempts, failure=failed.failure)


def _is_idle(item: Allocation) -> bool:
    name = item.name
    return name is not None and IDLE_MARKER in name


def _items(sets: Sequence[Mapping[str, Allocation]]) -> Iterator[tuple[str, Allocation]]:
    for allocation_set in sets:
        yield from allocation_set.items()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


# A JSON number -0: "-0" then a delimiter. It also matches inside a string ("a-0,b") or in "1e-0,", which only sends
# the page down the exact path. A literal prefix keeps the scan fast (0.5 ms on a 1 MB page, a character class: 4 ms).
_NEGATIVE_ZERO_INTEGER: Final = re.compile(rb"-0[,}\]\s]")


class _Page(msgspec.Struct, gc=False):
    """An Allocation API answer. ``code`` and ``message`` are checked by the client, whatever their type."""

    code: Any = None
    message: Any = None
    data: list[dict[str, Allocation] | None] | None = None


_PAGE_DECODER: Final = msgspec.json.Decoder(_Page)


@dataclass(frozen=True)
class _Answer:
    url: str  # the full URL asked, named in every error about the answer
    status: int
    body: bytes

    def json(self) -> Any:
        """The body exactly as Go's decoder reads it (invalid UTF-8 becomes U+FFFD); ValueError if malformed."""
        text = self.body.decode("utf-8", "replace")
        return json.loads(text, parse_int=float, parse_constant=_reject_constant)

    def page(self) -> _Page | None:
        """The body as a page by typed decoding, which builds only the fields the CSV uses: several times faster than
        decoding it whole. None where the result could differ from Go's, for :meth:`json` to decide: a literal -0
        (decoded as 0, Go keeps -0.0), a lone surrogate escape or invalid UTF-8 (refused, Go writes U+FFFD), and
        any body it refuses, so that the error says what Go would refuse."""
        if _NEGATIVE_ZERO_INTEGER.search(self.body):
            return None
        try:
            return _PAGE_DECODER.decode(self.body)
        except msgspec.DecodeError:  # msgspec.ValidationError included
            return None

    def excerpt(self) -> str:
        return self.body[:_BODY_EXCERPT].decode("utf-8", "replace").strip()


class KubecostClient:
    """The Allocation API of one Kubecost or OpenCost endpoint. Use as a context manager to close connections."""

    def __init__(
        self,
        settings: KubecostSettings,
        credentials: KubecostCredentials | None = None,
        *,
        deadline: Deadline = NO_DEADLINE,
        retry: RetryPolicy = KUBECOST_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._settings = settings
        self._retrier = Retrier(retry, on_failure=_log_failure, sleep=sleep, deadline=deadline)
        self._max_pages = max_pages
        self._http = HttpTransport(settings.request_timeout_seconds, deadline)
        session = self._http.session
        session.headers["Accept"] = "application/json"
        if credentials is not None:
            session.headers.update(credentials.headers)
        session.verify = settings.ca_bundle or True
        self.allocation_url = join_url(settings.base_url, settings.api_path, "allocation")
        self.config_url = join_url(settings.config_base_url, settings.config_api_path, "getConfigs")

    def allocations(self, day: date) -> Iterator[Allocation]:
        """Every item of ``day`` (UTC) once: the others as their pages arrive, then the idle ones.

        Raises :class:`KubecostUnavailable` or :class:`KubecostRejected` on any page; the items already yielded
        must then be discarded (the caller writes nothing for a failed day).
        """
        limit = self._settings.page_size
        seen: set[str] = set()
        idle: dict[str, Allocation] = {}
        previous_keys: set[str] = set()
        for page in range(self._max_pages):
            keys: set[str] = set()
            count = new = non_idle = 0
            for key, item in _items(self._page(day, offset=page * limit)):
                count += 1
                keys.add(key)
                is_new = key not in seen
                name = item.name  # inlined _is_idle: this loop runs once per item of the day
                if name is not None and IDLE_MARKER in name:
                    idle[key] = item
                else:
                    non_idle += 1
                    if is_new:
                        yield item
                if is_new:
                    seen.add(key)
                    new += 1
            logger.debug("Kubecost page", page=page, items=count, new_items=new)
            if count < limit:
                break
            if new == 0:
                if keys == previous_keys and non_idle <= limit:
                    yield from self._rest_unpaged(day, seen, idle)
                break
            previous_keys = keys
        else:
            raise KubecostRejected(
                f"Kubecost kept returning new items after {self._max_pages} pages of {limit} for {day}; "
                "refusing to loop (is the server paging consistently?)"
            )
        yield from idle.values()

    def _rest_unpaged(self, day: date, seen: set[str], idle: dict[str, Allocation]) -> Iterator[Allocation]:
        """The items of ``day`` the pages did not give, from one answer without ``limit``/``offset``.

        Called when a full page came back again for the next ``offset``: the server honours ``limit`` but ignores
        ``offset``, so paging can never reach the rest of the day.
        """
        logger.warning(
            "Kubecost repeated a full page for the next offset (it ignores offset but honours limit); "
            "fetching the day without paging",
            page_size=self._settings.page_size,
        )
        items = dict(_items(self._page(day, offset=None)))
        lost = sorted(seen - items.keys())
        if lost:
            raise KubecostRejected(
                f"Kubecost ignores offset, and its answer for {day} without limit lacks {len(lost)} item(s) its pages "
                f"gave (e.g. {lost[0]!r}): refusing to publish an incomplete day"
            )
        for key, item in items.items():
            if _is_idle(item):
                idle[key] = item
            elif key not in seen:
                yield item

    def currency(self) -> str:
        """``data.currencyCode`` of ``getConfigs``; any failure gives ``DEFAULT_CURRENCY``, as the Go exporter does."""
        default = self._settings.default_currency
        try:
            answer = self._get(self.config_url)
            body = answer.json() if answer.status == 200 else None
        except (requests.RequestException, ValueError) as exc:
            logger.warning(
                "Kubecost currency unavailable; using the default", error=type(exc).__name__, url=self.config_url
            )
            return default
        data = body.get("data") if isinstance(body, dict) else None
        code = data.get("currencyCode") if isinstance(data, dict) else None
        if code is None or code == "":
            logger.warning("Kubecost has no currency; using the default", currency=default)
            return default
        normalised = currency_code(code) if isinstance(code, str) else None
        if normalised is None:
            logger.warning(
                "Kubecost's currency is not an ISO 4217 code; using the default",
                kubecost_currency=repr(code)[:40],
                currency=default,
            )
            return default
        if normalised != code:
            logger.info("Kubecost's currency normalised", kubecost_currency=code, currency=normalised)
        return normalised

    def _page(self, day: date, *, offset: int | None) -> list[dict[str, Allocation]]:
        url = f"{self.allocation_url}?{allocation_query(self._settings, day, offset)}"
        answer = self._get_with_retries(url)
        # The URL comes last: a failed day's message is cut to a bounded length, and what went wrong must survive.
        status, where = answer.status, f"(GET {url})"
        if status in (401, 403):
            raise KubecostRejected(
                f"Kubecost refused authentication (HTTP {status}): check the credentials in KUBECOST_SECRET_ARN {where}"
            )
        if status == 404:
            raise KubecostRejected(
                f"Kubecost answered HTTP 404 ({answer.excerpt()}): no Allocation API at that path; check KUBECOST_HOST "
                f"(scheme://host[:port]) and KUBECOST_API_PATH (now {self._settings.api_path!r}; Kubecost serves "
                f"/model/, OpenCost /) {where}"
            )
        if status != 200:
            raise KubecostRejected(f"Kubecost refused the query (HTTP {status}): {answer.excerpt()} {where}")
        page = answer.page() or self._exact_page(answer)
        if page.code != 200:
            message = "" if page.message is None else page.message
            raise KubecostRejected(f"Kubecost refused the query (code {page.code}): {message} {where}")
        return [allocation_set for allocation_set in page.data or () if allocation_set is not None]

    def _exact_page(self, answer: _Answer) -> _Page:
        """The page through the exact decoder: rare (see :meth:`_Answer.page`), so the checks say what is wrong."""
        try:
            body = answer.json()
        except ValueError as exc:
            raise KubecostRejected(
                f"Kubecost answered with a body that is not JSON ({exc}): {answer.excerpt()} (GET {answer.url})"
            ) from exc
        if not isinstance(body, dict):
            raise KubecostRejected(
                f"Kubecost answered with JSON that is not an object: {answer.excerpt()} (GET {answer.url})"
            )
        if body.get("code") != 200:
            return _Page(code=body.get("code"), message=body.get("message"))
        data = body.get("data")
        if data is not None and not isinstance(data, list):
            raise KubecostRejected(
                f"Kubecost answered with 'data' of type {type(data).__name__}, expected a list (GET {answer.url})"
            )
        try:
            return msgspec.convert(body, _Page)
        except msgspec.ValidationError as exc:
            # A field of the wrong JSON type (a string cost, a list of labels): Go's decoder refuses the page.
            raise KubecostRejected(f"Kubecost sent a malformed allocation page: {exc} (GET {answer.url})") from exc

    def _get(self, url: str) -> _Answer:
        # One read of the whole body: requests' default 10 KiB chunks cost 4 % of the export's CPU.
        return _Answer(url, *self._http.get_body(url))

    def _get_with_retries(self, url: str) -> _Answer:
        """The answer to a GET; connection errors, timeouts and 5xx are retried (:mod:`retry`)."""

        def attempt() -> _Answer:
            started = time.monotonic()
            try:
                answer = self._get(url)
            except _BROKEN_ANSWER as exc:
                raise Transient(f"{type(exc).__name__}: {exc} (after {time.monotonic() - started:.1f} s)") from exc
            if answer.status >= 500:
                raise Transient(f"HTTP {answer.status}: {answer.excerpt()}")
            return answer

        def give_up(ended: GaveUp) -> KubecostUnavailable:
            if ended.out_of_time:
                return KubecostUnavailable(
                    f"Kubecost failed {ended.attempts} time(s), and the invocation has no time left for another "
                    f"attempt ({ended.remaining_seconds:.0f} s); last: {ended.failure} (GET {url})"
                )
            return KubecostUnavailable(f"Kubecost failed {ended.attempts} times; last: {ended.failure} (GET {url})")

        return self._retrier.run(attempt, give_up)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
