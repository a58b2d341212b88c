"""The workflow's contracts: every payload that passes between the states of ``statemachine/export.asl.json``.

In the order of a run:

- :class:`PlanEvent`, the plan function's event: the execution input (:data:`ExecutionInput`: a scheduled run
  ``{}``/``{"source": "schedule"}``, an EventBridge ``Scheduled Event``, or a :class:`ManualRun`) wrapped by the
  state machine with the execution's and its own ARN;
- :class:`PlanOutput`, the plan's output and the state the Map and the upload read;
- :class:`DayEvent`, one item of the Map, the export function's event;
- the day result (:data:`DayResult`): :class:`DayExported` from the export function, or :class:`DayFailed`, which the
  state machine builds when a day's export failed for good;
- :class:`UploadEvent`, the upload function's event (the plan output and one result per day), and
  :class:`UploadOutput`, its output (one :class:`MonthOutcome` per month).

This module is the only one that knows the JSON field names. Every model is strict (a flag is a JSON boolean, a
number is a JSON number) and refuses fields it does not define: an unknown field could be a typo of one that is,
silently ignored otherwise. :func:`parse` validates an event and turns every problem of it into one
:class:`InvalidRequest` that names each field, its value and what is allowed. ``make schemas`` writes the JSON Schema
of each payload under ``docs/schemas/`` from these models.

Schemas are built when a model is first used (``defer_build``): each function uses two or three models, and building
all of them at import would add to every cold start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, Self, TypeVar, Union, get_args, get_origin

from aws_lambda_powertools.utilities.parser import parse as parse_event
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    Tag,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from kubecost_flexera.errors import MAX_DAY_ERROR_MESSAGE_BYTES, InvalidRequest, truncated

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import ErrorDetails

_ModelT = TypeVar("_ModelT", bound="Contract")

DATE_PATTERN: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MONTH_PATTERN: Final = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
CURRENCY_PATTERN: Final = r"^[A-Z]{3}$"
STATE_MACHINE_ARN_PATTERN: Final = r"^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}$"
MAX_ERROR_NAME_CHARS: Final = 256  # Step Functions' limit on an error name
_DATE_RE: Final = re.compile(DATE_PATTERN)
_CURRENCY_RE: Final = re.compile(CURRENCY_PATTERN)
_SHOWN_VALUE_CHARS: Final = 120  # a value longer than this is cut in messages (a day result, a 3 KB cause)
_ALLOWED: Final = "allowed"  # the error type of a value outside its type's rule; the message says what is allowed
_RULE: Final = "rule"  # the error type of a rule over several fields; its message is a whole sentence
_DRY_RUN: Final = "export, but upload nothing"
_FORCE_UPLOAD: Final = "upload months even when unchanged, and ended months that miss days"
_EXECUTION_ID: Final = "$$.Execution.Id, the correlation id of the logs"


# --- Value types: each says, once, what it allows; its messages and its schema both say it. ---


@dataclass(frozen=True)
class Allowed:
    """Annotation stating what a value may be: the description of its schema and, for any value its type refuses,
    the error ``allowed <text>`` (instead of pydantic's generic wording)."""

    text: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "description": self.text}

    def _validate(self, value: object, validate: core_schema.ValidatorFunctionWrapHandler) -> object:
        try:
            return validate(value)
        except ValidationError:
            raise refused(self.text) from None


def refused(allowed: str) -> PydanticCustomError:
    """The error of a value outside its rule; its message is ``allowed <allowed>``."""
    return PydanticCustomError(_ALLOWED, "allowed {allowed}", {"allowed": allowed})


_DATE_TEXT: Final = "an existing calendar date as a string YYYY-MM-DD"


def calendar_date(value: object) -> date:
    """A date written ``YYYY-MM-DD`` (zero-padded, no time, no offset) that exists in the calendar; a ``date`` as
    it is (an output built in Python). Raises ``ValueError`` otherwise."""
    if type(value) is date:
        return value
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise refused(_DATE_TEXT)


def _existing_month(value: str) -> str:
    date(int(value[:4]), int(value[5:]), 1)  # year 0000 does not exist
    return value


