"""The plan of one workflow run: the days and months it chooses from the request, and the guard against a second run.

The plan is the workflow's gate: everything it accepts is executed, so its event is validated before any side
effect (``contracts.PlanEvent``: the accepted requests, a scheduled run or a manual one, are described there).

A scheduled window may keep some of its days (``REFRESH_DAYS``, ``refresh.py``): the plan's ``days`` are the days
this run exports (the Map's items), ``kept_days`` the days of the window whose current export stays.

With a sources document the plan is one per source (:class:`SourcesPlan`): each source has its own days (its own
manifests decide which are kept) and currency; the run's size is bounded (:data:`MAX_RUN_SOURCE_DAYS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kubecost_flexera.domain.calendar import Window, backfill_window, scheduled_window
from kubecost_flexera.errors import ConcurrentExecution, ConfigurationError, InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import date

    from kubecost_flexera.contracts import ManualRun, RunOptions
    from kubecost_flexera.sources import Source, SourcesDocument


def keeps_days(request: ManualRun) -> bool:
    """Whether the refresh window applies: a scheduled window; a backfill or a forced upload exports every day."""
    return request.start is None and not request.force_upload


@dataclass(frozen=True)
class Plan:
    """What the workflow does (``contracts.PlanOutput``): the window, the days of it that keep their export, the
    currency, the run options."""

    window: Window
    currency: str
    options: RunOptions
    kept_days: tuple[date, ...] = ()

    @property
    def today(self) -> date:
        return self.window.today

    @property
    def days(self) -> tuple[date, ...]:
        """The days this run exports: the window's, but the kept ones."""
        kept = frozenset(self.kept_days)
        return tuple(day for day in self.window.days if day not in kept)

    @property
    def months(self) -> tuple[str, ...]:
        return self.window.months


def choose_window(request: ManualRun, *, clock_today: date, include_previous_month: bool) -> Window:
    """The scheduled window of the request's day, or its backfill range; ``clock_today`` is the UTC date now."""
    today = request.today or clock_today
    if today > clock_today:
        raise InvalidRequest(
            f"today={today.isoformat()} is invalid: allowed a date not after the current UTC date "
            f"{clock_today.isoformat()}"
        )
    if request.start is not None and request.end is not None:
        return backfill_window(request.start, request.end, today=today)
    return scheduled_window(today, include_previous_month=include_previous_month)


def refuse_concurrent(running_execution_ids: Iterable[str], own_execution_id: str | None) -> None:
    """Raises ``ConcurrentExecution`` when an execution other than this one is running.

    Two executions could upload the same month concurrently; Flexera would see two bill uploads for one period and
    one run would abort the other's (``GO-UP-6``, ``GO-D11``).
    """
    others = sorted(arn for arn in running_execution_ids if arn != own_execution_id)
    if others:
        raise ConcurrentExecution(
            f"Another execution of the workflow is running ({', '.join(others)}); "
            "wait for it to finish, then start this run again"
        )


# --- Several sources (a sources document, ``sources.py``) ---

# The parent execution's state holds the plan (each source's days and settings), every source's compact day results
# and the failed days (a few ranges per source); this bound keeps its largest state under 80% of Step Functions'
# 256 KiB at worst: measured by tests/e2e/test_several_sources_scale.py as about 55 KB plus 113 bytes per source-day
# (every day failed, the longest names, one bill connect per source, a 32 KiB document, 50 sources), so 1,368
# source-days would fit; 1,300 lets a daily run of 20 sources with the previous month (1,240) through.
MAX_RUN_SOURCE_DAYS: Final = 1300


