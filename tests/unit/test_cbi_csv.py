"""The cbi-oi-kubecost CSV format: the Go exporter's bytes (GO-CSV-1 to GO-CSV-7)."""

from __future__ import annotations

import csv
import json
import math
import random
import struct
from datetime import date
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from kubecost_flexera.domain.allocation import Allocation
from kubecost_flexera.domain.cbi_csv import (
    HEADER_BYTES,
    ITEMS_PER_BLOCK,
    ROWS_PER_ITEM,
    Block,
    RowFormatter,
    quote_field,
    split_rows,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# Verbatim: SRC-GO-ROWS (the Go test's expected rows, GO-CSV-7).
# The bytes are kept here, so the test needs nothing outside the repository.
REFERENCE_ROWS = (
    b"ResourceID,Cost,CurrencyCode,Aggregation,UsageType,UsageAmount,UsageUnit,Cluster,Container,Namespace,Pod,Node,Controller,ControllerKind,ProviderID,Labels,InvoiceYearMonth,InvoiceDate,StartTime,EndTime\n"
    b'nonprod-cluster/fish,0.09770,USD,pod,cpuCost,0.13594,cpuCoreHours,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
    b'nonprod-cluster/fish,0.00000,USD,pod,gpuCost,0.00000,gpuHours,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
    b'nonprod-cluster/fish,0.17120,USD,pod,ramCost,4053048627.20000,ramByteHours,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
    b'nonprod-cluster/fish,0.00000,USD,pod,pvCost,0.00000,pvByteHours,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
    b'nonprod-cluster/fish,0.00004,USD,pod,networkCost,230280247.65369,networkTransferBytes,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
    b'nonprod-cluster/fish,0.00003,USD,pod,sharedCost,1440.00000,minutes,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
    b'nonprod-cluster/fish,0.00000,USD,pod,externalCost,1440.00000,minutes,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
    b'nonprod-cluster/fish,0.00000,USD,pod,loadBalancerCost,1440.00000,minutes,nonprod-cluster,fleet-agent,fish,fleet-agent-7bccbd54bc-zn8b8,aks-npu01z2-15-vmss00000z,fleet-agent,deployment,azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35,"{""app"":""fleet-agent"",""crosscharge_aks"":""crosscharge"",""field_cattle_io_projectId"":""p-jj7wc"",""kc-cluster"":""nonprod-cluster"",""kc-container"":""fleet-agent"",""kc-controller"":""fleet-agent"",""kc-controller-kind"":""deployment"",""kc-namespace"":""fish"",""kc-node"":""aks-npu01z2-15-vmss00000z"",""kc-pod-id"":""fleet-agent-7bccbd54bc-zn8b8"",""kc-provider-id"":""azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35""}",202310,2023-10-15T00:00:00Z,2023-10-15T00:00:00Z,2023-10-16T00:00:00Z\n'
)

PROVIDER_ID = "azure:///subscriptions/c84ced2bee05/resourceGroups/nonprod-cluster-rg/providers/virtualMachines/35"


def go_test_item() -> dict[str, Any]:
    """The pod-level item of the Go exporter's TestApp_getCSVRowsFromRecord, rebuilt from its expected rows."""
    return {
        "name": "nonprod-cluster/fish",
        "properties": {
            "cluster": "nonprod-cluster",
            "container": "fleet-agent",
            "namespace": "fish",
            "pod": "fleet-agent-7bccbd54bc-zn8b8",
            "node": "aks-npu01z2-15-vmss00000z",
            "controller": "fleet-agent",
            "controllerKind": "deployment",
            "providerID": PROVIDER_ID,
            "labels": {"app": "fleet-agent", "field_cattle_io_projectId": "p-jj7wc"},
            "namespaceLabels": {"crosscharge_aks": "crosscharge", "field_cattle_io_projectId": "p-jj7wc"},
        },
        "window": {"start": "2023-10-15T00:00:00Z", "end": "2023-10-16T00:00:00Z"},
        "start": "2023-10-15T00:00:00Z",
        "end": "2023-10-16T00:00:00Z",
        "minutes": 1440.0,
        "cpuCoreHours": 0.135942,
        "cpuCost": 0.0977,
        "cpuCostAdjustment": 0.0,
        "gpuHours": 0.0,
        "gpuCost": 0.0,
        "gpuCostAdjustment": 0.0,
        "ramByteHours": 4053048627.2,
        "ramCost": 0.2033,
        "ramCostAdjustment": -0.0321,
        "pvByteHours": 0.0,
        "pvCost": 0.0,
        "networkTransferBytes": 230280247.65369,
        "networkCost": 0.000042,
        "sharedCost": 0.000031,
        "externalCost": 0.0,
        "loadBalancerCost": 0.0,
    }


def allocation(item: dict[str, Any]) -> Allocation:
    """The item as the client decodes it from Kubecost's JSON."""
    return msgspec.convert(item, Allocation)


def formatter(
    *, multiplier: float = 1.0, override_pod_labels: bool = True, day: date = date(2023, 10, 15)
) -> RowFormatter:
    return RowFormatter(
        day=day, currency="USD", aggregation="pod", multiplier=multiplier, override_pod_labels=override_pod_labels
    )


def block_of(item: dict[str, Any], **options: Any) -> Block:
    """The formatter's one block for ``item``."""
    (block,) = formatter(**options).blocks([allocation(item)])
    return block


def lines_of(item: dict[str, Any], **options: Any) -> list[bytes]:
    lines = split_rows(block_of(item, **options).data)
    assert len(lines) == ROWS_PER_ITEM
    return lines


def labels_of(properties: dict[str, Any], *, override_pod_labels: bool = True) -> str:
    """The Labels column of the rows of an item with these properties, unquoted: the JSON text."""
    line = lines_of({"name": "a", "properties": properties}, override_pod_labels=override_pod_labels)[0]
    return next(csv.reader([line.decode()]))[15]


def text_rows(item: dict[str, Any], **options: Any) -> list[list[str]]:
    """The rows as lists of unquoted fields (only for tests whose fields hold no comma)."""
    lines = lines_of(item, **options)
    return [line.decode().rstrip("\n").split(",", 15)[:15] for line in lines]


def test_rows_of_the_go_test_item_are_the_reference_bytes() -> None:
    # Given the item of the Go exporter's test
    item = go_test_item()
    # When it is formatted after the header
    block = block_of(item)
    # Then header and rows are byte for byte the rows of SRC-GO-ROWS
    assert HEADER_BYTES + block.data == REFERENCE_ROWS
    assert block.items == 1


def test_header_is_the_reference_header() -> None:
    # The sample's first line is kubecost_exporter_header_cbi_oi_kubecost.csv, the Go getCSVHeaders output.
    assert REFERENCE_ROWS.splitlines(keepends=True)[0] == HEADER_BYTES


def test_item_cost_is_the_sum_of_its_printed_cost_values() -> None:
    # Given the Go test item, whose printed costs are 0.09770, 0.17120, 0.00004 and 0.00003
    # When it is formatted
    cost = block_of(go_test_item()).cost
    # Then the item's cost is their sum
    assert cost == pytest.approx(0.26897, abs=1e-12)


def test_multiplier_scales_cost_but_not_usage_amount() -> None:
    # Given a multiplier of 2
    # When the Go test item is formatted
    rows = text_rows(go_test_item(), multiplier=2.0)
    # Then the RAM cost doubles and the RAM byte-hours do not
    assert rows[2][1] == "0.34240"
    assert rows[2][5] == "4053048627.20000"


def test_null_and_missing_numbers_are_zero() -> None:
    # Given an item whose numbers are null or absent (Kubecost writes NaN as null)
    item = {"name": "a", "cpuCost": None, "cpuCoreHours": None, "minutes": None}
    # When it is formatted
    rows = text_rows(item)
    # Then every cost and amount is 0
    assert {(row[1], row[5]) for row in rows} == {("0.00000", "0.00000")}


def test_negative_zero_shared_cost_keeps_its_sign_as_in_go() -> None:
    # Given an item whose sharedCost is -0.0 (no adjustment is added to shared cost)
    item = {"name": "a", "sharedCost": -0.0, "cpuCost": -0.0}
    # When it is formatted
    rows = text_rows(item)
    # Then shared cost prints -0.00000 while cpu cost (-0.0 + 0.0 adjustment) prints 0.00000, as Go computes them
    assert rows[5][1] == "-0.00000"
    assert rows[0][1] == "0.00000"


def test_eight_rows_in_reference_order_with_usage_units() -> None:
    rows = text_rows({"name": "a"})
    assert [(row[4], row[6]) for row in rows] == [
        ("cpuCost", "cpuCoreHours"),
        ("gpuCost", "gpuHours"),
        ("ramCost", "ramByteHours"),
        ("pvCost", "pvByteHours"),
        ("networkCost", "networkTransferBytes"),
        ("sharedCost", "minutes"),
        ("externalCost", "minutes"),
        ("loadBalancerCost", "minutes"),
    ]


def test_adjustments_are_added_to_their_costs() -> None:
    # Given every cost 1.0 with an adjustment of 0.25 where the format has one
    item: dict[str, Any] = {"name": "a"}
    for kind in ("cpu", "gpu", "ram", "pv", "network", "loadBalancer"):
        item[f"{kind}Cost"] = 1.0
        item[f"{kind}CostAdjustment"] = 0.25
    item["sharedCost"] = item["externalCost"] = 1.0
    # When it is formatted
    rows = text_rows(item)
    # Then adjusted rows print 1.25, shared and external 1.00000
    assert [row[1] for row in rows] == ["1.25000"] * 5 + ["1.00000", "1.00000", "1.25000"]


def test_empty_cluster_prints_cluster_column_default_without_kc_cluster_label() -> None:
    # Given an item without a cluster property
    item = {"name": "a", "properties": {"namespace": "ns"}}
    # When it is formatted
    lines = lines_of(item)
    line = lines[0].decode()
    # Then the Cluster column says "Cluster" and the labels have no kc-cluster
    assert line.split(",")[7] == "Cluster"
    assert '""kc-namespace"":""ns""' in line
    assert "kc-cluster" not in line


def test_invoice_year_month_comes_from_the_exported_day() -> None:
    # Given an item whose window lies in another month than the exported day
    item = {"name": "a", "window": {"start": "2025-06-30T00:00:00Z"}}
    # When it is formatted for 2025-07-01
    lines = lines_of(item, day=date(2025, 7, 1))
    # Then InvoiceYearMonth is 202507 and InvoiceDate is the window start as received
    assert lines[0].decode().endswith(",{},202507,2025-06-30T00:00:00Z,,\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0.00000"),
        (-0.0, "-0.00000"),
        (-1e-9, "-0.00000"),
        (0.000035, "0.00003"),  # the binary value is just below the decimal tie: rounded down, as Go does
        (0.000045, "0.00005"),  # just above the tie: rounded up
        (1e21, "1000000000000000000000.00000"),  # fixed notation, never an exponent
        (123456789012345678.0, "123456789012345680.00000"),
        (4053048627.2, "4053048627.20000"),
        (0.015625, "0.01562"),  # 1/64 is an exact tie at the fifth decimal: rounded half to even, as Go does
        (0.046875, "0.04688"),  # 3/64: the tie goes up to the even digit
        (-0.015625, "-0.01562"),
        (5e-324, "0.00000"),  # the smallest subnormal
        (-5e-324, "-0.00000"),
        (2.0**53 - 1, "9007199254740991.00000"),  # the last value below 2^53
        (2.0**53, "9007199254740992.00000"),
        (90071992547.40993, "90071992547.40993"),  # its digits, as an integer, pass 2^53
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_numbers_are_formatted_like_go_format_float(value: float, expected: str) -> None:
    # Given the value as a cost without adjustment (sharedCost) and as a usage amount (minutes)
    rows = text_rows({"name": "a", "sharedCost": value, "minutes": value})
    # Then both print as Go's FormatFloat(value, 'f', 5, 64)
    assert (rows[5][1], rows[5][5]) == (expected, expected)


def _number_corpus(count: int) -> list[float]:
    """Doubles of every kind: random bit patterns, dyadic fractions (exact ties), the neighbourhood of 2^53 and of
    2^53 / 10^5 (where the digits stop fitting a double), uniform costs and amounts over 24 orders of magnitude."""
    rng = random.Random(2026)
    makers: list[Callable[[], float]] = [
        lambda: struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0],
        lambda: rng.randrange(1 << 40) / (1 << rng.randrange(60)),
        lambda: rng.choice([2.0**53, 2.0**52, 2.0**53 / 1e5, 2.0**36]) * (1 + rng.uniform(-1e-9, 1e-9)),
        lambda: float(rng.randrange(2**52, 2**54)),
        lambda: rng.uniform(0, 1e6),
        lambda: 10 ** rng.uniform(-12, 12),
    ]
    return [rng.choice([-1, 1]) * rng.choice(makers)() for _ in range(count)]


