"""A Distributed Map on moto's engine run as Step Functions runs it: each item is a child execution of its own.

moto 5.2.5 runs a Distributed Map (``ProcessorConfig.Mode: DISTRIBUTED``) in threads, with the parent's history
holding only the MapRun/MapState events, as in AWS, but it differs from AWS where the local world must not be kinder:

- A child that fails gives ``null`` in the Map's result and the Map run succeeds. AWS fails the Map run once the
  failed children exceed its tolerated failure threshold (``ToleratedFailureCount``/``ToleratedFailurePercentage``,
  none by default: one failed child fails it) with ``States.ExceedToleratedFailureThreshold``, "The specified
  tolerated failure threshold was exceeded". :class:`MapRuns` counts the failed children of each Map run and fails
  it so; with both thresholds given the run fails when either is exceeded, with one the other does not bound it.
- Every child's events go to one shared, discarded event list. In AWS each child has its own history, held to
  25,000 events like any standard execution; here each child gets its own event list, counted (plus the
  ``ExecutionStarted`` and terminal events moto writes only for a top-level execution) and recorded as a
  :class:`ChildExecution`, so that ``LocalWorkflow.wait`` refuses a run with a child over the limit.
- A child's input (the item after ``ItemSelector``) and output are each held to 256 KiB, as ``StartExecution`` input
  and an execution's output are: an item over it fails its child with ``States.DataLimitExceeded`` (the states'
  own inputs and outputs are checked by ``runner_states``, inside children too).
- The state machine's role is not consulted. In AWS the Map run starts each child with ``states:StartExecution`` on
  the state machine itself, as its role: without that grant no child starts and the Map run fails. Here each start
  is judged by the local IAM model (``iam_policy``) over the role resolved from ``template.yaml``; a refused start
  fails the Map run with ``States.Runtime`` and the IAM refusal as its cause (AWS documents the failure, not its
  words).
- A child's ``$$.Execution`` is the parent's. Here it is the child's own (``execution:<machine>/<label>:<uuid>``),
  as in AWS; the ``ItemSelector`` is still evaluated with the parent's context (``$$.Map.Item``,
  ``$$.Execution.Id``), as AWS evaluates it.

Only the ``ItemProcessor`` form is changed (AWS accepts only that form for a Distributed Map).
"""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from unittest import mock

from moto.stepfunctions.parser.api import HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501 - moto's module path
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData
from moto.stepfunctions.parser.quotas import is_within_size_quota

from local.iam_enforcer import denial_message
from local.iam_policy import Decision, Request
from local.runner_states import failure

