"""Local runner: the deployed workflow executed on this machine, before anyone deploys.

``python -m local.run`` creates the template's resources in moto (bucket, Flexera credentials secret, the three
functions, the state machine), loads ``statemachine/export.asl.json`` with the template's ``DefinitionSubstitutions``
and runs it with moto's Step Functions engine; every Lambda task runs the real handler in this process
(``local/runner_lambda.py``). It prints which Kubecost and which Flexera it talks to, then what happened: days
exported, rows and cost per month, the upload of each month (judged across every attempt of the upload step,
``runner_report``); the exit status is 1 when the execution failed, 2 when the flags are refused before it starts.
stdout holds only that report: what the functions write (Powertools logs, EMF metric lines; CloudWatch's content in
AWS) goes to stderr (:func:`functions_output`).

Flags (see ``--help``):

- ``--kubecost-url`` (a base URL with scheme, host and port; the API path comes from ``KUBECOST_API_PATH``), else
  ``KUBECOST_HOST`` as the deployed functions read it; ``--flexera-url`` (one base URL for every Flexera host, i.e.
  an emulator), else ``FLEXERA_ENDPOINT_URL``. Only where neither is given is the embedded emulator started
  (``emulators/kubecost/``, ``emulators/flexera/``; ``--allocations N`` sizes the Kubecost's days).
- ``--sources FILE`` runs a stack with a sources document: FILE is put in the bucket at ``SOURCES_DOCUMENT_KEY``
  (``config/sources.json`` unless set), each source that names no Kubecost gets an embedded emulator of its own, and
  each bill connect's committed months are reconciled per source (``local/runner_sources.py``); the exit status is
  1 when one differs.
- ``--input FILE|JSON`` is the execution input, as ``start-execution --input`` takes it (``events/*.json``);
  without it ``--start``/``--end``, ``--dry-run`` and ``--force-upload`` build it as a manual run in AWS would.
- ``--today D`` sets the clock every function reads (``calendar.use_clock``) to D, as a fake clock would for the Go
  program: with the scheduler's input the run is exactly the scheduled run of D (its window, D's month current).
- ``--out DIR`` is the persistent content of the emulated bucket, loaded before the run and mirrored after it
  (``local/runner_state.py``), so repeated runs into one folder behave as repeated runs in AWS.
- ``--lambda-time-scale F`` runs each function's ``Timeout`` on a clock F times Lambda's (``runner_lambda``).
- ``--fast-retries`` does not sleep through retry waits: neither the state machine's ``Retry`` intervals nor the
  Kubecost and Flexera clients' backoff; the embedded Flexera emulator's clock is advanced by each wait instead, so
  its 120-second cool-off between bill uploads still has to pass. With the flag, ``JitterStrategy: FULL`` and the
  clients' jitter wait the full interval (the longest wait jitter can give), so a run's outcome does not depend on
  chance. Without the flag
  every wait is slept for real.

Every other setting comes from the same environment variables as the deployed functions (``config.py``); the
runner sets only what it creates (``BUCKET_NAME``, ``FLEXERA_SECRET_ARN``), the endpoints
(``KUBECOST_HOST``, ``FLEXERA_ENDPOINT_URL``) and, for the embedded Flexera emulator, its org and bill connect when
``ORG_ID``/``BILL_CONNECT_ID`` are unset. Flexera credentials come from ``REFRESH_TOKEN``, or
``SERVICE_APP_CLIENT_ID`` and ``SERVICE_APP_CLIENT_SECRET`` (the Go exporter's names), and are stored in the emulated
secret, so the functions read them from Secrets Manager as deployed.

The local world is as strict as AWS where it can be (docs/local-world.md): each handler's AWS calls are judged by its
own role in the template (``runner_roles``, ``iam_enforcer``), the state machine's role before each invoke and the
schedule's before each execution; each function has its ``Timeout`` and Lambda's error payload (``runner_lambda``);
every state is held to 256 KiB and ``States.ALL`` catches no terminal error (``runner_states``); a Distributed Map's
children are child executions as in AWS (``runner_map_run``: a failed child fails the Map run, each start needs the
role's ``states:StartExecution``); a run with an execution, or a child execution, past 25,000 history events is
refused.

What moto 5.2.5's engine does differently from AWS, and how the runner deals with it:

- Lambda without Docker answers every invoke with a canned payload: the runner routes invokes to the handlers.
- ``Retry`` waits are a ``time.sleep`` in moto's retrier module (``retrier_decl``); ``--fast-retries`` replaces that
  module's ``time`` (and the clients' default ``sleep``) for the duration of the run, nothing else.
- Map iterations run in threads of this process, at most ``MaxConcurrency`` at a time (the template's default, or
  ``LocalSettings.max_concurrency``), as in AWS; each thread stands for one execution environment, with its own
  Powertools logger keys and metrics (``runner_lambda.per_thread_state``).
- The execution runs in a background thread; the runner polls ``DescribeExecution`` until it ends.
- Supported and verified with this definition: ``lambda:invoke`` with ``Payload`` and ``ResultSelector``/
  ``OutputPath`` on ``$.Payload``, Map with ``ItemSelector`` and the ``$$.Map.Item.Value``/``$$.Execution.Id``
  context paths, ``Retry`` with ``JitterStrategy: FULL`` and ``MaxDelaySeconds``, ``Catch`` with ``ResultPath``,
  Pass with ``Parameters``, Choice with ``IsPresent``, Fail with an intrinsic ``CausePath``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import io
import json
import logging
import os
import sys
import time
import uuid
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final, Self, TextIO, cast
from unittest import mock

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import jitter_strategy_decl, retrier_decl

from kubecost_flexera.adapters import retry
from kubecost_flexera.adapters.flexera import FlexeraClient
from kubecost_flexera.adapters.kubecost import KubecostClient
from kubecost_flexera.config import DEFAULT_API_PATH, normalise_base_url
from kubecost_flexera.contracts import calendar_date
from kubecost_flexera.domain import calendar
from kubecost_flexera.domain.records import UploadState
from kubecost_flexera.observability import logger
from local.iam_enforcer import Principal, enforced
from local.runner_emulators import (
    EmbeddedEmulators,
    default_bill_connect_id,
    earliest_day,
    kubecost_config,
    stack_kubecost_url,
)
from local.runner_lambda import InProcessLambda, Invocation, LocalFunction
from local.runner_map_run import MapRuns
from local.runner_report import WorkflowRun, format_summary
from local.runner_roles import StackRoles, local_parameters, stack_roles
from local.runner_sources import (
    LocalSources,
    SourcesFileError,
    format_source_reconciliation,
    read_sources_file,
    sources_document_key,
)
from local.runner_state import BucketFolder, FolderError, check_folder
from local.runner_states import HISTORY_EVENT_LIMIT, strict_engine
from local.runner_template import LOCAL_PSEUDO_PARAMETERS, STATE_MACHINE_ID, TemplateModel, load_template
from local.template_resolver import Deployment

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import date, datetime
    from types import TracebackType

    from aws_lambda_powertools import Logger
    from moto.core.config import DefaultConfig
    from mypy_boto3_lambda.literals import RuntimeType
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_stepfunctions import SFNClient

REGION: Final = LOCAL_PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT: Final = LOCAL_PSEUDO_PARAMETERS["AWS::AccountId"]  # moto's default account
STACK_NAME: Final = "kubecost-flexera-local"
BUCKET: Final = f"{STACK_NAME}-exports"
SECRET_NAME: Final = f"{STACK_NAME}/flexera-credentials"
EXPORTS_PREFIX: Final = "exports/"
UPLOAD_RECORDS_PREFIX: Final = "state/uploads/"
POLL_SECONDS: Final = 0.02
DEFAULT_TIMEOUT_SECONDS: Final = 900.0
MOTO_CONFIG: Final[DefaultConfig] = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# Local defaults for Powertools: no X-Ray daemon here, and only warnings and errors in the functions' output (stderr,
# see functions_output). An explicit environment variable wins.
LOCAL_POWERTOOLS_DEFAULTS: Final = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


class LocalRunError(RuntimeError):
    """The local run could not be set up or did not end in time (not a workflow failure)."""


@dataclass(frozen=True)
class LocalSettings:
    """Everything a local run needs besides the template.

    ``environ`` holds the settings variables the functions read (as deployed); ``retry_sleep`` replaces every
    retry wait when set (``--fast-retries``); ``handlers`` replaces handlers by logical id (tests wrap the real ones).
    ``lambda_time_scale`` scales each function's ``Timeout`` (``runner_lambda``); ``parameters`` gives template
    parameters that no function variable carries (the others follow ``environ``, ``runner_roles.local_parameters``).
    ``kubecost_secret`` is stored in a secret of its own, given as ``KubecostSecretArn``. With
    ``customer_managed_key`` both secrets are encrypted with a customer-managed KMS key and given as existing secrets
    with their key (``FlexeraSecretArn``/``FlexeraSecretKmsKeyArn``, ``KubecostSecretArn``/``KubecostSecretKmsKeyArn``),
    as a user who brings their own secrets deploys. ``sources_document`` is put in the bucket at
    ``SOURCES_DOCUMENT_KEY`` (``config/sources.json`` unless the environment sets it), as a user puts it there.
    """

    kubecost_url: str
    flexera_url: str
    flexera_secret: Mapping[str, str]
    environ: Mapping[str, str] = field(default_factory=dict)
    retry_sleep: Callable[[float], object] | None = None
    handlers: Mapping[str, Callable[[dict[str, Any], Any], Any]] = field(default_factory=dict)
    max_concurrency: int | None = None
    lambda_time_scale: float = 1.0
    parameters: Mapping[str, str] = field(default_factory=dict)
    kubecost_secret: Mapping[str, str] | None = None
    customer_managed_key: bool = False
    sources_document: bytes | None = None


class LocalWorkflow:
    """The deployed stack, emulated: use as a context manager, then ``run`` (or ``start`` and ``wait``)."""

    def __init__(self, settings: LocalSettings, template: TemplateModel | None = None) -> None:
        self.settings = settings
        self.template = template or load_template(stack_name=STACK_NAME)
        self._stack = ExitStack()
        self._lambda: InProcessLambda | None = None
        self.state_machine_arn = ""
        self.secret_arn = ""
        self.kubecost_secret_arn: str | None = None
        self.roles: StackRoles | None = None
        self.map_runs: MapRuns | None = None
        self._records_before: dict[str, dict[str, UploadState]] = {}

    # --- lifecycle ---

    def __enter__(self) -> Self:
        try:
            self._enter()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()

    def _enter(self) -> None:
        stack = self._stack
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        stack.enter_context(mock.patch.dict(os.environ, self._base_environment()))
        # The shared logger read its level when first imported, usually before this run set the environment.
        stack.enter_context(_log_level(logger, os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO")))
        parameters = self._create_secrets()
        self.s3.create_bucket(Bucket=BUCKET)
        if self.settings.sources_document is not None:
            key = os.environ["SOURCES_DOCUMENT_KEY"]
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=self.settings.sources_document)
        role = self._role()
        functions = self._create_functions(role)
        self.state_machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.template.state_machine.name}"
        self.roles = stack_roles(self.template, self._deployment(functions, parameters))
        definition = self.template.state_machine.definition(
            {function.logical_id: function.arn for function in functions.values()},
            {"MaxConcurrency": str(self.settings.max_concurrency)} if self.settings.max_concurrency else None,
        )
        created = self.sfn.create_state_machine(
            name=self.template.state_machine.name, definition=definition, roleArn=role
        )["stateMachineArn"]
        if created != self.state_machine_arn:
            raise LocalRunError(f"moto named the state machine {created}, not {self.state_machine_arn}")
        os.environ.update({"BUCKET_NAME": BUCKET, "FLEXERA_SECRET_ARN": self.secret_arn})
        functions = {
            name: replace(function, role=self.roles.functions[function.logical_id])
            for name, function in functions.items()
        }
        self._lambda = InProcessLambda(functions, self.roles.state_machine, self.settings.lambda_time_scale)
        stack.enter_context(self._lambda.installed())
        stack.enter_context(enforced(self.roles.world))
        stack.enter_context(strict_engine())
        self.map_runs = MapRuns(self.roles.state_machine)
        stack.enter_context(self.map_runs.installed())
        if self.settings.retry_sleep is not None:
            stack.enter_context(_fast_retries(self.settings.retry_sleep))
        # moto logs every failed state with its whole parse tree; the run's outcome is reported by the summary.
        stack.enter_context(_quiet("moto.stepfunctions"))

    def _create_secrets(self) -> dict[str, str]:
        """The Flexera secret (and the Kubecost one when given), and the template parameters that name them."""
        secrets = self._secrets()
        key_arn = ""
        if self.settings.customer_managed_key:
            key = boto3.client("kms", region_name=REGION).create_key(Description=f"{STACK_NAME} secrets")
            key_arn = key["KeyMetadata"]["Arn"]

        def create(name: str, value: Mapping[str, str]) -> str:
            body = json.dumps(dict(value))
            if key_arn:
                return secrets.create_secret(Name=name, SecretString=body, KmsKeyId=key_arn)["ARN"]
            return secrets.create_secret(Name=name, SecretString=body)["ARN"]

        parameters: dict[str, str] = {}
        self.secret_arn = create(SECRET_NAME, self.settings.flexera_secret)
        if key_arn:
            parameters.update({"FlexeraSecretArn": self.secret_arn, "FlexeraSecretKmsKeyArn": key_arn})
        if self.settings.kubecost_secret is not None:
            self.kubecost_secret_arn = create(f"{STACK_NAME}/kubecost-credentials", self.settings.kubecost_secret)
            os.environ["KUBECOST_SECRET_ARN"] = self.kubecost_secret_arn
            if key_arn:
                parameters["KubecostSecretKmsKeyArn"] = key_arn
        return parameters

    def _deployment(self, functions: Mapping[str, LocalFunction], parameters: Mapping[str, str]) -> Deployment:
        """What CloudFormation would know of the stack the runner made: names and ARNs, parameters as configured."""
        resources: Mapping[str, Any] = self.template.document.get("Resources", {})
        refs: dict[str, str] = {"ExportsBucket": BUCKET, "FlexeraCredentialsSecret": self.secret_arn}
        attributes = {"ExportsBucket.Arn": f"arn:aws:s3:::{BUCKET}"}
        refs[STATE_MACHINE_ID] = self.state_machine_arn
        attributes[f"{STATE_MACHINE_ID}.Name"] = self.template.state_machine.name
        attributes[f"{STATE_MACHINE_ID}.Arn"] = self.state_machine_arn
        for function in functions.values():
            refs[function.logical_id] = function.name
            attributes[f"{function.logical_id}.Arn"] = function.arn
        for logical_id, resource in resources.items():
            if resource.get("Type") == "AWS::IAM::Role":
                refs[logical_id] = f"{STACK_NAME}-{logical_id}"
                attributes[f"{logical_id}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{STACK_NAME}-{logical_id}"
        return Deployment(
            stack_name=STACK_NAME,
            region=REGION,
            account=ACCOUNT,
            parameters=local_parameters(self.template.document, os.environ, {**parameters, **self.settings.parameters}),
            refs=refs,
            attributes=attributes,
        )

    def _base_environment(self) -> dict[str, str]:
        environ = {name: value for name, value in LOCAL_POWERTOOLS_DEFAULTS.items() if name not in os.environ}
        environ.update(self.settings.environ)
        if self.settings.sources_document is not None:
            environ["SOURCES_DOCUMENT_KEY"] = sources_document_key({**os.environ, **environ})
        environ.update(
            {
                "KUBECOST_HOST": self.settings.kubecost_url,
                "FLEXERA_ENDPOINT_URL": self.settings.flexera_url,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        return environ

    def _role(self) -> str:
        iam = boto3.client("iam", region_name=REGION)
        policy = {"Version": "2012-10-17", "Statement": []}
        return iam.create_role(RoleName=f"{STACK_NAME}-role", AssumeRolePolicyDocument=json.dumps(policy))["Role"][
            "Arn"
        ]

    def _create_functions(self, role: str) -> dict[str, LocalFunction]:
        client = boto3.client("lambda", region_name=REGION)
        functions: dict[str, LocalFunction] = {}
        for spec in self.template.functions.values():
            name = f"{STACK_NAME}-{spec.logical_id}"
            arn = client.create_function(
                FunctionName=name,
                Runtime=cast("RuntimeType", spec.runtime),
                Role=role,
                Handler=f"{spec.module.rsplit('.', 1)[-1]}.{spec.attribute}",
                Code={"ZipFile": _placeholder_zip(spec.module)},
            )["FunctionArn"]
            handler = self.settings.handlers.get(spec.logical_id) or getattr(
                importlib.import_module(spec.module), spec.attribute
            )
            # The role is replaced by the function's own once the roles are resolved (they need every ARN).
            unresolved = Principal(role.rsplit("/", 1)[-1], name, ACCOUNT, ())
            functions[name] = LocalFunction(
                spec.logical_id, name, arn, handler, unresolved, spec.timeout_seconds, spec.memory_size
            )
        return functions

    # --- AWS clients (valid only inside the context; made once: a boto3 client costs ~10 ms of CPU) ---

    @functools.cached_property
    def s3(self) -> S3Client:
        return boto3.client("s3", region_name=REGION)

    @functools.cached_property
    def sfn(self) -> SFNClient:
        return boto3.client("stepfunctions", region_name=REGION)

    def _secrets(self) -> SecretsManagerClient:
        return boto3.client("secretsmanager", region_name=REGION)

    # --- executions ---

    def start(self, request: object, name: str | None = None) -> str:
        """Starts an execution with ``request`` (any JSON value) as its input (what ``start-execution --input``
        sends), as the schedule does: refused when the schedule's role may not start this state machine. The upload
        records as they are now are what :meth:`wait` compares with to see what it committed."""
        if self.roles is None or not self.roles.may_schedule(self.state_machine_arn):
            raise LocalRunError(f"the schedule's role may not start {self.state_machine_arn} (template.yaml)")
        execution_name = name or f"local-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        records = self.upload_records()
        execution_arn = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=execution_name, input=json.dumps(request)
        )["executionArn"]
        self._records_before[execution_arn] = records
        return execution_arn

    def wait(self, execution_arn: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> WorkflowRun:
        deadline = time.monotonic() + timeout_seconds
        while True:
            description = self.sfn.describe_execution(executionArn=execution_arn)
            if description["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise LocalRunError(f"{execution_arn} still running after {timeout_seconds} s")
            time.sleep(POLL_SECONDS)
        events = self.history_events(execution_arn)
        children = self.map_runs.children(execution_arn) if self.map_runs is not None else []
        for arn, count in [
            (execution_arn, events),
            *((child.execution_arn, child.history_events) for child in children),
        ]:
            if count > HISTORY_EVENT_LIMIT:
                raise LocalRunError(
                    f"{arn} has {count} history events; AWS fails a standard execution at {HISTORY_EVENT_LIMIT}"
                )
        before = self._records_before.pop(execution_arn, {})
        return WorkflowRun.from_execution(
            execution_arn,
            status=description["status"],
            error=description.get("error"),
            cause=description.get("cause"),
            invocations=self.invocations(execution_arn),
            history_events=events,
            children=children,
            commits={key: record for key, record in self.upload_records().items() if before.get(key) != record},
        )

    def history_events(self, execution_arn: str) -> int:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return sum(len(page["events"]) for page in pages)

    def run(self, request: object, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> WorkflowRun:
        return self.wait(self.start(request), timeout_seconds)

    def invocations(self, execution_arn: str | None = None) -> list[Invocation]:
        if self._lambda is None:
            return []
        return [i for i in self._lambda.invocations if execution_arn is None or i.execution_id == execution_arn]

    # --- the bucket ---

    def export_keys(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=EXPORTS_PREFIX)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def upload_records(self) -> dict[str, UploadState]:
        """The last commit of each month (``state/uploads/``), by key: an execution that commits a month rewrites
        its record, whichever attempt of the upload step did it."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=UPLOAD_RECORDS_PREFIX)
        return {
            item["Key"]: UploadState.from_json(self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
            for page in pages
            for item in page.get("Contents", [])
        }


def _longest(_shortest: float, longest: float) -> float:
    return longest


@contextlib.contextmanager
def _fast_retries(sleep: Callable[[float], object]) -> Iterator[None]:
    """Every retry wait goes to ``sleep``: the state machine's (moto's retrier module) and the clients' backoff.

    The clients take ``sleep`` as a keyword argument defaulting to ``time.sleep``; the handlers build them with the
    default, so the default itself is replaced for the duration of the run. Full jitter (the state machine's and the
    clients') draws its longest wait, so that whether a retry meets a cool-off (advanced by ``sleep``) is the same on
    every run.
    """
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=sleep)))
        stack.enter_context(mock.patch.object(jitter_strategy_decl, "random", SimpleNamespace(uniform=_longest)))
        stack.enter_context(mock.patch.object(retry, "random", SimpleNamespace(uniform=_longest)))
        for client in (KubecostClient, FlexeraClient):
            defaults = client.__init__.__kwdefaults__
            if defaults is None or "sleep" not in defaults:
                raise LocalRunError(f"{client.__name__} no longer takes a sleep keyword; update --fast-retries")
            stack.enter_context(mock.patch.dict(defaults, {"sleep": sleep}))
        yield


