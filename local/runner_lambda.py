"""In-process Lambda for moto's Step Functions engine: each invoke runs the real handler, as the Lambda service does:
with the function's role, within the function's timeout, errors reported in the runtime's format.

moto's Lambda without Docker (``awslambda_simple``) answers every invoke with a canned payload. The runner replaces
that backend's ``invoke`` while a run is active (:meth:`InProcessLambda.installed`):

- The caller's permission first: the state machine's role must allow ``lambda:InvokeFunction`` on the function
  (``local/template_policies.py`` resolves it from the template); otherwise moto answers 403
  ``AccessDeniedException``, which the engine reports as ``Lambda.AccessDeniedException``.
- The handler named in the template runs in a thread of its own that acts as the function's role
  (``local/iam_enforcer.py``): each AWS call it makes is allowed or refused as IAM would.
- Its return value becomes the payload; an exception becomes the Python runtime's error body
  ``{"errorMessage", "errorType", "requestId", "stackTrace"}`` (the traceback as a list of lines, with the paths the
  function has in Lambda: ``/var/task`` for its code, ``/opt/python`` for the layer and its libraries) with
  ``x-amz-function-error: Unhandled``; Step Functions' ``Retry``/``Catch`` match ``errorType``, and the whole body is
  the ``Cause`` a ``Catch`` records, so sizes are as in AWS (about 3 KB for a Kubecost failure).
- The function's ``Timeout`` (template, else ``Globals``) is enforced on a clock scaled by ``time_scale``
  (``LocalSettings.lambda_time_scale``, ``LOCAL_LAMBDA_TIME_SCALE``; 1.0 = real seconds, 0.01 turns 900 s into 9 s):
  the context's ``get_remaining_time_in_millis()`` counts down the scaled budget in real milliseconds, so a handler
  that bounds its work by it behaves locally as it would in AWS. When the budget is spent the invocation returns
  Lambda's timeout error, ``Sandbox.Timedout`` with "Task timed out after <Timeout>.00 seconds" (the unscaled
  figure, as Lambda reports it). A Python thread cannot be killed: the handler's thread is abandoned, flagged
  stopped, and any AWS call it still makes raises ``SandboxStopped`` (a frozen sandbox does nothing more); an HTTP
  request it has in flight to an emulator ends when that request does.

Invocations run concurrently, as many as the state machine starts: moto's Map runs its iterations in up to
``MaxConcurrency`` worker threads, so the local run is as parallel as the deployed one. In AWS each concurrent
invocation has its own execution environment (a process); here a thread stands for one. What the handlers keep in
module-level objects per invocation, and what would otherwise be shared between threads, is made per-thread while the
runner is installed (:func:`per_thread_state`): Powertools' logger keys (the day and correlation id of each log line)
and its metric, dimension and metadata sets (the EMF document each invocation flushes). Powertools' secret cache is
kept per function (two functions never share an execution environment, so one's cached secret never spares the
other's role its ``GetSecretValue``). boto3's default session is not thread-safe, so ``boto3.client`` is serialised;
the clients themselves are thread-safe. (Serialising the invocations instead would make ``MaxConcurrency`` bound
nothing locally.)
"""

from __future__ import annotations

import json
import sys
import sysconfig
import threading
import time
import traceback
import uuid
from collections.abc import MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar
from unittest import mock

import boto3
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.utilities.parameters import secrets as powertools_secrets
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS as SHARED_PROVIDERS
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError

from kubecost_flexera.errors import ExporterError
from local.iam_enforcer import Principal, SandboxStopped, acting_as, current, denial_message
from local.iam_policy import Decision, Request

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

V = TypeVar("V")
TIMEOUT_ERROR: Final = "Sandbox.Timedout"
_ROOT: Final = Path(__file__).resolve().parent.parent
# Where the function's files are in Lambda: its code in /var/task, the layer (package and libraries) in /opt/python.
_LAMBDA_PATHS: Final = (
    (str(_ROOT / "layers" / "kubecost_flexera") + "/", "/opt/python/"),
    (sysconfig.get_paths()["purelib"] + "/", "/opt/python/"),
    (sysconfig.get_paths()["stdlib"] + "/", "/var/lang/lib/python3.13/"),
)


