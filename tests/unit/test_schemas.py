"""The JSON Schemas under docs/schemas/ are those of the models, and every sample event in events/ follows its own.

Each file of events/ is checked twice: against its committed schema (what a user reads; with jsonschema, dates
checked as formats) and by the model itself (the rules a schema cannot say, such as a date that exists).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import TypeAdapter, ValidationError

from local import schemas

EVENTS: Final = Path(__file__).resolve().parents[2] / "events"
# Which payload each sample is. The execution input is what a run is started with (the console, `aws stepfunctions
# start-execution`, the schedule); the others are the event of one function (`sam local invoke -e`).
EVENT_SCHEMAS: Final = {
    "backfill.json": "execution-input",
    "dry-run.json": "execution-input",
    "run-today.json": "execution-input",
    "scheduler.json": "execution-input",
    "backfill-sources.json": "execution-input",
    "plan.json": "plan-event",
    "export-day.json": "day-event",
    "upload.json": "upload-event",
}


def validator(name: str) -> Draft202012Validator:
    schema = json.loads(schemas.schema_path(name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.parametrize("name", schemas.PAYLOADS)
def test_committed_schema_is_the_models_schema(name: str) -> None:
    # Given the committed schema file / Then it is what `make schemas` writes from the models now
    path = schemas.schema_path(name)
    assert path.is_file(), f"{path} is missing: run `make schemas`"
    assert path.read_text() == schemas.schema_text(name), f"{path} differs from the models: run `make schemas`"


def test_schemas_folder_holds_only_generated_files() -> None:
    assert sorted(path.name for path in schemas.SCHEMAS.iterdir()) == sorted(
        schemas.schema_path(name).name for name in schemas.PAYLOADS
    )


def test_every_sample_event_has_a_schema() -> None:
    assert sorted(path.name for path in EVENTS.glob("*.json")) == sorted(EVENT_SCHEMAS)


@pytest.mark.parametrize(("file", "name"), EVENT_SCHEMAS.items())
def test_sample_event_follows_its_schema_and_its_model(file: str, name: str) -> None:
    event = json.loads((EVENTS / file).read_text())
    errors = [error.message for error in validator(name).iter_errors(event)]
    assert errors == []
    TypeAdapter(schemas.PAYLOADS[name]).validate_python(event)


def _broken(event: Any) -> Any:
    """The event with a field nobody reads, at its top level."""
    return {**event, "unexpected": True}


@pytest.mark.parametrize(("file", "name"), EVENT_SCHEMAS.items())
def test_schema_and_model_both_refuse_a_sample_with_an_unknown_field(file: str, name: str) -> None:
    event = _broken(json.loads((EVENTS / file).read_text()))
    assert not validator(name).is_valid(event)
    with pytest.raises(ValidationError):
        TypeAdapter(schemas.PAYLOADS[name]).validate_python(event)


@pytest.mark.parametrize("today", ["2025-02-30", "2025-7-15"])
def test_schema_refuses_what_is_not_a_date(today: str) -> None:
    # Given the sample run pinned to a day that does not exist, or is not zero-padded
    event = json.loads((EVENTS / "run-today.json").read_text()) | {"today": today}
    # Then the schema refuses it, as the plan does
    assert not validator("execution-input").is_valid(event)