if TYPE_CHECKING:
    from collections.abc import Iterator

    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record import (
        MapRunRecord,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import Job
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    from local.iam_enforcer import Principal

EXCEEDED_THRESHOLD: Final = StatesErrorNameType.StatesExceedToleratedFailureThreshold
EXCEEDED_CAUSE: Final = "The specified tolerated failure threshold was exceeded"
DATA_LIMIT: Final = StatesErrorNameType.StatesStatesDataLimitExceeded
RUNTIME: Final = StatesErrorNameType.StatesRuntime
# Events of a child that moto writes only for a top-level execution: ExecutionStarted and the terminal event.
UNRECORDED_CHILD_EVENTS: Final = 2
_JOBS_ATTRIBUTE: Final = "_jobs_number"  # moto's JobPool: how many items the Map run has


@dataclass(frozen=True)
class ChildExecution:
    """One child execution of a Distributed Map run: whose, which item, how it ended and how long its history is."""

    parent: str  # the parent execution's ARN
    map_state: str
    index: int
    execution_arn: str
    status: str  # SUCCEEDED | FAILED | ABORTED
    history_events: int
    error: str | None = None
    cause: str | None = None


@dataclass
class _MapRunFailures:
    failed: int = 0
    exceeded: bool = False


class MapRuns:
    """The Distributed Map runs of the local stack: each child started as the state machine's role, failed children
    failing the run past its threshold, each child's history and payloads held to the limits (module docstring)."""

    def __init__(self, state_machine_role: Principal) -> None:
        self._role = state_machine_role
        self._lock = threading.Lock()
        self._children: list[ChildExecution] = []
        self._failures: dict[int, _MapRunFailures] = {}  # by id() of moto's MapRunRecord

    def children(self, parent: str) -> list[ChildExecution]:
        """The child executions ``parent`` started, by Map state and item index."""
        with self._lock:
            children = [child for child in self._children if child.parent == parent]
        return sorted(children, key=lambda child: (child.map_state, child.index))

    @contextmanager
    def installed(self) -> Iterator[None]:
        runs = self

        def eval_job(worker: DistributedItemProcessorWorker, env: Environment, job: Job) -> None:
            runs._eval_child(worker, env, job)

        with mock.patch.object(DistributedItemProcessorWorker, "_eval_job", eval_job):
            yield

    # --- one child ---

    def _eval_child(self, worker: DistributedItemProcessorWorker, env: Environment, job: Job) -> None:
        """moto's ``_eval_job`` with the child as a child execution of its own (module docstring)."""
        record: MapRunRecord = worker._map_run_record
        context = env.states.context_object.context_object_data
        parent = context["Execution"]["Id"]
        record.item_counter.total.count()
        record.item_counter.running.count()
        record.execution_counter.total.count()
        record.execution_counter.running.count()
        denied = self._start_denied(context["StateMachine"]["Id"])
        if denied is not None:
            # No child starts: the Map run fails at once.
            record.item_counter.running.offset(-1)
            record.execution_counter.running.offset(-1)
            job.job_output = failure(env, RUNTIME, denied, HistoryEventType.MapRunFailed)
            return

        # The ItemSelector is the parent's: evaluated with the parent's context ($$.Map.Item, $$.Execution).
        context["Map"] = MapData(Item=ItemData(Index=job.job_index, Value=job.job_input))
        env.states.reset(job.job_input)
        env.stack.append(env.states.get_input())
        worker._eval_input(env_frame=env)
        child_input = env.states.get_input()

        child_arn = _child_arn(record.map_state_machine_arn)
        context["Execution"] = {
            **context["Execution"],
            "Id": child_arn,
            "Name": child_arn.rsplit(":", 1)[-1],
            "Input": child_input,
            "StartTime": datetime.now(UTC).isoformat(),
        }
        context["StateMachine"] = {
            "Id": record.map_state_machine_arn,
            "Name": record.map_state_machine_arn.rsplit(":", 1)[-1],
        }
        context.pop("Map", None)  # type: ignore[misc] # a child's context has no Map: it is an execution of its own
        env.event_manager = EventManager()  # the child's own history

        error: tuple[str, str] | None = None
        output = None
        if not is_within_size_quota(child_input):
            error = (DATA_LIMIT.to_name(), "The child execution's input exceeds the maximum number of bytes.")
        else:
            job.job_program.eval(env)
            state = env.program_state()
            if isinstance(state, ProgramEnded):
                output = env.states.get_input()
                if not is_within_size_quota(output):
                    error = (DATA_LIMIT.to_name(), "The child execution's output exceeds the maximum number of bytes.")
                    output = None
            elif isinstance(state, ProgramError):
                details = state.error or {}
                error = (str(details.get("error", RUNTIME.to_name())), str(details.get("cause", "")))
            elif isinstance(state, ProgramStopped):
                error = ("States.Aborted", "the parent execution ended")
            else:  # timed out
                error = ("States.Timeout", "the child execution timed out")

        events = len(env.event_manager.get_event_history()) + UNRECORDED_CHILD_EVENTS
        record.item_counter.running.offset(-1)
        record.execution_counter.running.offset(-1)
        if error is None:
            for counter in (record.item_counter, record.execution_counter):
                counter.succeeded.count()
                counter.results_written.count()
            self._record(ChildExecution(parent, worker._work_name, job.job_index, child_arn, "SUCCEEDED", events))
            job.job_output = output
            return
        record.item_counter.failed.count()
        record.execution_counter.failed.count()
        exceeded, aborted = self._count_failure(worker, record)
        status = "ABORTED" if aborted else "FAILED"
        self._record(ChildExecution(parent, worker._work_name, job.job_index, child_arn, status, events, *error))
        job.job_output = (
            failure(env, EXCEEDED_THRESHOLD, EXCEEDED_CAUSE, HistoryEventType.MapRunFailed) if exceeded else None
        )

    def _start_denied(self, state_machine_arn: str) -> str | None:
        """IAM's refusal of the child's ``StartExecution`` by the state machine's role, or None when allowed."""
        request = Request("states:StartExecution", state_machine_arn, self._role.arn)
        decision = self._role.decide(request)
        return None if decision is Decision.ALLOWED else denial_message(self._role, request, decision)

    def _count_failure(self, worker: DistributedItemProcessorWorker, record: MapRunRecord) -> tuple[bool, bool]:
        """(whether this failure exceeds the run's threshold, whether the run had already failed before it)."""
        total = getattr(worker._job_pool, _JOBS_ATTRIBUTE)
        with self._lock:
            failures = self._failures.setdefault(id(record), _MapRunFailures())
            if failures.exceeded:
                return False, True
            failures.failed += 1
            failures.exceeded = threshold_exceeded(
                failures.failed, total, record.tolerated_failure_count, record.tolerated_failure_percentage
            )
            return failures.exceeded, False

    def _record(self, child: ChildExecution) -> None:
        with self._lock:
            self._children.append(child)


def threshold_exceeded(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether ``failed`` of ``total`` children exceed a Map run's tolerated failure threshold (0 = not given)."""
    if count == 0 and percentage == 0:
        return failed > 0
    return (count > 0 and failed > count) or (percentage > 0 and failed * 100 > percentage * total)


def _child_arn(map_state_machine_arn: str) -> str:
    """``arn:...:execution:<machine>/<label>:<uuid>``, the name Step Functions gives a Map run's child."""
    return f"{map_state_machine_arn.replace(':stateMachine:', ':execution:')}:{uuid.uuid4()}"
