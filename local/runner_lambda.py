"""In-process Lambda for moto's Step Functions engine: each invoke runs the real handler, errors come back as Lambda
returns them.

moto's Lambda without Docker (``awslambda_simple``) answers every invoke with a canned payload. The runner replaces
that backend's ``invoke`` while a run is active: the handler named in the template is called with the decoded event
and a small context; its return value becomes the payload; an exception becomes the body
``{"errorType": <class name>, "errorMessage": <message>}`` with ``x-amz-function-error: Unhandled``, which is how
Lambda reports a function error and what Step Functions' ``Retry``/``Catch`` match ``ErrorEquals`` against.

Invocations of the same function run one at a time: the handlers share module-level state (Powertools' logger and
metrics) that a real execution environment never shares between concurrent invocations, since each has its own
process. Different functions may still run at the same time (two executions of the workflow), as in AWS.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from kubecost_flexera.errors import ExporterError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

FUNCTION_TIMEOUT_MS: Final = 900_000


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
        self._locks = {name: threading.Lock() for name in functions}
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

        with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
            yield

    def invoke(self, function_name: str, body: str | bytes | None) -> tuple[bytes, bool]:
        """The response payload and whether it is a function error."""
        function = self._functions[_plain_name(function_name)]
        event = json.loads(body or "{}")
        context = LocalContext(function.name, function.arn, str(uuid.uuid4()))
        with self._locks[function.name]:
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


def _plain_name(function_name: str) -> str:
    """``arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]`` or a plain name -> the name."""
    if function_name.startswith("arn:"):
        return function_name.split(":")[6]
    return function_name
