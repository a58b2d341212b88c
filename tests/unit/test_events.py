"""Unit tests of the shared event-field rules: what each accepts, and that a refusal names field, value and allowed."""

from __future__ import annotations

from datetime import date

import pytest

from kubecost_flexera.errors import InvalidRequest
from kubecost_flexera.events import bool_field, currency_value, date_value, refuse_unknown, run_options


def test_known_fields_pass_the_unknown_field_check() -> None:
    # Given only allowed fields / When checked / Then nothing is raised
    refuse_unknown({"day": "2025-07-01", "currency": "USD"}, ("day", "currency", "options"), "the event")


def test_unknown_fields_are_named_sorted_with_where_and_the_allowed_fields() -> None:
    # Given two unknown fields
    fields = {"day": "2025-07-01", "zeta": 1, "alpha": 2}
    # When checked / Then both are named, sorted, with the object and the allowed fields in their order
    with pytest.raises(InvalidRequest) as raised:
        refuse_unknown(fields, ("day", "currency"), "the event")
    assert str(raised.value) == "Unknown field(s) 'alpha', 'zeta' in the event: allowed fields are day, currency"


def test_a_zero_padded_existing_date_is_parsed() -> None:
    assert date_value("2024-02-29", "day") == date(2024, 2, 29)


@pytest.mark.parametrize(
    "value",
    ["2025-02-30", "2025-7-1", "20250701", "2025-07-01T00:00:00", "2025-07-01Z", " 2025-07-01", 20250701, None],
)
def test_anything_but_a_strict_calendar_date_is_refused_naming_field_and_value(value: object) -> None:
    # Given a value that is not a YYYY-MM-DD calendar date / When parsed / Then the field, value and rule are named
    with pytest.raises(InvalidRequest) as raised:
        date_value(value, "today")
    assert str(raised.value) == (
        f"today={value!r} is invalid: allowed an existing calendar date as a string YYYY-MM-DD"
    )


def test_an_absent_boolean_field_is_false() -> None:
    assert bool_field({}, "dry_run") is False


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_field_is_taken_as_given(value: bool) -> None:
    assert bool_field({"dry_run": value}, "dry_run") is value


@pytest.mark.parametrize("value", ["yes", 1, 0, None, "true"])
def test_a_non_boolean_field_is_refused_under_its_display_name(value: object) -> None:
    # Given a flag that is not a JSON boolean / When read under the path options.dryRun / Then that path is named
    with pytest.raises(InvalidRequest) as raised:
        bool_field({"dryRun": value}, "dryRun", "options.dryRun")
    assert str(raised.value) == f"options.dryRun={value!r} is invalid: allowed true or false (JSON booleans)"


def test_an_iso_currency_code_is_accepted() -> None:
    assert currency_value("EUR") == "EUR"


@pytest.mark.parametrize("value", ["usd", "US", "USDT", 840, None])
def test_anything_but_three_upper_case_letters_is_refused_as_currency(value: object) -> None:
    with pytest.raises(InvalidRequest) as raised:
        currency_value(value)
    assert (
        str(raised.value)
        == f"currency={value!r} is invalid: allowed 3 upper-case letters, an ISO 4217 code such as USD"
    )


@pytest.mark.parametrize(
    "options", [{}, {"dryRun": True}, {"forceUpload": False}, {"dryRun": False, "forceUpload": True}]
)
def test_run_options_are_returned_as_given(options: dict[str, bool]) -> None:
    assert run_options(options) == options


def test_an_unknown_run_option_is_refused_naming_it_and_the_known_ones() -> None:
    with pytest.raises(InvalidRequest) as raised:
        run_options({"dryRun": True, "dry_run": True})
    assert str(raised.value) == "Unknown field(s) 'dry_run' in options: allowed fields are dryRun, forceUpload"


def test_a_run_option_that_is_not_a_boolean_is_refused_with_its_path() -> None:
    with pytest.raises(InvalidRequest) as raised:
        run_options({"forceUpload": "no"})
    assert str(raised.value) == "options.forceUpload='no' is invalid: allowed true or false (JSON booleans)"


@pytest.mark.parametrize("value", [["dryRun"], "dryRun", None, True])
def test_run_options_that_are_not_an_object_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequest) as raised:
        run_options(value)
    assert str(raised.value) == f"options={value!r} is invalid: allowed an object with the booleans dryRun, forceUpload"
