"""``python -m local.run --sources FILE``: the sources document in the bucket, an embedded emulator per source that
names no Kubecost, and the summary per source and per bill connect (local/runner_sources.py, runner_report)."""

from __future__ import annotations

import json
import os
from datetime import date
from typing import TYPE_CHECKING, Any, Final
from unittest import mock

import pytest

import functions.plan.app as plan_app
from emulators.flexera import DEFAULT_BILL_CONNECT_ID, DEFAULT_REFRESH_TOKEN
from local import runner_emulators, runner_sources
from local.run import BUCKET, LocalSettings, LocalWorkflow, main
from local.runner_emulators import kubecost_config
from local.runner_lambda import Invocation
from local.runner_report import EXPORT_DAY_FUNCTION, PLAN_FUNCTION, UPLOAD_FUNCTION, WorkflowRun, format_summary
from local.runner_sources import LocalSources, read_sources_file
from local.runner_template import ROOT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from emulators.flexera import FlexeraEmulator

TODAY: Final = date(2025, 3, 3)
DOCUMENT: Final = {
    "sources": [
        {"name": "prod-eu", "BILL_CONNECT_ID": "cbi-oi-kubecost-prod"},
        {"name": "prod-us", "BILL_CONNECT_ID": "cbi-oi-kubecost-prod", "MULTIPLIER": 1.05},
        {"name": "lab", "COST_SOURCE": "opencost", "BILL_CONNECT_ID": "cbi-oi-kubecost-lab"},
        {"name": "remote", "KUBECOST_HOST": "https://kubecost.example.com"},
    ]
}


def _sources(document: Mapping[str, Any], environ: Mapping[str, str], stack_url: str | None = None) -> LocalSources:
    return LocalSources(
        document,
        environ,
        stack_kubecost_url=stack_url,
        default_bill_connect_id=DEFAULT_BILL_CONNECT_ID,
        emulator_config=lambda merged: kubecost_config(merged, 2, TODAY, None),
    )


def test_each_source_without_a_kubecost_gets_an_emulator_of_its_own() -> None:
    # Given a document of four sources, one of which names its Kubecost
    with _sources(DOCUMENT, {}) as sources:
        # Then the three others get an emulator each: the product their COST_SOURCE names, with data of their own
        assert [source.name for source in sources.sources if source.emulator is None] == ["remote"]
        emulators = {source.name: source.emulator for source in sources.sources if source.emulator is not None}
        flavours = {name: emulator.config.flavour for name, emulator in emulators.items()}
        assert flavours == {"prod-eu": "kubecost", "prod-us": "kubecost", "lab": "opencost"}
        totals = {name: emulator.expected(TODAY).total_cost for name, emulator in emulators.items()}
        assert len(set(totals.values())) == 3, totals
        # And the document put in the bucket names each emulator as its source's KUBECOST_HOST, the rest as written
        body = json.loads(sources.document_body())
        hosts = {entry["name"]: entry["KUBECOST_HOST"] for entry in body["sources"]}
        assert hosts == {
            **{name: emulator.url for name, emulator in emulators.items()},
            "remote": "https://kubecost.example.com",
        }
        assert body["sources"][1]["MULTIPLIER"] == 1.05  # what is not a string is left for the plan to judge
        # And the bill connects are the sources' own, else the stack's
        assert sources.bill_connect_ids == {"cbi-oi-kubecost-prod", "cbi-oi-kubecost-lab", DEFAULT_BILL_CONNECT_ID}


def test_the_stack_kubecost_serves_the_sources_that_name_none() -> None:
    # Given the stack's KUBECOST_HOST (or --kubecost-url): what a source does not set comes from the stack
    with _sources(DOCUMENT, {}, stack_url="http://127.0.0.1:9") as sources:
        # Then no emulator is started
        assert all(source.emulator is None for source in sources.sources)
        assert sources.kubecost_url == "http://127.0.0.1:9"


