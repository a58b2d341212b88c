"""Allocation to ``cbi-oi-kubecost`` CSV rows: the exact bytes the Go exporter writes (``GO-CSV-1`` to ``GO-CSV-7``).

Flexera already ingests the Go program's files, so every byte counts: the header and column order, 8 rows per item
in a fixed order, numbers as Go's ``strconv.FormatFloat(x, 'f', 5, 64)``, Labels as Go's ``json.Marshal`` of a
sorted map, and fields quoted by Go's ``encoding/csv`` rule, which differs from Python's ``csv`` module (a leading
whitespace character or the exact field ``\\.`` force quotes). Lines end in ``\\n``.

This is the hot path of the export (8 rows per allocation, hundreds of thousands of rows per day): the columns all 8
rows share are quoted and joined once per item, and the 8 rows are one ``%`` operation on a template made once per
day (the currency, aggregation and usage columns already in it), encoded once.
"""

from __future__ import annotations

import codecs
import json
from itertools import chain
from math import isfinite
from operator import attrgetter
from typing import TYPE_CHECKING, Final

import orjson

from kubecost_flexera.adapters.kubecost import Properties

if TYPE_CHECKING:
    from datetime import date

    from kubecost_flexera.adapters.kubecost import Allocation

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
    """The Labels column (GO-CSV-5, GO-CSV-6): pod labels merged with namespace and kc-* labels, Go's JSON text."""
    pod_labels = properties.labels or {}
    namespace_labels = properties.namespace_labels or {}
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


def _rows_template(number: str, middle: str) -> str:
    """The 8 rows of an item as one ``%`` template. Its arguments, for each row: the ResourceID and its comma, Cost
    and UsageAmount (``number`` is the conversion of both), the comma and the shared columns; the rest is constant."""
    return "".join(f"%s{number}{middle}{usage_type},{number},{unit}%s" for usage_type, unit in _USAGE_COLUMNS)


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


class RowFormatter:
    """Turns one allocation item into its 8 encoded CSV lines; settings shared by a whole day are bound once."""

    def __init__(
        self, *, day: date, currency: str, aggregation: str, multiplier: float, override_pod_labels: bool
    ) -> None:
        middle = f",{quote_field(currency)},{quote_field(aggregation)},"
        self._template = _rows_template("%.5f", middle)
        # For a non-finite number, which Go spells +Inf, -Inf and NaN: the numbers are given as text.
        self._text_template = _rows_template("%s", middle)
        self._invoice_month = f"{day:%Y%m}"
        self._multiplier = multiplier
        self._override_pod_labels = override_pod_labels
        self._last_times: tuple[str, str, str] | None = None
        self._last_time_columns = ""

    def rows(self, item: Allocation) -> tuple[bytes, float]:
        """The item's 8 lines (UTF-8, each ending in ``\\n``) and the sum of their printed Cost values."""
        properties = item.properties or _NO_PROPERTIES
        window = item.window
        values = _PROPERTY_VALUES(properties)
        if not all(values):  # an empty cluster is written "Cluster", any other empty property ""
            values = (values[0] or "Cluster", *(value or "" for value in values[1:]))
        properties_columns = _joined(values)
        labels = quote_field(labels_json(properties, override_pod_labels=self._override_pod_labels))
        times = ((window.start if window else None) or "", item.start or "", item.end or "")
        if times != self._last_times:  # most items of a day share their window, start and end
            self._last_times = times
            self._last_time_columns = _joined(times)
        time_columns = self._last_time_columns
        prefix = quote_field(item.name or "") + ","
        suffix = f"{properties_columns},{labels},{self._invoice_month}{time_columns}\n"
        # None (missing or null: Kubecost's NaN) is 0, as Go decodes it. Adjustments are added even when absent, as
        # Go adds its zero value, except to sharedCost and externalCost, which have none: adding 0.0 would turn a
        # cost of -0.0 into 0.0, which Go does not. Written out rather than looped over a table of names: a loop
        # costs more than all the rest of the item.
        m = self._multiplier
        c0 = (
            (0.0 if (v := item.cpu_cost) is None else v) + (0.0 if (v := item.cpu_cost_adjustment) is None else v)
        ) * m
        c1 = (
            (0.0 if (v := item.gpu_cost) is None else v) + (0.0 if (v := item.gpu_cost_adjustment) is None else v)
        ) * m
        c2 = (
            (0.0 if (v := item.ram_cost) is None else v) + (0.0 if (v := item.ram_cost_adjustment) is None else v)
        ) * m
        c3 = ((0.0 if (v := item.pv_cost) is None else v) + (0.0 if (v := item.pv_cost_adjustment) is None else v)) * m
        c4 = (
            (0.0 if (v := item.network_cost) is None else v)
            + (0.0 if (v := item.network_cost_adjustment) is None else v)
        ) * m
        c5 = (0.0 if (v := item.shared_cost) is None else v) * m
        c6 = (0.0 if (v := item.external_cost) is None else v) * m
        c7 = (
            (0.0 if (v := item.load_balancer_cost) is None else v)
            + (0.0 if (v := item.load_balancer_cost_adjustment) is None else v)
        ) * m
        a0 = 0.0 if (v := item.cpu_core_hours) is None else v
        a1 = 0.0 if (v := item.gpu_hours) is None else v
        a2 = 0.0 if (v := item.ram_byte_hours) is None else v
        a3 = 0.0 if (v := item.pv_byte_hours) is None else v
        a4 = 0.0 if (v := item.network_transfer_bytes) is None else v
        a5 = 0.0 if (v := item.minutes) is None else v
        # round(x, 5) is the value of the text "%.5f" prints: both round the exact binary value. Zero (or -0.0), a
        # frequent cost, is its own rounding.
        cost = (
            (round(c0, 5) if c0 else c0)
            + (round(c1, 5) if c1 else c1)
            + (round(c2, 5) if c2 else c2)
            + (round(c3, 5) if c3 else c3)
            + (round(c4, 5) if c4 else c4)
            + (round(c5, 5) if c5 else c5)
            + (round(c6, 5) if c6 else c6)
            + (round(c7, 5) if c7 else c7)
        )
        p, s = prefix, suffix
        if isfinite(cost + a0 + a1 + a2 + a3 + a4 + a5):  # one test for all 16 numbers: inf and nan propagate
            text = self._template % (
                p, c0, a0, s, p, c1, a1, s, p, c2, a2, s, p, c3, a3, s,
                p, c4, a4, s, p, c5, a5, s, p, c6, a5, s, p, c7, a5, s,
            )  # fmt: skip
        else:
            texts = [format_number(x) for x in (c0, a0, c1, a1, c2, a2, c3, a3, c4, a4, c5, a5, c6, a5, c7, a5)]
            text = self._text_template % tuple(chain.from_iterable((p, *texts[i : i + 2], s) for i in range(0, 16, 2)))
            cost = sum(map(float, texts[0::2]))
        return text.encode("utf-8", ENCODING_ERRORS), cost