def currency_code(text: str) -> str | None:
    """``text`` as an ISO 4217 code (trimmed, upper-cased: ``"usd"``, ``"EUR "``), or None when it is not one.

    The shape (three letters A-Z) is checked, not membership of the ISO list: no list ships with Python, and the
    reference passes any currency string on to Flexera.
    """
    stripped = text.strip()
    code = stripped.upper()
    return code if stripped.isascii() and _CURRENCY_RE.match(code) else None


def _json_cause(cause: str) -> str:
    if truncated(cause, MAX_DAY_ERROR_MESSAGE_BYTES) != cause:
        raise ValueError(cause)
    return cause


def _ascending(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if any(later <= earlier for earlier, later in pairwise(values)):
        raise refused("values in ascending order, without repeats")
    return values


# Strict date validation would refuse any string in Python mode (the mode Powertools' parser uses for a dict event),
# so a day is validated by calendar_date and written back as YYYY-MM-DD.
_DAY: Final = (
    PlainValidator(calendar_date),
    PlainSerializer(date.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN, "description": _DATE_TEXT}),
)
Day = Annotated[date, *_DAY]
OptionalDay = Annotated[date | None, *_DAY]  # may be absent (None), but null is not a day
Month = Annotated[
    str, StringConstraints(pattern=MONTH_PATTERN), AfterValidator(_existing_month), Allowed("a month YYYY-MM")
]
Currency = Annotated[
    str,
    StringConstraints(pattern=CURRENCY_PATTERN),
    Allowed("3 upper-case letters, an ISO 4217 code such as USD"),
]
ExecutionId = Annotated[str, StringConstraints(min_length=1), Allowed("the execution ARN, a string")]
StateMachineArn = Annotated[
    str,
    StringConstraints(pattern=STATE_MACHINE_ARN_PATTERN),
    Allowed(
        "the ARN of this workflow's state machine (arn:<partition>:states:<region>:<account>:stateMachine:<name>), "
        "as $$.StateMachine.Id gives it"
    ),
]
# Arrays are tuples (models are frozen) and not strict, so that a JSON list is taken (JSON has no other array).
Days = Annotated[tuple[Day, ...], Field(strict=False), AfterValidator(_ascending)]
Months = Annotated[tuple[Month, ...], Field(strict=False), AfterValidator(_ascending)]
ErrorName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ERROR_NAME_CHARS),
    Allowed(f"an error name of 1 to {MAX_ERROR_NAME_CHARS} characters"),
]
ErrorCause = Annotated[
    str,
    AfterValidator(_json_cause),
    Allowed(f"a message of at most {MAX_DAY_ERROR_MESSAGE_BYTES} bytes (JSON-encoded), not Lambda's whole error"),
]


SOURCE_NAME_PATTERN: Final = r"^[a-z0-9-]{1,32}$"
SourceName = Annotated[
    str,
    StringConstraints(pattern=SOURCE_NAME_PATTERN),
    Allowed("a source name of 1 to 32 characters a-z, 0-9 and '-'"),
]
SourceNames = Annotated[tuple[SourceName, ...], Field(strict=False)]
BillConnectId = Annotated[str, StringConstraints(min_length=1), Allowed("a Flexera bill connect id, a string")]
# A source's settings: the single-source variables it sets (sources.py says which), as their environment text.
SourceSettings = Annotated[dict[str, str], Field(strict=False)]


class Contract(BaseModel):
    """A payload between states. ``label`` names a payload a person writes (an event, the execution input): its
    fields are named from it in messages, without the path the state machine puts it under."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        defer_build=True,
    )
    label: ClassVar[str | None] = None

    @classmethod
    def of(cls, source: object) -> Self:
        """This payload read from the attributes of a domain object (or the keys of a dict) of its field names."""
        return cls.model_validate(source, from_attributes=True, by_name=True)


# --- The execution input and the plan ---


class RunOptions(Contract):
    """The run options the plan chose, as every later step receives them."""

    dry_run: bool = Field(default=False, alias="dryRun", description=_DRY_RUN)
    force_upload: bool = Field(default=False, alias="forceUpload", description=_FORCE_UPLOAD)


class ScheduledRun(Contract):
    """What the template's EventBridge Scheduler schedule passes: a scheduled run of today."""

    label = "the request"
    source: Annotated[Literal["schedule"], Allowed('exactly {"source": "schedule"} for a scheduled run')]


