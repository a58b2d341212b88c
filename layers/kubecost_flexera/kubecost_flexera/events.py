"""Parsing and validating the fields of the workflow's events; every error is ``InvalidRequest`` naming the field,
the value and what is allowed.

The plan, the export of a day and the upload each accept an event, and their fields share rules: a date is a strict
``YYYY-MM-DD`` calendar date, a flag is a JSON boolean, the run options are the same object at every step, and a
field nobody reads is refused (it could be a typo of one that is, silently ignored otherwise). One function per
rule, so that every step refuses the same values with the same words.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Final

from kubecost_flexera.errors import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

OPTIONS: Final = ("dryRun", "forceUpload")  # the run options the plan chose, as every later step receives them
_DATE_RE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")


def refuse_unknown(fields: Mapping[str, object], allowed: Sequence[str], where: str) -> None:
    """Raises when ``fields`` has a key outside ``allowed``; ``where`` names the object (``"the request"``)."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise InvalidRequest(
            f"Unknown field(s) {', '.join(repr(name) for name in unknown)} in {where}: "
            f"allowed fields are {', '.join(allowed)}"
        )


def date_value(value: object, name: str) -> date:
    """A date written ``YYYY-MM-DD`` (zero-padded, no time, no offset) that exists in the calendar."""
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRequest(f"{name}={value!r} is invalid: allowed an existing calendar date as a string YYYY-MM-DD")


def bool_field(fields: Mapping[str, object], key: str, name: str | None = None) -> bool:
    """The JSON boolean ``fields[key]``, ``False`` when absent; ``name`` is the field's path in messages."""
    value = fields.get(key, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name or key}={value!r} is invalid: allowed true or false (JSON booleans)")
    return value


def currency_code(text: str) -> str | None:
    """``text`` as an ISO 4217 code (trimmed, upper-cased: ``"usd"``, ``"EUR "``), or None when it is not one.

    The shape (three letters A-Z) is checked, not membership of the ISO list: no list ships with Python, and the
    reference passes any currency string on to Flexera.
    """
    stripped = text.strip()
    code = stripped.upper()
    return code if stripped.isascii() and _CURRENCY_RE.match(code) else None


def currency_value(value: object, name: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY_RE.match(value):
        raise InvalidRequest(f"{name}={value!r} is invalid: allowed 3 upper-case letters, an ISO 4217 code such as USD")
    return value


def run_options(value: object, name: str = "options") -> dict[str, bool]:
    """The ``options`` object of the plan output: any of ``dryRun`` and ``forceUpload``, each a boolean."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"{name}={value!r} is invalid: allowed an object with the booleans {', '.join(OPTIONS)}")
    refuse_unknown(value, OPTIONS, name)
    return {key: bool_field(value, key, f"{name}.{key}") for key in value}