def test_a_source_emulator_serves_the_api_path_its_settings_ask_for() -> None:
    document = {"sources": [{"name": "oc", "COST_SOURCE": "opencost", "KUBECOST_API_PATH": "/opencost/"}]}
    with _sources(document, {"COST_SOURCE": "kubecost"}) as sources:
        (source,) = sources.sources
        assert source.emulator is not None
        assert (source.emulator.config.flavour, source.emulator.config.api_path) == ("opencost", "/opencost/")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "is not JSON"),
        ('{"sources": {}}', "allowed a sources document"),
        ('{"sources": [{"KUBECOST_HOST": "x"}]}', "each source an object with a name"),
        ("[]", "allowed a sources document"),
    ],
)
def test_a_file_that_is_not_a_sources_document_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    path = tmp_path / "sources.json"
    path.write_text(body)
    assert main(["--sources", str(path), "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert f"--sources {path}" in error
    assert message in error
    with pytest.raises(ValueError, match=message):
        read_sources_file(path)


def test_the_document_is_in_the_bucket_at_the_key_the_functions_read(
    flexera_emulator: Callable[..., FlexeraEmulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sources document for the run, and no SOURCES_DOCUMENT_KEY set
    monkeypatch.delenv("SOURCES_DOCUMENT_KEY", raising=False)
    flexera = flexera_emulator()
    seen: dict[str, str] = {}

    def plan(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        seen["key"] = os.environ["SOURCES_DOCUMENT_KEY"]
        raise ValueError("stop here")

    settings = LocalSettings(
        kubecost_url="http://127.0.0.1:9",
        flexera_url=flexera.url,
        flexera_secret={"refresh_token": DEFAULT_REFRESH_TOKEN},
        environ={"ORG_ID": flexera.config.org_id, "BILL_CONNECT_ID": DEFAULT_BILL_CONNECT_ID},
        handlers={PLAN_FUNCTION: plan},
        sources_document=b'{"sources": []}',
    )
    with LocalWorkflow(settings) as workflow:
        body = workflow.s3.get_object(Bucket=BUCKET, Key="config/sources.json")["Body"].read()
        run = workflow.run({})
    # Then it is at config/sources.json, the key the functions are given
    assert body == b'{"sources": []}'
    assert seen == {"key": "config/sources.json"}
    assert not run.succeeded


def _export(source: str, day: str, rows: int, cost: float) -> Invocation:
    event = {"day": day, "source": {"name": source, "settings": {}}, "executionId": "x"}
    result = {"day": day, "status": "written", "parts": 1, "rows": rows, "allocations": rows // 8, "cost": cost}
    return Invocation(EXPORT_DAY_FUNCTION, event, result)


def test_the_summary_of_several_sources_shows_each_source_and_each_bill_connect_month() -> None:
    # Given what a run of two sources in one bill connect and one alone passed between its steps
    two_days = ["2025-03-01", "2025-03-02"]
    plan = {
        "today": "2025-03-02",
        "months": ["2025-03"],
        "options": {"dryRun": False, "forceUpload": False},
        "sources": [
            {"name": "a", "billConnectId": "cbi-oi-kubecost-ab", "currency": "USD", "days": two_days, "keptDays": [],
             "settings": {}},
            {"name": "b", "billConnectId": "cbi-oi-kubecost-ab", "currency": "USD", "days": two_days, "keptDays": [],
             "settings": {}},
            {"name": "c", "billConnectId": "cbi-oi-kubecost-c", "currency": "EUR", "days": ["2025-03-01"],
             "keptDays": [], "settings": {}},
        ],
        "billConnects": [
            {"billConnectId": "cbi-oi-kubecost-ab", "sources": ["a", "b"]},
            {"billConnectId": "cbi-oi-kubecost-c", "sources": ["c"]},
        ],
    }  # fmt: skip
    upload_event = {
        **plan,
        "sourceResults": [
            {"source": "a", "dayResults": [{"day": "2025-03-01", "status": "written"},
                                           {"day": "2025-03-02", "status": "written"}]},
            {"source": "b", "dayResults": [{"day": "2025-03-01", "status": "written"},
                                           {"day": "2025-03-02", "status": "failed", "error": "KubecostUnavailable"}]},
            {"source": "c", "dayResults": [{"day": "2025-03-01", "status": "written"}]},
        ],
    }  # fmt: skip
    month = {"month": "2025-03", "files": 0, "bytes": 0, "billUploadId": None, "error": None}
    upload_result = {
        "billConnects": [
            {"billConnectId": "cbi-oi-kubecost-ab", "sources": ["a", "b"],
             "months": [{**month, "status": "skipped-incomplete", "missingBySource": {"b": ["2025-03-02"]}}]},
            {"billConnectId": "cbi-oi-kubecost-c", "sources": ["c"],
             "months": [{**month, "status": "committed", "files": 1, "bytes": 900, "billUploadId": "u-1",
                         "missingBySource": {}}]},
        ],
        "failedDays": [{"source": "b", "error": "KubecostUnavailable", "days": "2025-03-02"}],
    }  # fmt: skip
    failed_export = Invocation(
        EXPORT_DAY_FUNCTION,
        {"day": "2025-03-02", "source": {"name": "b", "settings": {}}},
        None,
        "KubecostUnavailable",
        "down",
    )
    invocations = [
        Invocation(PLAN_FUNCTION, {}, plan),
        _export("a", "2025-03-01", 16, 1.5),
        _export("a", "2025-03-02", 24, 2.25),
        _export("b", "2025-03-01", 8, 10.0),
        failed_export,
        _export("c", "2025-03-01", 40, 7.0),
        Invocation(UPLOAD_FUNCTION, upload_event, upload_result),
    ]
    # When the run is summarised
    run = WorkflowRun.from_execution(
        "arn:aws:states:us-east-1:123456789012:execution:m:e",
        status="FAILED",
        error="ExportFailed",
        cause="These days could not be exported",
        invocations=invocations,
    )
    lines = format_summary(run).splitlines()
    # Then each source has its days, rows and cost
    by_source = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (["a"], ["b"], ["c"])}
    assert by_source["a"][1:] == ["cbi-oi-kubecost-ab", "USD", "2", "2", "0", "0", "0", "40", "3.75"]
    assert by_source["b"][1:] == ["cbi-oi-kubecost-ab", "USD", "2", "1", "0", "1", "0", "8", "10.00"]
    assert by_source["c"][1:] == ["cbi-oi-kubecost-c", "EUR", "1", "1", "0", "0", "0", "40", "7.00"]
    assert "  failed b 2025-03-02: KubecostUnavailable" in lines
    # And each bill connect's month its upload, with the source that blocks an incomplete one
    (ab,) = [line for line in lines if line.startswith("cbi-oi-kubecost-ab ")]
    (c,) = [line for line in lines if line.startswith("cbi-oi-kubecost-c ")]
    assert ab.split()[1:4] == ["2025-03", "a,", "b"]
    assert ab.endswith("skipped-incomplete")
    assert "committed (1 file(s), 900 bytes, bill upload u-1)" in c
    assert "  2025-03 waits for b: 2025-03-02" in lines


DEMO: Final = ROOT / "local" / "demo-sources.json"


def _demo(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    """``make demo``'s run, on three days of one month (the previous month left out) and three allocations a day."""
    monkeypatch.setenv("INCLUDE_PREVIOUS_MONTH", "false")
    status = main(["--today", "2025-03-03", "--allocations", "3", "--fast-retries", "--sources", str(DEMO)])
    return status, capsys.readouterr().out.splitlines()


def test_the_demo_exports_three_sources_and_reconciles_each_bill_connect_per_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # When the demo's three sources run: two Kubecost emulators in one bill connect, an OpenCost alone
    status, lines = _demo(capsys, monkeypatch)
    # Then each source exported its three days
    assert status == 0, "\n".join(lines)
    by_source = {
        line.split()[0]: line.split() for line in lines if line.split()[:1] in (["prod-eu"], ["prod-us"], ["lab"])
    }
    assert {name: fields[1:6] for name, fields in by_source.items()} == {
        "prod-eu": ["cbi-oi-kubecost-prod", "USD", "3", "3", "0"],
        "prod-us": ["cbi-oi-kubecost-prod", "USD", "3", "3", "0"],
        "lab": ["cbi-oi-kubecost-lab", "USD", "3", "3", "0"],
    }
    # And each bill connect committed its month: the merged one with both sources' files
    uploads = {line.split()[0]: line for line in lines if line.startswith("cbi-oi-kubecost-") and "committed" in line}
    assert "prod-eu, prod-us" in uploads["cbi-oi-kubecost-prod"]
    assert "committed (6 file(s)" in uploads["cbi-oi-kubecost-prod"]
    assert "committed (3 file(s)" in uploads["cbi-oi-kubecost-lab"]
    # And every source of every committed month matches its emulator: days, rows and cost
    reconciled = [line.split() for line in lines if line.startswith("cbi-oi-kubecost-") and line.endswith(" yes")]
    assert sorted((fields[0], fields[2], fields[3]) for fields in reconciled) == [
        ("cbi-oi-kubecost-lab", "lab", "3"),
        ("cbi-oi-kubecost-prod", "prod-eu", "3"),
        ("cbi-oi-kubecost-prod", "prod-us", "3"),
    ]


def test_a_source_that_does_not_reconcile_fails_the_demo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an emulator whose days are expected to hold one allocation more than they gave
    real = runner_emulators.expected_days

    def one_more(*args: Any) -> tuple[int, float]:
        rows, cost = real(*args)
        return rows + 8, cost

    monkeypatch.setattr(runner_sources, "expected_days", one_more)
    # When the demo runs
    status, lines = _demo(capsys, monkeypatch)
    # Then the reconciliation says which source differs, and the exit status is 1 though the execution succeeded
    assert any(line.startswith("Execution ") and line.endswith("SUCCEEDED") for line in lines)
    assert sum("NO (expected" in line for line in lines) == 3
    assert status == 1


def test_a_plan_that_did_not_read_the_document_fails_the_demo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a plan function run without the sources document's key (a stack that ignores the document)
    real = plan_app.lambda_handler

    def without_document(event: dict[str, Any], context: Any) -> Any:
        with mock.patch.dict(os.environ, {"SOURCES_DOCUMENT_KEY": ""}):
            return real(event, context)

    monkeypatch.setattr(plan_app, "lambda_handler", without_document)
    # When the demo runs
    status, lines = _demo(capsys, monkeypatch)
    # Then it fails, saying so
    assert (
        "The plan did not read the sources document (s3://kubecost-flexera-local-exports/config/sources.json)" in lines
    )
    assert status == 1
