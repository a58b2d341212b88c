"""The emulators a local run starts when no URL is given, and the reconciliation it prints after the run.

A Kubecost is given by ``--kubecost-url`` or, as deployed, by ``KUBECOST_HOST``; a Flexera by ``--flexera-url`` or
``FLEXERA_ENDPOINT_URL``. Only where neither is set is the embedded emulator started: a run never exports the
emulator's data while the environment names a real Kubecost. The embedded Kubecost holds data for every day the
execution input can ask for (its retention reaches back to the month before the earliest date the input names).

With both emulators embedded the run is checkable end to end: what the Flexera emulator committed for each month
is compared with what the Kubecost emulator says the same days hold (``KubecostEmulator.expected``, computed with
the exporter's own query parameters): the same number of CSV rows (eight per allocation) and the same total cost
(times ``MULTIPLIER``), up to the rounding of the printed Cost values.
"""

from __future__ import annotations

import math
import re
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Final, Self
from urllib.parse import parse_qsl

from emulators.flexera import (
    DEFAULT_BILL_CONNECT_ID,
    DEFAULT_REFRESH_TOKEN,
    FlexeraEmulator,
    FlexeraEmulatorConfig,
)
from emulators.kubecost import KubecostEmulator, KubecostEmulatorConfig
from kubecost_flexera.adapters.kubecost import allocation_query
from kubecost_flexera.config import load_kubecost
from kubecost_flexera.domain import calendar
from kubecost_flexera.errors import ConfigurationError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence
    from types import TracebackType

    from kubecost_flexera.config import KubecostSettings
    from local.runner_report import WorkflowRun

ROWS_PER_ALLOCATION: Final = 8  # GO-CSV-2
COST_TOLERANCE: Final = 0.01  # the Cost values are printed rounded; their sum may differ from the total by cents
# A day file's name: the Go name, or with the source's name in a bill connect of several sources.
DAY_FILE_RE: Final = re.compile(
    r"^kubecost-(?:(?P<source>[a-z0-9-]{1,32})-)?(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:-[0-9]+)?\.csv\.gz$"
)
_PAGING_PARAMS: Final = frozenset({"window", "offset", "limit"})


def flexera_secret_from_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The Flexera secret's JSON from the Go exporter's variables; the refresh token wins, as in the Go program."""
    refresh_token = environ.get("REFRESH_TOKEN", "").strip()
    if refresh_token:
        return {"refresh_token": refresh_token}
    client_id = environ.get("SERVICE_APP_CLIENT_ID", "").strip()
    client_secret = environ.get("SERVICE_APP_CLIENT_SECRET", "").strip()
    if client_id and client_secret:
        return {"client_id": client_id, "client_secret": client_secret}
    return None


@dataclass(frozen=True)
class MonthReconciliation:
    month: str
    bill_upload_id: str
    days: int
    files: int
    rows: int
    expected_rows: int
    cost: float
    expected_cost: float

    @property
    def reconciled(self) -> bool:
        return self.rows == self.expected_rows and abs(self.cost - self.expected_cost) <= COST_TOLERANCE


def stack_kubecost_url(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """The stack's Kubecost: ``--kubecost-url``, else ``KUBECOST_HOST``; None for an embedded emulator."""
    return args.kubecost_url or environ.get("KUBECOST_HOST", "").strip() or None


def default_bill_connect_id(environ: Mapping[str, str]) -> str:
    """The stack's bill connect: ``BILL_CONNECT_ID``, else the embedded Flexera emulator's."""
    return environ.get("BILL_CONNECT_ID") or DEFAULT_BILL_CONNECT_ID