_SCHEDULED_EVENT: Final = Allowed("only an EventBridge 'Scheduled Event' from 'aws.events'")


class ScheduledEvent(Contract):
    """An EventBridge rule's ``Scheduled Event``: a scheduled run of today; the envelope's content is not read."""

    label = "the EventBridge scheduled event"
    detail_type: Annotated[Literal["Scheduled Event"], _SCHEDULED_EVENT] = Field(alias="detail-type")
    source: Annotated[Literal["aws.events"], _SCHEDULED_EVENT]
    version: Any = None
    id: Any = None
    account: Any = None
    time: Any = None
    region: Any = None
    resources: Any = None
    detail: Any = None


class ManualRun(Contract):
    """A manual run; with no field set it is the scheduled run of today."""

    label = "the request"
    today: OptionalDay = Field(
        default=None, description="the date the run behaves as (default: the current UTC date); not after it"
    )
    start: OptionalDay = Field(default=None, description="with end: backfill this range, not the scheduled window")
    end: OptionalDay = Field(default=None, description="with start: the backfill's last day; start <= end <= today")
    dry_run: bool = Field(default=False, description=_DRY_RUN)
    force_upload: bool = Field(default=False, description=_FORCE_UPLOAD)
    sources: SourceNames | None = Field(
        default=None,
        description="with a sources document: run only these sources (their bill connects are uploaded whole)",
    )

    @model_validator(mode="after")
    def _range_together(self) -> ManualRun:
        if (self.start is None) != (self.end is None):
            missing = "end" if self.end is None else "start"
            sentence = "A backfill needs both start and end; {missing} is missing: allowed YYYY-MM-DD"
            raise PydanticCustomError(_RULE, sentence, {"missing": missing})
        return self


def _request_kind(value: object) -> str | None:
    if not isinstance(value, dict):
        return None
    if "detail-type" in value:
        return ScheduledEvent.__name__
    return ScheduledRun.__name__ if "source" in value else ManualRun.__name__


ExecutionInput = Annotated[
    Annotated[ScheduledRun, Tag(ScheduledRun.__name__)]
    | Annotated[ScheduledEvent, Tag(ScheduledEvent.__name__)]
    | Annotated[ManualRun, Tag(ManualRun.__name__)],
    Discriminator(
        _request_kind,
        custom_error_type=_RULE,
        custom_error_message=(
            'The request must be a JSON object: allowed {} or {"source": "schedule"} (scheduled run), an EventBridge '
            '"Scheduled Event", or any of the fields today, start, end, dry_run, force_upload, sources'
        ),
    ),
]


class PlanEvent(Contract):
    """The plan function's event. ``stateMachineArn`` is ``$$.StateMachine.Id``: its name is CloudFormation's, so no
    environment variable can hold it without a circular reference."""

    label = "the plan event"
    request: ExecutionInput = Field(description="the state machine's input object")
    execution_id: ExecutionId | None = Field(default=None, alias="executionId", description=_EXECUTION_ID)
    state_machine_arn: StateMachineArn = Field(alias="stateMachineArn", description="$$.StateMachine.Id")

    @property
    def run(self) -> ManualRun:
        """The request as a manual run: a scheduled one is a manual run with nothing set (the clock decides)."""
        return self.request if isinstance(self.request, ManualRun) else ManualRun()


class PlanOutput(Contract):
    """What the run does: the state the Map (``days``) and the upload read."""

    today: Day = Field(description="the date the run behaves as")
    days: Days = Field(description="the days this run exports: the Map's items")
    kept_days: Days = Field(alias="keptDays", description="the days of the window whose current export stays")
    months: Months = Field(description="the months the upload sends")
    currency: Currency = Field(description="Kubecost's currency, read once")
    options: RunOptions


class SourcePlan(Contract):
    """One source of a run with a sources document: what its child execution exports (``ExportSources``)."""

    name: SourceName
    bill_connect_id: BillConnectId = Field(alias="billConnectId", description="the bill connect its days go to")
    currency: Currency = Field(description="this source's Kubecost currency, read once")
    days: Days = Field(description="the days this run exports for the source")
    kept_days: Days = Field(alias="keptDays", description="the days of the window whose current export stays")
    settings: SourceSettings = Field(description="the variables the source sets, over the stack's")


