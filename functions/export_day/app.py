"""ExportDay Lambda: one day of Kubecost allocations to gzipped CSV parts in S3 and the day's manifest.

Thin on purpose: it validates the event (``contracts.DayEvent``) before any side effect,
loads the configuration, wires Powertools (the execution id as correlation id, the day on every log line) and hands
the work to :func:`kubecost_flexera.domain.export.export_day`. It returns the workflow's day result
(``contracts.DayExported``); typed errors propagate so the state machine can retry
(``KubecostUnavailable``) or record the day as failed, their messages bounded (a failed day's result carries its
message, and the results of every day share one state of at most 256 KiB; the full message is logged). Kubecost
calls end before the invocation's time is up (``context.get_remaining_time_in_millis()``, minus a margin).

A day of a sources document's source (``DayEvent.source``) is exported with the source's settings over the
environment and written under the source's name, exactly as a single-source stack with ``SOURCE_NAME=<name>`` would;
its metrics are then also recorded per source (dimension ``Source``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from kubecost_flexera.adapters.deadline import invocation_deadline
from kubecost_flexera.adapters.kubecost import KubecostClient, load_credentials
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.config import load_kubecost, load_storage
from kubecost_flexera.contracts import DayEvent, DayExported, parse
from kubecost_flexera.domain.export import ExportResult, export_day
from kubecost_flexera.errors import MAX_DAY_ERROR_MESSAGE_BYTES, ExporterError, messages_bounded
from kubecost_flexera.observability import add_metric_by, logger, metrics, tracer
from kubecost_flexera.sources import day_environment

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from kubecost_flexera.adapters.deadline import Deadline


@logger.inject_lambda_context(correlation_id_path="executionId", clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = invocation_deadline(context.get_remaining_time_in_millis())
    with messages_bounded(MAX_DAY_ERROR_MESSAGE_BYTES):
        try:
            result = _export(event, deadline)
        except ExporterError as exc:
            logger.error("Day failed", error_type=type(exc).__name__, error=str(exc))
            raise
    _record_metrics(result)
    return DayExported.of(result).model_dump(mode="json")


def _export(event: dict[str, Any], deadline: Deadline) -> ExportResult:
    """The day exported; a document source's day also recorded in its source's metrics."""
    request = parse(event, DayEvent)
    logger.append_keys(day=request.day.isoformat())
    storage_settings = load_storage(os.environ)
    if request.source is None:
        settings = load_kubecost(os.environ)
        source_name = storage_settings.source
    else:
        logger.append_keys(source=request.source.name)
        settings = load_kubecost(day_environment(os.environ, request.source.settings))
        source_name = request.source.name
    storage = Storage(boto3.client("s3"), storage_settings.bucket, source_name)
    credentials = load_credentials(settings.secret_arn)
    with KubecostClient(settings, credentials, deadline=deadline) as client:
        result = export_day(request, client=client, storage=storage, settings=settings)
    if request.source is not None:
        _record_source_metrics(source_name, result)
    return result


def _record_metrics(result: ExportResult) -> None:
    metrics.add_metadata(key="day", value=result.day.isoformat())
    if result.status == "empty":
        metrics.add_metric(name="EmptyDays", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name="AllocationsExported", unit=MetricUnit.Count, value=result.allocations)
    metrics.add_metric(name="RowsExported", unit=MetricUnit.Count, value=result.rows)
    metrics.add_metric(name="BytesExported", unit=MetricUnit.Bytes, value=result.bytes)
    metrics.add_metric(name="CostExported", unit=MetricUnit.NoUnit, value=result.cost)


# A day's figures per source, beside the aggregate ones: exported (or empty) days, rows and cost. Failed days per
# source are the upload's FailedDays (a day fails for good only after the state machine's retries).
def _record_source_metrics(source: str, result: ExportResult) -> None:
    if result.status == "empty":
        figures = [("EmptyDays", MetricUnit.Count, 1.0)]
    else:
        figures = [
            ("DaysExported", MetricUnit.Count, 1.0),
            ("RowsExported", MetricUnit.Count, float(result.rows)),
            ("CostExported", MetricUnit.NoUnit, result.cost),
        ]
    for name, unit, value in figures:
        add_metric_by(name, unit, value, "Source", source)
