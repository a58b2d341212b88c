"""Allocation to ``cbi-oi-kubecost`` CSV rows: the exact bytes the Go exporter writes (``reference-exporter.md`` §5).

Flexera already ingests the Go program's files, so every byte counts: the header and column order, 8 rows per item
in a fixed order, numbers as Go's ``strconv.FormatFloat(x, 'f', 5, 64)``, Labels as Go's ``json.Marshal`` of a
sorted map, and fields quoted by Go's ``encoding/csv`` rule, which differs from Python's ``csv`` module (a leading
whitespace character or the exact field ``\\.`` force quotes). Lines end in ``\\n``.

This is the hot path of the export (8 rows per allocation, hundreds of thousands of rows per day), so the columns
all 8 rows share are quoted and joined once per item and each row is a single f-string.
"""

from __future__ import annotations

import codecs
import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import date

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

# The 8 rows of an item, in order (§5.2): the cost field, its adjustment field (or None) and the amount field...
# sharedCost and externalCost have no adjustment: adding 0.0 would turn a cost of -0.0 into 0.0, which Go does not.
_NUMBER_KEYS: Final = (
    ("cpuCost", "cpuCostAdjustment", "cpuCoreHours"),
    ("gpuCost", "gpuCostAdjustment", "gpuHours"),
    ("ramCost", "ramCostAdjustment", "ramByteHours"),
    ("pvCost", "pvCostAdjustment", "pvByteHours"),
    ("networkCost", "networkCostAdjustment", "networkTransferBytes"),
    ("sharedCost", None, "minutes"),
    ("externalCost", None, "minutes"),
    ("loadBalancerCost", "loadBalancerCostAdjustment", "minutes"),
)
# ... and the UsageType and UsageUnit columns of each row.
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

# The kc-* labels, set after merging and overwriting any label of the same name, when the property is non-empty.
_KC_LABELS: Final = (
    ("kc-container", "container"),
    ("kc-controller", "controller"),
    ("kc-controller-kind", "controllerKind"),
    ("kc-node", "node"),
    ("kc-pod-id", "pod"),
    ("kc-provider-id", "providerID"),
    ("kc-cluster", "cluster"),
    ("kc-namespace", "namespace"),
)
_PROPERTY_COLUMNS: Final = ("container", "namespace", "pod", "node", "controller", "controllerKind", "providerID")

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


def labels_json(properties: Mapping[str, Any], *, override_pod_labels: bool) -> str:
    """The Labels column (§5.4): pod labels merged with namespace labels, the kc-* labels, Go's JSON text."""
    pod_labels = properties.get("labels") or {}
    namespace_labels = properties.get("namespaceLabels") or {}
    # Both orders keep every key; the later mapping wins where a key is in both.
    labels = {**pod_labels, **namespace_labels} if override_pod_labels else {**namespace_labels, **pod_labels}
    for label, prop in _KC_LABELS:
        value = properties.get(prop)
        if value:
            labels[label] = value
    text = _LABELS_ENCODER.encode(labels)
    for char, escape in _GO_JSON_ESCAPES:
        if char in text:
            text = text.replace(char, escape)
    return text


class RowFormatter:
    """Turns one allocation item into its 8 encoded CSV lines; settings shared by a whole day are bound once."""

    def __init__(
        self, *, day: date, currency: str, aggregation: str, multiplier: float, override_pod_labels: bool
    ) -> None:
        self._middle = f",{quote_field(currency)},{quote_field(aggregation)},"
        self._invoice_month = f"{day:%Y%m}"
        self._multiplier = multiplier
        self._override_pod_labels = override_pod_labels

    def rows(self, item: Mapping[str, Any]) -> tuple[list[bytes], float]:
        """The item's 8 lines (UTF-8, each ending in ``\\n``) and the sum of their printed Cost values."""
        get = item.get
        properties: Mapping[str, Any] = get("properties") or {}
        window: Mapping[str, Any] = get("window") or {}
        prop = properties.get
        shared = [quote_field(prop("cluster") or "Cluster")]
        shared += [quote_field(prop(column) or "") for column in _PROPERTY_COLUMNS]
        shared.append(quote_field(labels_json(properties, override_pod_labels=self._override_pod_labels)))
        shared.append(self._invoice_month)
        shared += [
            quote_field(window.get("start") or ""),
            quote_field(get("start") or ""),
            quote_field(get("end") or ""),
        ]
        prefix = quote_field(get("name") or "") + ","
        suffix = "," + ",".join(shared) + "\n"
        middle = self._middle

        numbers = self._numbers(get)
        texts = [format(number, ".5f") for number in numbers]
        if "n" in "".join(texts):  # "inf", "-inf" or "nan": Go spells them differently (rare, so checked once)
            texts = [format_number(number) for number in numbers]
        lines = [
            f"{prefix}{cost}{middle}{usage_type},{amount},{unit}{suffix}".encode("utf-8", ENCODING_ERRORS)
            for cost, amount, (usage_type, unit) in zip(texts[0::2], texts[1::2], _USAGE_COLUMNS, strict=True)
        ]
        return lines, sum(map(float, texts[0::2]))

    def _numbers(self, get: Callable[[str], Any]) -> list[float]:
        """Cost (adjusted, multiplied) and amount of each row, alternating. Missing or JSON ``null`` (Kubecost's NaN)
        is 0, as Go decodes it; adjustments are added even when absent, as Go adds its zero value."""
        multiplier = self._multiplier
        numbers: list[float] = []
        for cost_key, adjustment_key, amount_key in _NUMBER_KEYS:
            cost = get(cost_key)
            if cost is None:
                cost = 0.0
            if adjustment_key is not None:
                adjustment = get(adjustment_key)
                cost += 0.0 if adjustment is None else adjustment
            amount = get(amount_key)
            numbers.append(cost * multiplier)
            # "* 1.0": JSON integers arrive as int; Go decodes every number as a float64 (sign of -0.0 kept).
            numbers.append(0.0 if amount is None else amount * 1.0)
        return numbers
