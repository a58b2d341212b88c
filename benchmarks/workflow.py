"""Benchmark of the whole workflow: a full scheduled run at MaxConcurrency 1 and 8, and the speed-up; then the
refresh window: a 61-day scheduled run with ``REFRESH_DAYS`` off and at 3.

Usage::

    python -m benchmarks.workflow                      # 35 days, 2,000 allocations a day, 300 ms a page, MC 1 and 8
    python -m benchmarks.workflow --concurrency 1 4 8 16 --latency 0.1

What runs: the local runner (``local.run.LocalWorkflow``) executes ``statemachine/export.asl.json`` with moto's Step
Functions engine and the real handlers in this process: Plan, the ``ExportDays`` Map over every day, Upload of both
months to the Flexera emulator. The run is pinned to the 5th of July 2025, so the plan is the reference program's
window: June 1 to July 5, 35 days, two months. ``PAGE_SIZE`` is 500, so a day of 2,000 allocations takes four full
pages and the short last one that ends the paging (five requests of 300 ms each).

How it measures, so that the figures are the workflow's own:

- The Kubecost emulator runs in its own process (as Kubecost is another server) with ``latency_seconds`` added to
  every answer; it computes every day of the run before the clock starts, so the time is the 300 ms a page plus the
  exporter's work, not the emulator's data generation. Flexera and moto run in this process (upload is one step).
- Wall time is from ``StartExecution`` to the end of the execution (the runner polls every 20 ms). Retry waits are
  not slept (none are expected; the Flexera emulator's clock is advanced instead).
- The ExportDay and Upload handlers are wrapped to time each invocation and to count the ExportDay invocations
  running at the same moment: the peak shows whether the Map really ran ``MaxConcurrency`` days at once.
- The verdict (exit status) is the speed-up of the whole run. The Flexera emulator, like Flexera, answers a commit
  before it processes the files, so the upload step is the exporter's own work.
- MaxConcurrency 1 is the reference behaviour: the Go exporter fetches and writes the days one after another, so
  its time is the MC 1 time (``GO-RUN-4`` in docs/compatibility.md). The speed-up is MC 1 / MC N.

The refresh window (``REFRESH_DAYS``, ``kubecost_flexera/refresh.py``) is measured on the longest window, the run of
Aug 30 2025 (Jul 1 - Aug 30, 61 days), at MaxConcurrency 8, in two local stacks, as a user deploys them: one with
``REFRESH_DAYS`` unset (every day exported again) and one with ``REFRESH_DAYS=3`` (today and the two days before;
every other day has an export, and both months closed long before the manifests were written, so nothing else is
due). The setting is the stack's (its parameter also gives the plan function the right to list the manifests), not
one to switch between runs. In each stack a first run fills the bucket, then the same scheduled run is measured:
both are second runs on the same data, so the months are skipped as unchanged in both and the difference is the
export phase. The figures are the Kubecost requests (allocation pages and getConfigs) and the wall time; the verdict
is that the window run asked Kubecost for at most 3/61 of the allocation pages, plus the plan's currency request, and
that every run succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

from emulators.flexera import (
    DEFAULT_BILL_CONNECT_ID,
    DEFAULT_REFRESH_TOKEN,
    FlexeraEmulator,
    FlexeraEmulatorConfig,
)
from emulators.kubecost import KubecostEmulator, KubecostEmulatorConfig
from functions.export_day.app import lambda_handler as export_day_handler
from functions.upload.app import lambda_handler as upload_handler
from kubecost_flexera.domain.calendar import scheduled_window
from local.run import LocalSettings, LocalWorkflow
from local.runner_report import EXPORT_DAY_FUNCTION, UPLOAD_FUNCTION

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess


TODAY: Final = date(2025, 7, 5)
ALLOCATIONS: Final = 2_000
PAGE_SIZE: Final = 500
LATENCY_SECONDS: Final = 0.3
CONCURRENCIES: Final = (1, 8)
SPEEDUP_TARGET: Final = 5.0
REFRESH_TODAY: Final = date(2025, 8, 30)  # the longest scheduled window: Jul 1 - Aug 30, 61 days
REFRESH_DAYS: Final = 3
REFRESH_CONCURRENCY: Final = 8
TIMEOUT_SECONDS: Final = 1800.0


def serve_kubecost(config: KubecostEmulatorConfig, days: Sequence[date], commands: Connection) -> None:
    """The Kubecost emulator's process: warm every day, send the URL, answer "requests" with the count, until "stop"."""
    with KubecostEmulator(config) as emulator:
        for day in days:
            emulator.expected(day)  # the exporter's query (pod level, idle on): fills the cache its pages read
        commands.send(emulator.url)
        while (command := commands.recv()) != "stop":
            if command == "requests":
                commands.send(len(emulator.requests))