def choose_sources(document: SourcesDocument | None, requested: tuple[str, ...] | None) -> tuple[Source, ...] | None:
    """The sources this run exports: the document's, or those a manual run names; None without a document."""
    if document is None:
        if requested is not None:
            raise InvalidRequest(
                f"sources={list(requested)!r} is invalid: allowed only with a sources document, and this stack has "
                "none (SOURCES_DOCUMENT_KEY is empty): leave sources out"
            )
        return None
    if requested is None:
        return document.sources
    known = document.names
    unknown = [name for name in dict.fromkeys(requested) if name not in known]
    repeated = sorted({name for name in requested if requested.count(name) > 1})
    problems = []
    if not requested:
        problems.append("it names no source; leave sources out to run them all")
    if unknown:
        problems.append(f"{', '.join(map(repr, unknown))} is not a source of the document")
    if repeated:
        problems.append(f"{', '.join(map(repr, repeated))} is named more than once")
    if problems:
        raise InvalidRequest(
            f"sources={list(requested)!r} is invalid: {'; '.join(problems)}: allowed each once of the document's "
            f"sources {', '.join(known)}"
        )
    chosen = frozenset(requested)
    return tuple(source for source in document.sources if source.name in chosen)


@dataclass(frozen=True)
class SourceRun:
    """One source of a run (``contracts.SourcePlan``): its days, its currency, what it sets."""

    name: str
    bill_connect_id: str
    currency: str
    days: tuple[date, ...]
    kept_days: tuple[date, ...]
    settings: Mapping[str, str]


@dataclass(frozen=True)
class BillConnectRun:
    """A bill connect of the run's sources, with every member source of the document (``contracts.BillConnect``)."""

    bill_connect_id: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class SourcesPlan:
    """What a run with a sources document does (``contracts.SourcesPlanOutput``)."""

    window: Window
    options: RunOptions
    sources: tuple[SourceRun, ...]
    bill_connects: tuple[BillConnectRun, ...]

    @property
    def today(self) -> date:
        return self.window.today

    @property
    def months(self) -> tuple[str, ...]:
        return self.window.months


def bill_connects(document: SourcesDocument, sources: Iterable[Source]) -> tuple[BillConnectRun, ...]:
    """The bill connects of ``sources``, in the order they first appear, each with all its member sources."""
    ids = dict.fromkeys(source.bill_connect_id for source in sources)
    return tuple(BillConnectRun(bill_connect_id, document.members(bill_connect_id)) for bill_connect_id in ids)


LONGEST_MONTH_DAYS: Final = 31


def refuse_oversized_schedule(sources: int, *, include_previous_month: bool, limit: int = MAX_RUN_SOURCE_DAYS) -> None:
    """Raises ``ConfigurationError`` when a scheduled run of ``sources`` could exceed ``limit`` on some day.

    A scheduled window is up to two months of 31 days (one without the previous month), and every source exports all
    of it on its first run, whatever ``REFRESH_DAYS``; a document that fits mid-month would otherwise be refused at
    the month's end, weeks after it was put. So the document is judged against its longest window on every
    scheduled run, and refused on the first one.
    """
    longest = LONGEST_MONTH_DAYS * (2 if include_previous_month else 1)
    if sources * longest <= limit:
        return
    raise ConfigurationError(
        f"The sources document has {sources} sources; a scheduled run exports up to {longest} days of each "
        f"(INCLUDE_PREVIOUS_MONTH={'true' if include_previous_month else 'false'}) and holds at most {limit} "
        f"source-days (MAX_RUN_SOURCE_DAYS): allowed at most {limit // longest} sources"
        + ("" if not include_previous_month else f" ({limit // LONGEST_MONTH_DAYS} with INCLUDE_PREVIOUS_MONTH=false)")
        + "; split the clusters over stacks by bill connect"
    )


def refuse_oversized(days_by_source: Mapping[str, int], *, limit: int = MAX_RUN_SOURCE_DAYS) -> None:
    """Raises ``InvalidRequest`` when the run's source-days exceed ``limit`` (``MAX_RUN_SOURCE_DAYS``)."""
    total = sum(days_by_source.values())
    if total <= limit:
        return
    largest = max(days_by_source.values())
    raise InvalidRequest(
        f"The run has {total} source-days ({len(days_by_source)} sources, up to {largest} days each): allowed at "
        f"most {limit} (MAX_RUN_SOURCE_DAYS), so that the execution's state stays within Step Functions' 256 KiB; "
        "run fewer days (a shorter backfill: start and end) or fewer sources (a manual run's sources), in several runs"
    )
