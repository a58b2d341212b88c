"""Plan Lambda: the workflow's first step, which decides what the run does and refuses what it must not do.

Thin on purpose: the request rules, the calendar and the plan's shape live in ``kubecost_flexera.domain.plan`` and
``kubecost_flexera.domain.calendar``. In order, and so that nothing happens before the request and the configuration are
known to be valid: read the clock once (defect GO-D7), validate the event, the whole configuration and the date range;
refuse to start while another execution of the state machine runs; check that the credentials secrets are readable
and well formed (the Flexera one only when the run uploads), so a run does not export for an hour and then fail;
fetch the currency once (within the invocation's time: a hung Kubecost gives the default currency, not a timeout);
with ``REFRESH_DAYS``, list the window's day manifests to choose which days to export again
(``kubecost_flexera.domain.refresh``); return the plan output (``contracts.PlanOutput``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from kubecost_flexera.adapters import flexera_auth, kubecost
from kubecost_flexera.adapters.deadline import invocation_deadline
from kubecost_flexera.adapters.storage import Storage
from kubecost_flexera.config import load_settings
from kubecost_flexera.contracts import PlanEvent, PlanOutput, RunOptions, parse
from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.calendar import utc_today
from kubecost_flexera.domain.plan import Plan, choose_window, keeps_days, refuse_concurrent
from kubecost_flexera.domain.refresh import DaySelection, choose_days
from kubecost_flexera.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


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
    refuse_concurrent(running_executions(plan_event.state_machine_arn), plan_event.execution_id)
    if not request.dry_run:
        flexera_auth.load_credentials(settings.flexera.secret_arn)
    credentials = kubecost.load_credentials(settings.kubecost.secret_arn)
    with kubecost.KubecostClient(settings.kubecost, credentials, deadline=deadline) as client:
        currency = client.currency()
    storage = Storage(boto3.client("s3"), settings.storage.bucket, settings.storage.source)
    selection = choose_days(window, settings.plan, storage) if keeps_days(request) else DaySelection.every_day(window)
    plan = Plan(window=window, currency=currency, options=RunOptions.of(request), kept_days=selection.kept)
    metrics.add_metric(name="PlannedDays", unit=MetricUnit.Count, value=len(selection.refreshed))
    logger.info(
        "Planned the run",
        today=window.today.isoformat(),
        first_day=window.days[0].isoformat(),
        last_day=window.days[-1].isoformat(),
        days=len(selection.refreshed),
        kept_days=len(selection.kept),
        refreshed=[day.isoformat() for day in selection.refreshed],
        months=list(window.months),
        currency=currency,
        dry_run=request.dry_run,
        force_upload=request.force_upload,
    )
    return PlanOutput.of(plan).model_dump(mode="json")
