"""The streaming part writer and the day replacement against moto S3: parts, multipart chunks, abort, commit."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest

from kubecost_flexera.adapters.storage import UPLOAD_CHUNK_BYTES, DayPartsWriter, Storage
from kubecost_flexera.domain.cbi_csv import split_rows
from kubecost_flexera.domain.records import DayManifest, PartInfo, new_export_id

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DAY = date(2025, 7, 15)
HEADER = b"A,B\n"


@pytest.fixture
def storage(s3: S3Client, bucket: str) -> Storage:
    return Storage(s3, bucket, "default")


def day_writer(storage: Storage, export_id: str, *, max_rows: int) -> DayPartsWriter:
    return storage.day_writer(DAY, export_id, header=HEADER, max_rows=max_rows, split_rows=split_rows)


def write(writer: DayPartsWriter, rows: list[bytes]) -> None:
    """The rows as one block, as the export writes an item's rows."""
    writer.write(b"".join(rows), len(rows))


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
    with day_writer(storage, "e1", max_rows=8) as writer:
        write(writer, lines(8))
        parts = writer.close()
    assert [p.rows for p in parts] == [8]
    assert content(storage, parts[0]) == HEADER + b"".join(lines(8))


def test_lines_straddle_parts_and_every_part_starts_with_the_header(storage: Storage) -> None:
    # Given 5 rows per part and items of 8 lines
    with day_writer(storage, "e1", max_rows=5) as writer:
        write(writer, lines(8))
        write(writer, lines(8))
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
    with day_writer(storage, "e1", max_rows=5) as writer:
        parts = writer.close()
    assert parts == ()
    assert keys(storage) == set()


def test_a_part_larger_than_one_chunk_goes_through_a_multipart_upload(storage: Storage) -> None:
    # Given rows that barely compress, more than one upload chunk of them
    rows = [os.urandom(600).hex().encode() + b"\n" for _ in range(UPLOAD_CHUNK_BYTES // 500)]
    # When they are written as one part
    with day_writer(storage, "e1", max_rows=10**6) as writer:
        for start in range(0, len(rows), 8):
            write(writer, rows[start : start + 8])
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
        with day_writer(storage, "e1", max_rows=len(rows)) as writer:
            write(writer, lines(len(rows)))  # part 1: small, finished when part 2 starts
            write(writer, rows)  # part 2: more than a chunk, still open
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
    with day_writer(storage, "old", max_rows=4) as writer:
        write(writer, lines(8))
        old = writer.close()
    storage.replace_day(manifest(old))
    storage.s3.put_object(Bucket=storage.bucket, Key="exports/default/2025-07/other.txt", Body=b"keep")
    # When a new export of one part is committed
    with day_writer(storage, "new", max_rows=100) as writer:
        write(writer, lines(8))
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


def test_a_block_straddling_two_parts_is_cut_at_line_ends_not_at_line_breaks_inside_quotes(storage: Storage) -> None:
    # Given an item's block of 3 lines, two of them with a quoted field holding line breaks, and 2 rows per part
    rows = [b'1,"a\nb"\n', b"2,x\n", b'3,"c\r\n\nd ""q"""\n']
    with day_writer(storage, "e1", max_rows=2) as writer:
        # When the block is written
        write(writer, rows)
        parts = writer.close()
    # Then the parts hold whole CSV lines: 2 and 1
    assert [p.rows for p in parts] == [2, 1]
    assert [content(storage, p) for p in parts] == [HEADER + rows[0] + rows[1], HEADER + rows[2]]


def test_a_block_whose_line_count_is_not_its_row_count_is_refused(storage: Storage) -> None:
    with day_writer(storage, "e1", max_rows=2) as writer, pytest.raises(ValueError, match="3 CSV lines, not 4"):
        writer.write(b"".join(lines(3)), 4)


def test_parts_are_ordinary_gzip_members_with_the_same_bytes_for_the_same_rows(storage: Storage) -> None:
    # Given the same rows written by two exports
    etags = []
    for export_id in ("e1", "e2"):
        with day_writer(storage, export_id, max_rows=100) as writer:
            write(writer, lines(50))
            (part,) = writer.close()
        etags.append(part.etag)
        data = storage.open_part(part).read()
        # Then each is one gzip member (RFC 1952) without a file name and with a zero modification time
        assert data[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + data[8:10]
        assert gzip.decompress(data) == HEADER + b"".join(lines(50))
    # And both have the same bytes, so an unchanged month keeps its fingerprint
    assert etags[0] == etags[1]
