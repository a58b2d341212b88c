"""``--out DIR`` is the persistent bucket of local runs: loaded before a run, mirrored after it, so that repeated runs
into one folder behave as repeated runs in AWS (``local/runner_state.py``)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from kubecost_flexera.domain.records import DayManifest, PartInfo
from local.run import main
from local.runner_state import BucketFolder
from local.runner_template import Expiration

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

BUCKET = "bucket-folder-test"
EXPIRATIONS = (Expiration("ExpireDayFiles", "exports/", 90), Expiration("ExpireDayManifests", "state/days/", 90))


def _month_line(output: str, month: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(f"{month} ") and " USD " in line]
    return line


def _files(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes() for path in directory.rglob("*") if path.is_file()
    }


def _assert_folder_is_a_consistent_bucket(directory: Path) -> None:
    """Every day file is the one its day's manifest names, with the recorded size and ETag, and nothing else is."""
    files = _files(directory)
    named: set[str] = set()
    for key, body in files.items():
        if key.startswith("state/days/"):
            for part in DayManifest.from_json(body).parts:
                named.add(part.key)
                assert len(files[part.key]) == part.size
                assert f'"{hashlib.md5(files[part.key], usedforsecurity=False).hexdigest()}"' == part.etag
    assert {key for key in files if key.startswith("exports/")} == named


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The flags of a small run pinned to Mar 3, 2025 (current month only)."""
    monkeypatch.setenv("INCLUDE_PREVIOUS_MONTH", "false")
    return ["--today", "2025-03-03", "--allocations", "3", "--fast-retries"]


def test_a_second_run_into_the_same_out_keeps_one_export_per_day_and_skips_the_unchanged_month(
    capsys: pytest.CaptureFixture[str], pinned: list[str], tmp_path: Path
) -> None:
    # Given a run that committed March into --out
    out = tmp_path / "out"
    assert main([*pinned, "--out", str(out)]) == 0
    assert "committed (3 file(s)" in _month_line(capsys.readouterr().out, "2025-03")
    first_record = (out / "state/uploads/default/2025-03.json").read_bytes()
    # When the same run is made again into the same folder
    status = main([*pinned, "--out", str(out)])
    # Then the month is skipped as unchanged (the upload record came back from the folder) ...
    output = capsys.readouterr().out
    assert status == 0
    assert _month_line(output, "2025-03").endswith("skipped-unchanged")
    assert "Bucket: 7 object(s) loaded" in output
    # ... the folder holds one export per day, the one its manifest names, and the upload record is untouched
    assert sorted(path.name for path in out.rglob("*.csv.gz")) == [
        f"kubecost-2025-03-0{day}.csv.gz" for day in (1, 2, 3)
    ]
    _assert_folder_is_a_consistent_bucket(out)
    assert (out / "state/uploads/default/2025-03.json").read_bytes() == first_record


def test_a_backfill_of_the_missing_day_completes_its_month(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given March exported without its last day, on Apr 2: March has ended and is incomplete, so it is not uploaded
    out = tmp_path / "out"
    common = ["--today", "2025-04-02", "--allocations", "2", "--fast-retries", "--out", str(out)]
    assert main([*common, "--start", "2025-03-01", "--end", "2025-03-30"]) == 0
    assert _month_line(capsys.readouterr().out, "2025-03").endswith("skipped-incomplete")
    # When the missing day is backfilled alone into the same folder
    status = main([*common, "--start", "2025-03-31", "--end", "2025-03-31"])
    # Then March is complete from the folder's 30 days and this one, and committed whole
    output = capsys.readouterr().out
    assert status == 0
    assert "committed (31 file(s)" in _month_line(output, "2025-03")
    (reconciled,) = [line for line in output.splitlines() if line.startswith("2025-03 ") and line.endswith("yes")]
    assert reconciled.split()[2:4] == ["31", "31"]
    _assert_folder_is_a_consistent_bucket(out)


def test_a_folder_holding_other_files_is_refused_and_left_unchanged(
    capsys: pytest.CaptureFixture[str], pinned: list[str], tmp_path: Path
) -> None:
    # Given a folder with a file that is not part of the bucket's layout
    (tmp_path / "exports").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    # When the runner is pointed at it
    status = main([*pinned, "--out", str(tmp_path)])
    # Then it refuses before running, naming the file and what is allowed, and changes nothing
    assert status == 2
    error = capsys.readouterr().err
    assert "notes.txt" in error
    assert "exports/, state/" in error
    assert _files(tmp_path) == {"notes.txt": b"mine"}


def _put_multipart(s3: S3Client, key: str, chunks: list[bytes]) -> str:
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts = [
        {
            "ETag": s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=n, Body=c)["ETag"],
            "PartNumber": n,
        }
        for n, c in enumerate(chunks, start=1)
    ]
    return s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
    )["ETag"]


def test_a_multipart_day_file_keeps_its_etag_in_the_next_run(tmp_path: Path) -> None:
    # Given a run whose bucket holds a day file uploaded in two parts and the manifest naming it by its ETag
    key = "exports/default/2025-03/2025-03-01/x/kubecost-2025-03-01.csv.gz"
    chunks = [os.urandom(5 * 1024 * 1024), b"tail"]
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        folder = BucketFolder(tmp_path, s3, BUCKET, EXPIRATIONS)
        folder.load()
        etag = _put_multipart(s3, key, chunks)
        part = PartInfo(key=key, file_name="kubecost-2025-03-01.csv.gz", size=sum(map(len, chunks)), etag=etag, rows=1)
        manifest = DayManifest(date(2025, 3, 1), "default", "USD", "2025-03-01T03:00:00+00:00", (part,), 1, 1, 1.0)
        s3.put_object(Bucket=BUCKET, Key="state/days/default/2025-03-01.json", Body=manifest.to_json().encode())
        folder.save()
    assert etag.endswith('-2"')
    # When the next run loads the folder
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        BucketFolder(tmp_path, s3, BUCKET, EXPIRATIONS).load()
        # Then the object has the ETag the manifest recorded, and a read pinned to it (as the upload reads) succeeds
        assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == etag
        body = s3.get_object(Bucket=BUCKET, Key=key, IfMatch=etag)["Body"].read()
    assert body == b"".join(chunks)


def test_lifecycle_rules_expire_old_day_files_between_runs_and_unchanged_files_keep_their_time(tmp_path: Path) -> None:
    # Given a folder with a day file and a day manifest last written 100 days ago, and an upload record as old
    old = (datetime.now(UTC) - timedelta(days=100)).timestamp()
    files = {
        "exports/default/2025-01/2025-01-01/x/kubecost-2025-01-01.csv.gz": b"old day",
        "state/days/default/2025-01-01.json": b"{}",
        "state/uploads/default/2025-01.json": json.dumps({"month": "2025-01"}).encode(),
    }
    for key, body in files.items():
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        os.utime(path, (old, old))
    # When a run loads the folder (RetentionDays 90) and saves it back
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        folder = BucketFolder(tmp_path, s3, BUCKET, EXPIRATIONS)
        loaded = folder.load()
        listed = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        modified = s3.head_object(Bucket=BUCKET, Key="state/uploads/default/2025-01.json")["LastModified"]
        saved = folder.save()
    # Then the expired day file and manifest never reach the bucket and leave the folder; the record stays as it was
    assert sorted(loaded.expired) == sorted(key for key in files if not key.startswith("state/uploads/"))
    assert listed == ["state/uploads/default/2025-01.json"]
    assert abs(modified.timestamp() - old) < 1
    assert (saved.written, saved.deleted, saved.unchanged) == (0, 2, 1)
    assert _files(tmp_path) == {"state/uploads/default/2025-01.json": files["state/uploads/default/2025-01.json"]}
    assert (tmp_path / "state/uploads/default/2025-01.json").stat().st_mtime == old