class BillConnect(Contract):
    """A bill connect the run uploads, with every source of the document that names it (in the run or not: a commit
    replaces the whole month, so the month is sent with every member's days)."""

    bill_connect_id: BillConnectId = Field(alias="billConnectId")
    sources: SourceNames = Field(description="the member sources, in the document's order")


class SourcesPlanOutput(Contract):
    """The plan's output with a sources document: the state ``ExportSources`` and ``UploadSources`` read. Its
    ``sources`` field is what the definition's ``SeveralSources`` choice tests."""

    today: Day = Field(description="the date the run behaves as")
    months: Months = Field(description="the months the upload sends")
    options: RunOptions
    sources: tuple[SourcePlan, ...] = Field(strict=False, min_length=1, description="the sources this run exports")
    bill_connects: tuple[BillConnect, ...] = Field(
        alias="billConnects", strict=False, description="the bill connects of the run's sources"
    )


# --- One day ---

ExportedStatus = Literal["written", "empty"]


class SourceRef(Contract):
    """The source of a day, as its export needs it: where its files go and the settings it sets."""

    name: SourceName
    settings: SourceSettings


class DayEvent(Contract):
    """One item of the Map: the export function's event."""

    label = "the export_day event"
    day: Day = Field(description="the day to export")
    currency: Currency = Field(description="the currency written in the bill's rows")
    # Built when used, not at import: the plan and the upload never need it. The export does the same either way.
    options: RunOptions = Field(default_factory=RunOptions, description="the run options; absent: none set")
    execution_id: ExecutionId | None = Field(default=None, alias="executionId", description=_EXECUTION_ID)
    source: SourceRef | None = Field(default=None, description="with a sources document: the day's source")


class DayExported(Contract):
    """The export function's result: the day was replaced (``written``), or Kubecost had no allocation for it and its
    previous export stays (``empty``)."""

    day: Day
    status: ExportedStatus
    parts: NonNegativeInt = Field(description="the CSV parts written")
    rows: NonNegativeInt = Field(description="the rows of every part")
    allocations: NonNegativeInt = Field(description="the Kubecost allocations exported")
    cost: float = Field(description="the day's total cost")


class DayError(Contract):
    """A failed day's error, as the state machine records it: small, so that the results of 366 days fit in one
    state."""

    error: ErrorName = Field(alias="Error", description="the error's name: a class of errors.py, or Step Functions'")
    cause: ErrorCause | None = Field(default=None, alias="Cause", description="the typed error's bounded message")


class DayFailed(Contract):
    """A day whose export failed for good (``TypedDayFailed``/``DayFailed`` in the definition); the upload sends its
    last good export, if any."""

    day: Day
    status: Literal["failed"]
    error: DayError


DayResult = Annotated[DayExported | DayFailed, Field(discriminator="status")]


class SourceDayResult(Contract):
    """A day's result as a source's child execution keeps it: the status and, for a failed day, the error's name.
    Compact on purpose (about 60 bytes): the results of every source and day share the parent's state; the counts are
    in the manifests and the metrics, a failure's message in the child execution's history and the function's log."""

    day: Day
    status: Literal["written", "empty", "failed"]
    error: ErrorName | None = Field(default=None, description="the error's name, for a failed day")


class SourceResult(Contract):
    """What a source's child execution returns (``SourceResult`` in the definition)."""

    source: SourceName
    day_results: tuple[SourceDayResult, ...] = Field(alias="dayResults", strict=False)


# --- The upload ---

MonthStatus = Literal["committed", "skipped-unchanged", "skipped-incomplete", "dry-run", "failed"]