class KubecostProcess:
    """The parent's end of ``serve_kubecost``: the emulator's URL and its count of requests so far."""

    def __init__(self, commands: Connection) -> None:
        self._commands = commands
        self.url = str(commands.recv())

    def requests(self) -> int:
        self._commands.send("requests")
        return int(self._commands.recv())


@contextlib.contextmanager
def kubecost_process(allocations: int, days: Sequence[date], latency_seconds: float) -> Iterator[KubecostProcess]:
    """The Kubecost emulator in its own (spawned) process, every day of ``days`` computed before the measurement,
    answering ``latency_seconds`` late; stopped on exit. Its "today" is the day after the last of ``days``."""
    config = KubecostEmulatorConfig(
        allocations_per_day=allocations,
        today=max(days) + timedelta(days=1),
        latency_seconds=latency_seconds,
        cache_size=len(days) + 1,
    )
    commands, child = multiprocessing.Pipe()
    process: BaseProcess = multiprocessing.get_context("spawn").Process(
        target=serve_kubecost, args=(config, days, child), daemon=True
    )
    process.start()
    try:
        yield KubecostProcess(commands)
    finally:
        commands.send("stop")
        process.join(timeout=30)


def flexera_emulator() -> FlexeraEmulator:
    """The Flexera emulator with the bill connect the benchmarks upload to (started by ``with``)."""
    return FlexeraEmulator(FlexeraEmulatorConfig(bill_connects=frozenset({DEFAULT_BILL_CONNECT_ID})))


def local_workflow(
    kubecost_url: str,
    flexera: FlexeraEmulator | None,
    handlers: Mapping[str, Callable[[dict[str, Any], Any], Any]],
    max_concurrency: int,
    page_size: int = PAGE_SIZE,
    *,
    settings: Mapping[str, str] | None = None,
) -> LocalWorkflow:
    """The local runner set up as every benchmark measures it: the reference window (previous month included),
    ``page_size`` allocations a page, retry waits advancing the Flexera emulator's clock instead of sleeping, plus the
    functions' ``settings`` (variables: the stack is deployed with the template parameters that set them). Without
    ``flexera`` the run must be a dry run: its Flexera URL answers nothing."""
    flexera_config = flexera.config if flexera is not None else FlexeraEmulatorConfig()
    return LocalWorkflow(
        LocalSettings(
            kubecost_url=kubecost_url,
            flexera_url=flexera.url if flexera is not None else "http://127.0.0.1:9",
            flexera_secret={"refresh_token": DEFAULT_REFRESH_TOKEN},
            environ={
                "ORG_ID": flexera_config.org_id,
                "BILL_CONNECT_ID": DEFAULT_BILL_CONNECT_ID,
                "PAGE_SIZE": str(page_size),
                "INCLUDE_PREVIOUS_MONTH": "true",
                **(settings or {}),
            },
            retry_sleep=flexera.clock.advance if flexera is not None else None,
            handlers=handlers,
            max_concurrency=max_concurrency,
        )
    )


