"""Allocation to ``cbi-oi-kubecost`` CSV rows: the exact bytes the Go exporter writes (``GO-CSV-1`` to ``GO-CSV-7``).

Flexera already ingests the Go program's files, so every byte counts: the header and column order, 8 rows per item
in a fixed order, numbers as Go's ``strconv.FormatFloat(x, 'f', 5, 64)``, Labels as Go's ``json.Marshal`` of a
sorted map, and fields quoted by Go's ``encoding/csv`` rule, which differs from Python's ``csv`` module (a leading
whitespace character or the exact field ``\\.`` force quotes). Lines end in ``\\n``.

This is the hot path of the export (8 rows per allocation, hundreds of thousands of rows per day), so it is one loop
over the items (:meth:`RowFormatter.blocks`): per item, the columns all 8 rows share are quoted and joined once, the
16 numbers are one ``%`` operation, and the 8 rows one more on a template made once per day (the currency,
aggregation and usage columns already in it).
"""

from __future__ import annotations

import codecs
import json
from operator import attrgetter
from typing import TYPE_CHECKING, Final, NamedTuple

import msgspec
import orjson

from kubecost_flexera.domain.allocation import Properties

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import date

    from kubecost_flexera.domain.allocation import Allocation

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


# The properties in the order of their CSV columns (Cluster to ProviderID), and the kc-* label of each (GO-CSV-5).
_PROPERTY_VALUES: Final = attrgetter(
    "cluster", "container", "namespace", "pod", "node", "controller", "controller_kind", "provider_id"
)
_KC_LABELS: Final = (
    "kc-cluster",
    "kc-container",
    "kc-namespace",
    "kc-pod-id",
    "kc-node",
    "kc-controller",
    "kc-controller-kind",
    "kc-provider-id",
)

# unicode.IsSpace in Go: what makes encoding/csv quote a field by its first character. Python's str.isspace() also
# counts U+001C..U+001F, which Go does not, hence the explicit set.
_GO_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
)
# Go's json.Marshal escapes these for HTML safety; Python's json does not.
_GO_JSON_ESCAPES: Final = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_GO_NON_FINITE: Final = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}
_LABELS_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))

# Go decodes a JSON string escape of a lone UTF-16 surrogate as U+FFFD; Python keeps the surrogate, which UTF-8
# cannot encode. This error handler makes the bytes what Go would write.
ENCODING_ERRORS: Final = "cbi-go-replace"