class UploadEvent(Contract):
    """The upload function's event: the plan output (without ``keptDays``) and one result per planned day."""

    label = "the upload event"
    today: Day = Field(description="the plan's today; checked, not used: the real clock says which month is current")
    days: Days = Field(description="the planned days")
    months: Months = Field(description="the months to upload")
    currency: Currency
    options: RunOptions
    day_results: tuple[DayResult, ...] = Field(
        alias="dayResults", strict=False, description="one result per day of days, in the same order"
    )
    execution_id: ExecutionId | None = Field(default=None, alias="executionId", description=_EXECUTION_ID)

    @model_validator(mode="after")
    def _one_result_per_day(self) -> UploadEvent:
        if len(self.day_results) != len(self.days):
            raise PydanticCustomError(
                _RULE, "dayResults must be a list with one result per day of days, in the same order"
            )
        wrong = [
            f"dayResults[{index}].day must be {day.isoformat()}, the planned day at that position"
            for index, (result, day) in enumerate(zip(self.day_results, self.days, strict=True))
            if result.day != day
        ]
        if wrong:
            raise PydanticCustomError(_RULE, "{wrong}", {"wrong": "; ".join(wrong)})
        return self

    @property
    def failed_days(self) -> tuple[date, ...]:
        return tuple(result.day for result in self.day_results if result.status == "failed")


class MonthOutcome(Contract):
    """What the upload did with one month."""

    month: Month
    status: MonthStatus
    bill_upload_id: str | None = Field(alias="billUploadId", description="Flexera's bill upload, when there is one")
    files: NonNegativeInt
    bytes: NonNegativeInt
    error: str | None = Field(description="why the month failed")
    missing_days: Days = Field(alias="missingDays", description="days without an export in what was uploaded")


class UploadOutput(Contract):
    """The upload function's result; ``failedDays`` makes the execution fail after the upload."""

    months: tuple[MonthOutcome, ...] = Field(strict=False)
    failed_days: Days = Field(alias="failedDays", description="the days whose export failed")


class SourcesUploadEvent(Contract):
    """The upload function's event with a sources document: the plan output and one result per source of it."""

    label = "the upload event"
    today: Day = Field(description="the plan's today; checked, not used: the real clock says which month is current")
    months: Months = Field(description="the months to upload")
    options: RunOptions
    sources: tuple[SourcePlan, ...] = Field(strict=False, min_length=1)
    bill_connects: tuple[BillConnect, ...] = Field(alias="billConnects", strict=False)
    source_results: tuple[SourceResult, ...] = Field(
        alias="sourceResults", strict=False, description="one result per source of sources, in the same order"
    )
    execution_id: ExecutionId | None = Field(default=None, alias="executionId", description=_EXECUTION_ID)

    @model_validator(mode="after")
    def _one_result_per_source_and_day(self) -> SourcesUploadEvent:
        if len(self.source_results) != len(self.sources):
            raise PydanticCustomError(
                _RULE, "sourceResults must be a list with one result per source of sources, in the same order"
            )
        wrong = [
            f"sourceResults[{index}] must be the result of source {plan.name!r} with one result per planned day, "
            "in order"
            for index, (result, plan) in enumerate(zip(self.source_results, self.sources, strict=True))
            if result.source != plan.name or tuple(day.day for day in result.day_results) != plan.days
        ]
        if wrong:
            raise PydanticCustomError(_RULE, "{wrong}", {"wrong": "; ".join(wrong)})
        return self

    @model_validator(mode="after")
    def _bill_connects_of_the_sources(self) -> SourcesUploadEvent:
        """The bill connects are the plan's: each once, each member once, each run source in its bill connect."""
        problems = []
        members: dict[str, str] = {}
        for index, connect in enumerate(self.bill_connects):
            if any(other.bill_connect_id == connect.bill_connect_id for other in self.bill_connects[:index]):
                problems.append(f"billConnects[{index}]: bill connect {connect.bill_connect_id!r} is listed twice")
            if not connect.sources:
                problems.append(f"billConnects[{index}]: bill connect {connect.bill_connect_id!r} lists no source")
            for source in connect.sources:
                if source in members:
                    problems.append(
                        f"billConnects[{index}]: source {source!r} is also a member of {members[source]!r}: a "
                        "source has one bill connect"
                    )
                members[source] = connect.bill_connect_id
        problems.extend(
            f"sources[{index}]: source {plan.name!r} names bill connect {plan.bill_connect_id!r}, whose billConnects "
            "entry must list it"
            for index, plan in enumerate(self.sources)
            if members.get(plan.name) != plan.bill_connect_id
        )
        if problems:
            raise PydanticCustomError(
                _RULE,
                "{count} problem(s) in the bill connects: {problems}",
                {"count": len(problems), "problems": "; ".join(problems)},
            )
        return self


