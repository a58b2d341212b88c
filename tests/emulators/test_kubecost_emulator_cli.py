"""``python -m emulators.kubecost``: the command line starts a working server with the options given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from emulators.kubecost import day_window
from tests.fixtures.kubecost import DAY, TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Iterator

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_emulator() -> Iterator[str]:
    """Starts the command line on a free port (``--port 0``) and yields its base URL from the first output line."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.kubecost",
            "--port",
            "0",
            "--flavour",
            "opencost",
            "--allocations",
            "12",
            "--seed",
            "4",
            "--today",
            "2025-07-20",
            "--empty-day",
            "2025-07-14",
            "--auth-bearer",
            "tok",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPOSITORY,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_command_line_serves_the_configured_emulator(cli_emulator: str) -> None:
    headers = {"Authorization": "Bearer tok"}
    params = {"window": day_window(DAY), "aggregate": "cluster,namespace,controllerKind,controller,node,pod"}
    answer = requests.get(f"{cli_emulator}/allocation", params=params, headers=headers, timeout=TIMEOUT)
    empty = requests.get(
        f"{cli_emulator}/allocation", params={"window": "2025-07-14T00:00:00Z,2025-07-15T00:00:00Z"}, headers=headers,
        timeout=TIMEOUT,
    )  # fmt: skip
    unauthenticated = requests.get(f"{cli_emulator}/allocation", params=params, timeout=TIMEOUT)
    assert len(answer.json()["data"][0]) == 12
    assert empty.json()["data"] == [{}]
    assert unauthenticated.status_code == 401
