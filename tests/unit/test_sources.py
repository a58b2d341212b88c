"""The sources document: its shape, each source's values read as the environment's, the secret rule, and every
problem listed in one error (pure; no AWS)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kubecost_flexera.config import SourcesSettings, load_settings
from kubecost_flexera.errors import ConfigurationError, InvalidRequest
from kubecost_flexera.sources import (
    MAX_DOCUMENT_BYTES,
    MAX_SOURCES,
    SOURCE_KEYS,
    SourcesDocument,
    allowed_keys,
    day_environment,
    parse_document,
)

WHERE = "s3://kubecost-exports-test/config/sources.json"
ACCOUNT = "arn:aws:secretsmanager:us-east-1:123456789012:secret"
STACK_SECRET = f"{ACCOUNT}:kubecost-stack-AbCdEf"
PREFIX = "kubecost-flexera/prod/"
ENVIRON = {
    "KUBECOST_HOST": "http://kubecost.internal:9090",
    "BILL_CONNECT_ID": "cbi-oi-kubecost-1",
    "KUBECOST_SECRET_ARN": STACK_SECRET,
    "PAGE_SIZE": "200",
}


def document(*sources: object, **top: Any) -> bytes:
    return json.dumps({"sources": list(sources), **top}).encode()


def parsed(data: bytes, environ: dict[str, str] | None = None, prefix: str | None = PREFIX) -> SourcesDocument:
    return parse_document(data, where=WHERE, environ=ENVIRON if environ is None else environ, secret_prefix=prefix)


def refusal(data: bytes, environ: dict[str, str] | None = None, prefix: str | None = PREFIX) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parsed(data, environ, prefix)
    return str(caught.value)


def test_a_source_sets_some_variables_and_takes_the_others_from_the_stack() -> None:
    # Given two sources: one setting its host, its bill connect and numbers and booleans as JSON; one setting nothing
    data = document(
        {"name": "prod-eu", "KUBECOST_HOST": "https://eu.example:9090", "BILL_CONNECT_ID": "cbi-oi-kubecost-eu",
         "PAGE_SIZE": 50, "MULTIPLIER": 0.85, "IDLE": False},
        {"name": "prod-us"},
    )  # fmt: skip
    # When it is parsed
    eu, us = parsed(data).sources
    # Then what a source sets wins, as its environment text, and the rest is the stack's
    assert eu.settings == {
        "KUBECOST_HOST": "https://eu.example:9090",
        "BILL_CONNECT_ID": "cbi-oi-kubecost-eu",
        "PAGE_SIZE": "50",
        "MULTIPLIER": "0.85",
        "IDLE": "false",
    }
    assert (eu.kubecost.base_url, eu.kubecost.page_size, eu.kubecost.multiplier, eu.kubecost.idle) == (
        "https://eu.example:9090",
        50,
        0.85,
        False,
    )
    assert eu.bill_connect_id == "cbi-oi-kubecost-eu"
    assert eu.kubecost.secret_arn is None  # another Kubecost: not the stack's credentials
    assert us.kubecost.secret_arn == STACK_SECRET
    assert (us.settings, us.kubecost.base_url, us.kubecost.page_size, us.bill_connect_id) == (
        {},
        "http://kubecost.internal:9090",
        200,
        "cbi-oi-kubecost-1",
    )


def test_a_source_reads_exactly_as_a_single_source_stack_with_the_merged_environment() -> None:
    # Given a source setting values that the environment's readers normalise (a bare host, a case-folded choice)
    source = {"name": "a", "KUBECOST_HOST": "kc.example", "AGGREGATION": "Namespace", "COST_SOURCE": "OpenCost"}
    # When it is parsed / Then its settings are those of a stack with the merged environment
    (parsed_source,) = parsed(document(source)).sources
    merged = {**ENVIRON, **{k: v for k, v in source.items() if k != "name"}, "ORG_ID": "1", "BUCKET_NAME": "bkt"}
    merged["FLEXERA_SECRET_ARN"] = STACK_SECRET
    del merged["KUBECOST_SECRET_ARN"]  # the stack's credentials stay with the stack's host
    assert parsed_source.kubecost == load_settings(merged).kubecost


@pytest.mark.parametrize(
    ("key", "json_value", "text"),
    [
        ("PAGE_SIZE", "500", "500"),
        ("MULTIPLIER", "1e3", "1000"),
        ("MULTIPLIER", "-0.50", "-0.50"),
        ("MULTIPLIER", "1E-2", "0.01"),
        ("IDLE", "true", "true"),
        ("IDLE", "false", "false"),
        ("PAGE_SIZE", '"1"', "1"),
    ],
)
def test_numbers_and_booleans_stand_for_their_environment_text(key: str, json_value: str, text: str) -> None:
    data = f'{{"sources": [{{"name": "a", "{key}": {json_value}}}]}}'.encode()
    (source,) = parsed(data).sources
    assert source.settings == {key: text}


def test_an_empty_string_means_the_variables_default_as_an_empty_environment_variable() -> None:
    (source,) = parsed(document({"name": "a", "PAGE_SIZE": ""})).sources
    assert source.kubecost.page_size == 500


def test_every_problem_of_every_source_is_listed_in_one_error() -> None:
    # Given a document with problems in the document itself and in three sources
    data = document(
        {"name": "Prod", "PAGE_SIZE": "x", "HOST": "h", "IDLE": None},
        {"name": "b", "MULTIPLIER": [1], "KUBECOST_HOST": "ftp://h"},
        {"name": "b", "AGGREGATION": {"a": 1}},
        7,
        extra=1,
    )
    # When it is parsed
    message = refusal(data)
    # Then one error names each: where, the source's index and name, the key, the value and what is allowed
    assert message == (
        f"Invalid sources document {WHERE}: 10 problems: "
        "unknown key(s) 'extra' in the document: allowed only 'sources'; "
        "sources[0] ('Prod'): name='Prod' is invalid: allowed a string of 1 to 32 characters a-z, 0-9 and '-'; "
        f"sources[0] ('Prod'): unknown key(s) 'HOST': allowed {allowed_keys()}; "
        "sources[0] ('Prod'): IDLE=null is invalid: allowed a string, a number or true/false, as the environment "
        "variable's text; "
        "sources[0] ('Prod'): PAGE_SIZE='x' is invalid: allowed an integer from 1 to 100000 (digits 0-9); "
        "sources[1] ('b'): MULTIPLIER=[1] is invalid: allowed a string, a number or true/false, as the environment "
        "variable's text; "
        "sources[1] ('b'): KUBECOST_HOST='ftp://h' is invalid: allowed schemes are http and https; "
        "sources[2] ('b'): name='b' is invalid: allowed a name no other source has (sources[1]); "
        "sources[2] ('b'): AGGREGATION={\"a\": 1} is invalid: allowed a string, a number or true/false, as the "
        "environment variable's text; "
        'sources[3]=7 is invalid: allowed a JSON object such as {"name": "prod-eu"}'
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{", "not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        (b"\xff{}", "not JSON ('utf-8' codec can't decode byte 0xff in position 0)"),
        (b'{"sources": [{"name": "a", "MULTIPLIER": NaN}]}', "not JSON (NaN is not a JSON number)"),
        (b"[" * 16_000 + b"]" * 16_000, "not JSON (nested too deeply)"),
        (b"[]", 'the document must be a JSON object {"sources": [...]}'),
        (b"{}", "sources=null is invalid: allowed a list of 1 to 50 source objects"),
        (b'{"sources": []}', "sources=[] is invalid: allowed a list of 1 to 50 source objects"),
        (b'{"sources": {"name": "a"}}', 'sources={"name": "a"} is invalid: allowed a list of 1 to 50 source'),
        (b'{"sources": [{}]}', "sources[0]: missing key 'name': allowed a string of 1 to 32 characters"),
        (b'{"sources": [{"name": 7}]}', "sources[0]: name=7 is invalid: allowed a string of 1 to 32 characters"),
        (
            b'{"sources": [{"name": "a", "IDLE": "true", "IDLE": "false"}]}',
            "key 'IDLE' appears 2 times in one object: allowed each key once",
        ),
    ],
    ids=[
        "not-json", "not-utf8", "nan", "deep", "not-object", "no-sources", "no-source", "sources-not-list", "no-name",
        "name-not-string", "repeated-key",
    ],
)  # fmt: skip
def test_a_malformed_document_is_refused_saying_what(data: bytes, problem: str) -> None:
    assert problem in refusal(data)


def test_a_name_of_33_characters_is_refused_and_32_accepted() -> None:
    assert parsed(document({"name": "a" * 32})).names == ("a" * 32,)
    assert "name='" + "a" * 33 + "' is invalid" in refusal(document({"name": "a" * 33}))


def test_the_name_of_the_bill_connects_state_prefix_is_refused() -> None:
    # state/uploads/bill-connects/ holds the bill connects' upload states; a source of that name would share it.
    assert "name='bill-connects' is invalid: allowed any other name" in refusal(document({"name": "bill-connects"}))
    assert parsed(document({"name": "bill-connects-eu"})).names == ("bill-connects-eu",)


def test_more_than_50_sources_are_refused() -> None:
    assert len(parsed(document(*({"name": f"s{n}"} for n in range(MAX_SOURCES)))).sources) == MAX_SOURCES
    message = refusal(document(*({"name": f"s{n}"} for n in range(MAX_SOURCES + 1))))
    assert message.endswith("1 problem: sources has 51 sources: allowed at most 50")


def test_a_document_over_32_kib_is_refused() -> None:
    padding = " " * (MAX_DOCUMENT_BYTES - len(document({"name": "a"})))
    assert parsed(document({"name": "a"}) + padding.encode()).names == ("a",)
    assert refusal(document({"name": "a"}) + padding.encode() + b" ") == (
        f"Invalid sources document {WHERE}: larger than 32768 bytes (32 KiB): allowed at most that"
    )


def test_every_issue_variable_and_only_those_may_be_set() -> None:
    assert set(SOURCE_KEYS) == {
        "KUBECOST_HOST", "KUBECOST_API_PATH", "KUBECOST_CONFIG_HOST", "KUBECOST_CONFIG_API_PATH", "COST_SOURCE",
        "KUBECOST_SECRET_ARN", "KUBECOST_CA_BUNDLE", "AGGREGATION", "IDLE", "IDLE_BY_NODE", "SHARE_IDLE",
        "SHARE_NAMESPACES", "SHARE_TENANCY_COSTS", "MULTIPLIER", "PAGE_SIZE", "MAX_FILE_ROWS", "DEFAULT_CURRENCY",
        "OVERRIDE_POD_LABELS", "REQUEST_TIMEOUT", "BILL_CONNECT_ID",
    }  # fmt: skip
    for stack_only in ("BUCKET_NAME", "SOURCE_NAME", "ORG_ID", "FLEXERA_SECRET_ARN", "REFRESH_DAYS"):
        assert f"unknown key(s) {stack_only!r}" in refusal(document({"name": "a", stack_only: "x"}))


def test_the_bill_connect_prefix_rule_applies_to_every_source() -> None:
    environ = {**ENVIRON, "CREATE_BILL_CONNECT_IF_NOT_EXIST": "true"}
    message = refusal(document({"name": "a", "BILL_CONNECT_ID": "other"}, {"name": "b"}), environ)
    assert message.endswith(
        "1 problem: sources[0] ('a'): BILL_CONNECT_ID='other' is invalid: with CREATE_BILL_CONNECT_IF_NOT_EXIST=true "
        "it must start with 'cbi-oi-kubecost', e.g. cbi-oi-kubecost-1"
    )


@pytest.mark.parametrize(
    "arn",
    [STACK_SECRET, f"{ACCOUNT}:{PREFIX}eu-AbCdEf", f"{ACCOUNT}:{PREFIX}team/us"],
    ids=["stack", "prefix", "deeper"],
)
def test_a_source_may_name_the_stacks_secret_or_one_under_the_prefix(arn: str) -> None:
    (source,) = parsed(document({"name": "a", "KUBECOST_SECRET_ARN": arn})).sources
    assert source.kubecost.secret_arn == arn


def test_a_secret_outside_the_prefix_is_refused_naming_the_source_the_arn_the_prefix_and_the_parameter() -> None:
    arn = f"{ACCOUNT}:kubecost-flexera/test/eu-AbCdEf"
    assert refusal(document({"name": "eu", "KUBECOST_SECRET_ARN": arn})).endswith(
        f"1 problem: sources[0] ('eu'): KUBECOST_SECRET_ARN={arn!r} is invalid: allowed the stack's "
        f"KUBECOST_SECRET_ARN ({STACK_SECRET}) or a secret whose name starts with "
        f"KUBECOST_SECRET_PREFIX={PREFIX!r} (the stack's parameter KubecostSecretPrefix)"
    )


def test_a_source_of_another_kubecost_gets_neither_the_stacks_credentials_nor_its_ca_bundle() -> None:
    # Given a stack whose Kubecost has a secret and a CA bundle
    environ = {**ENVIRON, "KUBECOST_CA_BUNDLE": "/opt/stack-ca.pem"}
    dev, same, own = parsed(
        document(
            {"name": "dev", "KUBECOST_HOST": "https://kubecost.dev:9090"},
            {"name": "same"},
            {"name": "own", "KUBECOST_HOST": "https://kubecost.eu:9090", "KUBECOST_SECRET_ARN": STACK_SECRET},
        ),
        environ,
    ).sources
    # Then a source naming another host sends the stack's token nowhere, unless it names the secret itself
    assert (dev.kubecost.secret_arn, dev.kubecost.ca_bundle) == (None, None)
    assert (same.kubecost.secret_arn, same.kubecost.ca_bundle) == (STACK_SECRET, "/opt/stack-ca.pem")
    assert (own.kubecost.secret_arn, own.kubecost.ca_bundle) == (STACK_SECRET, None)


def test_without_a_prefix_only_the_stacks_secret_may_be_named() -> None:
    arn = f"{ACCOUNT}:{PREFIX}eu-AbCdEf"
    assert refusal(document({"name": "eu", "KUBECOST_SECRET_ARN": arn}), prefix=None).endswith(
        f"allowed the stack's KUBECOST_SECRET_ARN ({STACK_SECRET}), as KUBECOST_SECRET_PREFIX (the stack's parameter "
        "KubecostSecretPrefix) is empty"
    )


def test_members_of_a_bill_connect_are_every_source_naming_it_in_order() -> None:
    data = document(
        {"name": "a", "BILL_CONNECT_ID": "cbi-oi-kubecost-x"},
        {"name": "b"},
        {"name": "c", "BILL_CONNECT_ID": "cbi-oi-kubecost-x"},
    )
    parsed_document = parsed(data)
    assert parsed_document.members("cbi-oi-kubecost-x") == ("a", "c")
    assert parsed_document.members("cbi-oi-kubecost-1") == ("b",)


def test_a_days_settings_are_the_sources_over_the_environment() -> None:
    merged = day_environment(ENVIRON, {"PAGE_SIZE": "10"})
    assert (merged["PAGE_SIZE"], merged["BILL_CONNECT_ID"]) == ("10", "cbi-oi-kubecost-1")


def test_a_day_may_not_set_what_no_source_may() -> None:
    # Given a day event whose settings would redirect the bucket / Then it is refused, naming the key
    with pytest.raises(InvalidRequest, match=re.escape("source.settings has unknown key(s) 'BUCKET_NAME': allowed")):
        day_environment(ENVIRON, {"BUCKET_NAME": "elsewhere", "PAGE_SIZE": "10"})


# --- where the document is and which secrets it may name: the stack's variables ---

STACK = {**ENVIRON, "ORG_ID": "1", "BUCKET_NAME": "kubecost-exports-test", "FLEXERA_SECRET_ARN": STACK_SECRET}


def test_without_a_document_key_the_stack_has_one_source() -> None:
    assert load_settings(STACK).sources == SourcesSettings(document_key=None, secret_prefix=None)


def test_the_document_key_and_the_secret_prefix_are_read() -> None:
    environ = {**STACK, "SOURCES_DOCUMENT_KEY": "config/sources.json", "KUBECOST_SECRET_PREFIX": PREFIX}
    assert load_settings(environ).sources == SourcesSettings("config/sources.json", PREFIX)


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("SOURCES_DOCUMENT_KEY", "state/sources.json", "outside exports/ and state/"),
        ("SOURCES_DOCUMENT_KEY", "exports/sources.json", "outside exports/ and state/"),
        ("SOURCES_DOCUMENT_KEY", "config/my sources.json", "outside exports/ and state/"),
        ("KUBECOST_SECRET_PREFIX", "kubecost flexera/", "letters, digits and /_+=.@-"),
        ("KUBECOST_SECRET_PREFIX", "kubecost-*", "letters, digits and /_+=.@-"),
    ],
)
def test_a_bad_document_key_or_prefix_is_refused_naming_it(name: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**STACK, name: value})
    assert f"{name}={value!r} is invalid: allowed " in str(caught.value)
    assert allowed in str(caught.value)
