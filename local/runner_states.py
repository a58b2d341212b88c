"""Step Functions' limits on moto's engine: payload size on every state's input and output, terminal errors that
``States.ALL`` cannot catch, and the event history of a standard execution.

moto 5.2.5's engine already fails a state whose output (or a task's result) reaches 256 KiB with
``States.DataLimitExceeded``, but it lets ``States.ALL`` catch that error and never checks a state's input. AWS
documents both: "``States.ALL`` ... can't catch the ``States.DataLimitExceeded`` terminal error type and runtime
error types", and the 256 KiB quota applies to "the input or result data" of a state. :func:`strict_engine` adds
both while a run is active (an error named explicitly in ``ErrorEquals`` is still matched, as in AWS).

A standard execution's history holds at most 25,000 events (:data:`HISTORY_EVENT_LIMIT`); the runner counts the
events of each execution (``LocalWorkflow.wait``) and refuses a run that went past the limit, which AWS would have
failed. ``tests/e2e/test_history_limit.py`` measures the events per day of the worst case on this engine and
extrapolates to the largest run the plan accepts.

Map iterations run in threads that share the parsed definition, and moto gives each component its ``heap_key`` (the
key under which an iteration keeps a ``Retry``'s attempt count and backoff) lazily, without a lock: two iterations
failing at once could each make a key, one overwriting the other's, so that iteration's count restarted and a day got
an extra attempt (5 invocations for ``MaxAttempts: 3``). :func:`strict_engine` makes the key once per component.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Final
from unittest import mock

from moto.stepfunctions.parser import utils as moto_utils
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.quotas import is_within_size_quota

if TYPE_CHECKING:
    from collections.abc import Iterator

    from moto.stepfunctions.parser.asl.eval.environment import Environment

HISTORY_EVENT_LIMIT: Final = 25_000
PAYLOAD_LIMIT_BYTES: Final = 256 * 1024
_DATA_LIMIT: Final = StatesErrorNameType.StatesStatesDataLimitExceeded
UNCATCHABLE_BY_ALL: Final = frozenset({_DATA_LIMIT.to_name(), StatesErrorNameType.StatesRuntime.to_name()})
_HEAP_KEY_ATTRIBUTE: Final = "_EvalComponent__heap_key"  # where moto's EvalComponent.heap_key keeps the key it made
_HEAP_KEY_LOCK: Final = threading.Lock()


@contextmanager
def strict_engine() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(ErrorEqualsDecl, "_eval_body", _error_equals(ErrorEqualsDecl._eval_body)))
        stack.enter_context(
            mock.patch.object(CommonStateField, "_eval_state_input", _checked_input(CommonStateField._eval_state_input))
        )
        stack.enter_context(mock.patch.object(EvalComponent, "heap_key", property(_heap_key)))
        yield


def _heap_key(self: EvalComponent) -> str:
    """moto's lazy ``heap_key``, made under a lock: every thread gets the one key the component keeps."""
    with _HEAP_KEY_LOCK:
        key: str | None = vars(self).get(_HEAP_KEY_ATTRIBUTE)
        if key is None:
            key = moto_utils.long_uid()
            setattr(self, _HEAP_KEY_ATTRIBUTE, key)
        return key


def _error_equals(original: Any) -> Any:
    def eval_body(self: ErrorEqualsDecl, env: Environment) -> None:
        error_name = env.stack[-1]
        named = isinstance(error_name, ErrorName) and error_name.error_name in UNCATCHABLE_BY_ALL
        if named and error_name not in self.error_names:
            env.stack.pop()
            env.stack.append(False)  # States.ALL (or States.TaskFailed) does not match a terminal error
            return
        original(self, env)

    return eval_body


def _checked_input(original: Any) -> Any:
    def eval_state_input(self: CommonStateField, env: Environment) -> None:
        original(self, env)
        if not is_within_size_quota(env.stack[-1]):
            cause = (
                f"The state '{self.name}' received an input with a size exceeding the maximum number of bytes "
                "service limit."
            )
            raise failure(env, _DATA_LIMIT, cause, HistoryEventType.TaskFailed)

    return eval_state_input


def failure(
    env: Environment, error: StatesErrorNameType, cause: str, event_type: HistoryEventType
) -> FailureEventException:
    """The engine's own failure with one of Step Functions' ``States.*`` errors, as moto raises it."""
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error),
            event_type=event_type,
            event_details=EventDetails(  # type: ignore[typeddict-item] # moto's TypedDict: every key optional in use
                executionFailedEventDetails=ExecutionFailedEventDetails(error=error.to_name(), cause=cause)
            ),
        )
    )