MAX_FAILED_RANGES: Final = 3
"""The ranges of days a :class:`FailedSourceDays` lists; the other days are counted (the upload's log has all)."""


class FailedSourceDays(Contract):
    """A source's days whose export failed for good with one error, as ranges (``calendar.day_ranges``, at most
    :data:`MAX_FAILED_RANGES`): a few bytes per source in the execution's state, whatever its days."""

    source: SourceName
    error: ErrorName | None = None
    days: str = Field(
        min_length=10,
        max_length=100,
        description="the failed days as ranges, the days past the ranges listed counted ('and 12 more days')",
        examples=["2025-07-01..2025-07-31, 2025-08-03 and 12 more days"],
    )


class SourcesMonthOutcome(MonthOutcome):
    """What the upload did with one month of one bill connect; ``missingBySource`` names the sources that block an
    incomplete month, with their missing days."""

    missing_by_source: dict[SourceName, Days] = Field(alias="missingBySource", strict=False)


class BillConnectOutcome(Contract):
    """The months of one bill connect."""

    bill_connect_id: BillConnectId = Field(alias="billConnectId")
    sources: SourceNames
    months: tuple[SourcesMonthOutcome, ...] = Field(strict=False)


class SourcesUploadOutput(Contract):
    """The upload function's result with a sources document; ``failedDays`` makes the execution fail after it."""

    bill_connects: tuple[BillConnectOutcome, ...] = Field(alias="billConnects", strict=False)
    failed_days: tuple[FailedSourceDays, ...] = Field(alias="failedDays", strict=False)


# --- Parsing an event: every problem in one InvalidRequest ---


def parse(event: object, model: type[_ModelT]) -> _ModelT:
    """``event`` validated by Powertools' parser; raises :class:`InvalidRequest` listing every problem of it."""
    if not isinstance(event, dict):  # the parser would decode a string as JSON: an event is an object
        raise InvalidRequest(_not_an_object(model))
    try:
        return parse_event(event=event, model=model)
    except ValidationError as error:
        raise InvalidRequest(describe(error, model)) from None


def describe(error: ValidationError, model: type[Contract]) -> str:
    """One sentence per problem, each naming the field's path, its value and what is allowed; the unknown fields of
    one object are named together."""
    entries: list[str | tuple[str | int, ...]] = []
    unknown: dict[tuple[str | int, ...], list[str]] = {}
    for detail in error.errors(include_url=False):
        if detail["type"] != "extra_forbidden":
            entries.append(_problem(detail, model))
            continue
        parent = detail["loc"][:-1]
        if parent not in unknown:
            unknown[parent] = []
            entries.append(parent)
        unknown[parent].append(str(detail["loc"][-1]))
    sentences = [entry if isinstance(entry, str) else _unknown(model, entry, unknown[entry]) for entry in entries]
    if len(sentences) == 1:
        return sentences[0]
    return f"{len(sentences)} problems in {model.label or 'the event'}: " + "; ".join(sentences)


@dataclass(frozen=True)
class _Place:
    """Where a location of an error leads: the model (or type) there, its path as messages show it, its label."""

    target: Any
    path: str
    label: str | None

    @property
    def where(self) -> str:
        return self.label or self.path or "the event"

    def field_path(self, name: str | int) -> str:
        if isinstance(name, int):
            return f"{self.path}[{name}]"
        return f"{self.path}.{name}" if self.path else str(name)


def _walk(model: type[Contract], loc: Sequence[str | int]) -> _Place:
    """Follows ``loc`` through fields, lists and unions; a union's tag is not part of a path, and the fields of a
    labelled model are named from it."""
    target: Any = model
    path, label = "", model.label
    for item in loc:
        member = _union_member(target, item)
        if member is not None:
            target = member
        elif isinstance(item, int):
            path, target = f"{path}[{item}]", next(iter(get_args(target)), None)
        else:
            field = _field(target, item)
            path, target = f"{path}.{item}" if path else item, field.annotation if field is not None else None
        target = _unwrap(target)
        if isinstance(target, type) and issubclass(target, Contract) and target.label:
            path, label = "", target.label
        elif path:
            label = None
    return _Place(target, path, label)


