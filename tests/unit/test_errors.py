"""A typed error leaving the export handler has a bounded message: the failed day's result carries it."""

from __future__ import annotations

import json

import pytest

from kubecost_flexera.errors import (
    MAX_DAY_ERROR_MESSAGE_BYTES,
    FlexeraThrottled,
    KubecostRejected,
    messages_bounded,
    truncated,
)


def encoded_size(text: str) -> int:
    """Bytes of the text as a JSON string in UTF-8 (as Step Functions measures a state), quotes excluded."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


@pytest.mark.parametrize(
    "text",
    ["k" * 5000, "é€𝄞" * 500, '\x01\n"\\' * 500, "Kubecost refused the query (HTTP 400): " + "<html>" * 300],
    ids=["ascii", "multi-byte", "escaped", "html-body"],
)
def test_a_long_message_is_cut_to_the_limit_once_json_encoded(text: str) -> None:
    cut = truncated(text, MAX_DAY_ERROR_MESSAGE_BYTES)
    assert encoded_size(cut) <= MAX_DAY_ERROR_MESSAGE_BYTES
    assert cut.endswith("...")
    assert text.startswith(cut.removesuffix("..."))
    assert encoded_size(cut) > MAX_DAY_ERROR_MESSAGE_BYTES - 20  # as much as fits is kept


def test_a_short_message_is_kept_whole() -> None:
    assert truncated("Kubecost answered 504", MAX_DAY_ERROR_MESSAGE_BYTES) == "Kubecost answered 504"


def test_an_error_leaving_the_block_keeps_its_type_and_attributes_with_a_bounded_message() -> None:
    # Given a typed error with a long message and an attribute the state machine relies on
    with pytest.raises(FlexeraThrottled) as raised, messages_bounded(40):
        raise FlexeraThrottled("x" * 100, retry_after_seconds=125)
    # Then it is the same error, with its message cut
    assert raised.value.retry_after_seconds == 125
    assert str(raised.value) == "x" * 37 + "..."


def test_other_exceptions_pass_unchanged() -> None:
    with pytest.raises(ValueError, match=r"^y{100}$"), messages_bounded(40):
        raise ValueError("y" * 100)


def test_short_typed_message_is_unchanged() -> None:
    with pytest.raises(KubecostRejected, match=r"^short$"), messages_bounded(40):
        raise KubecostRejected("short")