class Timeline:
    """Wraps the handlers: records when each invocation ran, its thread's CPU time, and how many of one function ran
    at once at most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.spans: dict[str, list[tuple[float, float]]] = {}
        self.cpu: dict[str, list[float]] = {}  # CPU seconds of the invocation's thread

    def wrap(
        self, function: str, handler: Callable[[dict[str, Any], Any], Any]
    ) -> Callable[[dict[str, Any], Any], Any]:
        def timed(event: dict[str, Any], context: Any) -> Any:
            with self._lock:
                self._running[function] = self._running.get(function, 0) + 1
                self.peak[function] = max(self.peak.get(function, 0), self._running[function])
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return handler(event, context)
            finally:
                ended, cpu = time.perf_counter(), time.thread_time() - cpu
                with self._lock:
                    self._running[function] -= 1
                    self.spans.setdefault(function, []).append((started, ended))
                    self.cpu.setdefault(function, []).append(cpu)

        return timed

    def phase_seconds(self, function: str) -> float:
        """From the first invocation's start to the last one's end."""
        spans = self.spans.get(function, [])
        return max(end for _, end in spans) - min(start for start, _ in spans) if spans else 0.0


@dataclass(frozen=True)
class Measurement:
    concurrency: int
    wall_seconds: float
    status: str
    days: int
    written: int
    rows: int
    requests: int
    peak_in_flight: int
    export_seconds: float
    upload_seconds: float
    months: str


def measure(concurrency: int, kubecost: KubecostProcess, page_size: int) -> Measurement:
    timeline = Timeline()
    handlers = {
        EXPORT_DAY_FUNCTION: timeline.wrap(EXPORT_DAY_FUNCTION, export_day_handler),
        UPLOAD_FUNCTION: timeline.wrap(UPLOAD_FUNCTION, upload_handler),
    }
    with (
        flexera_emulator() as flexera,
        local_workflow(kubecost.url, flexera, handlers, concurrency, page_size) as workflow,
    ):
        requests_before = kubecost.requests()
        started = time.perf_counter()
        run = workflow.run({"today": TODAY.isoformat()}, timeout_seconds=TIMEOUT_SECONDS)
        wall = time.perf_counter() - started
        requests = kubecost.requests() - requests_before
    return Measurement(
        concurrency=concurrency,
        wall_seconds=wall,
        status=run.status,
        days=len(run.days),
        written=sum(day.status == "written" for day in run.days),
        rows=sum(day.rows for day in run.days),
        requests=requests,
        peak_in_flight=timeline.peak.get(EXPORT_DAY_FUNCTION, 0),
        export_seconds=timeline.phase_seconds(EXPORT_DAY_FUNCTION),
        upload_seconds=timeline.phase_seconds(UPLOAD_FUNCTION),
        months=", ".join(f"{month.month} {month.status}" for month in run.months),
    )


def report(results: Sequence[Measurement], latency: float) -> bool:
    baseline = results[0]
    print(
        f"{'MaxConcurrency':>14} {'wall s':>7} {'speed-up':>8} {'days phase s':>12} {'speed-up':>8} {'upload s':>8} "
        f"{'peak days at once':>17} {'written':>7} {'rows':>9} {'requests':>8}  status, months"
    )
    for r in results:
        print(
            f"{r.concurrency:>14} {r.wall_seconds:>7.1f} {baseline.wall_seconds / r.wall_seconds:>7.2f}x "
            f"{r.export_seconds:>12.1f} {baseline.export_seconds / r.export_seconds:>7.2f}x {r.upload_seconds:>8.1f} "
            f"{r.peak_in_flight:>17} {r.written:>4}/{r.days:<2} {r.rows:>9,} "
            f"{r.requests:>8}  {r.status}, {r.months}"
        )
    print(
        f"\nMaxConcurrency {baseline.concurrency} is the reference behaviour: the Go exporter exports the days one "
        f"after another (GO-RUN-4), so the same run takes it about {baseline.wall_seconds:.1f} s."
    )
    print(
        f"Waiting for Kubecost alone, one request at a time: {baseline.requests} requests x {latency} s = "
        f"{baseline.requests * latency:.1f} s. The days phase is the Map (first ExportDay start to last end); the "
        "upload is the same at every concurrency (one invocation, months in order)."
    )
    ok = all(r.status == "SUCCEEDED" and r.peak_in_flight <= r.concurrency for r in results)
    fastest = max(results, key=lambda r: r.concurrency)
    if fastest.concurrency >= 8:
        whole = baseline.wall_seconds / fastest.wall_seconds
        days = baseline.export_seconds / fastest.export_seconds
        print(
            f"Speed-up at MaxConcurrency {fastest.concurrency}: whole run {whole:.2f}x (target >= {SPEEDUP_TARGET}x); "
            f"days phase {days:.2f}x"
        )
        ok = ok and whole >= SPEEDUP_TARGET
    return ok


@dataclass(frozen=True)
class RefreshMeasurement:
    label: str
    wall_seconds: float
    status: str
    exported: int
    kept: int
    requests: int
    months: str


def measure_refresh(kubecost: KubecostProcess, page_size: int) -> list[RefreshMeasurement]:
    """The 61-day scheduled run after a first run: in a stack with the refresh window off, then in one deployed with
    ``REFRESH_DAYS`` (its parameter ``RefreshDays`` also gives the plan function the right to list the manifests).
    Each stack's first run fills its bucket: every day has no export yet, so both export every day."""
    request = {"today": REFRESH_TODAY.isoformat()}
    results = []
    for label, settings in (
        ("REFRESH_DAYS off", {}),
        (f"REFRESH_DAYS={REFRESH_DAYS}", {"REFRESH_DAYS": str(REFRESH_DAYS)}),
    ):
        with (
            flexera_emulator() as flexera,
            local_workflow(kubecost.url, flexera, {}, REFRESH_CONCURRENCY, page_size, settings=settings) as workflow,
        ):
            first = workflow.run(request, timeout_seconds=TIMEOUT_SECONDS)
            if not first.succeeded:
                raise RuntimeError(f"the run that fills the bucket failed: {first.error}: {first.cause}")
            requests_before = kubecost.requests()
            started = time.perf_counter()
            run = workflow.run(request, timeout_seconds=TIMEOUT_SECONDS)
            wall = time.perf_counter() - started
            requests = kubecost.requests() - requests_before
        plan = run.plan or {}
        results.append(
            RefreshMeasurement(
                label=label,
                wall_seconds=wall,
                status=run.status,
                exported=len(plan.get("days", [])),
                kept=len(plan.get("keptDays", [])),
                requests=requests,
                months=", ".join(f"{month.month} {month.status}" for month in run.months),
            )
        )
    return results