def _unwrap(target: Any) -> Any:
    while get_origin(target) is Annotated:
        target = get_args(target)[0]
    return target


def _is_union(target: Any) -> bool:
    return get_origin(target) in {Union, UnionType}


def _union_member(target: Any, tag: str | int) -> type[Contract] | None:
    if not _is_union(target):
        return None
    for member in map(_unwrap, get_args(target)):
        if not (isinstance(member, type) and issubclass(member, Contract)):
            continue
        literals = (get_args(field.annotation) for field in member.model_fields.values())
        if member.__name__ == tag or any(tag in values for values in literals):
            return member
    return None


def _field(target: Any, alias: str | int) -> Any:
    if not (isinstance(target, type) and issubclass(target, Contract)):
        return None
    return next((f for name, f in target.model_fields.items() if (f.alias or name) == alias), None)


def _aliases(target: Any) -> list[str]:
    if not (isinstance(target, type) and issubclass(target, Contract)):
        return []
    return [field.alias or name for name, field in target.model_fields.items()]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 3] + "..."


def _not_an_object(model: type[Contract]) -> str:
    label = model.label or "the event"
    return f"{label[0].upper()}{label[1:]} must be a JSON object with the fields {', '.join(_aliases(model))}"


def _unknown(model: type[Contract], parent: Sequence[str | int], names: list[str]) -> str:
    place = _walk(model, parent)
    return (
        f"Unknown field(s) {', '.join(repr(name) for name in sorted(names))} in {place.where}: "
        f"allowed fields are {', '.join(_aliases(place.target))}"
    )


_TYPE_ALLOWED: Final = {
    "bool_type": "true or false (JSON booleans)",
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "greater_than_equal": "a number >= {ge}",
}


def _problem(detail: ErrorDetails, model: type[Contract]) -> str:
    loc, kind = detail["loc"], detail["type"]
    if kind == _RULE:
        return detail["msg"]
    if not loc and kind in {"model_type", "model_attributes_type"}:
        return _not_an_object(model)
    place = _walk(model, loc)
    if kind == "missing" and loc:
        parent = _walk(model, loc[:-1])
        return f"missing field {loc[-1]!r} in {parent.where}{_what(_field(parent.target, loc[-1]))}"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        return _tag_problem(detail, place)
    return f"{place.path or place.where}={_shown(detail['input'])} is invalid: allowed {_allowed(detail, place)}"


def _allowed(detail: ErrorDetails, place: _Place) -> str:
    kind, context = detail["type"], detail.get("ctx", {})
    if kind == _ALLOWED:
        return str(context["allowed"])
    if kind == "literal_error":
        return str(context["expected"])
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        members = get_args(place.target) if _is_union(place.target) else (place.target,)
        return "a JSON object with the fields " + " or ".join(", ".join(_aliases(_unwrap(m))) for m in members)
    return _TYPE_ALLOWED.get(kind, detail["msg"]).format(**context)


def _tag_problem(detail: ErrorDetails, place: _Place) -> str:
    """The discriminator of a union (a day result's ``status``) is missing or has no member."""
    context = detail.get("ctx", {})
    name = str(context["discriminator"]).strip("'")
    tags = [tag for member in get_args(place.target) for tag in get_args(_literal(member, name))]
    allowed = f"one of {', '.join(repr(tag) for tag in tags)}"
    if detail["type"] == "union_tag_not_found":
        return f"missing field {name!r} in {place.where}: allowed {allowed}"
    return f"{place.field_path(name)}={context['tag']!r} is invalid: allowed {allowed}"


def _literal(member: Any, name: str) -> Any:
    field = _field(_unwrap(member), name)
    return field.annotation if field is not None else None


def _what(field: Any) -> str:
    """What a missing field holds: its type's :class:`Allowed` text, else the field's description."""
    if field is None:
        return ""
    allowed = next((item.text for item in field.metadata if isinstance(item, Allowed)), None)
    if allowed is not None:
        return f": allowed {allowed}"
    return f": {field.description}" if field.description else ""
