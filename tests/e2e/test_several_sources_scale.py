"""How large a run of several sources one execution holds: history events against 25,000 (the parent's and each
child execution's) and the largest state against 256 KiB, measured on the local engine and extrapolated.

Why these measurements: with a sources document the parent execution's state holds the plan (every source's days
and settings) and every source's compact day results (``ExportSources``' output), then the upload's outcome; its
history does not grow with sources x days, since each source's days run in a child execution of the Distributed Map
with a history of its own (one source, at most the 366 days a run may have). The plan refuses a run of more than
``MAX_RUN_SOURCE_DAYS`` source-days; the bound is set from the figures measured here, so that the parent's largest
state stays under 256 KiB with room to spare at worst: every day failed with the longest error name the definition
can catch, 32-character source names, one bill connect per source with the longest id Flexera allows, the largest
sources document allowed (32 KiB), the days of each source spread over two months of 31 days with nothing exported
before (the most missing days the upload can report).

The states' sizes are counted as moto's engine counts them (``to_json_str``, its quota check), a little more than
Step Functions' own (moto's JSON has spaces after separators), so the figures err on the safe side.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from kubecost_flexera import errors
from local.runner_report import EXPORT_DAY_FUNCTION
from local.runner_states import HISTORY_EVENT_LIMIT, PAYLOAD_LIMIT_BYTES
from local.runner_template import ROOT
from tests.fixtures.sources_world import Source
from tests.fixtures.workflow import every_retry_used

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fixtures.sources_world import SourcesRun, SourcesWorld, SourcesWorldFactory

SOURCES_MEASURED: Final = 20
MAX_SOURCES: Final = 50  # the sources document's bound (sources.MAX_SOURCES)
MAX_RUN_DAYS: Final = 366  # the days one source may have in a run (the plan's bound on a backfill)
STATE_MARGIN: Final = 0.8  # the parent's largest state at worst stays under 80% of 256 KiB
HISTORY_MARGIN: Final = 0.8
TODAY: Final = date(2025, 3, 10)
LONGEST_BILL_CONNECT_CHARS: Final = 61  # "cbi-oi-kubecost-" and a bill identifier of at most 45 characters


def _error_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        names = set(value.get("ErrorEquals", []))
        for item in value.values():
            names |= _error_names(item)
        return names
    if isinstance(value, list):
        return {name for item in value for name in _error_names(item)}
    return set()


def _longest_error_name() -> int:
    """The longest error name a day's Catch can record: those the definition names, the typed errors, Lambda's."""
    definition = (ROOT / "statemachine" / "export.asl.json").read_text()
    for placeholder in ("${MaxConcurrency}", "${SourceConcurrency}"):
        definition = definition.replace(placeholder, "1")
    typed = {cls.__name__ for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, Exception)}
    names = _error_names(json.loads(definition)) | typed | {"Sandbox.Timedout", "States.Timeout"}
    return max(len(name) for name in names - {"States.ALL"})


# An error as long as the longest, raised once (no Retry names it): a failed day's state holds only its name.
LongestError = type("WorstCase" + "E" * (_longest_error_name() - len("WorstCase")), (Exception,), {})


def _names(count: int) -> list[str]:
    """``count`` source names of 32 characters, the longest allowed."""
    return [f"source-{index:02d}".ljust(32, "x") for index in range(count)]


def _bill_connect(name: str) -> str:
    return f"cbi-oi-kubecost-{name}-".ljust(LONGEST_BILL_CONNECT_CHARS, "b")


def _always_failing(event: dict[str, Any], context: Any) -> Any:
    raise LongestError("worst case")


def _world(
    sources_world: SourcesWorldFactory,
    count: int,
    handlers: dict[str, Callable[[dict[str, Any], Any], Any]],
) -> SourcesWorld:
    """``count`` sources of the longest names, each in a bill connect of its own, one Kubecost for all, and the
    document padded to the largest size allowed."""
    world = sources_world(
        [Source(name, _bill_connect(name)) for name in _names(count)],
        today=TODAY,
        allocations_per_day=1,
        handlers=handlers,
        shared_kubecost=True,
    )
    _put_largest_document(world, count)
    return world


def _put_largest_document(world: SourcesWorld, count: int) -> None:
    """The document of the world's first ``count`` sources, padded to the largest size allowed."""
    from kubecost_flexera.sources import MAX_DOCUMENT_BYTES  # noqa: PLC0415 - the sources part's bound

    document = {"sources": world.document()["sources"][:count]}
    room = MAX_DOCUMENT_BYTES - len(_compact(document)) - count * len(',"SHARE_NAMESPACES":""')
    for index, entry in enumerate(document["sources"]):
        entry["SHARE_NAMESPACES"] = "n" * (room // count + (1 if index < room % count else 0))
    assert len(_compact(document)) == MAX_DOCUMENT_BYTES
    world.put_document(document)


def _compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _backfill(world: SourcesWorld, first: date, last: date) -> SourcesRun:
    run = world.run({"start": first.isoformat(), "end": last.isoformat()})
    assert run.error == "ExportFailed", (run.error, run.cause)  # every day failed; the upload still ran
    return run


def _largest_state(world: SourcesWorld, run: SourcesRun) -> int:
    """The largest input, output or task parameters in the parent's history, in UTF-8 bytes."""
    pages = world.workflow.sfn.get_paginator("get_execution_history").paginate(executionArn=run.run.execution_arn)
    sizes = [
        len(str(details[key]).encode())
        for page in pages
        for event in page["events"]
        for name, details in event.items()
        if name.endswith("EventDetails") and isinstance(details, dict)
        for key in ("input", "output", "parameters")
        if key in details
    ]
    return max(sizes)


def _largest_child_state(run: SourcesRun) -> int:
    """Each child's largest state is its last: its input (the ``ItemSelector``'s) with its day results, before
    ``SourceResult`` keeps the results alone. Rebuilt from the plan and the results the parent received."""
    plan, results = run.plan, run.day_results
    sizes = []
    for source in plan["sources"]:
        day_results = [results[(source["name"], day)] for day in source["days"]]
        state = {
            "source": source,
            "options": plan["options"],
            "executionId": run.run.execution_arn,
            "dayResults": day_results,
        }
        sizes.append(len(to_json_str(state).encode()))
    return max(sizes)


def test_parent_and_child_histories_of_twenty_sources_fit_with_every_retry_used(
    sources_world: SourcesWorldFactory,
) -> None:
    # Given 20 sources whose every task uses all its retries and every day fails
    world = _world(sources_world, SOURCES_MEASURED, every_retry_used(_always_failing, LongestError))
    measured: dict[tuple[int, int], tuple[int, set[int]]] = {}
    # When a backfill of 1 day (in an ended month) runs for the 20 sources, then of 2 and 3 days for two of them
    for sources, count in ((SOURCES_MEASURED, 1), (2, 2), (2, 3)):
        _put_largest_document(world, sources)
        run = _backfill(world, date(2025, 2, 1), date(2025, 2, count))
        children = run.run.children
        assert len(children) == sources
        measured[sources, count] = (run.run.history_events, {child.history_events for child in children})
    # Then the parent's history grows neither with the sources nor with the days (each source's days are in its
    # child's history)
    parents = {parent for parent, _ in measured.values()}
    assert len(parents) == 1, measured
    # And every child's history is the same for one source's days, growing by the same number of events a day
    child = {count: next(iter(events)) for (_, count), (_, events) in measured.items() if len(events) == 1}
    assert len(child) == len(measured), measured
    per_day = child[2] - child[1]
    assert child[3] - child[2] == per_day, child
    largest_child = child[1] - per_day + per_day * MAX_RUN_DAYS
    # And both stay under 25,000 events with room to spare: the parent's whatever the sources and days, a child's
    # for the longest run of one source
    parent = parents.pop()
    print(f"history: parent {parent} events; child {child[1] - per_day} + {per_day}/day -> {largest_child} at 366")
    assert parent < HISTORY_EVENT_LIMIT * HISTORY_MARGIN
    assert largest_child < HISTORY_EVENT_LIMIT * HISTORY_MARGIN


def _measured_state(sources_world: SourcesWorldFactory) -> tuple[dict[str, float], dict[str, int]]:
    """The parent's largest state as a + sources x (p + q x months) + source-days x c + missing source-days x m:
    runs of every day failed (the longest error name), measured apart so that each term is seen on its own."""
    sizes: dict[str, int] = {}
    children: dict[str, int] = {}
    world = _world(sources_world, SOURCES_MEASURED, {EXPORT_DAY_FUNCTION: _always_failing})
    runs = {
        "20x1 Feb": (date(2025, 2, 28), date(2025, 2, 28)),  # 27 missing days each
        "20x2 Feb": (date(2025, 2, 27), date(2025, 2, 28)),  # 26
        "20x1 Jan": (date(2025, 1, 31), date(2025, 1, 31)),  # 30
        "20x2 Jan-Feb": (date(2025, 1, 31), date(2025, 2, 1)),  # 30 + 27, two months
    }
    for label, (first, last) in runs.items():
        run = _backfill(world, first, last)
        sizes[label], children[label] = _largest_state(world, run), _largest_child_state(run)
    _put_largest_document(world, SOURCES_MEASURED // 2)
    sizes["10x1 Feb"] = _largest_state(world, _backfill(world, date(2025, 2, 28), date(2025, 2, 28)))
    s = SOURCES_MEASURED
    m = (sizes["20x1 Jan"] - sizes["20x1 Feb"]) / (s * 3)
    c = (sizes["20x2 Feb"] - sizes["20x1 Feb"]) / s + m
    per_source_one_day = (sizes["20x1 Feb"] - sizes["10x1 Feb"]) / (s - s // 2)  # p + c + 27 m
    p = per_source_one_day - c - 27 * m
    q = (sizes["20x2 Jan-Feb"] - sizes["20x2 Feb"]) / s - 31 * m
    a = sizes["20x1 Feb"] - s * per_source_one_day
    return {"a": a, "p": p, "q": q, "c": c, "m": m}, children


def _worst_state(model: dict[str, float], source_days: int) -> float:
    """The parent's largest state at worst for a run of ``source_days``: the most sources, each over two months
    of 31 days (62 days, those not in the run missing)."""
    missing = MAX_SOURCES * 62 - source_days
    return (
        model["a"] + MAX_SOURCES * (model["p"] + model["q"]) + model["c"] * source_days + model["m"] * max(missing, 0)
    )


def test_the_bound_on_source_days_keeps_the_parent_state_under_256_kib_at_worst(
    sources_world: SourcesWorldFactory,
) -> None:
    from kubecost_flexera.domain.plan import MAX_RUN_SOURCE_DAYS  # noqa: PLC0415 - the plan part's bound

    # Given the parent's largest state measured on runs of 20 sources, every day failed
    model, children = _measured_state(sources_world)
    largest = PAYLOAD_LIMIT_BYTES * STATE_MARGIN
    # Then the largest run the bound lets through stays under 80% of 256 KiB at worst
    worst = _worst_state(model, MAX_RUN_SOURCE_DAYS)
    fitting = math.floor((largest - _worst_state(model, 0)) / (model["c"] - model["m"]))
    print(
        f"state model {model}; worst at {MAX_RUN_SOURCE_DAYS} source-days: {worst:,.0f} bytes; "
        f"{fitting} source-days fit in {largest:,.0f}; children's largest {children}"
    )
    assert worst < largest, f"MAX_RUN_SOURCE_DAYS={MAX_RUN_SOURCE_DAYS}; at most {fitting} source-days fit"
    # And the README states the bound
    assert f"`MAX_RUN_SOURCE_DAYS` = **{MAX_RUN_SOURCE_DAYS:,} source-days**" in (ROOT / "README.md").read_text()
    # And a child's largest state (one source's days and results, its settings) stays under it too, for a source of
    # 366 days whose settings are the whole document
    from kubecost_flexera.sources import MAX_DOCUMENT_BYTES  # noqa: PLC0415 - the sources part's bound

    per_day = children["20x2 Feb"] - children["20x1 Feb"]
    largest_child = children["20x1 Feb"] + MAX_DOCUMENT_BYTES + per_day * (MAX_RUN_DAYS - 1)
    assert largest_child < largest, (children, largest_child)


def test_a_run_at_the_bound_in_its_worst_shape_fits_and_one_more_day_is_refused(
    sources_world: SourcesWorldFactory,
) -> None:
    from kubecost_flexera.domain.plan import MAX_RUN_SOURCE_DAYS  # noqa: PLC0415 - the plan part's bound

    # Given the most sources, the longest names, the largest document, every day failing
    world = _world(sources_world, MAX_SOURCES, {EXPORT_DAY_FUNCTION: _always_failing})
    per_source = MAX_RUN_SOURCE_DAYS // MAX_SOURCES
    # When a backfill of the bound's days per source runs across two months of 31 days (Dec-Jan)
    first = date(2025, 1, 1) - timedelta(days=per_source // 2)
    run = _backfill(world, first, first + timedelta(days=per_source - 1))
    # Then every state of the parent is under 80% of 256 KiB (the engine would fail the run past 256 KiB)
    assert len(run.plan["sources"]) == MAX_SOURCES
    assert {len(plan["days"]) for plan in run.plan["sources"]} == {per_source}
    assert _largest_state(world, run) < PAYLOAD_LIMIT_BYTES * STATE_MARGIN
    # When one day more than the bound allows is asked
    too_many = world.run({"start": first.isoformat(), "end": (first + timedelta(days=per_source)).isoformat()})
    # Then the plan refuses it before any export, with advice
    assert (too_many.status, too_many.error) == ("FAILED", "InvalidRequest")
    assert "MAX_RUN_SOURCE_DAYS" in (too_many.cause or "")
    assert too_many.attempts(_names(1)[0]) == 0
