"""Allocation to ``cbi-oi-kubecost`` CSV rows: the exact bytes the Go exporter writes (``GO-CSV-1`` to ``GO-CSV-7``).

Flexera already ingests the Go program's files, so every byte counts: the header and column order, 8 rows per item
in a fixed order, numbers as Go's ``strconv.FormatFloat(x, 'f', 5, 64)``, Labels as Go's ``json.Marshal`` of a
sorted map (its HTML-safe escapes included), and fields quoted by Go's ``encoding/csv`` rule, which differs from
Python's ``csv`` module (a leading whitespace character or the exact field ``\\.`` force quotes). Lines end in
``\\n``. docs/compatibility.md states each rule.

The rows are written by ``_cbi_rows``, this package's one compiled module (``native/cbi_rows.c``): the day export's
hot path, hundreds of thousands of rows a day, which in CPython took two thirds of the export's CPU. This module
holds what a day shares and cuts the items into blocks.
"""

from __future__ import annotations

import codecs
from itertools import islice
from typing import TYPE_CHECKING, Final, NamedTuple

from kubecost_flexera.domain._cbi_rows import format_items, quote_field

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import date

    from kubecost_flexera.domain.allocation import Allocation

__all__ = [
    "ENCODING_ERRORS",
    "HEADER",
    "HEADER_BYTES",
    "HEADER_FIELDS",
    "ITEMS_PER_BLOCK",
    "ROWS_PER_ITEM",
    "Block",
    "RowFormatter",
    "quote_field",
    "split_rows",
]

HEADER_FIELDS: Final = (
    "ResourceID",
    "Cost",
    "CurrencyCode",
    "Aggregation",
    "UsageType",
    "UsageAmount",
    "UsageUnit",
    "Cluster",
    "Container",
    "Namespace",
    "Pod",
    "Node",
    "Controller",
    "ControllerKind",
    "ProviderID",
    "Labels",
    "InvoiceYearMonth",
    "InvoiceDate",
    "StartTime",
    "EndTime",
)
HEADER: Final = ",".join(HEADER_FIELDS) + "\n"
HEADER_BYTES: Final = HEADER.encode()
ROWS_PER_ITEM: Final = 8

# The UsageType and UsageUnit columns of the 8 rows of an item, in order (GO-CSV-2).
_USAGE_COLUMNS: Final = (
    ("cpuCost", "cpuCoreHours"),
    ("gpuCost", "gpuHours"),
    ("ramCost", "ramByteHours"),
    ("pvCost", "pvByteHours"),
    ("networkCost", "networkTransferBytes"),
    ("sharedCost", "minutes"),
    ("externalCost", "minutes"),
    ("loadBalancerCost", "minutes"),
)


# Go decodes a JSON string escape of a lone UTF-16 surrogate as U+FFFD; Python keeps the surrogate, which UTF-8
# cannot encode. This error handler makes the bytes what Go would write; the compiled module encodes with it by name.
ENCODING_ERRORS: Final = "cbi-go-replace"


def _replace_like_go(error: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    # Bytes, because the UTF-8 encoder accepts only ASCII text from an error handler.
    return "\ufffd".encode() * (error.end - error.start), error.end


codecs.register_error(ENCODING_ERRORS, _replace_like_go)


def split_rows(block: bytes) -> list[bytes]:
    """The CSV lines of ``block``, each ending in ``\\n``. A line break inside a quoted field does not end a line:
    a complete line has an even number of quotes (Go doubles a quote inside a quoted field)."""
    lines: list[bytes] = []
    start = 0
    end = block.find(b"\n")
    while end >= 0:
        line = block[start : end + 1]
        if line.count(b'"') % 2 == 0:
            lines.append(line)
            start = end + 1
        end = block.find(b"\n", end + 1)
    if start != len(block):
        raise ValueError("the block does not end with a complete CSV line")
    return lines


ITEMS_PER_BLOCK: Final = 64  # about 500 KB of CSV: per-block work does not count, and memory stays small


class Block(NamedTuple):
    """The CSV lines of consecutive items: UTF-8, each line ending in ``\\n``."""

    data: bytes
    items: int  # each has ROWS_PER_ITEM lines
    cost: float  # the sum of the printed Cost values


class RowFormatter:
    """Turns allocation items into their encoded CSV lines, 8 per item; what a whole day shares is bound once."""

    def __init__(
        self, *, day: date, currency: str, aggregation: str, multiplier: float, override_pod_labels: bool
    ) -> None:
        middle = f",{quote_field(currency)},{quote_field(aggregation)},"
        # What lies between the Cost and the UsageAmount of each row, and between the UsageAmount and the shared
        # columns: the currency, aggregation and usage columns. Encoded once for the day.
        self._usage_columns = tuple(
            piece.encode() for usage_type, unit in _USAGE_COLUMNS for piece in (f"{middle}{usage_type},", f",{unit}")
        )
        self._invoice_month = f"{day:%Y%m}".encode()
        self._multiplier = multiplier
        self._override_pod_labels = override_pod_labels

    def blocks(self, items: Iterable[Allocation]) -> Iterator[Block]:
        """The lines of ``items`` in their order, in blocks of up to :data:`ITEMS_PER_BLOCK` items."""
        remaining = iter(items)
        while batch := list(islice(remaining, ITEMS_PER_BLOCK)):
            data, printed_costs = format_items(
                batch, self._usage_columns, self._invoice_month, self._multiplier, self._override_pod_labels
            )
            yield Block(data, len(batch), sum(printed_costs))