@dataclass(frozen=True)
class Invocation:
    """One handler call as the state machine made it: which function, the event, and the result or the error."""

    function: str  # logical id in the template
    event: Mapping[str, Any]
    result: Any
    error_type: str | None = None
    error_message: str | None = None

    @property
    def execution_id(self) -> str | None:
        value = self.event.get("executionId")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class LocalContext:
    """The attributes of a Lambda context the handlers and Powertools read; the remaining time is the scaled budget
    left, in real milliseconds."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int
    deadline: float  # time.monotonic() at which the invocation is stopped

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    handler: Callable[[dict[str, Any], Any], Any]
    role: Principal  # the function's role: the policies its calls are judged by
    timeout_seconds: int
    memory_size: int


@dataclass
class _Outcome:
    payload: bytes = b""
    failed: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class InProcessLambda:
    """Routes moto's Lambda invokes to handlers, as their caller's and their own roles allow, within their timeout;
    records every invocation."""

    def __init__(self, functions: Mapping[str, LocalFunction], invoker: Principal, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"the Lambda time scale must be positive, not {time_scale}")
        self._functions = dict(functions)  # by function name
        self._invoker = invoker  # the state machine's role
        self._time_scale = time_scale
        self._record_lock = threading.Lock()
        self._invocations: list[Invocation] = []

    @property
    def invocations(self) -> list[Invocation]:
        with self._record_lock:
            return list(self._invocations)

    @contextmanager
    def installed(self) -> Iterator[None]:
        def invoke(  # noqa: PLR0917 - the signature of moto's LambdaBackend.invoke
            backend: LambdaSimpleBackend,  # noqa: ARG001 - the patched method's self
            function_name: str,
            qualifier: str | None,  # noqa: ARG001 - versions are not emulated
            body: str | bytes | None,
            headers: Any,  # noqa: ARG001 - only synchronous invocations are made by the state machine
            response_headers: dict[str, str],
        ) -> bytes:
            payload, failed = self.invoke(function_name, body)
            if failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            response_headers["Content-Length"] = str(len(payload))
            return payload

        with (
            mock.patch.object(LambdaSimpleBackend, "invoke", invoke),
            mock.patch.object(powertools_secrets, "DEFAULT_PROVIDERS", _PerFunctionProviders(SHARED_PROVIDERS)),
            per_thread_state(),
        ):
            yield

    def invoke(self, function_name: str, body: str | bytes | None) -> tuple[bytes, bool]:
        """The response payload and whether it is a function error."""
        function = self._functions[_plain_name(function_name)]
        self._authorize(function)
        event = json.loads(body or "{}")
        request_id = str(uuid.uuid4())
        budget = function.timeout_seconds * self._time_scale
        context = LocalContext(function.name, function.arn, request_id, function.memory_size, time.monotonic() + budget)
        role = Principal(function.role.role_name, function.name, function.role.account, function.role.policies)
        outcome = _Outcome()
        thread = threading.Thread(
            target=self._run,
            args=(function, event, context, role, outcome),
            name=f"lambda-{function.name}",
            daemon=True,
        )
        thread.start()
        if not outcome.done.wait(budget):
            role.stopped.set()  # the thread is abandoned: whatever AWS call it makes from now on is refused
            message = f"RequestId: {request_id} Error: Task timed out after {function.timeout_seconds:.2f} seconds"
            self._record(Invocation(function.logical_id, event, None, TIMEOUT_ERROR, message))
            return json.dumps({"errorType": TIMEOUT_ERROR, "errorMessage": message}).encode(), True
        return outcome.payload, outcome.failed

    def _authorize(self, function: LocalFunction) -> None:
        request = Request("lambda:InvokeFunction", function.arn, self._invoker.arn)
        decision = self._invoker.decide(request)
        if decision is not Decision.ALLOWED:
            raise JsonRESTError("AccessDeniedException", denial_message(self._invoker, request, decision))

    def _run(
        self, function: LocalFunction, event: dict[str, Any], context: LocalContext, role: Principal, outcome: _Outcome
    ) -> None:
        try:
            with acting_as(role):
                result = function.handler(event, context)
        except SandboxStopped:
            return  # stopped by its timeout, already reported
        except Exception as exc:  # the Lambda runtime turns any exception into a function error
            if role.stopped.is_set():
                return
            if not isinstance(exc, ExporterError):
                # Not one of the typed errors the workflow expects, so a bug: show where, as CloudWatch would.
                print(traceback.format_exc(), file=sys.stderr, flush=True)
            self._record(Invocation(function.logical_id, event, None, type(exc).__name__, str(exc)))
            outcome.payload, outcome.failed = json.dumps(runtime_error(exc, context.aws_request_id)).encode(), True
        else:
            if role.stopped.is_set():
                return
            self._record(Invocation(function.logical_id, event, result))
            outcome.payload = json.dumps(result).encode()
        outcome.done.set()

    def _record(self, invocation: Invocation) -> None:
        with self._record_lock:
            self._invocations.append(invocation)


def runtime_error(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The error body the Python runtime of Lambda returns for an exception the handler raised."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # the first frame is this runner calling the handler
    lines = [_lambda_path(line) for line in traceback.format_list(frames)]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": lines,
    }


def _lambda_path(line: str) -> str:
    functions = str(_ROOT / "functions") + "/"
    if functions in line:
        # functions/<name>/app.py is /var/task/app.py in the function's package
        before, after = line.split(functions, 1)
        return before + "/var/task/" + after.split("/", 1)[-1]
    for local, remote in _LAMBDA_PATHS:
        line = line.replace(local, remote)
    return line


class _PerFunctionProviders(MutableMapping[str, Any]):
    """Powertools' provider cache (``DEFAULT_PROVIDERS``) seen per function: each function's providers, and so their
    cached secrets, are its own, stored in the shared dict under ``<name>@<function>`` so ``clear_caches()`` still
    clears them all."""

    def __init__(self, shared: dict[str, Any]) -> None:
        self._shared = shared

    @staticmethod
    def _key(key: str) -> str:
        principal = current()
        return key if principal is None else f"{key}@{principal.session_name}"

    def __getitem__(self, key: str) -> Any:
        return self._shared[self._key(key)]

    def __setitem__(self, key: str, value: Any) -> None:
        self._shared[self._key(key)] = value

    def __delitem__(self, key: str) -> None:
        del self._shared[self._key(key)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._shared)

    def __len__(self) -> int:
        return len(self._shared)


class PerThread(Generic[V]):
    """A data descriptor that gives each thread its own value of an instance attribute.

    Installed on a class, it shadows the attribute the instances keep in their ``__dict__`` (left untouched): a
    thread's first read gets ``initial(shared value)``; later reads and writes in that thread see only its own value.
    """

    def __init__(self, name: str, initial: Callable[[V], V]) -> None:
        self._name = name
        self._initial = initial
        self._local = threading.local()

    def __get__(self, instance: object, owner: type | None = None) -> V:
        values: dict[int, V] = self._values()
        if id(instance) not in values:
            values[id(instance)] = self._initial(vars(instance)[self._name])
        return values[id(instance)]

    def __set__(self, instance: object, value: V) -> None:
        # An instance made while installed sets its attribute first: that value becomes the shared one.
        vars(instance).setdefault(self._name, value)
        self._values()[id(instance)] = value

    def _values(self) -> dict[int, V]:
        if not hasattr(self._local, "values"):
            self._local.values = {}
        return self._local.values  # type: ignore[no-any-return]


def _empty(_: dict[str, Any]) -> dict[str, Any]:
    return {}


@contextmanager
def per_thread_state() -> Iterator[None]:
    """While active: Powertools' per-invocation state is per thread, and boto3 clients are created one at a time.

    Logger keys start from the shared keys (service, the formatter's defaults); dimensions from the shared ones
    (default dimensions); metrics and metadata empty, as in a fresh execution environment.
    """
    client_lock = threading.Lock()
    create_client = boto3.client

    def client(*args: Any, **kwargs: Any) -> Any:
        with client_lock:
            return create_client(*args, **kwargs)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(boto3, "client", client))
        stack.enter_context(
            mock.patch.object(LambdaPowertoolsFormatter, "log_format", PerThread("log_format", dict), create=True)
        )
        for name, initial in (("metric_set", _empty), ("metadata_set", _empty), ("dimension_set", dict)):
            stack.enter_context(
                mock.patch.object(AmazonCloudWatchEMFProvider, name, PerThread(name, initial), create=True)
            )
        yield


def _plain_name(function_name: str) -> str:
    """``arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]`` or a plain name -> the name."""
    if function_name.startswith("arn:"):
        return function_name.split(":")[6]
    return function_name