@contextlib.contextmanager
def _log_level(log: Logger, level: str) -> Iterator[None]:
    previous = log.log_level
    log.setLevel(level)
    try:
        yield
    finally:
        log.setLevel(previous)


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    log = logging.getLogger(logger_name)
    previous = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(previous)


def _placeholder_zip(module: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", f"Runs in-process from {module} (local/run.py)\n")
    return buffer.getvalue()


# --- command line ---


class UsageError(ValueError):
    """The flags ask for something the runner cannot do; nothing was started or changed."""


REQUEST_FLAGS: Final = ("start", "end", "dry_run", "force_upload")


def read_input(text: str) -> object:
    """``--input``: a JSON text (it starts with ``{``) or the path of a file holding one, as ``--input`` of
    ``aws stepfunctions start-execution`` takes ``'{...}'`` or ``file://events/x.json``."""
    source = "--input"
    body = text
    if not text.lstrip().startswith("{"):
        path = Path(text.removeprefix("file://"))
        try:
            body = path.read_text()
        except OSError as exc:
            raise UsageError(
                f"--input {text}: cannot read the file ({exc.strerror}): allowed a JSON text or a file path"
            ) from None
        source = f"--input {path}"
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UsageError(
            f"{source} is not JSON ({exc}): allowed an execution input such as events/backfill.json"
        ) from None


def build_request(args: argparse.Namespace) -> object:
    """The execution input: ``--input`` as it is, or the flags as a manual run in AWS would send them.

    The plan validates it, as in AWS. ``--today`` is not part of it: it sets the clock (see :func:`pinned_clock`).
    """
    flags = [name for name in REQUEST_FLAGS if getattr(args, name) not in (None, False)]
    if args.input is not None:
        if flags:
            named = ", ".join(f"--{name.replace('_', '-')}" for name in flags)
            raise UsageError(f"--input gives the whole execution input: allowed without {named} (put them in it)")
        return read_input(args.input)
    request: dict[str, Any] = {}
    for name in ("start", "end"):
        value = getattr(args, name)
        if value is not None:
            request[name] = value
    if args.dry_run:
        request["dry_run"] = True
    if args.force_upload:
        request["force_upload"] = True
    return request


def check_kubecost_url(url: str, environ: Mapping[str, str]) -> None:
    """``--kubecost-url`` is the functions' ``KUBECOST_HOST``: refused as they would refuse it, naming the flag."""
    api_path = environ.get("KUBECOST_API_PATH", "") or DEFAULT_API_PATH
    try:
        normalise_base_url(url, bare_host_scheme="https", api_path=("KUBECOST_API_PATH", api_path))
    except ValueError as exc:
        raise UsageError(f"--kubecost-url {url!r} is invalid: {exc}") from None


def pinned_clock(day: date) -> Callable[[], datetime]:
    """The real clock moved by whole days so that its UTC date is ``day`` now; it keeps running from there."""
    shift = day - calendar.system_clock().date()
    return lambda: calendar.system_clock() + shift


def _day_argument(text: str) -> date:
    """``--today``: what the plan accepts as ``today``, an existing date not after the current UTC date."""
    try:
        day = calendar_date(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: allowed an existing calendar date YYYY-MM-DD") from None
    real_today = calendar.system_clock().date()
    if day > real_today:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: allowed a date not after the current UTC date {real_today.isoformat()}"
        )
    return day


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.run",
        description="Run the export workflow locally: moto for AWS, the real handlers, Kubecost and Flexera "
        "emulators unless URLs are given. Other settings come from the deployed functions' environment variables.",
    )
    parser.add_argument(
        "--kubecost-url",
        help="Kubecost/OpenCost base URL (scheme://host:port); default: KUBECOST_HOST, else the embedded emulator",
    )
    parser.add_argument(
        "--flexera-url",
        help="one base URL for every Flexera endpoint; default: FLEXERA_ENDPOINT_URL, else the embedded emulator",
    )
    parser.add_argument(
        "--sources",
        type=Path,
        help="a sources document (several Kubecost/OpenCost sources), put in the bucket at SOURCES_DOCUMENT_KEY "
        "(default config/sources.json); a source without KUBECOST_HOST gets an embedded emulator of its own",
    )
    parser.add_argument(
        "--input", help="the execution input: a JSON text or a file (events/*.json); default: built from the flags"
    )
    parser.add_argument(
        "--today",
        type=_day_argument,
        help="set the functions' clock to this UTC date (YYYY-MM-DD): the run is the scheduled run of that day",
    )
    parser.add_argument("--start", help="backfill from this date (YYYY-MM-DD), with --end")
    parser.add_argument("--end", help="backfill up to this date (YYYY-MM-DD), with --start")
    parser.add_argument("--dry-run", action="store_true", help="export, but upload nothing")
    parser.add_argument("--force-upload", action="store_true", help="upload months even when unchanged")
    parser.add_argument(
        "--out",
        type=Path,
        help="the emulated bucket's content: loaded before the run, made to mirror the bucket after it",
    )
    parser.add_argument(
        "--fast-retries",
        action="store_true",
        help="do not sleep through retry waits (state machine and clients); the embedded Flexera emulator's "
        "clock is advanced instead",
    )
    parser.add_argument(
        "--allocations", type=int, default=300, help="allocations per day of the embedded Kubecost emulator"
    )
    parser.add_argument(
        "--lambda-time-scale",
        type=float,
        default=1.0,
        help="each function's Timeout times this factor (default 1: Lambda's real seconds; 0.01: 900 s in 9 s)",
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def functions_output(stream: TextIO) -> Iterator[None]:
    """What the functions write (Powertools logs and EMF metric lines, CloudWatch's content in AWS) goes to
    ``stream`` while the block runs, so that stdout holds only the runner's own report."""
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        raise LocalRunError("the Powertools logger no longer writes to a stream; update functions_output")
    previous = handler.setStream(stream)
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        handler.setStream(previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        request = build_request(args)
        if args.kubecost_url is not None:
            check_kubecost_url(args.kubecost_url, os.environ)
        if args.out is not None:
            check_folder(args.out)
        document = read_sources_file(args.sources) if args.sources is not None else None
    except (UsageError, FolderError, SourcesFileError) as exc:
        print(f"python -m local.run: error: {exc}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        if args.today is not None:
            stack.enter_context(calendar.use_clock(pinned_clock(args.today)))
        sources = None
        if document is not None:
            sources = stack.enter_context(_local_sources(args, document, request))
        emulators = stack.enter_context(
            EmbeddedEmulators.for_args(args, os.environ, request, sources.bill_connect_ids if sources else None)
        )
        print("\n".join([*emulators.describe(), *(sources.describe() if sources else [])]))
        settings = LocalSettings(
            kubecost_url=sources.kubecost_url if sources else emulators.kubecost_url,
            flexera_url=emulators.flexera_url,
            flexera_secret=emulators.flexera_secret,
            environ=emulators.environ,
            retry_sleep=emulators.retry_sleep if args.fast_retries else None,
            lambda_time_scale=args.lambda_time_scale,
            sources_document=sources.document_body() if sources else None,
        )
        with LocalWorkflow(settings) as workflow:
            folder = None
            if args.out is not None:
                folder = BucketFolder(args.out, workflow.s3, BUCKET, workflow.template.bucket_expirations)
                print(folder.load().describe(args.out))
            with functions_output(sys.stderr):
                run = workflow.run(request)
            print(format_summary(run))
            if folder is not None:
                print(folder.save().describe(args.out))
        if sources is None:
            report = emulators.report(run, os.environ)
            if report:
                print(report)
            return 0 if run.succeeded else 1
        reconciled = True
        if run.plan is not None and "sources" not in run.plan:
            print(f"The plan did not read the sources document (s3://{BUCKET}/{sources_document_key(os.environ)})")
            reconciled = False
        elif emulators.flexera is not None and run.plan is not None:
            results = sources.reconcile(emulators.flexera, run.plan)
            print(format_source_reconciliation(results))
            reconciled = all(result.reconciled for result in results)
    return 0 if run.succeeded and reconciled else 1


def _local_sources(args: argparse.Namespace, document: Mapping[str, Any], request: object) -> LocalSources:
    """The document's sources; the stack's Kubecost (``--kubecost-url``, else ``KUBECOST_HOST``) serves those that
    name none, else each of them gets an embedded emulator sized by ``--allocations``."""
    today = calendar.now().date()
    return LocalSources(
        document,
        os.environ,
        stack_kubecost_url=stack_kubecost_url(args, os.environ),
        default_bill_connect_id=default_bill_connect_id(os.environ),
        emulator_config=lambda merged: kubecost_config(merged, args.allocations, today, earliest_day(request)),
    )


if __name__ == "__main__":
    sys.exit(main())