def _replace_like_go(error: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    # Bytes, because the UTF-8 encoder accepts only ASCII text from an error handler.
    return "\ufffd".encode() * (error.end - error.start), error.end


codecs.register_error(ENCODING_ERRORS, _replace_like_go)


def format_number(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'f', 5, 64)``: both round the exact binary value, so only the non-finite
    spellings differ."""
    text = format(value, ".5f")
    if text[-1] in "fn":  # "inf", "-inf", "nan"
        return _GO_NON_FINITE[text]
    return text


def quote_field(field: str) -> str:
    """Go ``encoding/csv`` quoting: only when needed, inner quotes doubled, CR and LF kept as they are."""
    if not field:
        return field
    if field[0] in _GO_SPACE or field == "\\." or "," in field or '"' in field or "\n" in field or "\r" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def labels_json(properties: Properties, *, override_pod_labels: bool) -> str:
    """The Labels column's JSON (GO-CSV-5, GO-CSV-6): pod labels merged with namespace and kc-* labels, Go's text."""
    pod_labels = properties.labels or _NO_LABELS
    namespace_labels = properties.namespace_labels or _NO_LABELS
    # Both orders keep every key; the later mapping wins where a key is in both.
    labels = {**pod_labels, **namespace_labels} if override_pod_labels else {**namespace_labels, **pod_labels}
    if None in labels.values():  # JSON null decodes to Go's zero value
        labels = {key: "" if value is None else value for key, value in labels.items()}
    # The kc-* labels, set after merging and overwriting any label of the same name, when the property is non-empty
    # (the output is sorted: the order they are set in does not matter).
    values = _PROPERTY_VALUES(properties)
    if all(values):
        labels.update(zip(_KC_LABELS, values, strict=True))
    else:
        labels.update((label, value) for label, value in zip(_KC_LABELS, values, strict=True) if value)
    try:
        # orjson writes the same text as json for a map of strings (sorted keys, raw UTF-8, the same control
        # escapes), 10 times faster; it refuses a lone surrogate, which json writes.
        text = orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        text = _LABELS_ENCODER.encode(labels)
    if "<" in text or ">" in text or "&" in text or not text.isascii():
        for char, escape in _GO_JSON_ESCAPES:
            if char in text:
                text = text.replace(char, escape)
    return text


def _joined(fields: tuple[str, ...]) -> str:
    """A comma, then the fields quoted by the Go rule and joined with commas. One look at the joined text finds the
    common case, no field that needs quotes: ASCII, no comma inside a field, no quote, line break or backslash, no
    field starting with a space; otherwise field by field."""
    text = "," + ",".join(fields)
    if (
        text.isascii()
        and text.count(",") == len(fields)
        and '"' not in text
        and "\n" not in text
        and "\r" not in text
        and "\\" not in text
        and ", " not in text
        and ",\t" not in text
        and ",\v" not in text
        and ",\f" not in text
    ):
        return text
    return "," + ",".join(map(quote_field, fields))


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


_NO_PROPERTIES: Final = Properties()
_NO_LABELS: Final[dict[str, str | None]] = {}
# An item's 8 costs, and its 6 distinct usage amounts (the last three rows share minutes), each formatted in one
# operation; the costs are summed from the printed text.
_COSTS: Final = ",".join(["%.5f"] * 8)
_AMOUNTS: Final = ",".join(["%.5f"] * 6)
# The printed costs of a block read back at once, as a JSON array: a fifth of the CPU of float() on each. msgspec
# rounds a decimal to the nearest double, as float() does.
_COSTS_DECODER: Final = msgspec.json.Decoder(list[float])
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
        # columns: the currency, aggregation and usage columns.
        self._usage_columns = tuple(
            piece for usage_type, unit in _USAGE_COLUMNS for piece in (f"{middle}{usage_type},", f",{unit}")
        )
        self._invoice_month = f"{day:%Y%m}"
        self._multiplier = multiplier
        self._override_pod_labels = override_pod_labels

    def blocks(self, items: Iterable[Allocation]) -> Iterator[Block]:
        """The lines of ``items`` in their order, in blocks of up to :data:`ITEMS_PER_BLOCK` items.

        One loop, its work written out rather than split into calls or looped over tables of field names: at
        hundreds of thousands of items a day, a call per column costs more than the formatting.
        """
        invoice_month, m, override = self._invoice_month, self._multiplier, self._override_pod_labels
        u0, v0, u1, v1, u2, v2, u3, v3, u4, v4, u5, v5, u6, v6, u7, v7 = self._usage_columns
        last_times: tuple[str, str, str] | None = None
        time_columns = ""
        texts: list[bytes] = []
        printed_costs: list[str] = []  # the block's finite costs as printed, 8 per item
        non_finite = 0.0  # the cost of items with a cost that is not (a multiplier overflow, say)
        for item in items:
            properties = item.properties or _NO_PROPERTIES
            values = _PROPERTY_VALUES(properties)
            if not all(values):  # an empty cluster is written "Cluster", any other empty property ""
                values = (values[0] or "Cluster", *[value or "" for value in values[1:]])
            labels = labels_json(properties, override_pod_labels=override)
            window = item.window
            times = ((window.start if window else None) or "", item.start or "", item.end or "")
            if times != last_times:  # most items of a day share their window, start and end
                last_times = times
                time_columns = _joined(times)
            # A Labels field is never empty, and quoted unless it is {} (any key brings quotes).
            labels = '"' + labels.replace('"', '""') + '"' if len(labels) > 2 else labels
            p = quote_field(item.name or "") + ","
            s = f"{_joined(values)},{labels},{invoice_month}{time_columns}\n"
            # None (missing or null: Kubecost's NaN) is 0, as Go decodes it. Adjustments are added even when absent,
            # as Go adds its zero value, except to sharedCost and externalCost, which have none: adding 0.0 would
            # turn a cost of -0.0 into 0.0, which Go does not.
            costs = _COSTS % (
                ((0.0 if (v := item.cpu_cost) is None else v) + (0.0 if (v := item.cpu_cost_adjustment) is None else v))
                * m,
                ((0.0 if (v := item.gpu_cost) is None else v) + (0.0 if (v := item.gpu_cost_adjustment) is None else v))
                * m,
                ((0.0 if (v := item.ram_cost) is None else v) + (0.0 if (v := item.ram_cost_adjustment) is None else v))
                * m,
                ((0.0 if (v := item.pv_cost) is None else v) + (0.0 if (v := item.pv_cost_adjustment) is None else v))
                * m,
                (
                    (0.0 if (v := item.network_cost) is None else v)
                    + (0.0 if (v := item.network_cost_adjustment) is None else v)
                )
                * m,
                (0.0 if (v := item.shared_cost) is None else v) * m,
                (0.0 if (v := item.external_cost) is None else v) * m,
                (
                    (0.0 if (v := item.load_balancer_cost) is None else v)
                    + (0.0 if (v := item.load_balancer_cost_adjustment) is None else v)
                )
                * m,
            )
            amounts = _AMOUNTS % (
                0.0 if (v := item.cpu_core_hours) is None else v,
                0.0 if (v := item.gpu_hours) is None else v,
                0.0 if (v := item.ram_byte_hours) is None else v,
                0.0 if (v := item.pv_byte_hours) is None else v,
                0.0 if (v := item.network_transfer_bytes) is None else v,
                0.0 if (v := item.minutes) is None else v,
            )
            k = costs.split(",")
            if "n" in costs:  # "inf", "-inf" or "nan": Go spells them +Inf, -Inf and NaN
                k = [_GO_NON_FINITE.get(number, number) for number in k]
                non_finite += sum(map(float, k))
            else:
                printed_costs.append(costs)
            a = amounts.split(",")
            if "n" in amounts:
                a = [_GO_NON_FINITE.get(number, number) for number in a]
            k0, k1, k2, k3, k4, k5, k6, k7 = k
            a0, a1, a2, a3, a4, a5 = a
            text = (
                f"{p}{k0}{u0}{a0}{v0}{s}{p}{k1}{u1}{a1}{v1}{s}{p}{k2}{u2}{a2}{v2}{s}{p}{k3}{u3}{a3}{v3}{s}"
                f"{p}{k4}{u4}{a4}{v4}{s}{p}{k5}{u5}{a5}{v5}{s}{p}{k6}{u6}{a5}{v6}{s}{p}{k7}{u7}{a5}{v7}{s}"
            )
            texts.append(text.encode("utf-8", ENCODING_ERRORS))
            if len(texts) == ITEMS_PER_BLOCK:
                yield Block(b"".join(texts), ITEMS_PER_BLOCK, _cost(printed_costs) + non_finite)
                texts.clear()
                printed_costs.clear()
                non_finite = 0.0
        if texts:
            yield Block(b"".join(texts), len(texts), _cost(printed_costs) + non_finite)


def _cost(printed_costs: list[str]) -> float:
    """The sum of the printed costs: the value of each text "%.5f" printed is round(x, 5), exactly."""
    return sum(_COSTS_DECODER.decode(f"[{','.join(printed_costs)}]")) if printed_costs else 0.0
