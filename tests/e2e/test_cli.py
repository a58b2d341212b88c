"""``python -m local.run`` as a user runs it: embedded emulators, summary, reconciliation, ``--out``, exit status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from local.run import main

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_run_prints_the_summary_reconciles_and_copies_the_exports(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a pinned run of three days against the embedded emulators
    monkeypatch.setenv("INCLUDE_PREVIOUS_MONTH", "false")
    argv = ["--today", "2025-03-03", "--allocations", "3", "--fast-retries", "--out", str(tmp_path)]
    # When the runner runs
    status = main(argv)
    # Then it succeeds, summarises the month, reconciles the commit with Kubecost and copies the three day files
    output = capsys.readouterr().out
    assert status == 0
    assert "SUCCEEDED" in output
    summary_line, reconciliation_line = [line for line in output.splitlines() if line.startswith("2025-03 ")]
    assert summary_line.split()[1:5] == ["3", "3", "0", "0"]
    assert "committed (3 file(s)" in summary_line
    assert reconciliation_line.endswith("yes")
    assert sorted(path.name for path in tmp_path.rglob("*.csv.gz")) == [
        "kubecost-2025-03-01.csv.gz",
        "kubecost-2025-03-02.csv.gz",
        "kubecost-2025-03-03.csv.gz",
    ]


def test_opencost_setting_runs_against_an_embedded_opencost(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the functions configured for OpenCost, with the exporter's default API path
    monkeypatch.setenv("COST_SOURCE", "opencost")
    monkeypatch.setenv("INCLUDE_PREVIOUS_MONTH", "false")
    # When the runner runs with its embedded emulators
    status = main(["--today", "2025-03-02", "--allocations", "3", "--fast-retries", "--dry-run"])
    # Then the embedded emulator is an OpenCost serving the path the functions ask for, and both days are exported
    output = capsys.readouterr().out
    assert status == 0
    (summary_line,) = [line for line in output.splitlines() if line.startswith("2025-03 ")]
    assert summary_line.split()[1:5] == ["2", "2", "0", "0"]


def test_failed_execution_exits_non_zero_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a malformed date
    # When the runner runs
    status = main(["--today", "2025-13-01", "--fast-retries"])
    # Then the execution fails in the plan, the reason is printed and the exit status is 1
    output = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in output
    assert "InvalidRequest: today='2025-13-01' is invalid" in output
