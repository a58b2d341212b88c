"""The emulator's Bill Upload API over real HTTP: shapes as the samples, states, limits, every error status."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.flexera import EXPORTER_CONFLICT_RE, SAMPLE_BILL_UPLOAD, SAMPLE_FILE, SAMPLE_GOA_ERROR, shape

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fixtures.flexera import FlexeraApi

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CSV = b"ResourceID,Cost\nc/ns,1.5\n"


def _without_files(upload: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in upload.items() if key != "files"}


# --- create ---


def test_create_answers_201_with_an_in_progress_upload_shaped_like_the_sample(
    flexera_api: Callable[..., FlexeraApi],
) -> None:
    # Given an existing bill connect
    api = flexera_api()

    # When the exporter's create body is posted (compact JSON, no Content-Type, no API-Version)
    response = api.create("cbi-oi-kubecost-1", "2025-07")

    # Then a new in-progress upload with a lower-case UUID and no file comes back
    assert response.status_code == 201
    body = response.json()
    assert shape(_without_files(body)) == shape(_without_files(SAMPLE_BILL_UPLOAD))
    assert re.fullmatch(UUID_RE, body["id"])
    assert (body["billConnectId"], body["billingPeriod"], body["status"], body["files"]) == (
        "cbi-oi-kubecost-1",
        "2025-07",
        "in-progress",
        [],
    )


def test_second_create_while_one_is_in_progress_gets_409_naming_it(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload in progress for a bill connect and month
    api = flexera_api()
    first = api.created_id()

    # When another upload is created for the same pair
    response = api.create()

    # Then 409, and the exporter's regex finds the in-progress upload's id in the raw body
    assert response.status_code == 409
    assert f"an existing billUpload (ID: {first})" in response.text
    match = re.search(EXPORTER_CONFLICT_RE, response.text)
    assert match is not None
    assert match.group(1) == first
    assert shape(response.json()) == shape(SAMPLE_GOA_ERROR)


def test_create_within_the_cooloff_gets_429_with_the_remaining_seconds(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload created and aborted 100 seconds ago
    api = flexera_api()
    assert api.operate(api.created_id(), "abort").status_code == 200
    api.emulator.clock.advance(100)

    # When another upload is created for the same bill connect and month
    response = api.create()

    # Then it is throttled for the 20 seconds left of the 120-second cool-off
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "20"
    assert response.json()["name"] == "too_many_requests"
    assert response.json()["temporary"] is True


def test_create_after_the_cooloff_succeeds(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload committed at the start of a 120-second cool-off
    api = flexera_api()
    upload_id = api.created_id()
    api.upload(upload_id, "a.csv", CSV)
    api.operate(upload_id, "commit")

    # When 119 seconds, then 120 seconds have passed
    api.emulator.clock.advance(119)
    early = api.create()
    api.emulator.clock.advance(1)
    on_time = api.create()

    # Then the first attempt is throttled for one more second and the second succeeds
    assert (early.status_code, early.headers["Retry-After"]) == (429, "1")
    assert on_time.status_code == 201


def test_cooloff_is_per_bill_connect_and_month(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload just created and aborted for 2025-07
    api = flexera_api()
    api.operate(api.created_id(period="2025-07"), "abort")

    # When one is created for 2025-06 at once
    response = api.create(period="2025-06")

    # Then it is not throttled
    assert response.status_code == 201


def test_conflict_is_reported_before_throttling(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload in progress, created just now (inside the cool-off)
    api = flexera_api()
    first = api.created_id()

    # When another create comes
    response = api.create()

    # Then the conflict wins, so the exporter can abort the blocking upload
    assert response.status_code == 409
    assert first in response.text


def test_configurable_cooloff(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a cool-off of zero seconds
    api = flexera_api(cooloff_seconds=0)
    api.operate(api.created_id(), "abort")

    # When the next upload is created at the same instant
    response = api.create()

    # Then it is not throttled
    assert response.status_code == 201


def test_create_for_an_unknown_bill_connect_gets_404(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given only the default bill connect exists
    api = flexera_api()

    # When an upload is created for another one
    response = api.create("cbi-oi-kubecost-2")

    # Then it is not found
    assert response.status_code == 404
    assert response.json()["name"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"billConnectId": "cbi-oi-kubecost-1", "billingPeriod": "2025-7"},
        {"billConnectId": "cbi-oi-kubecost-1", "billingPeriod": "July 2025"},
        {"billConnectId": "cbi-oi-kubecost-1"},
        {"billingPeriod": "2025-07"},
        ["cbi-oi-kubecost-1", "2025-07"],
    ],
    ids=["short-month", "words", "no-period", "no-connect", "not-an-object"],
)
def test_create_with_an_invalid_body_gets_400(flexera_api: Callable[..., FlexeraApi], body: object) -> None:
    # Given a running emulator
    api = flexera_api()

    # When the create body breaks the spec
    response = api.call("POST", api.uploads, body)

    # Then it is a bad request
    assert response.status_code == 400
    assert response.json()["name"] == "bad_request"


def test_create_with_a_body_that_is_not_json_gets_400(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a running emulator
    api = flexera_api()

    # When the body is not JSON
    response = api.call("POST", api.uploads, data=b"billConnectId=cbi-oi-kubecost-1")

    # Then it is a bad request
    assert response.status_code == 400


# --- list and show ---


@pytest.fixture
def three_uploads(flexera_api: Callable[..., FlexeraApi]) -> tuple[FlexeraApi, list[str]]:
    """Uploads for (connect 1, 2025-06), (connect 1, 2025-07) and (connect 2, 2025-07), in that order."""
    api = flexera_api(bill_connects=frozenset({"cbi-oi-kubecost-1", "cbi-oi-kubecost-2"}))
    ids = [
        api.created_id("cbi-oi-kubecost-1", "2025-06"),
        api.created_id("cbi-oi-kubecost-1", "2025-07"),
        api.created_id("cbi-oi-kubecost-2", "2025-07"),
    ]
    return api, ids


def test_list_without_filters_is_a_bare_array_of_every_upload(three_uploads: tuple[FlexeraApi, list[str]]) -> None:
    # Given three uploads
    api, ids = three_uploads

    # When they are listed
    response = api.call("GET", api.uploads)

    # Then a bare array holds all of them, in creation order, each shaped like the sample's items
    assert response.status_code == 200
    assert [upload["id"] for upload in response.json()] == ids
    assert all(shape(_without_files(u)) == shape(_without_files(SAMPLE_BILL_UPLOAD)) for u in response.json())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("billConnectId=cbi-oi-kubecost-1", [0, 1]),
        ("billingPeriod=2025-07", [1, 2]),
        ("billConnectId=cbi-oi-kubecost-2&billingPeriod=2025-07", [2]),
        ("billConnectId=cbi-oi-kubecost-3", []),
    ],
)
def test_list_filters_by_bill_connect_and_period(
    three_uploads: tuple[FlexeraApi, list[str]], query: str, expected: list[int]
) -> None:
    # Given three uploads
    api, ids = three_uploads

    # When they are listed with filters
    response = api.call("GET", f"{api.uploads}?{query}")

    # Then only the matching ones come back
    assert [upload["id"] for upload in response.json()] == [ids[i] for i in expected]


def test_list_with_an_invalid_period_filter_gets_400(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a running emulator
    api = flexera_api()

    # When the period filter breaks the pattern
    response = api.call("GET", f"{api.uploads}?billingPeriod=202507")

    # Then it is a bad request
    assert response.status_code == 400


def test_show_includes_the_files_shaped_like_the_sample(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload with two files
    api = flexera_api()
    upload_id = api.created_id()
    api.upload(upload_id, "kubecost-2025-07-01.csv.gz", b"one")
    api.upload(upload_id, "kubecost-2025-07-02.csv.gz", b"two")

    # When it is shown
    response = api.call("GET", f"{api.uploads}/{upload_id}")

    # Then it is shaped like the sample and lists both files in upload order
    assert response.status_code == 200
    body = response.json()
    assert shape(body) == shape(SAMPLE_BILL_UPLOAD)
    assert [f["id"] for f in body["files"]] == ["kubecost-2025-07-01.csv.gz", "kubecost-2025-07-02.csv.gz"]


@pytest.mark.parametrize(
    ("upload_id", "status"),
    [("0ae0f4c1-7c3a-4172-bcce-e96b9927fa07", 404), ("not-a-uuid", 400)],
    ids=["unknown", "malformed"],
)
def test_show_of_a_missing_upload(flexera_api: Callable[..., FlexeraApi], upload_id: str, status: int) -> None:
    # Given no such upload
    api = flexera_api()

    # When it is shown
    response = api.call("GET", f"{api.uploads}/{upload_id}")

    # Then 404 for an unknown id, 400 for one that is not a UUID
    assert response.status_code == status


# --- files ---


def test_file_upload_answers_201_with_md5_and_length_like_the_sample(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload in progress
    api = flexera_api()
    upload_id = api.created_id()
    data = b"\x1f\x8b not really gzip, stored as sent"

    # When a file is posted as raw bytes
    response = api.upload(upload_id, "kubecost-2025-07-03.csv.gz", data)

    # Then the file object carries the lower-case hex md5 and length of those bytes
    assert response.status_code == 201
    body = response.json()
    assert shape(body) == shape(SAMPLE_FILE)
    assert (body["id"], body["billUploadId"], body["status"]) == ("kubecost-2025-07-03.csv.gz", upload_id, "uploaded")
    assert body["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert body["length"] == len(data)


def test_chunked_file_upload_is_stored_whole(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload in progress and a file streamed in chunks (Transfer-Encoding: chunked)
    api = flexera_api()
    upload_id = api.created_id()
    chunks = [b"ResourceID,Cost\n", b"a,1\n" * 1000]

    # When it is posted
    response = api.session.post(
        f"{api.emulator.url}{api.uploads}/{upload_id}/files/a.csv",
        data=iter(chunks),
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=5,
    )

    # Then the md5 is the whole content's
    assert response.status_code == 201
    assert response.json()["md5"] == hashlib.md5(b"".join(chunks), usedforsecurity=False).hexdigest()


@pytest.mark.parametrize(
    "file_id",
    [
        "a.csv",
        "a.json",
        "a.jsonl",
        "a.csv.gz",
        "a.json.gz",
        "a.jsonl.gz",
        "kubecost-2025-07-03-2.csv.gz",
        "x" * 96 + ".csv",
    ],
)
def test_allowed_file_names_are_accepted(flexera_api: Callable[..., FlexeraApi], file_id: str) -> None:
    # Given an upload in progress
    api = flexera_api()
    upload_id = api.created_id()

    # When a file with an allowed name (up to 100 characters) is posted
    response = api.upload(upload_id, file_id, b"x")

    # Then it is stored
    assert response.status_code == 201
    assert response.json()["id"] == file_id


@pytest.mark.parametrize(
    "file_id",
    ["a.txt", "a.csv.zip", "a.gz", ".csv", "a.CSV", "a.csv.gz.gz", "x" * 97 + ".csv"],
)
def test_file_names_breaking_the_rule_get_400(flexera_api: Callable[..., FlexeraApi], file_id: str) -> None:
    # Given an upload in progress
    api = flexera_api()
    upload_id = api.created_id()

    # When a file with a wrong extension or over 100 characters is posted
    response = api.upload(upload_id, file_id, b"x")

    # Then it is a bad request
    assert response.status_code == 400
    assert response.json()["name"] == "bad_request"


def test_file_over_the_size_limit_gets_413(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a 10-byte file size limit
    api = flexera_api(max_file_bytes=10)
    upload_id = api.created_id()

    # When files of 10 and 11 bytes are posted
    at_limit = api.upload(upload_id, "a.csv", b"x" * 10)
    over = api.upload(upload_id, "b.csv", b"x" * 11)

    # Then the first is stored and the second is too large
    assert at_limit.status_code == 201
    assert over.status_code == 413
    assert over.json()["name"] == "request_entity_too_large"


def test_file_beyond_the_file_count_limit_gets_400(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload already holding the maximum of 2 files
    api = flexera_api(max_files=2)
    upload_id = api.created_id()
    api.upload(upload_id, "a.csv", b"a")
    api.upload(upload_id, "b.csv", b"b")

    # When a third file is posted
    response = api.upload(upload_id, "c.csv", b"c")

    # Then it is refused
    assert response.status_code == 400


def test_reposting_a_file_replaces_it_without_counting_again(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload holding the maximum of 2 files
    api = flexera_api(max_files=2)
    upload_id = api.created_id()
    api.upload(upload_id, "a.csv", b"old")
    api.upload(upload_id, "b.csv", b"b")

    # When one of them is posted again with other bytes
    response = api.upload(upload_id, "a.csv", b"new content")

    # Then it replaces the first one in place
    assert response.status_code == 201
    files = api.call("GET", f"{api.uploads}/{upload_id}").json()["files"]
    assert [(f["id"], f["length"]) for f in files] == [("a.csv", 11), ("b.csv", 1)]


@pytest.mark.parametrize("operation", ["commit", "abort"])
def test_file_on_a_closed_upload_gets_409(flexera_api: Callable[..., FlexeraApi], operation: str) -> None:
    # Given an upload that was committed or aborted
    api = flexera_api()
    upload_id = api.created_id()
    api.upload(upload_id, "a.csv", CSV)
    api.operate(upload_id, operation)

    # When another file is posted to it
    response = api.upload(upload_id, "b.csv", CSV)

    # Then it conflicts with the upload's state
    assert response.status_code == 409


def test_file_on_an_unknown_upload_gets_404(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given no such upload
    api = flexera_api()

    # When a file is posted to it
    response = api.upload("0ae0f4c1-7c3a-4172-bcce-e96b9927fa07", "a.csv", CSV)

    # Then it is not found
    assert response.status_code == 404


# --- operations and delete ---


def test_commit_answers_200_with_the_complete_upload(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload with a file
    api = flexera_api()
    upload_id = api.created_id()
    api.upload(upload_id, "a.csv", CSV)

    # When it is committed
    response = api.operate(upload_id, "commit")

    # Then it is complete and shaped like the sample
    assert response.status_code == 200
    assert shape(response.json()) == shape(SAMPLE_BILL_UPLOAD)
    assert response.json()["status"] == "complete"


def test_commit_without_a_file_gets_400(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload with no file
    api = flexera_api()
    upload_id = api.created_id()

    # When it is committed
    response = api.operate(upload_id, "commit")

    # Then it is refused and stays in progress
    assert response.status_code == 400
    assert api.emulator.bill_uploads[0].status == "in-progress"


def test_abort_answers_200_and_keeps_the_committed_month(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a committed month, and a new upload for it with a file
    api = flexera_api(cooloff_seconds=0)
    first = api.created_id()
    api.upload(first, "a.csv", CSV)
    api.operate(first, "commit")
    second = api.created_id()
    api.upload(second, "b.csv", CSV)

    # When the new upload is aborted
    response = api.operate(second, "abort")

    # Then it is aborted and the month still holds the first upload's data
    assert response.status_code == 200
    assert response.json()["status"] == "aborted"
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")
    assert committed is not None
    assert (committed.bill_upload_id, list(committed.files)) == (first, ["a.csv"])


@pytest.mark.parametrize(
    ("first", "second"), [("commit", "commit"), ("commit", "abort"), ("abort", "abort"), ("abort", "commit")]
)
def test_operation_on_a_closed_upload_gets_409(flexera_api: Callable[..., FlexeraApi], first: str, second: str) -> None:
    # Given an upload closed by a commit or an abort
    api = flexera_api()
    upload_id = api.created_id()
    api.upload(upload_id, "a.csv", CSV)
    assert api.operate(upload_id, first).status_code == 200

    # When a second operation comes
    response = api.operate(upload_id, second)

    # Then it conflicts and the status does not change
    assert response.status_code == 409
    assert api.emulator.bill_uploads[0].status == ("complete" if first == "commit" else "aborted")


@pytest.mark.parametrize("body", [{"operation": "finish"}, {}, ["commit"]], ids=["unknown", "missing", "array"])
def test_invalid_operation_gets_400(flexera_api: Callable[..., FlexeraApi], body: object) -> None:
    # Given an upload in progress
    api = flexera_api()
    upload_id = api.created_id()

    # When the operation body is not commit or abort
    response = api.call("POST", f"{api.uploads}/{upload_id}/operations", body)

    # Then it is a bad request
    assert response.status_code == 400


def test_delete_of_an_aborted_upload_answers_204_and_removes_it(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an aborted upload
    api = flexera_api()
    upload_id = api.created_id()
    api.operate(upload_id, "abort")

    # When it is deleted
    response = api.call("DELETE", f"{api.uploads}/{upload_id}")

    # Then 204 with no body, and it is gone
    assert (response.status_code, response.content) == (204, b"")
    assert api.call("GET", f"{api.uploads}/{upload_id}").status_code == 404
    assert api.call("GET", api.uploads).json() == []


@pytest.mark.parametrize("operation", [None, "commit"], ids=["in-progress", "complete"])
def test_delete_of_an_upload_not_aborted_gets_400(
    flexera_api: Callable[..., FlexeraApi], operation: str | None
) -> None:
    # Given an upload in progress or committed
    api = flexera_api()
    upload_id = api.created_id()
    api.upload(upload_id, "a.csv", CSV)
    if operation:
        api.operate(upload_id, operation)

    # When it is deleted
    response = api.call("DELETE", f"{api.uploads}/{upload_id}")

    # Then it is refused and still there
    assert response.status_code == 400
    assert api.call("GET", f"{api.uploads}/{upload_id}").status_code == 200


def test_created_status_200_answers_create_and_file_with_200(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an emulator standing for a server that answers another 2xx than 201
    api = flexera_api(created_status=200)
    # When an upload is created and a file sent / Then both answer 200 with the usual bodies
    created = api.create()
    assert (created.status_code, created.json()["status"]) == (200, "in-progress")
    uploaded = api.upload(created.json()["id"], "kubecost-2025-07-01.csv.gz", b"abc")
    assert (uploaded.status_code, uploaded.json()["md5"]) == (
        200,
        hashlib.md5(b"abc", usedforsecurity=False).hexdigest(),
    )