class EmbeddedEmulators:
    """Starts the emulators for the endpoints not given, and supplies the run's URLs, credentials and settings."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        kubecost_url: str | None,
        flexera_url: str | None,
        allocations_per_day: int,
        fast_retries: bool,
        today: date | None = None,
        earliest_day: date | None = None,
        origins: tuple[str, str] = ("--kubecost-url", "--flexera-url"),
        single_kubecost: bool = True,
        bill_connect_ids: frozenset[str] = frozenset(),
    ) -> None:
        """``origins`` names what gave each URL (a flag or a variable), for :meth:`describe`. Without
        ``single_kubecost`` (a run with a sources document, whose sources have emulators of their own) no Kubecost is
        started here; ``bill_connect_ids`` are the sources' bill connects, which the Flexera emulator holds too."""
        self.environ: dict[str, str] = {}
        secret = flexera_secret_from_environment(environ)
        config = kubecost_config(environ, allocations_per_day, today, earliest_day)
        self.kubecost = None if kubecost_url or not single_kubecost else KubecostEmulator(config)
        self.flexera: FlexeraEmulator | None = None
        if flexera_url is None:
            secret = secret or {"refresh_token": DEFAULT_REFRESH_TOKEN}
            self.environ["ORG_ID"] = environ.get("ORG_ID") or FlexeraEmulatorConfig.org_id
            self.environ["BILL_CONNECT_ID"] = default_bill_connect_id(environ)
            bill_connects = bill_connect_ids | {self.environ["BILL_CONNECT_ID"]}
            self.flexera = FlexeraEmulator(_flexera_config(secret, self.environ["ORG_ID"], bill_connects, fast_retries))
        # Without credentials the secret is an empty object: a dry run needs none, an upload reports what is missing.
        self.flexera_secret: Mapping[str, str] = secret or {}
        self._kubecost_url = kubecost_url
        self._flexera_url = flexera_url
        self._origins = origins
        self._single_kubecost = single_kubecost

    @classmethod
    def for_args(
        cls,
        args: argparse.Namespace,
        environ: Mapping[str, str],
        request: object,
        source_bill_connects: frozenset[str] | None = None,
    ) -> EmbeddedEmulators:
        """The flags win over the environment variables the deployed functions read; ``request`` is the input;
        ``source_bill_connects`` are the bill connects of a sources document's sources (``--sources``)."""
        return cls(
            environ,
            kubecost_url=stack_kubecost_url(args, environ),
            flexera_url=args.flexera_url or environ.get("FLEXERA_ENDPOINT_URL", "").strip() or None,
            allocations_per_day=args.allocations,
            fast_retries=args.fast_retries,
            today=calendar.now().date(),  # the date the functions see: --today's, or the real one
            earliest_day=earliest_day(request),
            origins=(
                "--kubecost-url" if args.kubecost_url else "KUBECOST_HOST",
                "--flexera-url" if args.flexera_url else "FLEXERA_ENDPOINT_URL",
            ),
            single_kubecost=source_bill_connects is None,
            bill_connect_ids=source_bill_connects or frozenset(),
        )

    def __enter__(self) -> Self:
        if self.kubecost is not None:
            self.kubecost.start()
        if self.flexera is not None:
            self.flexera.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for emulator in (self.kubecost, self.flexera):
            if emulator is not None:
                emulator.stop()

    @property
    def kubecost_url(self) -> str:
        return self.kubecost.url if self.kubecost is not None else str(self._kubecost_url)

    @property
    def flexera_url(self) -> str:
        return self.flexera.url if self.flexera is not None else str(self._flexera_url)

    def describe(self) -> list[str]:
        """Which Kubecost and which Flexera the run talks to, and what chose them."""
        kubecost_origin, flexera_origin = self._origins
        if not self._single_kubecost:
            kubecost = ""
        elif self.kubecost is None:
            kubecost = f"Kubecost: {self.kubecost_url} ({kubecost_origin})"
        else:
            config = self.kubecost.config
            kubecost = (
                f"Kubecost: {self.kubecost.url} (embedded {config.flavour} emulator, {config.allocations_per_day} "
                f"allocations a day; set KUBECOST_HOST or --kubecost-url for a real one)"
            )
        if self.flexera is None:
            flexera = f"Flexera: {self.flexera_url} ({flexera_origin})"
        else:
            connects = sorted(self.flexera.config.bill_connects)
            flexera = (
                f"Flexera: {self.flexera.url} (embedded emulator, org {self.environ['ORG_ID']}, "
                f"bill connect{'s' if len(connects) > 1 else ''} {', '.join(connects)}: nothing leaves this machine)"
            )
        return [line for line in (kubecost, flexera) if line]

    def retry_sleep(self, seconds: float) -> None:
        """A retry wait under ``--fast-retries``: no sleep; the embedded Flexera emulator's time moves instead."""
        if self.flexera is not None:
            self.flexera.clock.advance(seconds)

    def reconcile(self, run: WorkflowRun, environ: Mapping[str, str]) -> list[MonthReconciliation]:
        """Each committed month of the run's plan compared with the Kubecost emulator (both must be embedded)."""
        if self.kubecost is None or self.flexera is None or run.plan is None:
            return []
        settings = load_kubecost({**environ, **self.environ, "KUBECOST_HOST": self.kubecost.url})
        bill_connect_id = self.environ["BILL_CONNECT_ID"]
        results = []
        for month in run.plan["months"]:
            committed = self.flexera.committed(bill_connect_id, month)
            if committed is None:
                continue
            days = sorted({_file_day(name) for name in committed.files})
            expected_rows, expected_cost = expected_days(self.kubecost, settings, days)
            results.append(
                MonthReconciliation(
                    month=month,
                    bill_upload_id=committed.bill_upload_id,
                    days=len(days),
                    files=len(committed.files),
                    rows=len(committed.rows),
                    expected_rows=expected_rows,
                    cost=committed.total_cost,
                    expected_cost=expected_cost,
                )
            )
        return results

    def report(self, run: WorkflowRun, environ: Mapping[str, str]) -> str:
        months = self.reconcile(run, environ)
        if self.flexera is None or self.kubecost is None:
            return ""
        return format_reconciliation(
            f"Flexera emulator, bill connect {self.environ['BILL_CONNECT_ID']}: months this run committed",
            f"{'Month':<8} {'Bill upload':<36}",
            [(f"{m.month:<8} {m.bill_upload_id:<36}", m) for m in months],
        )


