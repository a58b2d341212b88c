"""The plan with a sources document: which sources a run exports, their bill connects, the run's size bound and the
plan output's shape (pure; no AWS, no clock)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from kubecost_flexera.contracts import ManualRun, PlanEvent, RunOptions, SourcesPlanOutput, parse
from kubecost_flexera.domain.calendar import scheduled_window
from kubecost_flexera.domain.plan import (
    MAX_RUN_SOURCE_DAYS,
    SourceRun,
    SourcesPlan,
    bill_connects,
    choose_sources,
    refuse_oversized,
    refuse_oversized_schedule,
)
from kubecost_flexera.errors import ConfigurationError, InvalidRequest
from kubecost_flexera.sources import SourcesDocument, parse_document

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:export"
ENVIRON = {"BILL_CONNECT_ID": "cbi-oi-kubecost-1"}


def sources_document(*sources: dict[str, str]) -> SourcesDocument:
    data = json.dumps({"sources": list(sources)}).encode()
    return parse_document(data, where="s3://b/config/sources.json", environ=ENVIRON, secret_prefix=None)


DOCUMENT = sources_document(
    {"name": "eu", "BILL_CONNECT_ID": "cbi-oi-kubecost-shared"},
    {"name": "us"},
    {"name": "apac", "BILL_CONNECT_ID": "cbi-oi-kubecost-shared"},
)


def test_a_run_without_sources_exports_every_source_of_the_document() -> None:
    chosen = choose_sources(DOCUMENT, None)
    assert chosen is not None
    assert [source.name for source in chosen] == ["eu", "us", "apac"]


def test_a_manual_run_exports_only_the_sources_it_names_in_the_documents_order() -> None:
    request = parse({"request": {"sources": ["apac", "eu"]}, "stateMachineArn": STATE_MACHINE}, PlanEvent).run
    chosen = choose_sources(DOCUMENT, request.sources)
    assert chosen is not None
    assert [source.name for source in chosen] == ["eu", "apac"]


def test_without_a_document_there_is_one_source_and_sources_is_refused() -> None:
    assert choose_sources(None, None) is None
    with pytest.raises(InvalidRequest) as caught:
        choose_sources(None, ("eu",))
    assert str(caught.value) == (
        "sources=['eu'] is invalid: allowed only with a sources document, and this stack has none "
        "(SOURCES_DOCUMENT_KEY is empty): leave sources out"
    )


@pytest.mark.parametrize(
    ("requested", "problem"),
    [
        (("eu", "mars", "venus"), "'mars', 'venus' is not a source of the document"),
        (("eu", "eu"), "'eu' is named more than once"),
        ((), "it names no source; leave sources out to run them all"),
    ],
    ids=["unknown", "repeated", "empty"],
)
def test_a_bad_choice_of_sources_is_refused_naming_the_known_ones(requested: tuple[str, ...], problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        choose_sources(DOCUMENT, requested)
    assert str(caught.value) == (
        f"sources={list(requested)!r} is invalid: {problem}: allowed each once of the document's sources eu, us, apac"
    )


def test_a_manual_run_with_a_source_name_of_the_wrong_shape_is_refused_by_the_contract() -> None:
    with pytest.raises(InvalidRequest, match=r"sources\[0\]='EU' is invalid: allowed a source name of 1 to 32"):
        parse({"request": {"sources": ["EU"]}, "stateMachineArn": STATE_MACHINE}, PlanEvent)


def test_a_bill_connect_lists_every_member_of_the_document_even_those_not_in_the_run() -> None:
    # Given a run of "eu" alone, whose bill connect "apac" shares
    chosen = choose_sources(DOCUMENT, ("eu",))
    assert chosen is not None
    # Then its bill connect names both members: the month is uploaded with every member's days
    (connect,) = bill_connects(DOCUMENT, chosen)
    assert (connect.bill_connect_id, connect.sources) == ("cbi-oi-kubecost-shared", ("eu", "apac"))


def test_bill_connects_are_in_the_order_their_first_source_appears() -> None:
    connects = bill_connects(DOCUMENT, DOCUMENT.sources)
    assert [(c.bill_connect_id, c.sources) for c in connects] == [
        ("cbi-oi-kubecost-shared", ("eu", "apac")),
        ("cbi-oi-kubecost-1", ("us",)),
    ]


def test_a_run_of_at_most_the_bound_is_planned_and_one_more_source_day_is_refused_with_advice() -> None:
    refuse_oversized({"a": MAX_RUN_SOURCE_DAYS - 62, "b": 62})
    with pytest.raises(InvalidRequest) as caught:
        refuse_oversized({"a": MAX_RUN_SOURCE_DAYS - 61, "b": 62})
    assert str(caught.value) == (
        f"The run has {MAX_RUN_SOURCE_DAYS + 1} source-days (2 sources, up to {MAX_RUN_SOURCE_DAYS - 61} days each): "
        f"allowed at most {MAX_RUN_SOURCE_DAYS} (MAX_RUN_SOURCE_DAYS), so that the execution's state stays within "
        "Step Functions' 256 KiB; run fewer days (a shorter backfill: start and end) or fewer sources (a manual "
        "run's sources), in several runs"
    )


def test_the_sources_plan_output_has_each_sources_days_currency_and_settings() -> None:
    # Given a plan of two sources, one keeping its earlier days
    window = scheduled_window(date(2025, 7, 3), include_previous_month=True)
    july = tuple(date(2025, 7, 1) + timedelta(days=n) for n in range(3))
    runs = (
        SourceRun("eu", "cbi-oi-kubecost-shared", "EUR", window.days, (), {"PAGE_SIZE": "50"}),
        SourceRun("us", "cbi-oi-kubecost-1", "USD", july, window.days[:-3], {}),
    )
    plan = SourcesPlan(window, RunOptions.of(ManualRun(dry_run=True)), runs, bill_connects(DOCUMENT, DOCUMENT.sources))
    # When it is written as the plan output
    output = SourcesPlanOutput.of(plan).model_dump(mode="json")
    # Then it is the contract's: the months, the options, each source's plan and the bill connects
    assert output["today"] == "2025-07-03"
    assert output["months"] == ["2025-06", "2025-07"]
    assert output["options"] == {"dryRun": True, "forceUpload": False}
    assert output["sources"][0] == {
        "name": "eu",
        "billConnectId": "cbi-oi-kubecost-shared",
        "currency": "EUR",
        "days": [day.isoformat() for day in window.days],
        "keptDays": [],
        "settings": {"PAGE_SIZE": "50"},
    }
    assert (output["sources"][1]["days"], len(output["sources"][1]["keptDays"])) == (
        ["2025-07-01", "2025-07-02", "2025-07-03"],
        30,
    )
    assert output["billConnects"] == [
        {"billConnectId": "cbi-oi-kubecost-shared", "sources": ["eu", "apac"]},
        {"billConnectId": "cbi-oi-kubecost-1", "sources": ["us"]},
    ]


def test_a_document_whose_schedule_could_exceed_the_bound_on_some_day_is_refused_on_every_scheduled_run() -> None:
    # Given the longest scheduled window (two months of 31 days, or one without the previous month)
    refuse_oversized_schedule(MAX_RUN_SOURCE_DAYS // 62, include_previous_month=True)
    refuse_oversized_schedule(MAX_RUN_SOURCE_DAYS // 31, include_previous_month=False)
    # Then one source more is refused, naming the allowed count, even on a day whose window would fit
    with pytest.raises(ConfigurationError) as caught:
        refuse_oversized_schedule(MAX_RUN_SOURCE_DAYS // 62 + 1, include_previous_month=True)
    assert str(caught.value) == (
        f"The sources document has {MAX_RUN_SOURCE_DAYS // 62 + 1} sources; a scheduled run exports up to 62 days of "
        f"each (INCLUDE_PREVIOUS_MONTH=true) and holds at most {MAX_RUN_SOURCE_DAYS} source-days "
        f"(MAX_RUN_SOURCE_DAYS): allowed at most {MAX_RUN_SOURCE_DAYS // 62} sources ({MAX_RUN_SOURCE_DAYS // 31} "
        "with INCLUDE_PREVIOUS_MONTH=false); split the clusters over stacks by bill connect"
    )
    with pytest.raises(ConfigurationError, match=r"allowed at most \d+ sources; split"):
        refuse_oversized_schedule(MAX_RUN_SOURCE_DAYS // 31 + 1, include_previous_month=False)
