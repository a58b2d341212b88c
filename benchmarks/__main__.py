"""``python -m benchmarks`` (``make bench``): every benchmark, then one verdict.

Each benchmark runs in its own process and prints all its figures whatever its outcome; a missed target (non-zero
exit status, a crash included) does not stop the others. At the end a summary names each benchmark's outcome, and
the exit status is non-zero when any target was missed, so a user sees every figure and CI still fails.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

BENCHMARKS: Final[Mapping[str, Sequence[str]]] = {
    name: (sys.executable, "-m", f"benchmarks.{name}") for name in ("export_day", "upload", "workflow", "cold_start")
}


def run_all(benchmarks: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Runs every command in order, its output going straight to ours; the exit status of each."""
    statuses: dict[str, int] = {}
    for name, command in benchmarks.items():
        print(f"\n=== {name}: {' '.join(command[1:])}\n", flush=True)
        started = time.perf_counter()
        statuses[name] = subprocess.run(command, check=False).returncode  # noqa: S603 - our own interpreter
        print(f"\n=== {name}: exit status {statuses[name]} after {time.perf_counter() - started:.0f} s", flush=True)
    return statuses


def summary(statuses: Mapping[str, int]) -> str:
    lines = ["", "Benchmarks:"]
    lines += [
        f"  {name:<12} {'met its targets' if code == 0 else f'MISSED (exit status {code})'}"
        for name, code in statuses.items()
    ]
    missed = [name for name, code in statuses.items() if code != 0]
    lines.append(f"Targets missed by: {', '.join(missed)}" if missed else "Every target met.")
    return "\n".join(lines)


def main(benchmarks: Mapping[str, Sequence[str]] = BENCHMARKS) -> int:
    statuses = run_all(benchmarks)
    print(summary(statuses))
    return 0 if all(code == 0 for code in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
