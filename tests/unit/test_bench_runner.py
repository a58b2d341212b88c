"""``make bench`` (``python -m benchmarks``): every benchmark runs and prints its figures, a miss fails the whole."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.__main__ import BENCHMARKS, main

if TYPE_CHECKING:
    import pytest


def _benchmark(figure: str, status: int) -> tuple[str, ...]:
    """A stand-in benchmark: a real process that prints a figure and exits with ``status``."""
    return (sys.executable, "-c", f"import sys; print({figure!r}); sys.exit({status})")


def test_a_missed_target_does_not_hide_the_later_benchmarks_and_fails_the_run(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Given three benchmarks of which the first misses its target and the second crashes
    benchmarks = {
        "first": _benchmark("rows/s 90,000 (target >= 200,000)", 1),
        "second": (sys.executable, "-c", "raise SystemExit('boom')"),
        "third": _benchmark("speed-up 6.1x (target >= 5.0x)", 0),
    }
    # When they are run as make bench runs them
    status = main(benchmarks)
    # Then every benchmark ran and printed its figures, the summary names the misses, and the status is non-zero
    output = capfd.readouterr().out
    assert "rows/s 90,000" in output
    assert "speed-up 6.1x" in output
    assert "Targets missed by: first, second" in output
    assert status == 1


def test_all_targets_met_exit_zero(capfd: pytest.CaptureFixture[str]) -> None:
    assert main({"only": _benchmark("fine", 0)}) == 0
    assert "Every target met." in capfd.readouterr().out


def test_make_bench_runs_every_benchmark_module() -> None:
    # Given every benchmark module in benchmarks/ (not the shared support, nor cost_model, which only writes
    # docs/cost.md: `make cost`, nor go_side_by_side, which needs checkouts of the Go exporter: `make bench-go`)
    folder = Path(__file__).resolve().parents[2] / "benchmarks"
    not_benchmarks = {"__init__", "__main__", "support", "cost_model", "go_side_by_side"}
    modules = {f"benchmarks.{path.stem}" for path in folder.glob("*.py") if path.stem not in not_benchmarks}
    # Then the runner runs each of them, and nothing else
    assert {command[-1] for command in BENCHMARKS.values()} == modules