def _go_text(value: float) -> str:
    """Go's FormatFloat(value, 'f', 5, 64): CPython's '%.5f' rounds the same exact binary value the same way."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.5f}"


def test_every_kind_of_number_prints_as_go_does_and_each_cost_counts_as_its_printed_value() -> None:
    # Given items whose costs and amounts are doubles of every kind (see _number_corpus)
    numbers = _number_corpus(8 * 14 * ITEMS_PER_BLOCK)
    cost_fields = [
        "cpuCost",
        "gpuCost",
        "ramCost",
        "pvCost",
        "networkCost",
        "sharedCost",
        "externalCost",
        "loadBalancerCost",
    ]
    amount_fields = ("cpuCoreHours", "gpuHours", "ramByteHours", "pvByteHours", "networkTransferBytes", "minutes")
    fields = (*cost_fields, *amount_fields)
    items: list[dict[str, Any]] = [
        {"name": f"i{n}", **dict(zip(fields, numbers[14 * n : 14 * n + 14], strict=True))}
        for n in range(len(numbers) // 14)
    ]
    # When they are formatted
    blocks = list(formatter().blocks([allocation(item) for item in items]))
    # Then every Cost and UsageAmount is Go's text of the value (a cost plus its 0 adjustment: -0.0 becomes 0.0,
    # except for sharedCost and externalCost, which have no adjustment)
    rows = [line.decode().split(",") for block in blocks for line in split_rows(block.data)]
    for n, item in enumerate(items):
        costs = [item[name] if name in ("sharedCost", "externalCost") else item[name] + 0.0 for name in cost_fields]
        amounts = [item[name] for name in amount_fields] + [item["minutes"]] * 2
        item_rows = rows[ROWS_PER_ITEM * n : ROWS_PER_ITEM * (n + 1)]
        assert [row[1] for row in item_rows] == [_go_text(cost) for cost in costs], item
        assert [row[5] for row in item_rows] == [_go_text(amount) for amount in amounts], item
    # And an item with one cost has, as its block's cost, exactly the value its Cost text reads back as
    for number in numbers:
        (block,) = formatter().blocks([allocation({"name": "one", "sharedCost": number})])
        printed = float(_go_text(number))
        assert block.cost == printed or (math.isnan(block.cost) and math.isnan(printed)), number


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("", ""),
        ("plain", "plain"),
        ("{}", "{}"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("line\nbreak", '"line\nbreak"'),
        ("carriage\rreturn", '"carriage\rreturn"'),
        (" leading space", '" leading space"'),
        ("\tleading tab", '"\tleading tab"'),
        ("\u00a0leading no-break space", '"\u00a0leading no-break space"'),
        ("\u3000leading ideographic space", '"\u3000leading ideographic space"'),
        ("\x1cfile separator is not a Go space", "\x1cfile separator is not a Go space"),
        ("trailing space ", "trailing space "),
        ("\\.", '"\\."'),
        ("\\.x", "\\.x"),
    ],
)
def test_fields_are_quoted_by_the_go_csv_rule(field: str, expected: str) -> None:
    assert quote_field(field) == expected


def test_labels_escape_html_characters_and_line_separators_like_go() -> None:
    # Given labels with <, >, &, U+2028, U+2029 and non-ASCII text
    properties = {"labels": {"k": "<a&b>", "sep": "x\u2028y\u2029z", "name": "café 日本"}}
    # When they are serialised
    text = labels_of(properties)
    # Then Go's escapes are used and non-ASCII stays raw UTF-8
    assert text == '{"k":"\\u003ca\\u0026b\\u003e","name":"café 日本","sep":"x\\u2028y\\u2029z"}'


def test_labels_are_sorted_compact_json_with_go_escapes_for_quotes_and_controls() -> None:
    properties = {"labels": {"b": "2", "a": 'q"\\\n\x01'}}
    text = labels_of(properties)
    assert text == '{"a":"q\\"\\\\\\n\\u0001","b":"2"}'
    assert json.loads(text) == properties["labels"]


def test_labels_escape_every_control_character_as_go_does_and_leave_other_text_raw() -> None:
    # Given a label holding every C0 control, DEL, U+2027 (next to the escaped U+2028) and a character beyond the BMP
    value = "".join(map(chr, range(0x20))) + "\x7f\u2027\U0001f642"
    # When it is serialised
    text = labels_of({"labels": {"k": value}})
    # Then the controls are escaped as Go's json.Marshal escapes them, and the rest is raw UTF-8
    assert text == (
        '{"k":"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f'
        "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
        '\x7f\u2027\U0001f642"}'
    )
    assert json.loads(text) == {"k": value}


def test_namespace_label_overrides_pod_label_by_default() -> None:
    properties = {"labels": {"team": "pod"}, "namespaceLabels": {"team": "ns", "env": "prod"}}
    assert labels_of(properties) == '{"env":"prod","team":"ns"}'


def test_pod_label_wins_without_override() -> None:
    properties = {"labels": {"team": "pod"}, "namespaceLabels": {"team": "ns", "env": "prod"}}
    assert labels_of(properties, override_pod_labels=False) == '{"env":"prod","team":"pod"}'


def test_kc_labels_overwrite_labels_of_the_same_name() -> None:
    properties = {"namespace": "real", "labels": {"kc-namespace": "fake"}}
    assert labels_of(properties) == '{"kc-namespace":"real"}'


def test_no_labels_give_an_empty_object() -> None:
    # The one Labels field written without quotes
    assert lines_of({"name": "a"})[0].decode().split(",")[15] == "{}"


def test_lone_surrogate_becomes_replacement_character_as_go_decodes_it() -> None:
    # Given a name that JSON decoding left with a lone UTF-16 surrogate
    item = {"name": json.loads('"pod-\\ud800"')}
    # When it is formatted
    lines = lines_of(item)
    # Then the bytes carry U+FFFD, as Go's decoder would have produced
    assert lines[0].startswith("pod-\ufffd,".encode())


def test_quoted_resource_id_and_currency_follow_the_csv_rule() -> None:
    item = {"name": " a,b"}
    lines = lines_of(item)
    assert lines[0].startswith(b'" a,b",0.00000,USD,pod,cpuCost,')


def test_non_finite_numbers_are_spelled_like_go_in_the_rows() -> None:
    # Given an item whose CPU cost is infinite and whose minutes are NaN (a multiplier overflow, say)
    item = {"name": "a", "cpuCost": float("inf"), "ramCost": float("-inf"), "minutes": float("nan")}
    # When it is formatted
    rows = text_rows(item)
    # Then Go's spellings are used where the numbers are not finite, and the others print as usual
    assert (rows[0][1], rows[2][1], rows[5][5], rows[7][5], rows[1][1]) == ("+Inf", "-Inf", "NaN", "NaN", "0.00000")


@pytest.mark.parametrize(
    ("properties", "window_start", "expected"),
    [
        ({"namespace": "a,b"}, "w", 'Cluster,,"a,b",,,,,,'),
        ({"node": " n", "pod": "\u00a0p"}, "w", 'Cluster,,,"\u00a0p"," n",,,,'),
        ({"container": "\\.", "controller": 'say "hi"'}, "w", 'Cluster,"\\.",,,,"say ""hi""",,,'),
        ({"cluster": "\tc", "providerID": "x\ry"}, "w", '"\tc",,,,,,,"x\ry",'),
        ({"pod": "café", "node": "日本"}, "w", "Cluster,,,café,日本,,,,"),
        ({"controllerKind": "a\\b"}, " w", "Cluster,,,,,,a\\b,,"),
    ],
)
def test_property_and_time_columns_are_quoted_by_the_go_csv_rule(
    properties: dict[str, str], window_start: str, expected: str
) -> None:
    # Given an item whose property columns need quoting (or look as if they might)
    item = {"name": "a", "properties": properties, "window": {"start": window_start}}
    # When it is formatted
    line = lines_of(item)[0].decode()
    # Then each column is quoted exactly as quote_field quotes it alone
    columns = line.split(",", 7)[7]
    assert columns.startswith(expected)
    assert line.endswith(f",202310,{quote_field(window_start)},,\n")


