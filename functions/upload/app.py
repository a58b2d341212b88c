"""Upload Lambda: the workflow's last step, sending each planned month to Flexera One.

Thin on purpose: it validates the event (the plan output plus the day results, ``contracts.UploadEvent``) before
any side effect, wires Powertools, and hands the months to
:class:`kubecost_flexera.domain.upload.MonthUploader`. It returns the per-month results, or raises once every month was
tried (:func:`kubecost_flexera.domain.upload.raise_for_failures`): a transient error when one stopped a month
(:class:`FlexeraThrottled`, :class:`FlexeraUnavailable`, :class:`StorageUnavailable`: the state machine waits and
calls again), :class:`UploadFailed` when a month failed for good. Flexera calls end before the invocation's time is
up (``context.get_remaining_time_in_millis()``, minus a margin), so a slow Flexera is a retried ``FlexeraUnavailable``.
"""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from kubecost_flexera.adapters.deadline import invocation_deadline
from kubecost_flexera.adapters.flexera import FlexeraClient
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.config import load_flexera, load_storage
from kubecost_flexera.contracts import UploadEvent, UploadOutput, parse
from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.calendar import utc_today
from kubecost_flexera.domain.upload import MonthResult, MonthUploader, raise_for_failures
from kubecost_flexera.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from aws_lambda_powertools.utilities.typing import LambdaContext

_STATUS_METRICS: Final = {
    "committed": "MonthsCommitted",
    "skipped-unchanged": "MonthsSkippedUnchanged",
    "skipped-incomplete": "MonthsSkippedIncomplete",
    "failed": "MonthsFailed",
}


def record_metrics(results: Sequence[MonthResult], failed_days: Sequence[date]) -> None:
    committed = [result for result in results if result.status == "committed"]
    metrics.add_metric(name="FilesUploaded", unit=MetricUnit.Count, value=sum(r.files for r in committed))
    metrics.add_metric(name="BytesUploaded", unit=MetricUnit.Bytes, value=sum(r.bytes for r in committed))
    metrics.add_metric(name="FailedDays", unit=MetricUnit.Count, value=len(failed_days))
    for status, name in _STATUS_METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=sum(r.status == status for r in results))


@logger.inject_lambda_context(correlation_id_path="executionId")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = invocation_deadline(context.get_remaining_time_in_millis())
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
    record_metrics(results, request.failed_days)
    output = UploadOutput.of({"months": results, "failed_days": request.failed_days}).model_dump(mode="json")
    logger.info("Upload finished", **output)
    raise_for_failures(results)
    return output
