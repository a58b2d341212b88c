"""Writes the JSON Schema of each payload of the workflow (``kubecost_flexera.contracts``) under ``docs/schemas/``.

Usage::

    python -m local.schemas           # rewrite docs/schemas/*.schema.json (make schemas)
    python -m local.schemas --check   # exit 1 naming each file that differs from the models

The schemas are generated, never edited: tests/unit/test_schemas.py fails when a committed file drifts from the
models. They describe what each step accepts (pydantic's validation mode); a few rules only the models check, such as
a date that exists (``2025-02-30`` has the pattern of a date) and one day result per planned day, in order.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import TypeAdapter

from kubecost_flexera import contracts

if TYPE_CHECKING:
    from collections.abc import Sequence

SCHEMAS: Final = Path(__file__).resolve().parents[1] / "docs" / "schemas"
# One file per payload, in the order of a run. The execution input is what a person or the schedule starts a run
# with; the plan event is that input as the state machine passes it to the plan function.
PAYLOADS: Final[dict[str, Any]] = {
    "execution-input": contracts.ExecutionInput,
    "plan-event": contracts.PlanEvent,
    "plan-output": contracts.PlanOutput,
    "day-event": contracts.DayEvent,
    "day-result": contracts.DayResult,
    "upload-event": contracts.UploadEvent,
    "upload-output": contracts.UploadOutput,
    # With a sources document (docs/sources.md): the plan's output, one source's child execution result, and the
    # upload's event and output per bill connect. The day event is the one above, with its source.
    "sources-plan-output": contracts.SourcesPlanOutput,
    "source-result": contracts.SourceResult,
    "sources-upload-event": contracts.SourcesUploadEvent,
    "sources-upload-output": contracts.SourcesUploadOutput,
}


def schema_path(name: str) -> Path:
    return SCHEMAS / f"{name}.schema.json"


def schema(name: str) -> dict[str, Any]:
    generated = TypeAdapter(PAYLOADS[name]).json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name, **generated}


def schema_text(name: str) -> str:
    """The file's content: stable (pydantic's order, two-space indent, one final newline)."""
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        drifted = [name for name in PAYLOADS if not _matches(name)]
        for name in drifted:
            print(f"{schema_path(name)} differs from the models: run `make schemas`", file=sys.stderr)
        return 1 if drifted else 0
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for name in PAYLOADS:
        schema_path(name).write_text(schema_text(name))
        print(schema_path(name))
    return 0


def _matches(name: str) -> bool:
    path = schema_path(name)
    return path.is_file() and path.read_text() == schema_text(name)


if __name__ == "__main__":
    sys.exit(main())