def format_reconciliation(title: str, header: str, rows: Sequence[tuple[str, MonthReconciliation]]) -> str:
    """The reconciliation table: ``header`` names the columns that each row's label fills."""
    lines = ["", title]
    if not rows:
        lines.append("  none")
        return "\n".join(lines)
    lines.append(f"{header} {'Days':>4} {'Files':>5} {'Rows':>9} {'Cost':>14} {'Kubecost cost':>14}  Reconciled")
    lines.extend(
        f"{label} {m.days:>4} {m.files:>5} {m.rows:>9,} {m.cost:>14,.2f} "
        f"{m.expected_cost:>14,.2f}  {'yes' if m.reconciled else f'NO (expected {m.expected_rows:,} rows)'}"
        for label, m in rows
    )
    return "\n".join(lines)


def expected_days(kubecost: KubecostEmulator, settings: KubecostSettings, days: Sequence[date]) -> tuple[int, float]:
    """The CSV rows and the cost (times ``MULTIPLIER``) the emulator's ``days`` hold, asked as the exporter asks."""
    expected = []
    for day in days:
        query = {k: v for k, v in parse_qsl(allocation_query(settings, day, 0)) if k not in _PAGING_PARAMS}
        expected.append(kubecost.expected(day, **query))
    rows = ROWS_PER_ALLOCATION * sum(e.allocations for e in expected)
    return rows, math.fsum(e.total_cost for e in expected) * settings.multiplier


def kubecost_config(
    environ: Mapping[str, str], allocations_per_day: int, today: date | None, earliest_day: date | None
) -> KubecostEmulatorConfig:
    """The embedded emulator is the product the functions' settings name, at the API path they will ask for."""
    config = KubecostEmulatorConfig(allocations_per_day=allocations_per_day, today=today)
    if earliest_day is not None:
        oldest = calendar.month_before(calendar.first_of_month(earliest_day))
        needed = ((today or calendar.system_clock().date()) - oldest).days + 1
        config = replace(config, retention_days=max(config.retention_days, needed))
    try:
        settings = load_kubecost(environ)
    except ConfigurationError:
        return config  # the plan refuses the configuration, naming every problem, before any request is made
    return replace(config, flavour=settings.cost_source, api_path=settings.api_path)


def _flexera_config(
    secret: Mapping[str, str], org_id: str, bill_connects: frozenset[str], fast_retries: bool
) -> FlexeraEmulatorConfig:
    # With real waits the emulator's clock follows real time; with --fast-retries it moves only by the waits.
    config = FlexeraEmulatorConfig(org_id=org_id, bill_connects=bill_connects, wall_clock=not fast_retries)
    if "refresh_token" in secret:
        return replace(config, refresh_tokens=frozenset({secret["refresh_token"]}))
    return replace(config, clients={secret["client_id"]: secret["client_secret"]})


def earliest_day(request: object) -> date | None:
    """The earliest of the input's ``today`` and ``start``; malformed values are left for the plan to refuse."""
    if not isinstance(request, dict):
        return None
    days = []
    for name in ("today", "start"):
        value = request.get(name)
        if isinstance(value, str):
            with suppress(ValueError):
                days.append(date.fromisoformat(value))
    return min(days, default=None)


def _file_day(name: str) -> date:
    match = DAY_FILE_RE.match(name)
    if match is None or match.group("source") is not None:
        raise ValueError(f"{name} is not a day file name of a single source")
    return date.fromisoformat(match.group("day"))
