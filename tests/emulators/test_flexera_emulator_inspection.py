"""What tests and the demo read back: committed months (decompressed, parsed), uploads, the request log, the clock."""

from __future__ import annotations

import gzip
import math
from typing import TYPE_CHECKING

import pytest
import requests

from tests.fixtures.flexera import TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.fixtures.flexera import FlexeraApi

HEADER = "ResourceID,Cost,CurrencyCode,Labels\n"
DAY_1 = (HEADER + 'c/ns/a,1.25,USD,"{""app"":""x,y"",""team"":""Zürich <&>""}"\nc/ns/b,0.50,USD,{}\n').encode()
DAY_2 = (HEADER + "c/ns/a,-0.25,USD,{}\n").encode()


def _commit(api: FlexeraApi, files: dict[str, bytes], period: str = "2025-07") -> str:
    upload_id = api.created_id(period=period)
    for name, data in files.items():
        assert api.upload(upload_id, name, data).status_code == 201
    assert api.operate(upload_id, "commit").status_code == 200
    return upload_id


def test_committed_month_holds_gzipped_and_plain_files_byte_for_byte(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a gzipped and a plain day file
    api = flexera_api()

    # When they are committed
    upload_id = _commit(api, {"kubecost-2025-07-02.csv": DAY_2, "kubecost-2025-07-01.csv.gz": gzip.compress(DAY_1)})

    # Then the committed month has both files decompressed, by name, from that upload
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")
    assert committed is not None
    assert committed.bill_upload_id == upload_id
    assert committed.files == {"kubecost-2025-07-01.csv.gz": DAY_1, "kubecost-2025-07-02.csv": DAY_2}
    assert committed.errors == {}


def test_committed_rows_are_parsed_by_header_with_quoted_fields_intact(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given committed day files whose labels hold commas, quotes, non-ASCII and <>&
    api = flexera_api()
    _commit(api, {"kubecost-2025-07-01.csv.gz": gzip.compress(DAY_1), "kubecost-2025-07-02.csv": DAY_2})

    # When the committed month is read
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")

    # Then every data row is a dict keyed by the header, files in name order, and the cost total is their sum
    assert committed is not None
    assert committed.rows == [
        {"ResourceID": "c/ns/a", "Cost": "1.25", "CurrencyCode": "USD", "Labels": '{"app":"x,y","team":"Zürich <&>"}'},
        {"ResourceID": "c/ns/b", "Cost": "0.50", "CurrencyCode": "USD", "Labels": "{}"},
        {"ResourceID": "c/ns/a", "Cost": "-0.25", "CurrencyCode": "USD", "Labels": "{}"},
    ]
    assert committed.rows_per_file == {"kubecost-2025-07-01.csv.gz": 2, "kubecost-2025-07-02.csv": 1}
    assert math.isclose(committed.total_cost, 1.5)


def test_commit_replaces_the_whole_month_of_that_bill_connect(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a month committed with two day files
    api = flexera_api()
    _commit(api, {"kubecost-2025-07-01.csv.gz": gzip.compress(DAY_1), "kubecost-2025-07-02.csv": DAY_2})
    api.emulator.clock.advance(120)

    # When the month is committed again with one file
    second = _commit(api, {"kubecost-2025-07-02.csv": DAY_2})

    # Then only the second upload's data is left for the month
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")
    assert committed is not None
    assert (committed.bill_upload_id, list(committed.files), len(committed.rows)) == (
        second,
        ["kubecost-2025-07-02.csv"],
        1,
    )


def test_commit_leaves_other_months_and_bill_connects_alone(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given 2025-06 committed for connect 1
    api = flexera_api(bill_connects=frozenset({"cbi-oi-kubecost-1", "cbi-oi-kubecost-2"}))
    june = _commit(api, {"a.csv": DAY_1}, period="2025-06")

    # When 2025-07 is committed for connect 1 and 2025-06 for connect 2
    _commit(api, {"b.csv": DAY_2}, period="2025-07")
    upload_id = api.created_id("cbi-oi-kubecost-2", "2025-06")
    api.upload(upload_id, "c.csv", DAY_2)
    api.operate(upload_id, "commit")

    # Then connect 1's June is untouched
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-06")
    assert committed is not None
    assert (committed.bill_upload_id, committed.files) == (june, {"a.csv": DAY_1})


def test_month_without_a_commit_has_no_committed_data(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload with a file that was never committed
    api = flexera_api()
    api.upload(api.created_id(), "a.csv", DAY_1)

    # When the month is inspected
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")

    # Then there is nothing
    assert committed is None


def test_header_only_commit_clears_the_month(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a committed month with rows
    api = flexera_api(cooloff_seconds=0)
    _commit(api, {"a.csv": DAY_1})

    # When a header-only file is committed (the documented way to clear a month)
    _commit(api, {"a.csv": HEADER.encode()})

    # Then the month has no rows and no cost
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")
    assert committed is not None
    assert (committed.rows, committed.total_cost) == ([], 0.0)


def test_file_that_is_not_gzip_is_a_processing_error(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a .gz file holding plain text, and a good file
    api = flexera_api()

    # When both are committed
    _commit(api, {"a.csv.gz": DAY_1, "b.csv": DAY_2})

    # Then the bad file is reported and contributes nothing; the good one is ingested
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")
    assert committed is not None
    assert list(committed.errors) == ["a.csv.gz"]
    assert list(committed.files) == ["b.csv"]
    assert len(committed.rows) == 1


def test_row_with_a_wrong_field_count_is_a_processing_error(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a file whose second data row has an unquoted comma
    api = flexera_api()
    data = (HEADER + "c/ns/a,1,USD,{}\nc/ns/b,1,USD,{a,b}\n").encode()

    # When it is committed
    _commit(api, {"a.csv": data})

    # Then the file is rejected with the line number, and no row of it is ingested
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")
    assert committed is not None
    assert committed.errors == {"a.csv": "line 3: 5 fields, the header has 4"}
    assert committed.rows == []


def test_cost_that_is_not_a_number_is_a_processing_error(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a file whose Cost is NaN written as text
    api = flexera_api()

    # When it is committed
    _commit(api, {"a.csv": (HEADER + "c/ns/a,n/a,USD,{}\n").encode()})

    # Then the file is rejected
    committed = api.emulator.committed("cbi-oi-kubecost-1", "2025-07")
    assert committed is not None
    assert committed.errors == {"a.csv": "line 2: Cost 'n/a' is not a number"}


def test_inspection_route_summarises_a_committed_month(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a committed month
    api = flexera_api()
    upload_id = _commit(api, {"a.csv.gz": gzip.compress(DAY_1), "b.csv": DAY_2})

    # When the demo asks the inspection route (no token)
    response = requests.get(
        f"{api.emulator.url}/__emulator__/committed",
        params={"billConnectId": "cbi-oi-kubecost-1", "month": "2025-07"},
        timeout=TIMEOUT,
    )

    # Then it gets files, row count and cost total
    assert response.status_code == 200
    summary = response.json()
    assert summary["billUploadId"] == upload_id
    assert summary["files"] == [
        {"name": "a.csv.gz", "bytes": len(DAY_1), "rows": 2},
        {"name": "b.csv", "bytes": len(DAY_2), "rows": 1},
    ]
    assert (summary["rows"], summary["errors"]) == (3, {})
    assert math.isclose(summary["cost"], 1.5)


def test_inspection_route_answers_404_for_a_month_never_committed(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given nothing committed
    api = flexera_api()

    # When the inspection route is asked
    response = requests.get(
        f"{api.emulator.url}/__emulator__/committed?billConnectId=cbi-oi-kubecost-1&month=2025-07", timeout=TIMEOUT
    )

    # Then nothing is found
    assert response.status_code == 404


def test_clock_route_moves_time_for_out_of_process_runs(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an upload just aborted (inside the cool-off)
    api = flexera_api()
    api.operate(api.created_id(), "abort")

    # When the clock is advanced over HTTP by the cool-off
    response = requests.post(f"{api.emulator.url}/__emulator__/clock?advance=120", timeout=TIMEOUT)

    # Then the next create is not throttled
    assert response.status_code == 200
    assert api.create().status_code == 201


@pytest.mark.parametrize(
    ("method", "route"),
    [("GET", "committed?billConnectId=x"), ("POST", "clock?advance=-5")],
    ids=["inspection-without-month", "clock-going-back"],
)
def test_emulator_routes_refuse_a_bad_request(flexera_api: Callable[..., FlexeraApi], method: str, route: str) -> None:
    # Given a running emulator
    api = flexera_api()

    # When the inspection misses the month, or the clock is asked to go back
    response = requests.request(method, f"{api.emulator.url}/__emulator__/{route}", timeout=TIMEOUT)

    # Then it is a bad request
    assert response.status_code == 400


def test_bill_uploads_show_every_upload_with_its_status(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given a committed, an aborted and an in-progress upload for three months
    api = flexera_api()
    committed = _commit(api, {"a.csv": DAY_1}, period="2025-05")
    aborted = api.created_id(period="2025-06")
    api.operate(aborted, "abort")
    open_one = api.created_id(period="2025-07")

    # When the emulator's uploads are read
    uploads = api.emulator.bill_uploads

    # Then each has its status, in creation order
    assert [(u.id, u.billing_period, u.status) for u in uploads] == [
        (committed, "2025-05", "complete"),
        (aborted, "2025-06", "aborted"),
        (open_one, "2025-07", "in-progress"),
    ]


def test_request_log_records_calls_in_order(flexera_api: Callable[..., FlexeraApi]) -> None:
    # Given an emulator that issued a token
    api = flexera_api()
    upload_id = api.created_id()

    # When a file is posted and the upload committed
    api.upload(upload_id, "a.csv", DAY_1)
    api.operate(upload_id, "commit")

    # Then the log holds every call in order, with the bytes received
    log = [(r.method, r.path) for r in api.emulator.requests]
    assert log == [
        ("POST", "/oidc/token"),
        ("POST", api.uploads),
        ("POST", f"{api.uploads}/{upload_id}/files/a.csv"),
        ("POST", f"{api.uploads}/{upload_id}/operations"),
    ]
    assert api.emulator.requests[2].body == DAY_1
