"""Types of the compiled row formatter (``native/cbi_rows.c``); ``cbi_csv`` is the module to use."""

from kubecost_flexera.domain.allocation import Allocation

def format_items(
    items: list[Allocation],
    usage_columns: tuple[bytes, ...],
    invoice_month: bytes,
    multiplier: float,
    override_pod_labels: bool,
    /,
) -> tuple[bytes, list[float]]:
    """The UTF-8 CSV lines of ``items`` (8 per item) and the value of each printed cost, in order."""

def quote_field(field: str, /) -> str:
    """The field as Go's ``encoding/csv`` writes it: quoted only where Go quotes (a lone surrogate as U+FFFD, as the
    rows write it)."""
