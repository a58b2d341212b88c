"""``make bench`` (``python -m benchmarks``): every benchmark runs and prints its figures, a miss fails the whole."""

from __future__ import annotations

import sys
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
    # Given the benchmark modules with a verdict (cost_model only writes docs/cost.md: `make cost`)
    # Then the runner runs each of them
    assert [command[-1] for command in BENCHMARKS.values()] == [
        "benchmarks.export_day",
        "benchmarks.upload",
        "benchmarks.workflow",
    ]
