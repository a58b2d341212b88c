"""Every execution input in ``events/`` runs locally as the README shows, ``python -m local.run --input FILE``, and
does what its name says; ``--today`` makes a run the scheduled run of that date.

``scheduler.json`` is what the schedule passes (a run for the current UTC date), ``run-today.json`` pins the date,
``backfill.json`` exports a range, ``dry-run.json`` exports without uploading; ``backfill-sources.json`` exports a
range for some sources of a sources document only (run with ``--sources FILE``). The other files are one function's
own event, checked by that function's tests (``tests/integration/test_plan_handler.py``,
``test_export_day_handler.py``, ``test_upload.py``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from kubecost_flexera.contracts import ManualRun, parse
from kubecost_flexera.domain.calendar import scheduled_window
from local.run import main

if TYPE_CHECKING:
    from collections.abc import Callable

EVENTS: Final = Path(__file__).resolve().parents[2] / "events"
EXECUTION_INPUTS: Final = ("scheduler.json", "run-today.json", "backfill.json", "dry-run.json")
FUNCTION_EVENTS: Final = ("plan.json", "export-day.json", "upload.json")
SOURCES_INPUTS: Final = ("backfill-sources.json",)  # for a stack with a sources document
FLAGS: Final = ("--allocations", "2", "--fast-retries")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main([*argv, *FLAGS])
    return status, capsys.readouterr().out


def _plan_line(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("Plan: ")]
    return line


def _uploads(output: str) -> dict[str, str]:
    """The Upload column of the summary, by month."""
    return {line[:7]: line.split(" USD  ", 1)[1] for line in output.splitlines() if " USD  " in line}


def _statuses(output: str) -> dict[str, str]:
    return {month: text.split(" ", 1)[0] for month, text in _uploads(output).items()}


def test_every_file_in_events_is_an_execution_input_or_a_function_event() -> None:
    # Given the files in events/ / Then each is known to be one or the other, so a new one gets a test here or there
    assert sorted(path.name for path in EVENTS.glob("*.json")) == sorted(
        (*EXECUTION_INPUTS, *FUNCTION_EVENTS, *SOURCES_INPUTS)
    )


@pytest.mark.parametrize("name", SOURCES_INPUTS)
def test_sources_input_is_a_manual_run_of_named_sources(name: str) -> None:
    # Given an execution input for a stack with a sources document
    request = parse(json.loads((EVENTS / name).read_text()), ManualRun)
    # Then it is a manual run (a backfill) restricted to sources of valid names
    assert request.sources
    assert request.start is not None
    assert request.end is not None


def _scheduler(output: str) -> None:
    today = datetime.now(UTC).date()
    if f"today {today.isoformat()}," not in _plan_line(output):
        pytest.skip("UTC midnight passed during the run")
    window = scheduled_window(today, include_previous_month=True)
    assert f"{len(window.days)} day(s) {window.days[0]} .. {window.days[-1]}" in _plan_line(output)
    assert _statuses(output) == dict.fromkeys(window.months, "committed")


def _run_today(output: str) -> None:
    # The pinned date is in the past: June is complete; July has ended by the real clock and has only 15 days
    assert "today 2025-07-15, 45 day(s) 2025-06-01 .. 2025-07-15" in _plan_line(output)
    assert _statuses(output) == {"2025-06": "committed", "2025-07": "skipped-incomplete"}


def _backfill(output: str) -> None:
    assert "31 day(s) 2025-05-01 .. 2025-05-31, months 2025-05" in _plan_line(output)
    assert _statuses(output) == {"2025-05": "committed"}


def _dry_run(output: str) -> None:
    assert "dry run" in _plan_line(output)
    assert set(_statuses(output).values()) == {"dry-run"}


CHECKS: Final[dict[str, Callable[[str], None]]] = {
    "scheduler.json": _scheduler,
    "run-today.json": _run_today,
    "backfill.json": _backfill,
    "dry-run.json": _dry_run,
}


@pytest.mark.parametrize("name", EXECUTION_INPUTS)
def test_execution_input_runs_locally_with_input(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given one execution input of events/
    # When the runner starts the execution with it, as the README shows
    status, output = _run(capsys, "--input", str(EVENTS / name))
    # Then the execution succeeds and does what the input says
    assert status == 0, output
    CHECKS[name](output)


def test_today_flag_makes_the_run_the_scheduled_run_of_that_date(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given the scheduler's input, with the functions' clock set to Jul 15, 2025
    # When the runner runs it
    status, output = _run(
        capsys, "--today", "2025-07-15", "--input", str(EVENTS / "scheduler.json"), "--out", str(tmp_path)
    )
    # Then it is that day's scheduled run: June and July 1-15, July being the current month, uploaded as it is
    assert status == 0, output
    assert "today 2025-07-15, 45 day(s) 2025-06-01 .. 2025-07-15" in _plan_line(output)
    assert _statuses(output) == {"2025-06": "committed", "2025-07": "committed"}
    # And every function saw that clock: the export ids and the commit time are of that date
    export_ids = {path.parent.name[:9] for path in (tmp_path / "exports").rglob("*.csv.gz")}
    assert export_ids == {"20250715T"}
    record = json.loads((tmp_path / "state/uploads/default/2025-07.json").read_text())
    assert record["committed_at"].startswith("2025-07-15T")


def test_today_flag_with_a_pinned_input_uses_the_clock_for_the_current_month(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given run-today.json (today 2025-07-15) run on that same date
    # When the runner runs it with --today 2025-07-15
    status, output = _run(capsys, "--today", "2025-07-15", "--input", str(EVENTS / "run-today.json"))
    # Then July is the current month and uploaded with its 15 days, unlike the same input run later (above)
    assert status == 0, output
    assert _statuses(output) == {"2025-06": "committed", "2025-07": "committed"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--today", "2025-13-01"], "argument --today: '2025-13-01' is invalid"),
        (["--today", "2999-01-01"], "argument --today: '2999-01-01' is invalid: allowed a date not after"),
    ],
)
def test_today_flag_refuses_what_the_plan_would_refuse(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a date that does not exist, or is in the future / When the runner parses it
    with pytest.raises(SystemExit) as exited:
        main(argv)
    # Then it stops with the usage status, naming the flag and what is allowed
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_input_takes_json_text_too(capsys: pytest.CaptureFixture[str]) -> None:
    # Given an input written inline, as start-execution --input '{...}' takes it
    # When the runner runs it
    status, output = _run(capsys, "--today", "2025-03-02", "--input", '{"start": "2025-03-01", "end": "2025-03-02"}')
    # Then the execution gets exactly that input
    assert status == 0, output
    assert "today 2025-03-02, 2 day(s) 2025-03-01 .. 2025-03-02, months 2025-03" in _plan_line(output)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "{not json"], "--input is not JSON"),
        (["--input", "no-such-file.json"], "--input no-such-file.json: cannot read the file"),
        (["--input", "{}", "--dry-run"], "--input gives the whole execution input: allowed without --dry-run"),
    ],
)
def test_input_that_cannot_be_an_execution_input_is_refused_before_anything_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an input that is not JSON, a missing file, or an input combined with a request flag
    # When the runner is started with it
    status = main(argv)
    # Then it stops with the usage status and says why, before any emulator or execution starts
    captured = capsys.readouterr()
    assert status == 2
    assert message in captured.err
    assert captured.out == ""