def test_lone_surrogate_in_a_label_becomes_the_replacement_character() -> None:
    # Given a label value that JSON decoding left with a lone UTF-16 surrogate
    item = {"name": "a", "properties": {"labels": {"app": json.loads('"x\\udfff"')}}}
    # When it is formatted
    line = lines_of(item)[0]
    # Then the label carries U+FFFD, as Go's decoder would have produced
    assert '"{""app"":""x\ufffd""}"'.encode() in line


def test_split_rows_cuts_at_line_ends_outside_quotes() -> None:
    block = b'a,"x\ny",1\nb,2\n"c\n""\n",3\n'
    assert split_rows(block) == [b'a,"x\ny",1\n', b"b,2\n", b'"c\n""\n",3\n']


def test_split_rows_refuses_a_block_ending_inside_a_line() -> None:
    with pytest.raises(ValueError, match="complete CSV line"):
        split_rows(b'a,1\nb,"x\n')


def test_a_null_label_value_is_an_empty_string_as_go_decodes_it() -> None:
    # Given a label whose value is JSON null (Go decodes a null map element as the zero value "")
    properties = {"labels": {"app": None, "b": "x"}, "namespaceLabels": {"c": None}}
    # When the labels are serialised, then the value is an empty string
    assert labels_of(properties) == '{"app":"","b":"x","c":""}'


