"""``benchmarks.go_side_by_side``: the ratio it reports, and the file comparison that makes the ratio a fair one."""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

import pytest

from benchmarks.go_side_by_side import compare_files, report

if TYPE_CHECKING:
    from pathlib import Path

HEADER = b"ResourceID,Cost,CurrencyCode\n"
ROWS = [b"a,0.10000,USD\n", b'"b,c",0.20000,USD\n', b'"d\ne",0.30000,USD\n']


def _go_file(directory: Path, day: str, rows: list[bytes]) -> Path:
    path = directory / f"kubecost-{day}.csv.gz"
    path.write_bytes(gzip.compress(HEADER + b"".join(rows)))
    return path


def _our_file(directory: Path, day: str, rows: list[bytes], header: bytes = HEADER) -> Path:
    path = directory / f"{day}.csv"
    path.write_bytes(header + b"".join(rows))
    return path


def test_the_same_rows_in_another_order_are_the_same_day(tmp_path: Path) -> None:
    # Given a Go day file (gzipped) and ours (plain) with the same rows in another order, one with a line break inside
    go = {"2026-11-29": _go_file(tmp_path, "2026-11-29", ROWS)}
    ours = {"2026-11-29": _our_file(tmp_path, "2026-11-29", ROWS[::-1])}
    # When they are compared, then nothing differs: Go's item order is random
    assert compare_files(go, ours) == []


def test_a_row_that_differs_by_one_digit_is_reported_with_the_day(tmp_path: Path) -> None:
    go = {"2026-11-29": _go_file(tmp_path, "2026-11-29", ROWS)}
    ours = {"2026-11-29": _our_file(tmp_path, "2026-11-29", [ROWS[0], b'"b,c",0.20001,USD\n', ROWS[2]])}
    (problem,) = compare_files(go, ours)
    assert problem.startswith("2026-11-29: 1 row(s) only Go wrote, 1 only ours")


def test_a_missing_row_a_missing_day_and_another_header_are_each_reported(tmp_path: Path) -> None:
    go = {day: _go_file(tmp_path, day, ROWS) for day in ("2026-11-28", "2026-11-29", "2026-11-30")}
    ours = {
        "2026-11-29": _our_file(tmp_path, "2026-11-29", ROWS[:2]),
        "2026-11-30": _our_file(tmp_path, "2026-11-30", ROWS, header=b"ResourceID,Cost\n"),
    }
    assert compare_files(go, ours) == [
        "2026-11-28: only Go wrote it",
        "2026-11-29: 1 row(s) only Go wrote, 0 only ours (e.g. '\"d\\ne\",0.30000,USD\\n')",
        "2026-11-30: the headers differ",
    ]


def test_the_ratio_is_that_of_the_medians_of_the_rows_per_cpu_second(capsys: pytest.CaptureFixture[str]) -> None:
    # Given three rounds of each, Go at 50,000, 40,000 and 60,000 rows per CPU-second and ours at twice as many but
    # with one slow round
    go = [{"rows": 100_000, "cpu": cpu, "wall": 1.0} for cpu in (2.0, 2.5, 100_000 / 60_000)]
    ours = [{"rows": 100_000, "cpu": cpu, "wall": 1.0} for cpu in (1.0, 1.25, 5.0)]
    # When they are reported
    ratio = report(go, ours)
    # Then each round's ratio is printed, and the ratio is median to median (80,000 / 50,000)
    assert ratio == pytest.approx(1.6)
    output = capsys.readouterr().out
    assert "ratio per round: 2.00, 2.00, 0.33; ratio of the medians 1.60 (target >= 2.0)" in output
