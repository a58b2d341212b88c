"""The streaming part writer and the day replacement against moto S3: parts, multipart chunks, abort, commit."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest

from kubecost_flexera.storage import UPLOAD_CHUNK_BYTES, DayManifest, PartInfo, Storage, new_export_id

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DAY = date(2025, 7, 15)
HEADER = b"A,B\n"


@pytest.fixture
def storage(s3: S3Client, bucket: str) -> Storage:
    return Storage(s3, bucket, "default")


def lines(count: int, width: int = 10) -> list[bytes]:
    return [b"%d,%s\n" % (n, b"x" * width) for n in range(count)]


def content(storage: Storage, part: PartInfo) -> bytes:
    return gzip.decompress(storage.open_part(part).read())


def keys(storage: Storage) -> set[str]:
    listing = storage.s3.list_objects_v2(Bucket=storage.bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def manifest(parts: tuple[PartInfo, ...]) -> DayManifest:
    rows = sum(p.rows for p in parts)
    return DayManifest(DAY, "default", "USD", "2025-07-16T03:00:00+00:00", parts, rows, rows, 0.0)


def test_a_day_of_exactly_max_rows_is_one_part_with_the_header(storage: Storage) -> None:
    with storage.day_writer(DAY, "e1", header=HEADER, max_rows=8) as writer:
        writer.write(lines(8))
        parts = writer.close()
    assert [p.rows for p in parts] == [8]
    assert content(storage, parts[0]) == HEADER + b"".join(lines(8))


def test_lines_straddle_parts_and_every_part_starts_with_the_header(storage: Storage) -> None:
    # Given 5 rows per part and items of 8 lines
    with storage.day_writer(DAY, "e1", header=HEADER, max_rows=5) as writer:
        writer.write(lines(8))
        writer.write(lines(8))
        parts = writer.close()
    # Then 16 rows make parts of 5, 5, 5 and 1, concatenating back to the input
    assert [p.rows for p in parts] == [5, 5, 5, 1]
    texts = [content(storage, p) for p in parts]
    assert all(text.startswith(HEADER) for text in texts)
    assert b"".join(text.removeprefix(HEADER) for text in texts) == b"".join(lines(8) * 2)
    assert [p.file_name for p in parts] == [
        "kubecost-2025-07-15.csv.gz",
        "kubecost-2025-07-15-2.csv.gz",
        "kubecost-2025-07-15-3.csv.gz",
        "kubecost-2025-07-15-4.csv.gz",
    ]
    assert parts[1].key == "exports/default/2025-07/2025-07-15/e1/kubecost-2025-07-15-2.csv.gz"


def test_nothing_written_means_no_part_and_no_object(storage: Storage) -> None:
    with storage.day_writer(DAY, "e1", header=HEADER, max_rows=5) as writer:
        parts = writer.close()
    assert parts == ()
    assert keys(storage) == set()


def test_a_part_larger_than_one_chunk_goes_through_a_multipart_upload(storage: Storage) -> None:
    # Given rows that barely compress, more than one upload chunk of them
    rows = [os.urandom(600).hex().encode() + b"\n" for _ in range(UPLOAD_CHUNK_BYTES // 500)]
    # When they are written as one part
    with storage.day_writer(DAY, "e1", header=HEADER, max_rows=10**6) as writer:
        for start in range(0, len(rows), 8):
            writer.write(rows[start : start + 8])
        (part,) = writer.close()
    # Then the object is a multipart one with the exact content, size and rows
    assert part.etag.endswith('-2"')
    assert part.size == storage.s3.head_object(Bucket=storage.bucket, Key=part.key)["ContentLength"]
    assert content(storage, part) == HEADER + b"".join(rows)
    assert part.rows == len(rows)


def test_abort_removes_finished_parts_and_the_multipart_upload_in_progress(storage: Storage) -> None:
    # Given a finished small part and a large part whose multipart upload is under way
    rows = [os.urandom(600).hex().encode() + b"\n" for _ in range(UPLOAD_CHUNK_BYTES // 500)]

    def failing_export() -> None:
        with storage.day_writer(DAY, "e1", header=HEADER, max_rows=len(rows)) as writer:
            writer.write(lines(len(rows)))  # part 1: small, finished when part 2 starts
            writer.write(rows)  # part 2: more than a chunk, still open
            assert storage.s3.list_multipart_uploads(Bucket=storage.bucket)["Uploads"]  # one is under way
            assert keys(storage)  # and a part is finished
            raise RuntimeError("page 3 failed")

    # When the export fails
    with pytest.raises(RuntimeError, match="page 3 failed"):
        failing_export()
    # Then nothing of it is left
    assert keys(storage) == set()
    assert not storage.s3.list_multipart_uploads(Bucket=storage.bucket).get("Uploads")


def test_replace_day_commits_then_deletes_only_the_previous_parts_not_named_again(storage: Storage) -> None:
    # Given a committed export of two parts and an unrelated object
    with storage.day_writer(DAY, "old", header=HEADER, max_rows=4) as writer:
        writer.write(lines(8))
        old = writer.close()
    storage.replace_day(manifest(old))
    storage.s3.put_object(Bucket=storage.bucket, Key="exports/default/2025-07/other.txt", Body=b"keep")
    # When a new export of one part is committed
    with storage.day_writer(DAY, "new", header=HEADER, max_rows=100) as writer:
        writer.write(lines(8))
        new = writer.close()
    storage.replace_day(manifest(new))
    # Then the manifest names the new part and the old parts are gone
    assert storage.read_day_manifest(DAY) == manifest(new)
    assert keys(storage) == {new[0].key, "exports/default/2025-07/other.txt", storage.day_manifest_key(DAY)}


def test_export_ids_are_unique_and_sort_by_time() -> None:

    first = new_export_id(datetime(2025, 7, 16, 3, 0, tzinfo=UTC))
    second = new_export_id(datetime(2025, 7, 16, 3, 0, tzinfo=UTC))
    later = new_export_id(datetime(2025, 7, 17, 3, 0, tzinfo=UTC))
    assert first != second
    assert first.startswith("20250716T030000Z-")
    assert sorted([later, first]) == [first, later]