def test_blocks_hold_every_item_in_order_and_the_cost_of_their_printed_values() -> None:
    # Given more items than two blocks hold, with costs whose printed values must be summed (not the raw ones)
    items = [{**go_test_item(), "name": f"item-{n}", "cpuCost": n * 0.000016} for n in range(2 * ITEMS_PER_BLOCK + 3)]
    # When they are formatted
    blocks = list(formatter().blocks([allocation(item) for item in items]))
    # Then three blocks hold them in order, 8 lines each, and each block's cost is the sum of its printed Cost column
    assert [block.items for block in blocks] == [ITEMS_PER_BLOCK, ITEMS_PER_BLOCK, 3]
    lines = [line for block in blocks for line in split_rows(block.data)]
    assert [line.split(b",", 1)[0] for line in lines[::ROWS_PER_ITEM]] == [item["name"].encode() for item in items]
    start = 0
    for block in blocks:
        block_lines = lines[start : start + block.items * ROWS_PER_ITEM]
        start += len(block_lines)
        assert block.cost == pytest.approx(sum(float(line.split(b",")[1]) for line in block_lines), abs=1e-9)
    # And each item's lines are what it gives alone
    assert lines[ROWS_PER_ITEM : 2 * ROWS_PER_ITEM] == lines_of(items[1])


def test_a_non_finite_cost_makes_its_block_cost_non_finite_and_leaves_the_other_items_as_they_are() -> None:
    # Given a finite item, one whose CPU cost is infinite, then a finite one
    items = [{"name": "a", "cpuCost": 1.5}, {"name": "b", "cpuCost": float("inf")}, {"name": "c", "ramCost": 2.0}]
    # When they are formatted together
    (block,) = formatter().blocks([allocation(item) for item in items])
    # Then the block's cost is infinite, and each item's lines are the ones it gives alone
    assert block.cost == float("inf")
    assert split_rows(block.data) == [line for item in items for line in lines_of(item)]
    assert split_rows(block.data)[ROWS_PER_ITEM].startswith(b"b,+Inf,")


def test_an_empty_list_of_items_gives_no_block() -> None:
    assert list(formatter().blocks([])) == []


def test_an_item_field_of_the_wrong_type_is_refused_by_name() -> None:
    # Given an item whose name is not text (the decoder never makes one; a caller's bug could)
    item = msgspec.structs.replace(allocation({"name": "a"}), name=5)
    # When it is formatted, then the error names the field
    with pytest.raises(TypeError, match="the name must be a str or None"):
        list(formatter().blocks([item]))
