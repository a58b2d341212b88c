"""The outcome of one local execution, typed, and its readable summary.

The outcome is rebuilt from what the state machine actually passed between the steps: the plan function's result,
the upload's event (whose ``dayResults`` include the days the Map caught as failed) and the upload's result or
error, all recorded by the in-process Lambda (``runner_lambda``), plus the execution's status, error and cause.

With a sources document the plan's output has ``sources`` (each source's days and bill connect): each source's days
are rebuilt from the export invocations of its child execution (rows and cost) and the compact results the upload
received (status and error name), and each bill connect's months from the upload's ``billConnects``.

A month's upload is judged across every attempt of the upload step, not by the last one alone: when Flexera
throttles one month, the step fails and the state machine calls it again after the cool-off; the months the first
attempt committed are then unchanged, and the last attempt reports them ``skipped-unchanged`` (or nothing, when it
failed too). The months whose upload record (``state/uploads/``, ``state/uploads/bill-connects/<id>/`` with a sources
document) this execution rewrote are the ones it committed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from kubecost_flexera.domain import calendar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kubecost_flexera.domain.records import UploadState
    from local.runner_lambda import Invocation
    from local.runner_map_run import ChildExecution

BILL_CONNECT_RECORDS = "state/uploads/bill-connects/"
PLAN_FUNCTION = "PlanFunction"
EXPORT_DAY_FUNCTION = "ExportDayFunction"
UPLOAD_FUNCTION = "UploadFunction"


@dataclass(frozen=True)
class DayOutcome:
    day: str
    status: str  # written | empty | failed
    parts: int = 0
    rows: int = 0
    allocations: int = 0
    cost: float = 0.0
    error: str | None = None

    @property
    def month(self) -> str:
        return self.day[:7]

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> DayOutcome:
        return cls(
            day=str(result["day"]),
            status=str(result["status"]),
            parts=int(result.get("parts", 0)),
            rows=int(result.get("rows", 0)),
            allocations=int(result.get("allocations", 0)),
            cost=float(result.get("cost", 0.0)),
            error=_caught_error(result.get("error")),
        )


@dataclass(frozen=True)
class MonthOutcome:
    month: str
    status: str  # committed | skipped-unchanged | skipped-incomplete | dry-run | failed
    bill_upload_id: str | None
    files: int
    bytes: int
    error: str | None
    earlier_attempt: bool = False  # committed by an attempt of the upload step before the last one

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> MonthOutcome:
        return cls(
            month=str(result["month"]),
            status=str(result["status"]),
            bill_upload_id=result.get("billUploadId"),
            files=int(result.get("files", 0)),
            bytes=int(result.get("bytes", 0)),
            error=result.get("error"),
        )


@dataclass(frozen=True)
class SourceOutcome:
    """One source of a run with a sources document: its plan and what its days gave."""

    name: str
    bill_connect_id: str
    currency: str
    kept: tuple[str, ...]
    days: tuple[DayOutcome, ...]  # the planned days that ran, in order


@dataclass(frozen=True)
class BillConnectMonth:
    """What the upload did with one month of one bill connect (a run with a sources document)."""

    bill_connect_id: str
    sources: tuple[str, ...]
    outcome: MonthOutcome
    missing_by_source: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class WorkflowRun:
    """One execution: its status and what each step produced (empty where a step did not run)."""

    execution_arn: str
    status: str
    error: str | None
    cause: str | None
    plan: Mapping[str, Any] | None
    days: tuple[DayOutcome, ...]
    months: tuple[MonthOutcome, ...]
    upload_error: str | None
    invocations: tuple[Invocation, ...]
    history_events: int = 0  # events in the execution's history (AWS's limit: 25,000)
    children: tuple[ChildExecution, ...] = ()  # the child executions of its Distributed Map runs
    sources: tuple[SourceOutcome, ...] = ()  # with a sources document
    bill_connect_months: tuple[BillConnectMonth, ...] = ()  # with a sources document

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def day(self, day: str) -> DayOutcome:
        return next(outcome for outcome in self.days if outcome.day == day)

    def month(self, month: str) -> MonthOutcome:
        return next(outcome for outcome in self.months if outcome.month == month)

    def attempts(self, function: str, day: str | None = None) -> int:
        """How many times the state machine invoked ``function`` (for one day, with ``day``): retries included."""
        return sum(
            1
            for invocation in self.invocations
            if invocation.function == function and (day is None or invocation.event.get("day") == day)
        )

    @classmethod
    def from_execution(
        cls,
        execution_arn: str,
        *,
        status: str,
        error: str | None,
        cause: str | None,
        invocations: Sequence[Invocation],
        history_events: int = 0,
        children: Sequence[ChildExecution] = (),
        commits: Mapping[str, UploadState] | None = None,
    ) -> WorkflowRun:
        """``commits``: the upload records the execution wrote, by key (see the module docstring)."""
        plans = [i for i in invocations if i.function == PLAN_FUNCTION and i.error_type is None]
        plan = plans[-1].result if plans else None
        uploads = [i for i in invocations if i.function == UPLOAD_FUNCTION]
        last_upload = uploads[-1] if uploads else None
        days: tuple[DayOutcome, ...] = ()
        months: tuple[MonthOutcome, ...] = ()
        upload_error = None
        several = isinstance(plan, dict) and "sources" in plan
        commits = commits or {}
        if last_upload is not None:
            if last_upload.error_type is not None:
                upload_error = f"{last_upload.error_type}: {last_upload.error_message}"
            if not several:
                days = tuple(DayOutcome.from_result(result) for result in last_upload.event.get("dayResults", []))
                if last_upload.error_type is None:
                    months = tuple(MonthOutcome.from_result(month) for month in last_upload.result["months"])
                single = {r.month: r for key, r in commits.items() if not key.startswith(BILL_CONNECT_RECORDS)}
                months = _with_earlier_commits(months, single)
        return cls(
            execution_arn=execution_arn,
            status=status,
            error=error,
            cause=cause,
            plan=plan,
            days=days,
            months=months,
            upload_error=upload_error,
            invocations=tuple(invocations),
            history_events=history_events,
            children=tuple(children),
            sources=_source_outcomes(plan, last_upload, invocations) if several and plan else (),
            bill_connect_months=_bill_connect_months(plan, last_upload, commits) if several and plan else (),
        )


def _source_outcomes(
    plan: Mapping[str, Any], upload: Invocation | None, invocations: Sequence[Invocation]
) -> tuple[SourceOutcome, ...]:
    """Each planned source's days: rows and cost from its day's last successful export, status and error from the
    compact result the upload received (or, when the upload did not run, from the export's last failure)."""
    compact: dict[tuple[str, str], Mapping[str, Any]] = {}
    if upload is not None:
        for result in upload.event.get("sourceResults", []):
            for day in result.get("dayResults", []):
                compact[(str(result["source"]), str(day["day"]))] = day
    exported: dict[tuple[str, str], Invocation] = {}
    failed: dict[tuple[str, str], Invocation] = {}
    for invocation in invocations:
        source = invocation.event.get("source")
        if invocation.function != EXPORT_DAY_FUNCTION or not isinstance(source, dict):
            continue
        key = (str(source.get("name")), str(invocation.event.get("day")))
        (failed if invocation.error_type is not None else exported)[key] = invocation
    outcomes = []
    for source in plan["sources"]:
        name = str(source["name"])
        days = []
        for day in source["days"]:
            key = (name, str(day))
            result = compact.get(key)
            if result is not None and result.get("status") == "failed":
                days.append(DayOutcome(day=str(day), status="failed", error=str(result.get("error"))))
            elif key in exported:
                days.append(DayOutcome.from_result(exported[key].result))
            elif key in failed:
                days.append(DayOutcome(day=str(day), status="failed", error=failed[key].error_type))
        outcomes.append(
            SourceOutcome(
                name=name,
                bill_connect_id=str(source["billConnectId"]),
                currency=str(source["currency"]),
                kept=tuple(str(day) for day in source.get("keptDays", [])),
                days=tuple(days),
            )
        )
    return tuple(outcomes)


def _bill_connect_months(
    plan: Mapping[str, Any], upload: Invocation | None, commits: Mapping[str, UploadState]
) -> tuple[BillConnectMonth, ...]:
    """Each bill connect's months as the last upload attempt reported them, with the months an earlier attempt
    committed shown committed (``state/uploads/bill-connects/<id>/<month>.json`` rewritten by this execution)."""
    reported: dict[str, Mapping[str, Any]] = {}
    if upload is not None and upload.error_type is None:
        reported = {str(outcome["billConnectId"]): outcome for outcome in upload.result.get("billConnects", [])}
    by_connect: dict[str, dict[str, UploadState]] = defaultdict(dict)
    for key, record in commits.items():
        if key.startswith(BILL_CONNECT_RECORDS):
            by_connect[key.removeprefix(BILL_CONNECT_RECORDS).rsplit("/", 1)[0]][record.month] = record
    results: list[BillConnectMonth] = []
    for connect in plan["billConnects"]:
        connect_id = str(connect["billConnectId"])
        outcome = reported.get(connect_id, {})
        month_results = {str(month["month"]): month for month in outcome.get("months", [])}
        months = _with_earlier_commits(
            [MonthOutcome.from_result(month) for month in month_results.values()], by_connect.get(connect_id, {})
        )
        results.extend(
            BillConnectMonth(
                bill_connect_id=connect_id,
                sources=tuple(str(name) for name in connect["sources"]),
                outcome=month,
                missing_by_source={
                    str(source): tuple(str(day) for day in days)
                    for source, days in month_results.get(month.month, {}).get("missingBySource", {}).items()
                },
            )
            for month in months
        )
    return tuple(results)


def _with_earlier_commits(
    months: Sequence[MonthOutcome], commits: Mapping[str, UploadState]
) -> tuple[MonthOutcome, ...]:
    """The last attempt's month results, with each month an earlier attempt committed shown as committed."""
    by_month = {outcome.month: outcome for outcome in months}
    for month, record in commits.items():
        last = by_month.get(month)
        if last is not None and last.status == "committed" and last.bill_upload_id == record.bill_upload_id:
            continue
        by_month[month] = MonthOutcome(
            month=month,
            status="committed",
            bill_upload_id=record.bill_upload_id,
            files=len(record.files),
            bytes=last.bytes if last is not None else 0,
            error=None,
            earlier_attempt=True,
        )
    return tuple(by_month[month] for month in sorted(by_month))


def _caught_error(error: object) -> str | None:
    """``Error: message`` from the ``{"Error", "Cause"}`` a Catch records; a function error's Cause is Lambda's JSON."""
    if not isinstance(error, dict):
        return None
    return f"{error.get('Error')}: {_cause_message(error.get('Cause'))}"


def format_summary(run: WorkflowRun) -> str:
    lines = [f"Execution {run.execution_arn.rsplit(':', 1)[-1]}: {run.status}"]
    if not run.succeeded:
        lines.append(f"  {run.error}: {_cause_message(run.cause)}")
    if run.plan is None:
        return "\n".join(lines)
    if "sources" in run.plan:
        return "\n".join([*lines, *_sources_summary(run)])
    plan, options = run.plan, run.plan["options"]
    kept = [str(day) for day in plan.get("keptDays", [])]
    window = sorted([*plan["days"], *kept])
    lines.append(
        f"Plan: today {plan['today']}, {len(window)} day(s) {window[0]} .. {window[-1]}, "
        f"months {', '.join(plan['months'])}, currency {plan['currency']}"
        f"{', dry run' if options['dryRun'] else ''}{', forced upload' if options['forceUpload'] else ''}"
    )
    if kept:
        lines.append(f"  refreshed (exported now): {len(plan['days'])} day(s) {day_ranges(plan['days'])}")
        lines.append(f"  kept (current export stays): {len(kept)} day(s) {day_ranges(kept)}")
    currency = str(plan["currency"])
    by_month: dict[str, list[DayOutcome]] = defaultdict(list)
    for outcome in run.days:
        by_month[outcome.month].append(outcome)
    months = {outcome.month: outcome for outcome in run.months}
    lines.append("")
    lines.append(
        f"{'Month':<8} {'Days':>4} {'Written':>7} {'Empty':>5} {'Failed':>6} {'Kept':>4} {'Rows':>9} {'Cost':>14}  "
        "Upload"
    )
    for month in plan["months"]:
        days = by_month.get(month, [])
        counts = _status_counts(days)
        cost = math.fsum(d.cost for d in days)
        kept_in_month = sum(1 for day in kept if day.startswith(month))
        lines.append(
            f"{month:<8} {len(days):>4} {counts['written']:>7} {counts['empty']:>5} {counts['failed']:>6} "
            f"{kept_in_month:>4} "
            f"{sum(d.rows for d in days):>9,} {cost:>10,.2f} {currency}  {_upload_text(months.get(month))}"
        )
    lines.extend(f"  failed {d.day}: {d.error}" for d in run.days if d.status == "failed")
    if run.upload_error is not None:
        lines.append(f"Upload failed: {run.upload_error}")
    return "\n".join(lines)


def _status_counts(days: Sequence[DayOutcome]) -> dict[str, int]:
    """How many of ``days`` were written, empty and failed: the summaries' columns."""
    return {status: sum(1 for day in days if day.status == status) for status in ("written", "empty", "failed")}


def _sources_summary(run: WorkflowRun) -> list[str]:
    """Days, rows and cost per source, then the upload of each bill connect and month."""
    plan, options = run.plan or {}, (run.plan or {})["options"]
    lines = [
        f"Plan: today {plan['today']}, months {', '.join(plan['months'])}, {len(plan['sources'])} source(s), "
        f"{len(plan['billConnects'])} bill connect(s)"
        f"{', dry run' if options['dryRun'] else ''}{', forced upload' if options['forceUpload'] else ''}",
        "",
        f"{'Source':<32} {'Bill connect':<32} {'Currency':<8} {'Days':>4} {'Written':>7} {'Empty':>5} {'Failed':>6} "
        f"{'Kept':>4} {'Rows':>9} {'Cost':>14}",
    ]
    for source in run.sources:
        counts = _status_counts(source.days)
        lines.append(
            f"{source.name:<32} {source.bill_connect_id:<32} {source.currency:<8} {len(source.days):>4} "
            f"{counts['written']:>7} {counts['empty']:>5} {counts['failed']:>6} {len(source.kept):>4} "
            f"{sum(d.rows for d in source.days):>9,} {math.fsum(d.cost for d in source.days):>14,.2f}"
        )
    lines.extend(
        f"  failed {source.name} {d.day}: {d.error}"
        for source in run.sources
        for d in source.days
        if d.status == "failed"
    )
    lines.extend(["", f"{'Bill connect':<32} {'Month':<8} {'Sources':<40} Upload"])
    for month in run.bill_connect_months:
        lines.append(
            f"{month.bill_connect_id:<32} {month.outcome.month:<8} {', '.join(month.sources):<40} "
            f"{_upload_text(month.outcome)}"
        )
        lines.extend(
            f"  {month.outcome.month} waits for {source}: {day_ranges(days)}"
            for source, days in month.missing_by_source.items()
            if days
        )
    if run.upload_error is not None:
        lines.append(f"Upload failed: {run.upload_error}")
    return lines


def day_ranges(days: Sequence[str]) -> str:
    """``2025-06-01 .. 2025-06-30, 2025-07-03``: ascending ISO days as runs of consecutive days."""
    return calendar.day_ranges(map(date.fromisoformat, days), joiner=" .. ")


def _upload_text(outcome: MonthOutcome | None) -> str:
    if outcome is None:
        return "-"
    text = outcome.status
    if outcome.status == "committed":
        size = f", {outcome.bytes:,} bytes" if outcome.bytes else ""
        attempt = ", by an earlier attempt of the upload" if outcome.earlier_attempt else ""
        text += f" ({outcome.files} file(s){size}, bill upload {outcome.bill_upload_id}{attempt})"
    if outcome.error:
        text += f": {outcome.error}"
    return text


def _cause_message(cause: object) -> str:
    """The message of a Step Functions cause; for a function error the cause is Lambda's JSON error body."""
    if not isinstance(cause, str):
        return ""
    try:
        body = json.loads(cause)
    except ValueError:
        return cause
    return str(body.get("errorMessage", cause)) if isinstance(body, dict) else cause
