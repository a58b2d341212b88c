"""In-process Lambda for moto's Step Functions engine: each invoke runs the real handler, errors come back as Lambda
returns them.

moto's Lambda without Docker (``awslambda_simple``) answers every invoke with a canned payload. The runner replaces
that backend's ``invoke`` while a run is active: the handler named in the template is called with the decoded event
and a small context; its return value becomes the payload; an exception becomes the body
``{"errorType": <class name>, "errorMessage": <message>}`` with ``x-amz-function-error: Unhandled``, which is how
Lambda reports a function error and what Step Functions' ``Retry``/``Catch`` match ``ErrorEquals`` against.

Invocations run concurrently, as many as the state machine starts: moto's Map runs its iterations in up to
``MaxConcurrency`` worker threads, so the local run is as parallel as the deployed one. In AWS each concurrent
invocation has its own execution environment (a process); here a thread stands for one. What the handlers keep in
module-level objects per invocation, and what would otherwise be shared between threads, is made per-thread while the
runner is installed (:func:`per_thread_state`): Powertools' logger keys (the day and correlation id of each log line)
and its metric, dimension and metadata sets (the EMF document each invocation flushes). boto3's default session is not
thread-safe, so ``boto3.client`` is serialised; the clients themselves are thread-safe. (Serialising the
invocations instead would make ``MaxConcurrency`` bound nothing locally.)
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar
from unittest import mock

import boto3
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from moto.awslambda_simple.models import LambdaSimpleBackend

from kubecost_flexera.errors import ExporterError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

FUNCTION_TIMEOUT_MS: Final = 900_000
V = TypeVar("V")


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
    """The attributes of a Lambda context the handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 512

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return FUNCTION_TIMEOUT_MS


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    handler: Callable[[dict[str, Any], Any], Any]


class InProcessLambda:
    """Routes moto's Lambda invokes to handlers and records every invocation."""

    def __init__(self, functions: Mapping[str, LocalFunction]) -> None:
        self._functions = dict(functions)  # by function name
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

        with mock.patch.object(LambdaSimpleBackend, "invoke", invoke), per_thread_state():
            yield

    def invoke(self, function_name: str, body: str | bytes | None) -> tuple[bytes, bool]:
        """The response payload and whether it is a function error."""
        function = self._functions[_plain_name(function_name)]
        event = json.loads(body or "{}")
        context = LocalContext(function.name, function.arn, str(uuid.uuid4()))
        try:
            result = function.handler(event, context)
        except Exception as exc:  # the Lambda runtime turns any exception into a function error
            if not isinstance(exc, ExporterError):
                # Not one of the typed errors the workflow expects, so a bug: show where, as CloudWatch would.
                print(traceback.format_exc(), file=sys.stderr, flush=True)
            self._record(Invocation(function.logical_id, event, None, type(exc).__name__, str(exc)))
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return json.dumps(error).encode(), True
        self._record(Invocation(function.logical_id, event, result))
        return json.dumps(result).encode(), False

    def _record(self, invocation: Invocation) -> None:
        with self._record_lock:
            self._invocations.append(invocation)


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
