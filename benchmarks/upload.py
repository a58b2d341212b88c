"""Benchmark of the monthly upload: throughput and peak memory for months of 3 and of 31 parts of 30 MB each.

Usage::

    python -m benchmarks.upload                 # both months, the table and the verdict
    python -m benchmarks.upload --part-mb 10    # smaller parts for a quick look

What it proves: the uploader streams. A part goes from S3 to Flexera in blocks while its MD5 is computed, so the
uploading process's memory does not depend on the number of parts (the 31-part month may use at most
:data:`RSS_RATIO_TARGET` times the peak RSS of the 3-part month) nor on the part size (the growth of the peak over
the RSS before the upload stays below one part; holding a part whole even once would exceed it).

How it measures, so that the figures are the uploader's own:

- S3 (``moto.server``) and the Flexera emulator (``python -m emulators.flexera``, which keeps uploaded bytes in
  memory, as a test double may) each run in their own process, so their memory does not count.
- The parts are random bytes in a gzip member (incompressible, so 30 MB on the wire), generated once and copied
  server-side to every key; each day gets a manifest as the day export writes it.
- Each month is uploaded by a fresh child process that imports everything and creates its clients first, then reads
  its RSS (``/proc/self/status`` ``VmRSS``), then runs :class:`kubecost_flexera.domain.upload.MonthUploader` for
  the month (token, create, every file, commit, upload state). Peak RSS is the child's ``VmHWM``, not ``ru_maxrss``:
  Linux carries the parent's high-water mark over ``fork`` and ``exec`` into ``ru_maxrss``, and the parent held a
  part while preparing S3. MB/s is the month's
  bytes over the wall-clock time of that run (both emulators are on the same machine, so it is a floor, not
  Flexera's speed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from benchmarks.support import ENV, child_env, free_port, server, status_bytes

if TYPE_CHECKING:
    from collections.abc import Sequence

BUCKET: Final = "benchmark-exports"
SOURCE: Final = "default"
TODAY: Final = date(2025, 8, 3)  # August holds 3 days (current month); July is complete with 31
MONTHS: Final = (("2025-08", 3), ("2025-07", 31))
RSS_RATIO_TARGET: Final = 1.2
MB: Final = 1024 * 1024
WIDTHS: Final = (5, 7, 8, 7, 11, 9, 7)


def prepare(s3_url: str, part_bytes: int) -> None:
    """One random gzip part, copied to every day of both months, each day with its manifest."""
    import boto3  # noqa: PLC0415 - only the parent needs it before the children start

    from kubecost_flexera.adapters.storage import Storage  # noqa: PLC0415
    from kubecost_flexera.domain.calendar import month_days  # noqa: PLC0415
    from kubecost_flexera.domain.records import DayManifest, PartInfo, part_file_name  # noqa: PLC0415

    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    storage = Storage(s3, BUCKET, SOURCE)
    data = gzip.compress(os.urandom(part_bytes), compresslevel=1)
    template = "benchmark/part.csv.gz"
    s3.put_object(Bucket=BUCKET, Key=template, Body=data)
    del data
    for month, _ in MONTHS:
        for day in month_days(month, TODAY):
            key = storage.export_part_key(day, "bench", 1)
            etag = s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": template})
            size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
            part = PartInfo(key, part_file_name(day, 1), size, etag["CopyObjectResult"]["ETag"], 1)
            storage.write_day_manifest(DayManifest(day, SOURCE, "USD", "2025-08-03T00:00:00Z", (part,), 1, 1, 0.0))


def child(month: str, s3_url: str, flexera_url: str) -> None:
    """Uploads one month and prints its figures as JSON (runs in its own process)."""
    import boto3  # noqa: PLC0415 - imported here so the parent's imports never count

    from emulators.flexera import (  # noqa: PLC0415
        DEFAULT_BILL_CONNECT_ID,
        DEFAULT_REFRESH_TOKEN,
        FlexeraEmulatorConfig,
    )
    from kubecost_flexera.adapters.flexera import FlexeraClient  # noqa: PLC0415
    from kubecost_flexera.adapters.flexera_auth import RefreshTokenGrant  # noqa: PLC0415
    from kubecost_flexera.adapters.storage import Storage  # noqa: PLC0415
    from kubecost_flexera.config import load_flexera  # noqa: PLC0415
    from kubecost_flexera.contracts import RunOptions  # noqa: PLC0415
    from kubecost_flexera.domain.upload import MonthUploader  # noqa: PLC0415

    settings = load_flexera(
        {
            "ORG_ID": FlexeraEmulatorConfig.org_id,
            "BILL_CONNECT_ID": DEFAULT_BILL_CONNECT_ID,
            # The credentials are given to the client directly; the ARN only has to be well formed.
            "FLEXERA_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:benchmark-AbCdEf",
            "FLEXERA_ENDPOINT_URL": flexera_url,
        }
    )
    client = FlexeraClient(settings, RefreshTokenGrant(DEFAULT_REFRESH_TOKEN))
    storage = Storage(boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1"), BUCKET, SOURCE)
    uploader = MonthUploader(storage, lambda: client, clock_today=TODAY, options=RunOptions.of({"force_upload": True}))
    storage.read_upload_state(month)  # warm the S3 connection pool before the baseline
    before = status_bytes("VmRSS")
    started = time.perf_counter()
    (result,) = uploader.run([month])
    elapsed = time.perf_counter() - started
    peak = status_bytes("VmHWM")
    print(
        json.dumps(
            {
                "month": month,
                "status": result.status,
                "error": result.error,
                "files": result.files,
                "bytes": result.bytes,
                "seconds": elapsed,
                "rss_before": before,
                "rss_peak": peak,
            }
        )
    )


def _run_child(month: str, s3_url: str, flexera_url: str) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.upload", "--child", month, "--s3", s3_url, "--flexera", flexera_url],
        capture_output=True,
        text=True,
        check=True,
        env=child_env(),
    )
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upload", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--part-mb", type=int, default=30, help="size of each part in MiB (default 30)")
    parser.add_argument("--child", metavar="MONTH", help=argparse.SUPPRESS)
    parser.add_argument("--s3", help=argparse.SUPPRESS)
    parser.add_argument("--flexera", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.s3, args.flexera)
        return 0
    os.environ.update(ENV)
    s3_port, flexera_port = free_port(), free_port()
    s3_url, flexera_url = f"http://127.0.0.1:{s3_port}", f"http://127.0.0.1:{flexera_port}"
    with ExitStack() as stack:
        stack.enter_context(server(["-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], s3_url))
        emulator = ["-m", "emulators.flexera", "--port", str(flexera_port), "--cooloff", "0"]
        stack.enter_context(server(emulator, f"{flexera_url}/__emulator__/committed"))
        print(f"Preparing {sum(n for _, n in MONTHS)} parts of {args.part_mb} MiB in S3 ...", flush=True)
        prepare(s3_url, args.part_mb * MB)
        results = [_run_child(month, s3_url, flexera_url) for month, _ in MONTHS]
    return _report(results, args.part_mb * MB)


def _report(results: Sequence[dict[str, Any]], part_bytes: int) -> int:
    header = ("month", "parts", "MB", "seconds", "MB/s", "RSS before", "peak RSS", "growth")
    print(f"{header[0]:8} " + " ".join(f"{title:>{width}}" for title, width in zip(header[1:], WIDTHS, strict=True)))
    for r in results:
        print(
            f"{r['month']:8} {r['files']:>5} {r['bytes'] / MB:>7.0f} {r['seconds']:>8.2f} "
            f"{r['bytes'] / MB / r['seconds']:>7.1f} {r['rss_before'] / MB:>10.1f}M {r['rss_peak'] / MB:>8.1f}M "
            f"{(r['rss_peak'] - r['rss_before']) / MB:>6.1f}M"
        )
    small, large = results
    ratio = large["rss_peak"] / small["rss_peak"]
    growth = max(r["rss_peak"] - r["rss_before"] for r in results)
    committed = all(r["status"] == "committed" for r in results)
    print(f"peak RSS ratio 31/3 parts: {ratio:.3f} (target <= {RSS_RATIO_TARGET})")
    print(
        f"largest growth over the RSS before the upload: {growth / MB:.1f} MiB (must stay below one part, "
        f"{part_bytes / MB:.0f} MiB)"
    )
    ok = committed and ratio <= RSS_RATIO_TARGET and growth < part_bytes
    print("verdict:", "PASS" if ok else "FAIL", "" if committed else f"(not committed: {results})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
