"""Upload Lambda: the workflow's last step, sending each planned month to Flexera One.

Thin on purpose: it validates the event (the plan output plus the day results, ``contracts``) before any side
effect, wires Powertools, and hands the months to :class:`kubecost_flexera.upload.MonthUploader`. It returns the
per-month results, or raises once every month was tried: :class:`FlexeraThrottled` when Flexera's cool-off stopped a
month (the state machine waits and calls again), :class:`UploadFailed` when any other month failed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Final, TypeVar

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from kubecost_flexera.config import load_flexera, load_storage
from kubecost_flexera.errors import InvalidRequest
from kubecost_flexera.flexera import FlexeraClient
from kubecost_flexera.observability import logger, metrics, tracer
from kubecost_flexera.storage import Storage
from kubecost_flexera.upload import MonthResult, MonthUploader, UploadOptions, parse_month, raise_for_failures

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from aws_lambda_powertools.utilities.typing import LambdaContext

T = TypeVar("T", date, str)

_DATE_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MONTH_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}$")
_CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")
_EVENT_KEYS: Final = frozenset({"today", "days", "months", "currency", "options", "dayResults"})
_OPTION_KEYS: Final = {"dryRun": "dry_run", "forceUpload": "force_upload"}
_DAY_STATUSES: Final = frozenset({"written", "empty", "failed"})
_DAY_RESULT_KEYS: Final = frozenset({"day", "status", "parts", "rows", "allocations", "cost", "error"})
_STATUS_METRICS: Final = {
    "committed": "MonthsCommitted",
    "skipped-unchanged": "MonthsSkippedUnchanged",
    "skipped-incomplete": "MonthsSkippedIncomplete",
    "failed": "MonthsFailed",
}


@dataclass(frozen=True)
class UploadRequest:
    today: date
    months: tuple[str, ...]
    options: UploadOptions
    failed_days: tuple[str, ...]


def parse_event(event: object) -> UploadRequest:
    """The validated event; :class:`InvalidRequest` names the first field that breaks the contract."""
    if not isinstance(event, dict):
        raise InvalidRequest("the event must be a JSON object (the plan output plus dayResults)")
    unknown = sorted(set(event) - _EVENT_KEYS - {"executionId"})
    if unknown:
        raise InvalidRequest(f"unknown field(s) {unknown}; allowed {sorted(_EVENT_KEYS)} and executionId")
    missing = sorted(_EVENT_KEYS - set(event))
    if missing:
        raise InvalidRequest(f"missing field(s) {missing}")
    if not isinstance(event.get("executionId", ""), str):
        raise InvalidRequest("executionId must be a string")
    if not isinstance(event["currency"], str) or not _CURRENCY_RE.match(event["currency"]):
        raise InvalidRequest(f"currency must be an ISO 4217 code such as USD, not {event['currency']!r}")
    today = _date(event["today"], "today")
    days: list[date] = _ascending(event["days"], "days", _date)
    months: list[str] = _ascending(event["months"], "months", _month)
    day_results = event["dayResults"]
    if not isinstance(day_results, list) or len(day_results) != len(days):
        raise InvalidRequest("dayResults must be a list with one result per day of days, in the same order")
    failed = [
        _day_result(result, day, f"dayResults[{index}]")
        for index, (result, day) in enumerate(zip(day_results, days, strict=True))
    ]
    return UploadRequest(
        today=today,
        months=tuple(months),
        options=_options(event["options"]),
        failed_days=tuple(day.isoformat() for day, is_failed in zip(days, failed, strict=True) if is_failed),
    )


def _date(value: object, name: str) -> date:
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRequest(f"{name} must be a date YYYY-MM-DD, not {value!r}")


def _month(value: object, name: str) -> str:
    if isinstance(value, str) and _MONTH_RE.match(value):
        try:
            parse_month(value)
        except ValueError:
            pass
        else:
            return value
    raise InvalidRequest(f"{name} must be a month YYYY-MM, not {value!r}")


def _ascending(values: object, name: str, parse: Callable[[object, str], T]) -> list[T]:
    if not isinstance(values, list):
        raise InvalidRequest(f"{name} must be a list")
    parsed: list[T] = [parse(value, f"{name}[{index}]") for index, value in enumerate(values)]
    if any(later <= earlier for earlier, later in pairwise(parsed)):
        raise InvalidRequest(f"{name} must be strictly ascending, without duplicates")
    return parsed


def _options(value: object) -> UploadOptions:
    if not isinstance(value, dict):
        raise InvalidRequest("options must be an object with the booleans dryRun and forceUpload")
    unknown = sorted(set(value) - set(_OPTION_KEYS))
    if unknown:
        raise InvalidRequest(f"options has unknown field(s) {unknown}; allowed {sorted(_OPTION_KEYS)}")
    for key, flag in value.items():
        if not isinstance(flag, bool):
            raise InvalidRequest(f"options.{key} must be true or false, not {flag!r}")
    return UploadOptions(**{field: value.get(key, False) for key, field in _OPTION_KEYS.items()})


def _day_result(result: object, day: date, name: str) -> bool:
    """Checks one day result against its planned day; True when the day failed."""
    if not isinstance(result, dict):
        raise InvalidRequest(f"{name} must be an object")
    unknown = sorted(set(result) - _DAY_RESULT_KEYS)
    if unknown:
        raise InvalidRequest(f"{name} has unknown field(s) {unknown}; allowed {sorted(_DAY_RESULT_KEYS)}")
    if _date(result.get("day"), f"{name}.day") != day:
        raise InvalidRequest(f"{name}.day must be {day.isoformat()}, the planned day at that position")
    status = result.get("status")
    if status not in _DAY_STATUSES:
        raise InvalidRequest(f"{name}.status must be one of {sorted(_DAY_STATUSES)}, not {status!r}")
    if status == "failed" and not isinstance(result.get("error"), dict):
        raise InvalidRequest(f"{name}.error must be the caught error object {{Error, Cause}} of a failed day")
    return bool(status == "failed")


def record_metrics(results: Sequence[MonthResult], failed_days: Sequence[str]) -> None:
    committed = [result for result in results if result.status == "committed"]
    metrics.add_metric(name="FilesUploaded", unit=MetricUnit.Count, value=sum(r.files for r in committed))
    metrics.add_metric(name="BytesUploaded", unit=MetricUnit.Bytes, value=sum(r.bytes for r in committed))
    metrics.add_metric(name="FailedDays", unit=MetricUnit.Count, value=len(failed_days))
    for status, name in _STATUS_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=sum(r.status == status for r in results))


@logger.inject_lambda_context(correlation_id_path="executionId")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 -- Lambda's signature
    request = parse_event(event)
    flexera = load_flexera(os.environ)
    storage_settings = load_storage(os.environ)
    storage = Storage(boto3.client("s3"), storage_settings.bucket, storage_settings.source)
    if request.failed_days:
        logger.warning("Days failed to export; their last good export is uploaded", failed_days=request.failed_days)
    uploader = MonthUploader(
        storage, partial(FlexeraClient.from_settings, flexera), today=request.today, options=request.options
    )
    results = uploader.run(request.months)
    record_metrics(results, request.failed_days)
    logger.info("Upload finished", months=[result.to_json() for result in results])
    raise_for_failures(results)
    return {"months": [result.to_json() for result in results], "failedDays": list(request.failed_days)}
