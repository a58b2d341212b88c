"""What every benchmark shares: servers in their own processes, a quiet fake-AWS environment, peak memory.

Emulators and ``moto.server`` run in processes of their own so that their CPU and memory never count as the
exporter's, and each measured run happens in a fresh child process (its imports included, as in Lambda).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

import requests

from emulators.kubecost import day_window

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import date

    from kubecost_flexera.adapters.storage import Storage
    from kubecost_flexera.domain.export import ExportResult

ROOT: Final = Path(__file__).resolve().parents[1]
ENV: Final = {
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    # As the Makefile sets it, so that `python -m benchmarks.<name>` works from a fresh clone.
    "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "kubecost_flexera")]),
}


def child_env() -> dict[str, str]:
    return {**os.environ, **ENV}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(args: Sequence[str], ready_url: str) -> Iterator[None]:
    """``python <args>`` in its own process, ready once ``ready_url`` answers, stopped on exit."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env()
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(ready_url, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{args[1]} did not start") from None
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def status_bytes(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``: now, ``VmHWM``: peak).

    ``VmHWM``, not ``ru_maxrss``: Linux carries the parent's high-water mark over ``fork`` and ``exec`` into
    ``ru_maxrss``, so a child would report its parent's peak when that is higher.
    """
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) * 1024


def warm_kubecost(url: str, day: date) -> None:
    """Has the Kubecost emulator at ``url`` compute ``day`` before a clock starts: its ``expected`` route fills its
    cache for the exporter's default query."""
    requests.get(f"{url}/__emulator__/expected", params={"window": day_window(day)}, timeout=600).raise_for_status()


@contextmanager
def day_exporter(
    kubecost_url: str, s3_url: str, bucket: str
) -> Iterator[tuple[Callable[[date], ExportResult], Storage]]:
    """The day export as the benchmarks measure it (``PAGE_SIZE`` 500, other settings default, into a new bucket of
    ``moto.server``): a function exporting one day in USD, and the storage it writes. Imports happen here, in the
    measured child, so that the parent stays small."""
    import boto3  # noqa: PLC0415

    from kubecost_flexera.adapters.kubecost import KubecostClient  # noqa: PLC0415
    from kubecost_flexera.adapters.storage import Storage  # noqa: PLC0415
    from kubecost_flexera.config import load_kubecost  # noqa: PLC0415
    from kubecost_flexera.contracts import DayEvent  # noqa: PLC0415
    from kubecost_flexera.domain.export import export_day  # noqa: PLC0415

    settings = load_kubecost({"KUBECOST_HOST": kubecost_url, "PAGE_SIZE": "500"})
    s3 = boto3.client("s3", endpoint_url=s3_url)
    s3.create_bucket(Bucket=bucket)
    storage = Storage(s3, bucket, "default")
    with KubecostClient(settings) as client:

        def export(day: date) -> ExportResult:
            return export_day(DayEvent(day=day, currency="USD"), client=client, storage=storage, settings=settings)

        yield export, storage