def report_refresh(results: Sequence[RefreshMeasurement], allocations: int, page_size: int) -> bool:
    window = scheduled_window(REFRESH_TODAY, include_previous_month=True)
    pages = allocations // page_size + 1  # full pages and the short last one that ends the paging
    print(
        f"\nRefresh window: the scheduled run of {REFRESH_TODAY} ({len(window.days)} days, "
        f"{window.days[0]} .. {window.days[-1]}) after a first run, MaxConcurrency {REFRESH_CONCURRENCY}, "
        f"{pages} pages a day"
    )
    print(f"{'setting':>16} {'wall s':>7} {'exported':>8} {'kept':>5} {'Kubecost requests':>17}  status, months")
    for r in results:
        print(
            f"{r.label:>16} {r.wall_seconds:>7.1f} {r.exported:>8} {r.kept:>5} {r.requests:>17}  {r.status}, {r.months}"
        )
    off, window_run = results
    # Each run asks for the currency once (getConfigs) besides the allocation pages.
    allowed = math.ceil((off.requests - 1) * REFRESH_DAYS / len(window.days)) + 1
    print(
        f"Kubecost requests with REFRESH_DAYS={REFRESH_DAYS}: {window_run.requests} (target <= {allowed}, "
        f"{REFRESH_DAYS}/{len(window.days)} of the allocation pages plus the currency), "
        f"{off.requests / window_run.requests:.1f}x fewer; wall time {off.wall_seconds / window_run.wall_seconds:.1f}x "
        "shorter"
    )
    return all(r.status == "SUCCEEDED" for r in results) and window_run.requests <= allowed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCIES), help="MaxConcurrency values")
    parser.add_argument("--allocations", type=int, default=ALLOCATIONS, help="allocations per day")
    parser.add_argument("--latency", type=float, default=LATENCY_SECONDS, help="seconds per Kubecost answer")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="PAGE_SIZE")
    args = parser.parse_args(argv)
    window = scheduled_window(TODAY, include_previous_month=True)
    print(
        f"Run pinned to {TODAY}: {len(window.days)} days ({window.days[0]} .. {window.days[-1]}), months "
        f"{', '.join(window.months)}; {args.allocations:,} allocations a day, PAGE_SIZE {args.page_size} "
        f"({math.ceil(args.allocations / args.page_size)} full pages a day), {args.latency * 1000:.0f} ms per "
        f"Kubecost answer; {os.cpu_count()} CPU(s)\n"
    )
    with kubecost_process(args.allocations, window.days, args.latency) as kubecost:
        results = [measure(concurrency, kubecost, args.page_size) for concurrency in args.concurrency]
    speedup_ok = report(results, args.latency)
    refresh_days = scheduled_window(REFRESH_TODAY, include_previous_month=True).days
    with kubecost_process(args.allocations, refresh_days, args.latency) as kubecost:
        refresh_ok = report_refresh(measure_refresh(kubecost, args.page_size), args.allocations, args.page_size)
    return 0 if speedup_ok and refresh_ok else 1


if __name__ == "__main__":
    sys.exit(main())
