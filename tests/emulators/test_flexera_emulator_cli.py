"""The emulator as a separate process, as ``make demo`` and hand runs start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from tests.fixtures.flexera import TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Iterator

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """Starts ``python -m emulators.flexera`` on a free port and yields its URL."""
    command = [
        sys.executable, "-m", "emulators.flexera", "--port", "0", "--org-id", "777",
        "--client", "demo-client:demo-secret", "--bill-connect", "cbi-oi-kubecost-demo",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert " listening on " in first_line, first_line
        yield first_line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_command_line_emulator_serves_the_configured_org_and_client(emulator_process: str) -> None:
    # Given the emulator started from the command line with a service-account client and org 777
    url = emulator_process

    # When the client logs in and lists the bill connects
    token = requests.post(
        f"{url}/oidc/token",
        data={"client_id": "demo-client", "client_secret": "demo-secret", "grant_type": "client_credentials"},
        timeout=TIMEOUT,
    ).json()["access_token"]
    response = requests.get(
        f"{url}/finops-onboarding/v1/orgs/777/bill-connects",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )

    # Then the configured bill connect is there
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["values"]] == ["cbi-oi-kubecost-demo"]
