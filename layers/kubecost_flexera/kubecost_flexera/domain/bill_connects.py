"""The upload of a run with a sources document: one bill upload per bill connect and month.

A Flexera commit replaces the whole month of its bill connect, so every source that names a bill connect goes into
its one bill upload of the month, the sources outside this run included (their last exports). Each bill connect is
a :class:`~kubecost_flexera.domain.upload.UploadScope` run by the single-source code
(:class:`~kubecost_flexera.domain.upload.MonthUploader`): the same month rules, on the merged files. Bill connects
go in the document's order; one bill connect's failed month does not stop the others, and
:func:`~kubecost_flexera.domain.upload.raise_for_failures` turns every month's result into the run's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.upload import MonthResult, MonthUploader, UploadScope
from kubecost_flexera.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from datetime import date, datetime

    from kubecost_flexera.adapters.flexera import FlexeraClient
    from kubecost_flexera.adapters.storage import Storage
    from kubecost_flexera.contracts import RunOptions, SourceResult
    from kubecost_flexera.domain.plan import BillConnectRun


@dataclass(frozen=True)
class BillConnectResult:
    """What the upload did with the months of one bill connect (``contracts.BillConnectOutcome``)."""

    bill_connect_id: str
    sources: tuple[str, ...]
    months: tuple[MonthResult, ...]


def upload_bill_connects(
    bill_connects: Sequence[BillConnectRun],
    months: Sequence[str],
    *,
    storage_of: Callable[[str], Storage],
    connect: Callable[[str], FlexeraClient],
    clock_today: date,
    options: RunOptions,
    now: Callable[[], datetime] = calendar.now,
) -> list[BillConnectResult]:
    """Every month of every bill connect, each with its result.

    ``storage_of`` gives a source's storage (its day manifests), ``connect`` a Flexera client for a bill connect
    (made on the first month of it that calls Flexera).
    """
    results = []
    for members in bill_connects:
        scope = UploadScope(tuple(storage_of(source) for source in members.sources), members.bill_connect_id)
        uploader = MonthUploader(
            scope, partial(connect, members.bill_connect_id), clock_today=clock_today, options=options, now=now
        )
        logger.append_keys(bill_connect_id=members.bill_connect_id)
        try:
            outcome = tuple(uploader.run(months))
        finally:
            logger.remove_keys(["bill_connect_id"])
        results.append(BillConnectResult(members.bill_connect_id, members.sources, outcome))
    return results


def failed_days(source_results: Iterable[SourceResult]) -> dict[tuple[str, str | None], list[date]]:
    """Each source's failed days (ascending) by error name, sources in the run's order: the upload reports them as
    ranges, one entry per source and error."""
    failed: dict[tuple[str, str | None], list[date]] = {}
    for result in source_results:
        for day in sorted(result.day_results, key=lambda day: day.day):
            if day.status == "failed":
                failed.setdefault((result.source, day.error), []).append(day.day)
    return failed
