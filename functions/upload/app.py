"""Upload Lambda: the workflow's last step, sending each planned month to Flexera One.

Thin on purpose: it validates the event (the plan output plus the day results, ``contracts.UploadEvent``; with a
sources document, the event has ``sources``: ``contracts.SourcesUploadEvent``) before any side effect, wires
Powertools, and hands the months to :class:`kubecost_flexera.domain.upload.MonthUploader` (with a sources document,
each bill connect's months to :func:`kubecost_flexera.domain.bill_connects.upload_bill_connects`). It returns the
per-month results, or raises once every month was tried (:func:`kubecost_flexera.domain.upload.raise_for_failures`):
a transient error when one stopped a month (:class:`FlexeraThrottled`, :class:`FlexeraUnavailable`,
:class:`StorageUnavailable`: the state machine waits and calls again), :class:`UploadFailed` when a month failed for
good. Flexera calls end before the invocation's time is
up (``context.get_remaining_time_in_millis()``, minus a margin), so a slow Flexera is a retried ``FlexeraUnavailable``.
"""

from __future__ import annotations

import os
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from kubecost_flexera.adapters.deadline import invocation_deadline
from kubecost_flexera.adapters.flexera import FlexeraClient
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.config import FlexeraSettings, bill_connect_id_problem, load_flexera, load_storage
from kubecost_flexera.contracts import (
    MAX_FAILED_RANGES,
    FailedSourceDays,
    SourcesUploadEvent,
    SourcesUploadOutput,
    UploadEvent,
    UploadOutput,
    parse,
)
from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.bill_connects import BillConnectResult, failed_days, upload_bill_connects
from kubecost_flexera.domain.calendar import utc_today
from kubecost_flexera.domain.plan import BillConnectRun
from kubecost_flexera.domain.upload import MonthResult, MonthUploader, raise_for_failures
from kubecost_flexera.errors import ConfigurationError
from kubecost_flexera.observability import add_metric_by, logger, metrics, tracer

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from kubecost_flexera.adapters.deadline import Deadline

_STATUS_METRICS: Final = {
    "committed": "MonthsCommitted",
    "skipped-unchanged": "MonthsSkippedUnchanged",
    "skipped-incomplete": "MonthsSkippedIncomplete",
    "failed": "MonthsFailed",
}


def record_metrics(results: Sequence[MonthResult], failed_days: int) -> None:
    committed = [result for result in results if result.status == "committed"]
    metrics.add_metric(name="FilesUploaded", unit=MetricUnit.Count, value=sum(r.files for r in committed))
    metrics.add_metric(name="BytesUploaded", unit=MetricUnit.Bytes, value=sum(r.bytes for r in committed))
    metrics.add_metric(name="FailedDays", unit=MetricUnit.Count, value=failed_days)
    for status, name in _STATUS_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=sum(r.status == status for r in results))


def record_source_metrics(results: Sequence[BillConnectResult], failed_by_source: Mapping[str, int]) -> None:
    """Besides the aggregates: each bill connect's month results (dimension ``BillConnect``, one metric per month)
    and each run source's failed days (dimension ``Source``, 0 included)."""
    for bill_connect in results:
        by_bill_connect = partial(add_metric_by, dimension="BillConnect", dimension_value=bill_connect.bill_connect_id)
        for month in bill_connect.months:
            if month.status in _STATUS_METRICS:
                by_bill_connect(_STATUS_METRICS[month.status], MetricUnit.Count, 1, month=month.month)
            if month.status == "committed":
                by_bill_connect("FilesUploaded", MetricUnit.Count, month.files, month=month.month)
                by_bill_connect("BytesUploaded", MetricUnit.Bytes, month.bytes, month=month.month)
    for source, failed in failed_by_source.items():
        add_metric_by("FailedDays", MetricUnit.Count, failed, "Source", source)


@logger.inject_lambda_context(correlation_id_path="executionId")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = invocation_deadline(context.get_remaining_time_in_millis())
    if isinstance(event, dict) and "sources" in event:
        return upload_sources(parse(event, SourcesUploadEvent), deadline)
    request = parse(event, UploadEvent)
    flexera = load_flexera(os.environ)
    storage_settings = load_storage(os.environ)
    storage = Storage(boto3.client("s3"), storage_settings.bucket, storage_settings.source)
    if request.failed_days:
        logger.warning("Days failed to export; their last good export is uploaded", failed_days=request.failed_days)
    uploader = MonthUploader(
        storage,
        partial(FlexeraClient.from_settings, flexera, deadline),
        clock_today=utc_today(calendar.now()),
        options=request.options,
    )
    results = uploader.run(request.months)
    record_metrics(results, len(request.failed_days))
    output = UploadOutput.of({"months": results, "failed_days": request.failed_days}).model_dump(mode="json")
    logger.info("Upload finished", **output)
    raise_for_failures(results)
    return output


def upload_sources(request: SourcesUploadEvent, deadline: Deadline) -> dict[str, Any]:
    """One bill upload per bill connect and month, with every member source's days."""
    flexera = load_flexera(os.environ)
    bucket = load_storage(os.environ).bucket
    check_creatable(flexera, [connect.bill_connect_id for connect in request.bill_connects])
    client = cache(partial(FlexeraClient.from_settings, flexera, deadline))  # one token for every bill connect
    failed = failed_days(request.source_results)
    if failed:
        logger.warning(
            "Days failed to export; their last good export is uploaded",
            failed_days=[f"{source} {calendar.day_ranges(days)} ({error})" for (source, error), days in failed.items()],
        )
    results = upload_bill_connects(
        [BillConnectRun(connect.bill_connect_id, connect.sources) for connect in request.bill_connects],
        request.months,
        storage_of=partial(Storage, boto3.client("s3"), bucket),
        connect=lambda bill_connect_id: client().for_bill_connect(bill_connect_id),
        clock_today=utc_today(calendar.now()),
        options=request.options,
    )
    months = [month for bill_connect in results for month in bill_connect.months]
    failed_by_source = dict.fromkeys((result.source for result in request.source_results), 0)
    for (source, _), days in failed.items():
        failed_by_source[source] += len(days)
    record_metrics(months, sum(failed_by_source.values()))
    record_source_metrics(results, failed_by_source)
    described = [
        FailedSourceDays.of(
            {"source": source, "error": error, "days": calendar.day_ranges(days, most=MAX_FAILED_RANGES)}
        )
        for (source, error), days in failed.items()
    ]
    output = SourcesUploadOutput.of({"bill_connects": results, "failed_days": described}).model_dump(mode="json")
    logger.info("Upload finished", **output)
    raise_for_failures(months)
    return output


def check_creatable(flexera: FlexeraSettings, bill_connect_ids: Sequence[str]) -> None:
    """``CREATE_BILL_CONNECT_IF_NOT_EXIST``'s prefix rule (``config``'s) for every bill connect of the event: the plan
    checked the document's, but an event may be written by hand."""
    problems = [bill_connect_id_problem(name, create=flexera.create_bill_connect) for name in bill_connect_ids]
    refused = [problem for problem in problems if problem is not None]
    if refused:
        raise ConfigurationError("Invalid bill connects of the sources document: " + "; ".join(refused))
