"""Cost model of the exporter in AWS, from durations measured with the real workflow; writes ``docs/cost.md``.

Usage::

    python -m benchmarks.cost_model            # measure, print the document
    python -m benchmarks.cost_model --write    # measure and rewrite docs/cost.md

What it measures, with the local runner (``local.run.LocalWorkflow``: moto's Step Functions engine, real handlers):

- For each cluster size (1,000, 10,000 and 50,000 allocations a day), a dry-run backfill of two days at
  MaxConcurrency 1 against the Kubecost emulator in its own process (warmed; 300 ms per answer, as in
  ``benchmarks/workflow.py``): each ExportDay invocation's wall time and its thread's CPU time, the compressed bytes
  written and the S3 requests made (counted on boto3's default session, which the handlers' clients use).
- Once, a full scheduled run (35 days, two months, upload to the Flexera emulator) at 1,000 allocations a day: the
  Plan duration, the Upload's seconds per MB (the emulator answers a commit before processing it, as Flexera) and
  S3 requests per uploaded day, and the execution's state transitions (its ``*StateEntered`` history events).

- Once per function, in a fresh process: the CPU time of importing its handler (the cold start's init phase).

How a measurement becomes Lambda time: Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB)
while the measurement had a whole core, so a duration is ``wait + CPU x max(1, 1769 / memory MB)``, where wait is
wall time less CPU time (Kubecost's answers, S3); above 1,769 MB a single-threaded Python handler gains nothing. The
memory settings are read from ``template.yaml``, and each function's duration and cost per run are also computed at
512, 1,024 and 1,769 MB: the size each function should have is the cheapest per run whose longest invocation stays
well inside the timeout, and the document says whether the template uses it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from statistics import mean, median
from typing import TYPE_CHECKING, Any, Final

from benchmarks.support import child_env
from benchmarks.workflow import LATENCY_SECONDS, TODAY, Timeline, flexera_emulator, kubecost_process, local_workflow
from functions.export_day.app import lambda_handler as export_day_handler
from functions.plan.app import lambda_handler as plan_handler
from functions.upload.app import lambda_handler as upload_handler
from kubecost_flexera.config import PlanSettings
from kubecost_flexera.domain.calendar import scheduled_window
from kubecost_flexera.domain.refresh import select_days
from local.boto_hooks import s3_event_hook
from local.run import BUCKET, EXPORTS_PREFIX, STACK_NAME
from local.runner_report import EXPORT_DAY_FUNCTION, PLAN_FUNCTION, UPLOAD_FUNCTION
from local.runner_template import load_template

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from contextlib import AbstractContextManager

    from local.runner_report import WorkflowRun

ROOT: Final = Path(__file__).resolve().parents[1]
DOC: Final = ROOT / "docs" / "cost.md"
SIZES: Final = (1_000, 10_000, 50_000)
MEASURED_DAYS: Final = (date(2025, 6, 10), date(2025, 6, 11))
MB: Final = 1_000_000
GB: Final = 1_000_000_000
ONE_VCPU_MB: Final = 1769  # Lambda developer guide, "Configuring memory": one vCPU at 1,769 MB
DAYS_PER_MONTH: Final = 365 / 12
MEMORY_SIZES: Final = (512, 1024, 1769)
TIMEOUT_SECONDS: Final = 900  # the functions' Timeout (template Globals)
# An invocation may take at most this share of the timeout at the largest measured cluster size: room for a slower
# Kubecost, a longer month and retries within one invocation.
TIMEOUT_SHARE: Final = 0.25
FUNCTIONS: Final = ("PlanFunction", "ExportDayFunction", "UploadFunction")
HANDLER_MODULES: Final = {
    "PlanFunction": "functions.plan.app",
    "ExportDayFunction": "functions.export_day.app",
    "UploadFunction": "functions.upload.app",
}
INIT_SAMPLES: Final = 3
HANDLERS: Final[dict[str, Callable[[dict[str, Any], Any], Any]]] = {
    PLAN_FUNCTION: plan_handler,
    EXPORT_DAY_FUNCTION: export_day_handler,
    UPLOAD_FUNCTION: upload_handler,
}
S3_PUT_CLASS: Final = frozenset(
    {"PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "ListObjectsV2"}
)
S3_FREE: Final = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})


@dataclass(frozen=True)
class Prices:
    """us-east-1 list prices (the model's assumptions; check them before relying on the totals)."""

    as_of: str = "AWS public price pages for us-east-1 as of mid-2025, without free tiers"
    lambda_gb_second_arm: float = 0.0000133334  # arm64, first 7.5 billion GB-s a month
    lambda_request: float = 0.20 / 1_000_000
    transition: float = 0.025 / 1000  # Step Functions Standard
    s3_put: float = 0.005 / 1000  # PUT, COPY, POST, LIST
    s3_get: float = 0.0004 / 1000  # GET, HEAD and other requests; DELETE is free
    s3_gb_month: float = 0.023  # S3 Standard, first 50 TB


@dataclass(frozen=True)
class DayFigures:
    size: int
    wall: float  # seconds per ExportDay invocation, mean of the measured days
    cpu: float  # CPU seconds of the invocation's thread
    bytes: float  # compressed bytes written per day
    rows: float
    s3_put: float  # requests per day
    s3_get: float


@dataclass(frozen=True)
class RunFigures:
    plan_wall: float
    plan_cpu: float
    upload_seconds_per_mb: float  # upload wall time per MB uploaded
    upload_cpu_share: float  # CPU part of the upload's wall time
    transitions_fixed: int  # per execution, besides one per day
    s3_put_per_run: float  # the upload's, per run (upload states)
    s3_get_per_day: float  # the upload's, per uploaded day (manifest and parts)


@dataclass(frozen=True)
class Sizing:
    """One function at one memory size: seconds per invocation (init included) and cost per run, per cluster size."""

    function: str
    memory: int
    invocations: float  # per run
    seconds: tuple[float, ...]  # per invocation, one per cluster size
    cost: tuple[float, ...]  # dollars per run, one per cluster size


def measure_init_cpu(module: str) -> float:
    """CPU seconds of importing ``module`` in a fresh interpreter (median of a few): a cold start's init phase."""
    code = f"import time; start = time.process_time(); import {module}; print(time.process_time() - start)"
    samples = [
        float(
            subprocess.run(  # noqa: S603 - our own interpreter and modules
                [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=child_env()
            ).stdout.strip()
        )
        for _ in range(INIT_SAMPLES)
    ]
    return median(samples)


class S3Requests:
    """Counts S3 operations made through boto3's default session, by operation name."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1

    def installed(self) -> AbstractContextManager[None]:
        return s3_event_hook("before-call.s3", self)

    def per_invocation(
        self, handler: Callable[[dict[str, Any], Any], Any], sink: list[tuple[int, int]]
    ) -> Callable[[dict[str, Any], Any], Any]:
        """``handler``, appending to ``sink`` the (PUT, GET) requests each invocation made; valid when invocations
        do not overlap (MaxConcurrency 1, or a single Upload after the Map)."""

        def counted(event: dict[str, Any], context: Any) -> Any:
            put, get = self.split()
            try:
                return handler(event, context)
            finally:
                after_put, after_get = self.split()
                sink.append((after_put - put, after_get - get))

        return counted

    def split(self) -> tuple[int, int]:
        """PUT-class and GET-class requests so far (DELETE is free)."""
        put = sum(n for name, n in self.counts.items() if name in S3_PUT_CLASS)
        get = sum(n for name, n in self.counts.items() if name not in S3_PUT_CLASS | S3_FREE)
        return put, get


def _succeeded(run: WorkflowRun) -> WorkflowRun:
    if not run.succeeded:
        raise RuntimeError(f"the measured run failed: {run.error}: {run.cause}")
    return run


def measure_days(size: int) -> DayFigures:
    timeline, requests = Timeline(), S3Requests()
    export_requests: list[tuple[int, int]] = []
    handlers = {function: timeline.wrap(function, handler) for function, handler in HANDLERS.items()}
    handlers[EXPORT_DAY_FUNCTION] = timeline.wrap(
        EXPORT_DAY_FUNCTION, requests.per_invocation(export_day_handler, export_requests)
    )
    request = {
        "today": TODAY.isoformat(),
        "start": MEASURED_DAYS[0].isoformat(),
        "end": MEASURED_DAYS[-1].isoformat(),
        "dry_run": True,
    }
    with (
        kubecost_process(size, MEASURED_DAYS, LATENCY_SECONDS) as kubecost,
        local_workflow(kubecost.url, None, handlers, 1) as workflow,
    ):
        with requests.installed():
            run = _succeeded(workflow.run(request))
        written = workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix=EXPORTS_PREFIX).get("Contents", [])
    days = len(MEASURED_DAYS)
    return DayFigures(
        size=size,
        wall=mean(end - start for start, end in timeline.spans[EXPORT_DAY_FUNCTION]),
        cpu=mean(timeline.cpu[EXPORT_DAY_FUNCTION]),
        bytes=sum(item["Size"] for item in written) / days,
        rows=sum(day.rows for day in run.days) / days,
        s3_put=sum(put for put, _ in export_requests) / days,
        s3_get=sum(get for _, get in export_requests) / days,
    )


def measure_run() -> RunFigures:
    window = scheduled_window(TODAY, include_previous_month=True)
    timeline, requests = Timeline(), S3Requests()
    upload_requests: list[tuple[int, int]] = []
    handlers = {function: timeline.wrap(function, handler) for function, handler in HANDLERS.items()}
    handlers[UPLOAD_FUNCTION] = timeline.wrap(UPLOAD_FUNCTION, requests.per_invocation(upload_handler, upload_requests))
    with (
        kubecost_process(SIZES[0], window.days, LATENCY_SECONDS) as kubecost,
        flexera_emulator() as flexera,
        local_workflow(kubecost.url, flexera, handlers, 8) as workflow,
    ):
        with requests.installed():
            run = _succeeded(workflow.run({"today": TODAY.isoformat()}))
        history = workflow.sfn.get_execution_history(executionArn=run.execution_arn, maxResults=1000)["events"]
    entered = sum(1 for event in history if str(event["type"]).endswith("StateEntered"))
    days = len(run.days)
    uploaded_mb = sum(month.bytes for month in run.months) / MB
    (upload_span,) = timeline.spans[UPLOAD_FUNCTION]
    upload_wall = upload_span[1] - upload_span[0]
    (plan_span,) = timeline.spans[PLAN_FUNCTION]
    (upload_put, upload_get) = upload_requests[0]
    return RunFigures(
        plan_wall=plan_span[1] - plan_span[0],
        plan_cpu=timeline.cpu[PLAN_FUNCTION][0],
        upload_seconds_per_mb=upload_wall / uploaded_mb,
        upload_cpu_share=min(1.0, timeline.cpu[UPLOAD_FUNCTION][0] / upload_wall),
        transitions_fixed=entered - days,
        s3_put_per_run=upload_put,
        s3_get_per_day=upload_get / days,
    )


def lambda_seconds(wall: float, cpu: float, memory: int) -> float:
    """A measured duration as Lambda would take it at ``memory`` MB: the CPU part slowed by the vCPU share."""
    return (wall - cpu) + cpu * max(1.0, ONE_VCPU_MB / memory)


@dataclass(frozen=True)
class Model:
    """Everything measured, and the settings that turn it into Lambda time: the source of every figure."""

    days: Sequence[DayFigures]
    run: RunFigures
    init_cpu: Mapping[str, float]  # CPU seconds of a cold start's imports, per function
    max_concurrency: int  # the Map's: at most this many ExportDay cold starts a run
    prices: Prices
    window_days: float  # days in a run's window, on average: what the upload sends and the bucket stores
    exported_days: float  # days a run exports, on average (fewer than the window with REFRESH_DAYS)

    def sizing(self, function: str, memory: int) -> Sizing:
        """``function`` at ``memory`` MB. A run is one Plan, ``exported_days`` ExportDays and one Upload of the window;
        it cold-starts the Plan, the Upload and one ExportDay per execution environment of the Map."""
        n, exported = self.window_days, self.exported_days
        run = self.run
        if function == "PlanFunction":
            invocations, cold_starts = 1.0, 1.0
            seconds = [lambda_seconds(run.plan_wall, run.plan_cpu, memory)] * len(self.days)
        elif function == "ExportDayFunction":
            invocations, cold_starts = exported, min(float(self.max_concurrency), exported)
            seconds = [lambda_seconds(d.wall, d.cpu, memory) for d in self.days]
        else:
            invocations, cold_starts = 1.0, 1.0
            factor = (1 - run.upload_cpu_share) + run.upload_cpu_share * max(1.0, ONE_VCPU_MB / memory)
            seconds = [run.upload_seconds_per_mb * factor * d.bytes * n / MB for d in self.days]
        init = lambda_seconds(self.init_cpu[function], self.init_cpu[function], memory)
        with_init = tuple(value + init * cold_starts / invocations for value in seconds)
        prices = self.prices
        cost = tuple(
            invocations * (value * memory / 1024 * prices.lambda_gb_second_arm + prices.lambda_request)
            for value in with_init
        )
        return Sizing(function, memory, invocations, with_init, cost)


def chosen_memory(options: Sequence[Sizing]) -> Sizing:
    """The cheapest size per run at the largest cluster whose invocations stay within ``TIMEOUT_SHARE``."""
    allowed = [o for o in options if o.seconds[-1] <= TIMEOUT_SECONDS * TIMEOUT_SHARE] or list(options)
    return min(allowed, key=lambda o: (o.cost[-1], o.memory))


def average_days_per_run(refresh_days: int | None = None, year: int = 2025) -> float:
    """The mean number of days a daily scheduled run exports over the days of ``year``: the whole reference window,
    or with ``refresh_days`` what ``refresh.select_days`` picks when every run succeeds (simulated from December 1 of
    the year before, so the bucket is in its steady state)."""
    settings = PlanSettings(include_previous_month=True, refresh_days=refresh_days)
    written: dict[date, datetime] = {}
    counts = []
    day = date(year - 1, 12, 1)
    while day.year <= year:
        selection = select_days(scheduled_window(day, include_previous_month=True), written, settings)
        written.update(dict.fromkeys(selection.refreshed, datetime.combine(day, time(3), tzinfo=UTC)))
        if day.year == year:
            counts.append(len(selection.refreshed))
        day += timedelta(days=1)
    return mean(counts)


@dataclass(frozen=True)
class RunCost:
    """One cluster size's cost per run and per month, from a model."""

    gb_seconds: Mapping[str, float]  # per function
    requests: float
    transitions: float
    s3_put: float
    s3_get: float
    stored_gb: float
    per_run: Mapping[str, float]
    per_month: Mapping[str, float]

    @property
    def total_gb_seconds(self) -> float:
        return sum(self.gb_seconds.values())


def run_cost(model: Model, index: int, memory: Mapping[str, int], retention: int) -> RunCost:
    """The cost of a run at the cluster size ``model.days[index]`` with the functions at ``memory`` MB."""
    d, run, prices = model.days[index], model.run, model.prices
    n, exported = model.window_days, model.exported_days
    gb_seconds = {}
    for function in FUNCTIONS:
        sizing = model.sizing(function, memory[function])
        gb_seconds[function] = sizing.invocations * sizing.seconds[index] * sizing.memory / 1024
    requests = 2 + exported
    transitions = run.transitions_fixed + exported
    s3_put = exported * d.s3_put + run.s3_put_per_run
    s3_get = exported * d.s3_get + n * run.s3_get_per_day
    stored_gb = d.bytes * (n + retention) / GB
    per_run = {
        "Lambda GB-seconds": sum(gb_seconds.values()) * prices.lambda_gb_second_arm,
        "Lambda requests": requests * prices.lambda_request,
        "Step Functions transitions": transitions * prices.transition,
        "S3 requests": s3_put * prices.s3_put + s3_get * prices.s3_get,
    }
    per_month = {name: cost * DAYS_PER_MONTH for name, cost in per_run.items()}
    per_month["S3 storage"] = stored_gb * prices.s3_gb_month
    return RunCost(gb_seconds, requests, transitions, s3_put, s3_get, stored_gb, per_run, per_month)


def render(model: Model) -> str:
    days, run, prices = model.days, model.run, model.prices
    template = load_template(stack_name=STACK_NAME)
    memory = {function: template.functions[function].memory_size for function in FUNCTIONS}
    plan_mb, export_mb, upload_mb = (memory[function] for function in FUNCTIONS)
    deployed = {function: model.sizing(function, memory[function]) for function in FUNCTIONS}
    n = model.window_days
    retention = int(template.parameter_defaults["RetentionDays"])
    lines = [
        "# Cost model",
        "",
        "Generated by `python -m benchmarks.cost_model --write` from durations measured with the real workflow "
        "(local runner, real handlers, Kubecost emulator answering in 300 ms a page, `PAGE_SIZE` 500). "
        "Rerun it to refresh the figures; do not edit this file by hand.",
        "",
        "## Assumptions",
        "",
        f"- Prices: {prices.as_of}. Lambda arm64 ${prices.lambda_gb_second_arm:.10f} per GB-second and "
        f"${prices.lambda_request * 1e6:.2f} per million requests; Step Functions Standard "
        f"${prices.transition * 1000:.3f} per 1,000 state transitions; S3 Standard ${prices.s3_put * 1000:.4f} per "
        f"1,000 PUT/COPY/POST/LIST, ${prices.s3_get * 1000:.4f} per 1,000 GET and other requests, "
        f"${prices.s3_gb_month:.3f} per GB-month. Free tiers are ignored; CloudWatch Logs, X-Ray, Secrets Manager "
        "($0.40 a secret a month) and data transfer are not counted.",
        f"- Memory from `template.yaml`: PlanFunction {plan_mb} MB, ExportDayFunction {export_mb} MB, "
        f'UploadFunction {upload_mb} MB (chosen below, "Memory size per function"). Lambda gives a function CPU '
        f"in proportion to its memory, one vCPU at {ONE_VCPU_MB} MB; the handlers are single-threaded Python and "
        f"the measurement had a whole core, so a duration is modelled as *wait + CPU x max(1, {ONE_VCPU_MB} / "
        "memory)*, where CPU is the invocation thread's measured CPU time and wait the rest of its wall time "
        "(Kubecost, S3, Flexera). The measuring machine's core stands for a Graviton core; the model does not "
        "correct for a difference in their speed.",
        f"- Cold starts: every run starts cold (a day between runs outlives the execution environments): the Plan, "
        f"the Upload and {model.max_concurrency} ExportDay environments (the Map's `MaxConcurrency`) each import "
        "their handler once; that init phase is billed like the invocation and modelled the same way (measured "
        "import CPU, scaled by memory).",
        f"- One scheduled run a day, {DAYS_PER_MONTH:.2f} runs a month. A run exports the reference window (the "
        f"previous month and the current one up to today): on average **{n:.2f} days** a run over the days of 2025 "
        "(`RefreshDays` empty, the default; with it a run exports a few days and the costs of the day exports "
        'shrink in proportion, see the README\'s "Refresh window"). Every run re-exports those days under new '
        "keys, and both months are counted as uploaded every run.",
        "- Kubecost answers a page in 300 ms (a guess for a busy cluster): most of an export's duration is that "
        "wait (pages x 300 ms), so the Lambda cost scales with Kubecost's speed.",
        "- State transitions are the execution's states entered, as measured; each Retry of a state adds one.",
        f"- Storage: a day's files live until {retention} days (`RetentionDays`) after their last rewrite, i.e. "
        f"about {n:.0f} + {retention} days of files are stored at any time.",
        "",
        "## Measured",
        "",
        f"ExportDay, per day (mean of two days, MaxConcurrency 1, on a machine with {os.cpu_count()} CPUs):",
        "",
        "| allocations/day | rows | gzip MB | wall s | CPU s | Lambda s at "
        f"{export_mb} MB | S3 PUT-class | S3 GET-class |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in days:
        lines.append(
            f"| {d.size:,} | {d.rows:,.0f} | {d.bytes / MB:.2f} | {d.wall:.2f} | {d.cpu:.2f} | "
            f"{lambda_seconds(d.wall, d.cpu, export_mb):.2f} | {d.s3_put:.1f} | {d.s3_get:.1f} |"
        )
    upload_factor = (1 - run.upload_cpu_share) + run.upload_cpu_share * max(1.0, ONE_VCPU_MB / upload_mb)
    upload_per_mb = run.upload_seconds_per_mb * upload_factor
    init = ", ".join(f"{function.removesuffix('Function')} {model.init_cpu[function]:.2f} s" for function in FUNCTIONS)
    lines += [
        "",
        f"Run (35 days, 1,000 allocations a day): Plan {run.plan_wall:.2f} s wall, {run.plan_cpu:.2f} s CPU -> "
        f"{lambda_seconds(run.plan_wall, run.plan_cpu, plan_mb):.2f} s at {plan_mb} MB; Upload "
        f"{run.upload_seconds_per_mb:.3f} s per MB uploaded ({run.upload_cpu_share:.0%} CPU) -> {upload_per_mb:.3f} "
        f"s per MB at {upload_mb} MB, {run.s3_get_per_day:.1f} S3 GET-class requests per uploaded day and "
        f"{run.s3_put_per_run:.0f} PUT-class per run; state transitions = {run.transitions_fixed} + 1 per day. "
        "The upload's speed is measured against an emulator on the same machine: a floor, since Flexera is across "
        f"the Internet. Cold start (CPU of importing the handler in a fresh process): {init}.",
        "",
        *memory_section(model, memory),
    ]
    sections: list[str] = []
    summary: list[str] = []
    for index, d in enumerate(days):
        cost = run_cost(model, index, memory, retention)
        gb_seconds = cost.gb_seconds
        plan, export, upload = (deployed[function] for function in FUNCTIONS)
        sections += [
            f"### {d.size:,} allocations a day",
            "",
            f"- Lambda (cold starts included): Plan {plan.seconds[index]:.2f} s x {plan_mb / 1024:.3f} GB = "
            f"{gb_seconds['PlanFunction']:.2f} GB-s; ExportDay {n:.2f} days x {export.seconds[index]:.2f} s x "
            f"{export_mb / 1024:.3f} GB = {gb_seconds['ExportDayFunction']:,.1f} GB-s; Upload {n:.2f} days x "
            f"{d.bytes / MB:.2f} MB x {upload_per_mb:.3f} s/MB + cold start = {upload.seconds[index]:.2f} s x "
            f"{upload_mb / 1024:.3f} GB = {gb_seconds['UploadFunction']:,.1f} GB-s; "
            f"**{cost.total_gb_seconds:,.1f} GB-s per run**, {cost.requests:.2f} requests.",
            f"- Step Functions: {run.transitions_fixed} + {n:.2f} = **{cost.transitions:.2f} state transitions per "
            "run**.",
            f"- S3: {n:.2f} x {d.s3_put:.1f} + {run.s3_put_per_run:.0f} = {cost.s3_put:,.1f} PUT-class and "
            f"{n:.2f} x ({d.s3_get:.1f} + {run.s3_get_per_day:.1f}) = {cost.s3_get:,.1f} GET-class requests per run; "
            f"{d.bytes / MB:.2f} MB x {n + retention:.0f} days = {cost.stored_gb:.3f} GB stored.",
            "",
            "| item | per run | per month |",
            "| --- | ---: | ---: |",
        ]
        for name, monthly in cost.per_month.items():
            per_run = cost.per_run.get(name)
            sections.append(f"| {name} | {'-' if per_run is None else f'${per_run:.5f}'} | ${monthly:.4f} |")
        total = sum(cost.per_month.values())
        sections += [f"| **total** | | **${total:.2f}** |", ""]
        summary.append(
            f"| {d.size:,} | {cost.total_gb_seconds:,.1f} | {cost.transitions:.1f} | {cost.requests:.1f} | "
            f"${total:.2f} |"
        )
    lines += [
        "## Per daily run and per month",
        "",
        "| allocations/day | GB-seconds per run | state transitions per run | Lambda requests per run | per month |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *summary,
        "",
        *refresh_section(model, memory, retention),
        *sections,
    ]
    return "\n".join(lines)


def refresh_section(model: Model, memory: Mapping[str, int], retention: int) -> list[str]:
    """The same runs with the refresh window at ``REFRESH_DAYS`` 1 to 7: fewer ExportDays, the same upload."""
    lines = [
        "## With the refresh window (`RefreshDays`)",
        "",
        "Days exported per run on average over 2025 with every run succeeding (the recent days, plus each month's "
        "one month-close refresh on the 3rd), and the cost per month; the upload still sends the whole window, as "
        "counted above (a conservative count: a month whose files did not change is in fact skipped).",
        "",
        "| RefreshDays | days exported per run | "
        + " | ".join(f"per month at {d.size:,}/day" for d in model.days)
        + " |",
        "| ---: | ---: | " + " | ".join("---:" for _ in model.days) + " |",
    ]
    for refresh_days in (None, 1, 3, 7):
        exported = model.window_days if refresh_days is None else average_days_per_run(refresh_days)
        windowed = replace(model, exported_days=exported)
        costs = [
            sum(run_cost(windowed, index, memory, retention).per_month.values()) for index in range(len(model.days))
        ]
        label = "empty" if refresh_days is None else str(refresh_days)
        lines.append(f"| {label} | {exported:.2f} | " + " | ".join(f"${cost:.2f}" for cost in costs) + " |")
    return [*lines, ""]


def memory_section(model: Model, deployed: Mapping[str, int]) -> list[str]:
    """Each function's duration and Lambda cost per run at every size of ``MEMORY_SIZES``, the size the rule picks
    and whether ``template.yaml`` has it."""
    sizes = " / ".join(f"{d.size:,}" for d in model.days)
    lines = [
        "## Memory size per function",
        "",
        f"Seconds per invocation (cold starts spread over the run's invocations) and Lambda cost per run (GB-seconds "
        f"and requests), for {sizes} allocations a day. The rule: the cheapest size per run at the largest cluster "
        f"whose invocations take at most {TIMEOUT_SHARE:.0%} of the {TIMEOUT_SECONDS} s timeout.",
        "",
        f"| function | MB | invocations per run | s per invocation ({sizes}) | $ per run ({sizes}) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    choices: list[str] = []
    for function in FUNCTIONS:
        options = [model.sizing(function, memory) for memory in MEMORY_SIZES]
        best = chosen_memory(options)
        for option in options:
            mark = " (chosen)" if option is best else ""
            lines.append(
                f"| {function} | {option.memory}{mark} | {option.invocations:.2f} | "
                f"{' / '.join(f'{value:.2f}' for value in option.seconds)} | "
                f"{' / '.join(f'${value:.5f}' for value in option.cost)} |"
            )
        largest = max(options, key=lambda option: option.memory)
        saving = 1 - best.cost[-1] / largest.cost[-1]
        template_note = (
            "the template's `MemorySize`"
            if deployed[function] == best.memory
            else f"**the template has {deployed[function]} MB: change it**"
        )
        choices.append(
            f"- **{function}: {best.memory} MB** ({template_note}): ${best.cost[-1]:.5f} per run at "
            f"{model.days[-1].size:,} allocations a day, {saving:.0%} less than at {largest.memory} MB, for "
            f"{best.seconds[-1]:.2f} s instead of {largest.seconds[-1]:.2f} s per invocation."
        )
    lines += [
        "",
        *choices,
        "",
        "Why the smallest size wins: below one vCPU a function's CPU seconds stretch by exactly the factor its memory "
        "shrinks, so the GB-seconds of its CPU work are the same at every size up to 1,769 MB, while its waiting "
        "(Kubecost's answers, S3, Flexera) is billed per GB-second and so costs less the less memory the function "
        "has. Every function here mostly waits, so it costs least at the smallest size; it only takes longer, and the "
        "day exports run in parallel, so a run's wall time grows far less than one export's. Memory is not the limit: "
        "the export streams a day in fixed-size chunks and the upload streams each part, so their peak memory does not "
        "grow with the day or the month (`make bench`: day export and upload peak RSS), and stays well below 512 MB.",
        "",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="allocations per day")
    args = parser.parse_args(argv)
    days = [measure_days(size) for size in args.sizes]
    run = measure_run()
    init_cpu = {function: measure_init_cpu(HANDLER_MODULES[function]) for function in FUNCTIONS}
    max_concurrency = int(load_template(stack_name=STACK_NAME).parameter_defaults["MaxConcurrency"])
    window_days = average_days_per_run()
    document = render(Model(days, run, init_cpu, max_concurrency, Prices(), window_days, window_days))
    print(document)
    if args.write:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(document + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
