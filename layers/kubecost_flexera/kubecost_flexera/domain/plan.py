"""The plan of one workflow run: the request it accepts, the days and months it chooses, the JSON the next steps get.

The plan is the workflow's gate: everything it accepts is executed, so it refuses anything it does not understand
before any side effect (an unknown field could be a typo of ``force_upload`` that would otherwise be ignored).

Accepted requests (the state machine's input):

- A scheduled run, which exports the reference program's window for today (``calendar.scheduled_window``):
  ``{}`` or ``{"source": "schedule"}`` (what the template's EventBridge Scheduler schedule passes), or the
  ``"Scheduled Event"`` of an EventBridge rule (``"source": "aws.events"``, ``"detail-type": "Scheduled Event"``).
  The date is the UTC date of the clock, read once.
- A manual run: any combination of
  ``"today": "YYYY-MM-DD"`` (pin the date the run behaves as; not after the current UTC date),
  ``"start"`` and ``"end"`` (``"YYYY-MM-DD"``, together: backfill this range instead of the scheduled window,
  ``start <= end <= today``, at most 366 days),
  ``"dry_run": true`` (export, but upload nothing) and ``"force_upload": true`` (upload months even when unchanged).

A scheduled window may keep some of its days (``REFRESH_DAYS``, ``refresh.py``): the output's ``days`` are the
days this run exports (the Map's items), ``keptDays`` the days of the window whose current export stays.

Input fields are snake_case, as users type them; the plan's output uses the workflow's camelCase contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kubecost_flexera.domain.calendar import Window, backfill_window, scheduled_window
from kubecost_flexera.errors import ConcurrentExecution, InvalidRequest
from kubecost_flexera.events import bool_field, date_value, refuse_unknown

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import date

SCHEDULE_SOURCE: Final = "schedule"
MANUAL_FIELDS: Final = ("today", "start", "end", "dry_run", "force_upload")
# The envelope EventBridge puts around a rule's scheduled event; its content does not change the plan.
EVENTBRIDGE_FIELDS: Final = frozenset(
    {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
)
PLAN_EVENT_FIELDS: Final = ("request", "executionId", "stateMachineArn")
_STATE_MACHINE_ARN_RE: Final = re.compile(
    r"^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]{1,80}$"
)
_ALLOWED_REQUESTS: Final = (
    'allowed {} or {"source": "schedule"} (scheduled run), an EventBridge "Scheduled Event", or any of the fields '
    + ", ".join(MANUAL_FIELDS)
)


@dataclass(frozen=True)
class PlanRequest:
    """A validated request. ``today`` is ``None`` when the clock decides; ``start``/``end`` are set together."""

    today: date | None = None
    start: date | None = None
    end: date | None = None
    dry_run: bool = False
    force_upload: bool = False

    @property
    def keeps_days(self) -> bool:
        """Whether the refresh window applies: a scheduled window; a backfill or a forced upload exports every day."""
        return self.start is None and not self.force_upload


@dataclass(frozen=True)
class PlanEvent:
    """The plan function's event: the state machine's input, the execution it runs in and its state machine (whose
    other executions it refuses to run beside)."""

    request: PlanRequest
    execution_id: str | None
    state_machine_arn: str


@dataclass(frozen=True)
class Plan:
    """What the workflow does: the window, the days of it that keep their export, the currency, the run options."""

    window: Window
    currency: str
    dry_run: bool
    force_upload: bool
    kept_days: tuple[date, ...] = ()

    def to_output(self) -> dict[str, Any]:
        """The plan output of the workflow contract (the state the Map and the upload see)."""
        kept = frozenset(self.kept_days)
        return {
            "today": self.window.today.isoformat(),
            "days": [day.isoformat() for day in self.window.days if day not in kept],
            "keptDays": [day.isoformat() for day in sorted(kept)],
            "months": list(self.window.months),
            "currency": self.currency,
            "options": {"dryRun": self.dry_run, "forceUpload": self.force_upload},
        }


def parse_plan_event(event: object) -> PlanEvent:
    """``{"request": <state machine input>, "executionId": "<execution ARN>", "stateMachineArn": "<its ARN>"}``;
    ``executionId`` is optional. The state machine passes ``$$.StateMachine.Id``: its name is CloudFormation's, so
    no environment variable can hold it without a circular reference."""
    if not isinstance(event, dict):
        raise InvalidRequest(f"The plan event must be a JSON object with the fields {', '.join(PLAN_EVENT_FIELDS)}")
    refuse_unknown(event, PLAN_EVENT_FIELDS, "the plan event")
    if "request" not in event:
        raise InvalidRequest("The plan event has no field 'request': allowed the state machine's input object")
    execution_id = event.get("executionId")
    if execution_id is not None and not (isinstance(execution_id, str) and execution_id):
        raise InvalidRequest(f"executionId={execution_id!r} is invalid: allowed the execution ARN, a string")
    state_machine_arn = event.get("stateMachineArn")
    if not (isinstance(state_machine_arn, str) and _STATE_MACHINE_ARN_RE.match(state_machine_arn)):
        raise InvalidRequest(
            f"stateMachineArn={state_machine_arn!r} is invalid: allowed the ARN of this workflow's state machine "
            "(arn:<partition>:states:<region>:<account>:stateMachine:<name>), as $$.StateMachine.Id gives it"
        )
    return PlanEvent(
        request=parse_request(event["request"]), execution_id=execution_id, state_machine_arn=state_machine_arn
    )


def parse_request(request: object) -> PlanRequest:
    """Validates a state machine input; raises ``InvalidRequest`` naming the field and what is allowed."""
    if not isinstance(request, dict):
        raise InvalidRequest(f"The request must be a JSON object: {_ALLOWED_REQUESTS}")
    if "detail-type" in request:
        _check_scheduled_event(request)
        return PlanRequest()
    if "source" in request:
        if request != {"source": SCHEDULE_SOURCE}:
            raise InvalidRequest(
                f"source={request['source']!r} with {sorted(request)} is invalid: "
                f'allowed exactly {{"source": "{SCHEDULE_SOURCE}"}} for a scheduled run'
            )
        return PlanRequest()
    refuse_unknown(request, MANUAL_FIELDS, "the request")
    start, end = _date_field(request, "start"), _date_field(request, "end")
    if (start is None) != (end is None):
        missing = "end" if end is None else "start"
        raise InvalidRequest(f"A backfill needs both start and end; {missing} is missing: allowed YYYY-MM-DD")
    return PlanRequest(
        today=_date_field(request, "today"),
        start=start,
        end=end,
        dry_run=bool_field(request, "dry_run"),
        force_upload=bool_field(request, "force_upload"),
    )


def choose_window(request: PlanRequest, *, clock_today: date, include_previous_month: bool) -> Window:
    """The scheduled window of the request's day, or its backfill range; ``clock_today`` is the UTC date now."""
    today = request.today or clock_today
    if today > clock_today:
        raise InvalidRequest(
            f"today={today.isoformat()} is invalid: allowed a date not after the current UTC date "
            f"{clock_today.isoformat()}"
        )
    if request.start is not None and request.end is not None:
        return backfill_window(request.start, request.end, today=today)
    return scheduled_window(today, include_previous_month=include_previous_month)


def refuse_concurrent(running_execution_ids: Iterable[str], own_execution_id: str | None) -> None:
    """Raises ``ConcurrentExecution`` when an execution other than this one is running.

    Two executions could upload the same month concurrently; Flexera would see two bill uploads for one period and
    one run would abort the other's (``GO-UP-6``, ``GO-D11``).
    """
    others = sorted(arn for arn in running_execution_ids if arn != own_execution_id)
    if others:
        raise ConcurrentExecution(
            f"Another execution of the workflow is running ({', '.join(others)}); "
            "wait for it to finish, then start this run again"
        )


def _check_scheduled_event(request: Mapping[str, object]) -> None:
    detail_type, source = request.get("detail-type"), request.get("source")
    if detail_type != "Scheduled Event" or source != "aws.events":
        raise InvalidRequest(
            f"detail-type={detail_type!r}, source={source!r} is invalid: "
            "allowed only an EventBridge 'Scheduled Event' from 'aws.events'"
        )
    refuse_unknown(request, tuple(sorted(EVENTBRIDGE_FIELDS)), "the EventBridge scheduled event")


def _date_field(request: Mapping[str, object], name: str) -> date | None:
    return date_value(request[name], name) if name in request else None
