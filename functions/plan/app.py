"""Plan Lambda: the workflow's first step, which decides what the run does and refuses what it must not do.

Thin on purpose: the request rules, the calendar and the plan's shape live in ``kubecost_flexera.domain.plan`` and
``kubecost_flexera.domain.calendar``. In order, and so that nothing happens before the request and the configuration are
known to be valid: read the clock once (defect GO-D7), validate the event, the whole configuration and the date range;
refuse to start while another execution of the state machine runs; check that the credentials secrets are readable
and well formed (the Flexera one only when the run uploads), so a run does not export for an hour and then fail;
fetch the currency once (within the invocation's time: a hung Kubecost gives the default currency, not a timeout);
with ``REFRESH_DAYS``, list the window's day manifests to choose which days to export again
(``kubecost_flexera.domain.refresh``); return the plan output (``contracts.PlanOutput``).

With a sources document (``SOURCES_DOCUMENT_KEY``, ``kubecost_flexera.sources``) it is read and validated first, and
the same steps are taken per source: each source's secret is checked, its days chosen from its own manifests, the
run's size bounded, and the currencies fetched side by side, all within the invocation's time; the output is then
``contracts.SourcesPlanOutput``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from kubecost_flexera.adapters import flexera_auth, kubecost
from kubecost_flexera.adapters.deadline import invocation_deadline
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.config import load_settings
from kubecost_flexera.contracts import PlanEvent, PlanOutput, RunOptions, SourcesPlanOutput, parse
from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.calendar import utc_today
from kubecost_flexera.domain.plan import (
    Plan,
    SourceRun,
    SourcesPlan,
    bill_connects,
    choose_sources,
    choose_window,
    keeps_days,
    refuse_concurrent,
    refuse_oversized,
    refuse_oversized_schedule,
)
from kubecost_flexera.domain.refresh import DaySelection, choose_days
from kubecost_flexera.errors import ConfigurationError
from kubecost_flexera.observability import logger, metrics, tracer
from kubecost_flexera.sources import read_document

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client

    from kubecost_flexera.adapters.deadline import Deadline
    from kubecost_flexera.config import Settings
    from kubecost_flexera.contracts import ManualRun
    from kubecost_flexera.domain.calendar import Window
    from kubecost_flexera.sources import Source, SourcesDocument

# Threads that ask the sources' Kubecosts for their currency side by side: each waits on the network, not the CPU.
CURRENCY_THREADS: Final = 10


def running_executions(state_machine_arn: str) -> list[str]:
    client = boto3.client("stepfunctions")
    pages = client.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
    return [execution["executionArn"] for page in pages for execution in page["executions"]]


@logger.inject_lambda_context(correlation_id_path="executionId")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = invocation_deadline(context.get_remaining_time_in_millis())
    now = calendar.now()
    plan_event = parse(event, PlanEvent)
    request = plan_event.run
    settings = load_settings(os.environ)
    window = choose_window(
        request, clock_today=utc_today(now), include_previous_month=settings.plan.include_previous_month
    )
    s3 = boto3.client("s3")
    document = _document(s3, settings)
    sources = choose_sources(document, request.sources)
    if sources is not None and request.start is None:  # before any call: the document alone decides
        refuse_oversized_schedule(len(sources), include_previous_month=settings.plan.include_previous_month)
    refuse_concurrent(running_executions(plan_event.state_machine_arn), plan_event.execution_id)
    if not request.dry_run:
        flexera_auth.load_credentials(settings.flexera.secret_arn)
    if document is not None and sources is not None:
        return _plan_sources(document, sources, request, window, settings, s3, deadline)
    credentials = kubecost.load_credentials(settings.kubecost.secret_arn)
    with kubecost.KubecostClient(settings.kubecost, credentials, deadline=deadline) as client:
        currency = client.currency()
    selection = _selection(window, request, settings, Storage(s3, settings.storage.bucket, settings.storage.source))
    plan = Plan(window=window, currency=currency, options=RunOptions.of(request), kept_days=selection.kept)
    _planned(
        window,
        request,
        len(selection.refreshed),
        kept_days=len(selection.kept),
        refreshed=[day.isoformat() for day in selection.refreshed],
        currency=currency,
    )
    return PlanOutput.of(plan).model_dump(mode="json")


def _selection(window: Window, request: ManualRun, settings: Settings, storage: Storage) -> DaySelection:
    """The days of the window to export again: all of them, unless the refresh window keeps some."""
    return choose_days(window, settings.plan, storage) if keeps_days(request) else DaySelection.every_day(window)


def _planned(window: Window, request: ManualRun, planned_days: int, **details: Any) -> None:
    """The plan's metric and log line, with what the run's kind adds."""
    metrics.add_metric(name="PlannedDays", unit=MetricUnit.Count, value=planned_days)
    logger.info(
        "Planned the run",
        today=window.today.isoformat(),
        first_day=window.days[0].isoformat(),
        last_day=window.days[-1].isoformat(),
        days=planned_days,
        months=list(window.months),
        dry_run=request.dry_run,
        force_upload=request.force_upload,
        **details,
    )


def _document(s3: S3Client, settings: Settings) -> SourcesDocument | None:
    key = settings.sources.document_key
    if key is None:
        return None
    storage = Storage(s3, settings.storage.bucket, settings.storage.source)
    return read_document(storage, key, environ=os.environ, secret_prefix=settings.sources.secret_prefix)


def _plan_sources(  # noqa: PLR0917 -- the handler's values, passed on once
    document: SourcesDocument,
    sources: tuple[Source, ...],
    request: ManualRun,
    window: Window,
    settings: Settings,
    s3: S3Client,
    deadline: Deadline,
) -> dict[str, Any]:
    credentials = _source_credentials(sources)
    selections = {
        source.name: _selection(window, request, settings, Storage(s3, settings.storage.bucket, source.name))
        for source in sources
    }
    refuse_oversized({name: len(selection.refreshed) for name, selection in selections.items()})
    currencies = _currencies(sources, credentials, deadline)
    runs = tuple(
        SourceRun(
            name=source.name,
            bill_connect_id=source.bill_connect_id,
            currency=currency,
            days=selections[source.name].refreshed,
            kept_days=selections[source.name].kept,
            settings=source.settings,
        )
        for source, currency in zip(sources, currencies, strict=True)
    )
    plan = SourcesPlan(window, RunOptions.of(request), runs, bill_connects(document, sources))
    _planned(
        window,
        request,
        sum(len(run.days) for run in runs),
        sources={
            run.name: {"days": len(run.days), "kept_days": len(run.kept_days), "currency": run.currency} for run in runs
        },
        bill_connects={connect.bill_connect_id: list(connect.sources) for connect in plan.bill_connects},
    )
    return SourcesPlanOutput.of(plan).model_dump(mode="json")


def _source_credentials(sources: Sequence[Source]) -> dict[str, kubecost.KubecostCredentials | None]:
    """Each named secret read once and checked; one error names every source whose secret is unusable."""
    users: dict[str, list[str]] = {}
    for source in sources:
        if source.kubecost.secret_arn is not None:
            users.setdefault(source.kubecost.secret_arn, []).append(source.name)
    credentials: dict[str, kubecost.KubecostCredentials | None] = {}
    problems: list[str] = []
    for arn, names in users.items():
        try:
            credentials[arn] = kubecost.load_credentials(arn)
        except ConfigurationError as exc:
            problems.append(f"source(s) {', '.join(map(repr, names))}: {exc}")
    if problems:
        raise ConfigurationError("Unusable Kubecost secret(s): " + "; ".join(problems))
    return credentials


def _currencies(
    sources: Sequence[Source], credentials: dict[str, kubecost.KubecostCredentials | None], deadline: Deadline
) -> list[str]:
    """Each source's currency, asked side by side; every request ends by ``deadline`` (then the default)."""

    def currency(source: Source) -> str:
        logger.thread_safe_append_keys(source=source.name)
        secret = source.kubecost.secret_arn
        with kubecost.KubecostClient(
            source.kubecost, None if secret is None else credentials[secret], deadline=deadline
        ) as client:
            return client.currency()

    with ThreadPoolExecutor(max_workers=min(len(sources), CURRENCY_THREADS), thread_name_prefix="currency") as pool:
        return list(pool.map(currency, sources))
