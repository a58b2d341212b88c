"""``python -m local.run`` as a user runs it: embedded emulators, summary, reconciliation, ``--out``, exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final

from local.run import main

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

    from emulators.kubecost import KubecostEmulator

ROOT: Final = Path(__file__).resolve().parents[2]


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
    # Given an execution input with a malformed date
    # When the runner runs
    status = main(["--input", '{"today": "2025-13-01"}', "--fast-retries"])
    # Then the execution fails in the plan, the reason is printed and the exit status is 1
    output = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in output
    assert "InvalidRequest: today='2025-13-01' is invalid" in output


def test_kubecost_host_in_the_environment_is_the_kubecost_of_the_run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kubecost_emulator: Callable[..., KubecostEmulator],
) -> None:
    # Given KUBECOST_HOST naming a Kubecost (the deployed setting) and no --kubecost-url
    kubecost = kubecost_emulator(allocations_per_day=2, today=date(2025, 3, 2))
    monkeypatch.setenv("KUBECOST_HOST", kubecost.url)
    monkeypatch.setenv("INCLUDE_PREVIOUS_MONTH", "false")
    # When the runner runs
    status = main(["--today", "2025-03-02", "--fast-retries", "--dry-run"])
    # Then the run exports that Kubecost's days, says so first, and starts no embedded Kubecost
    output = capsys.readouterr().out
    assert status == 0, output
    kubecost_line, flexera_line = output.splitlines()[:2]
    assert kubecost_line == f"Kubecost: {kubecost.url} (KUBECOST_HOST)"
    assert flexera_line.startswith("Flexera: http://127.0.0.1:")
    assert "embedded emulator" in flexera_line
    allocation_days = {r.query["window"][0][:10] for r in kubecost.requests if r.path.endswith("/allocation")}
    assert allocation_days == {"2025-03-01", "2025-03-02"}


def test_the_url_flag_wins_over_kubecost_host(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kubecost_emulator: Callable[..., KubecostEmulator],
) -> None:
    # Given KUBECOST_HOST naming an address nothing listens on, and --kubecost-url naming a Kubecost
    kubecost = kubecost_emulator(allocations_per_day=2, today=date(2025, 3, 2))
    monkeypatch.setenv("KUBECOST_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("INCLUDE_PREVIOUS_MONTH", "false")
    # When the runner runs
    status = main(["--today", "2025-03-02", "--fast-retries", "--dry-run", "--kubecost-url", kubecost.url])
    # Then the flag's Kubecost is used and named
    output = capsys.readouterr().out
    assert status == 0, output
    assert output.splitlines()[0] == f"Kubecost: {kubecost.url} (--kubecost-url)"


def test_stdout_holds_only_the_runner_s_report_and_the_functions_output_goes_to_stderr(tmp_path: Path) -> None:
    # Given the functions set to log at INFO and to emit their metrics (the most they can print)
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "layers/kubecost_flexera"))),
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_DISABLED": "false",
        "INCLUDE_PREVIOUS_MONTH": "false",
    }
    environ.pop("KUBECOST_HOST", None)
    # When the runner runs as a user runs it
    argv = ["--today", "2025-03-02", "--allocations", "2", "--fast-retries"]
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "local.run", *argv],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    # Then stdout is the report alone: no log line, no EMF document; stderr has both
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if line.lstrip().startswith("{")] == []
    assert "SUCCEEDED" in done.stdout
    assert '"message":"Planned the run"' in done.stderr
    assert '"CloudWatchMetrics"' in done.stderr


def test_a_kubecost_url_with_a_path_is_refused_naming_the_flag_and_the_api_path_to_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a Kubecost URL with the API path written into it
    # When the runner is started with it
    status = main(["--kubecost-url", "http://127.0.0.1:9090/model", "--fast-retries"])
    # Then it stops before anything starts, saying which values to use instead
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert (
        "--kubecost-url 'http://127.0.0.1:9090/model' is invalid: allowed scheme://host[:port] without a path, since "
        "the path prefix is KUBECOST_API_PATH (now '/model/'): use 'http://127.0.0.1:9090' and "
        "KUBECOST_API_PATH='/model/'"
    ) in captured.err


def test_a_kubecost_host_with_a_path_fails_the_run_at_configuration_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given KUBECOST_HOST with a path (the deployed setting), as the plan reads it
    monkeypatch.setenv("KUBECOST_HOST", "http://127.0.0.1:9/model")
    # When the runner runs
    status = main(["--fast-retries", "--dry-run"])
    # Then the plan refuses the configuration before any request, naming the variable and the path to use
    output = capsys.readouterr().out
    assert status == 1
    assert "ConfigurationError" in output
    assert "KUBECOST_HOST='http://127.0.0.1:9/model' is invalid" in output
    assert "KUBECOST_API_PATH='/model/'" in output
