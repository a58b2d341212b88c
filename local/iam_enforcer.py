"""IAM enforced on every AWS call a handler makes locally, answered as AWS answers a refusal.

While :func:`enforced` is active, every botocore client (of any session, Powertools' own included) passes each call
through :func:`_authorize` before moto sees it. A call made outside an invocation (the runner setting up, a test
inspecting the bucket) is an administrator's and passes. A call made inside one is the function's: the thread that
runs a handler acts as that function's role (:func:`acting_as`, set by ``local/runner_lambda.py``), and the call is
mapped to what IAM authorises (:func:`_requests`: the action, the resource ARN and the condition keys AWS sets) and
decided by ``local/iam_policy.py`` over the role's policies and, for S3, the bucket policy. A refused call gets the
answer AWS gives, parsed by botocore's own parser for the service's protocol: S3 HTTP 403 ``AccessDenied`` (a bare
403 for ``HeadObject``), JSON services HTTP 400 ``AccessDeniedException``.

Rules of the services on top of IAM, as AWS documents them:

- S3: ``GetObject``/``HeadObject`` of a missing key answers 403 ``AccessDenied`` unless the caller may also
  ``s3:ListBucket`` the bucket; the ``s3:prefix`` of that implicit check is taken to be the key itself (AWS does not
  document it; with it, a ``ListBucket`` limited to ``state/days/*`` lets a role see a missing manifest as 404).
  ``DeleteObjects`` is authorised per key: a refused key comes back in ``Errors`` with ``AccessDenied``.
- Secrets Manager: ``GetSecretValue`` of a secret encrypted with a customer-managed KMS key also needs
  ``kms:Decrypt`` on that key, evaluated with ``kms:ViaService`` = ``secretsmanager.<region>.amazonaws.com``;
  without it the call fails with ``AccessDeniedException`` "Access to KMS is not allowed".

An operation this module has no mapping for raises :class:`LocalIamError` inside the handler: a new kind of call
must be mapped here before the local world can judge it. A call from an invocation the runner has stopped (a Lambda
timeout) raises :class:`SandboxStopped`: in AWS the sandbox is frozen, nothing it would do afterwards happens.
"""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore import handlers as botocore_handlers
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.endpoint import convert_to_response_dict
from botocore.parsers import create_parser
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends

from local.iam_policy import Decision, Request, evaluate

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from botocore.model import OperationModel

    from local.iam_policy import Policy

_PARAMS_KEY: Final = "local_iam_api_params"
_DENIED_KEYS: Final = "local_iam_denied_keys"
_NONE_ALLOWED: Final = "local_iam_no_key_allowed"
_AWS_MANAGED_SECRETS_KEY: Final = "alias/aws/secretsmanager"
# Calls that need no permission (STS's GetCallerIdentity) or that this stack's policies grant on "*".
_UNSCOPED: Final = {"xray", "cloudwatch", "logs"}


class LocalIamError(RuntimeError):
    """A call the local IAM model cannot judge: map it in local/iam_enforcer.py."""


class SandboxStopped(BaseException):
    """The invocation was stopped by its timeout; its thread may not touch AWS any more.

    A BaseException, so that the handler's ``except Exception`` blocks do not swallow it.
    """


@dataclass
class Principal:
    """Who makes the calls of one invocation: a role session, its policies, and whether it was stopped."""

    role_name: str
    session_name: str
    account: str
    policies: Sequence[Policy]
    stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"

    def decide(self, request: Request, resource_policies: Sequence[Policy] = ()) -> Decision:
        return evaluate([*self.policies, *resource_policies], request)


@dataclass(frozen=True)
class World:
    """The account the run emulates and the resource-based policies it holds (bucket name -> bucket policy)."""

    account: str
    region: str
    bucket_policies: Mapping[str, Sequence[Policy]] = field(default_factory=dict)


_current = threading.local()


def current() -> Principal | None:
    return getattr(_current, "principal", None)


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """The calls made by this thread inside the block are ``principal``'s."""
    previous = current()
    _current.principal = principal
    try:
        yield
    finally:
        _current.principal = previous


@contextmanager
def enforced(world: World) -> Iterator[None]:
    """Judges every call of every client while active (clients made before, on the default session, included)."""
    hooks = [
        ("before-parameter-build", _preparer(world)),
        ("before-call", _authorizer(world)),
        ("after-call.s3.DeleteObjects", _report_denied_deletes),
    ]
    sessions = [boto3.DEFAULT_SESSION] if boto3.DEFAULT_SESSION is not None else []
    botocore_handlers.BUILTIN_HANDLERS.extend(hooks)
    for session in sessions:
        for event, handler in hooks:
            session.events.register(event, handler)
    try:
        yield
    finally:
        for hook in hooks:
            botocore_handlers.BUILTIN_HANDLERS.remove(hook)
        for session in sessions:
            for event, handler in hooks:
                session.events.unregister(event, handler)


def _preparer(world: World) -> Any:
    def prepare(params: dict[str, Any], model: OperationModel, context: dict[str, Any], **_: Any) -> None:
        principal = current()
        if principal is None:
            return
        context[_PARAMS_KEY] = params
        if model.service_model.service_name == "s3" and model.name == "DeleteObjects":
            _authorize_deletes(world, principal, params, context)

    return prepare


def _authorizer(world: World) -> Any:
    def authorize(model: OperationModel, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, Any] | None:
        principal = current()
        if principal is None:
            return None
        if principal.stopped.is_set():
            raise SandboxStopped(f"{principal.session_name} timed out; its sandbox no longer runs")
        return _authorize(world, principal, model, context)

    return authorize


def _authorize(
    world: World, principal: Principal, model: OperationModel, context: dict[str, Any]
) -> tuple[AWSResponse, Any] | None:
    params: dict[str, Any] = context.get(_PARAMS_KEY, {})
    service = model.service_model.service_name
    if service == "sts" and model.name == "GetCallerIdentity":
        return None
    resource_policies = world.bucket_policies.get(params.get("Bucket", ""), ()) if service == "s3" else ()
    if service == "s3" and model.name == "DeleteObjects":
        return _deletes_answer(context)
    for request in _requests(world, principal, service, model.name, params):
        decision = principal.decide(request, resource_policies)
        if decision is not Decision.ALLOWED:
            return _denied(model, denial_message(principal, request, decision), service)
    if service == "s3" and model.name in ("GetObject", "HeadObject"):
        return _missing_key_rule(world, principal, model, params, resource_policies)
    if service == "secretsmanager" and model.name == "GetSecretValue":
        return _kms_rule(world, principal, model, params)
    return None


# --- mapping a call to what IAM authorises ---


def _requests(
    world: World, principal: Principal, service: str, operation: str, params: Mapping[str, Any]
) -> list[Request]:
    arn_prefix = f"arn:aws:{{}}:{world.region}:{world.account}"
    base = {"aws:SecureTransport": "true", "aws:PrincipalAccount": world.account, "aws:PrincipalArn": principal.arn}

    def request(action: str, resource: str, **context: str) -> Request:
        return Request(action, resource, principal.arn, {**base, **context})

    if service == "s3":
        return [_s3_request(request, operation, params)]
    if service == "secretsmanager":
        return [request(f"secretsmanager:{operation}", _secret_arn(world, str(params.get("SecretId", ""))))]
    if service == "stepfunctions":
        resource = params.get("stateMachineArn") or params.get("executionArn")
        if not isinstance(resource, str):
            raise LocalIamError(f"states:{operation}: no state machine or execution ARN in the call")
        return [request(f"states:{operation}", resource)]
    if service == "lambda" and operation == "Invoke":
        name = str(params.get("FunctionName", ""))
        arn = name if name.startswith("arn:") else f"{arn_prefix.format('lambda')}:function:{name}"
        return [request("lambda:InvokeFunction", arn)]
    if service == "kms":
        return [request(f"kms:{operation}", _key_arn(world, str(params.get("KeyId", ""))))]
    if service in _UNSCOPED:
        return [request(f"{service}:{operation}", "*")]
    raise LocalIamError(f"no local IAM mapping for {service}:{operation}; add it to local/iam_enforcer.py")


_S3_ACTIONS: Final = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
}
_S3_BUCKET_ACTIONS: Final = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
}


def _s3_request(request: Any, operation: str, params: Mapping[str, Any]) -> Request:
    bucket = str(params.get("Bucket", ""))
    context = {"s3:TlsVersion": "1.3"}
    if operation in _S3_ACTIONS:
        return request(_S3_ACTIONS[operation], f"arn:aws:s3:::{bucket}/{params.get('Key', '')}", **context)  # type: ignore[no-any-return]
    if operation in _S3_BUCKET_ACTIONS:
        if operation != "HeadBucket":
            context["s3:prefix"] = str(params.get("Prefix", ""))
            if "Delimiter" in params:
                context["s3:delimiter"] = str(params["Delimiter"])
        return request(_S3_BUCKET_ACTIONS[operation], f"arn:aws:s3:::{bucket}", **context)  # type: ignore[no-any-return]
    raise LocalIamError(f"no local IAM mapping for s3:{operation}; add it to local/iam_enforcer.py")


def _secret_arn(world: World, secret_id: str) -> str:
    try:
        return str(secretsmanager_backends[world.account][world.region].describe_secret(secret_id).arn)
    except Exception:
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{world.region}:{world.account}:secret:{secret_id}"


def _key_arn(world: World, key_id: str) -> str:
    backend = kms_backends[world.account][world.region]
    try:
        return str(backend.describe_key(key_id).arn)
    except Exception:
        return key_id


# --- the services' own rules ---


def _missing_key_rule(
    world: World,
    principal: Principal,
    model: OperationModel,
    params: Mapping[str, Any],
    resource_policies: Sequence[Policy],
) -> tuple[AWSResponse, Any] | None:
    bucket, key = str(params.get("Bucket", "")), str(params.get("Key", ""))
    try:
        exists = key in s3_backends[world.account]["global"].get_bucket(bucket).keys
    except Exception:
        return None
    if exists:
        return None
    listing = Request(
        "s3:ListBucket",
        f"arn:aws:s3:::{bucket}",
        principal.arn,
        {"aws:SecureTransport": "true", "s3:prefix": key, "s3:TlsVersion": "1.3"},
    )
    if principal.decide(listing, resource_policies) is Decision.ALLOWED:
        return None  # S3 may tell the caller the key does not exist: 404 NoSuchKey, from moto
    return _denied(model, "Access Denied", "s3")


def _kms_rule(
    world: World, principal: Principal, model: OperationModel, params: Mapping[str, Any]
) -> tuple[AWSResponse, Any] | None:
    try:
        secret = secretsmanager_backends[world.account][world.region].describe_secret(str(params.get("SecretId")))
    except Exception:
        return None
    key_id = getattr(secret, "kms_key_id", None)
    if not key_id or key_id == _AWS_MANAGED_SECRETS_KEY:
        return None
    decrypt = Request(
        "kms:Decrypt",
        _key_arn(world, str(key_id)),
        principal.arn,
        {
            "kms:ViaService": f"secretsmanager.{world.region}.amazonaws.com",
            "kms:CallerAccount": world.account,
            "kms:EncryptionContext:SecretARN": str(secret.arn),
            "aws:SecureTransport": "true",
        },
    )
    if principal.decide(decrypt) is Decision.ALLOWED:
        return None
    return _denied(model, "Access to KMS is not allowed", "secretsmanager")


def _authorize_deletes(world: World, principal: Principal, params: dict[str, Any], context: dict[str, Any]) -> None:
    """S3 authorises each key of a DeleteObjects: refused keys are left out of the call (its parameters, before
    they are serialised) and reported in its ``Errors``."""
    resource_policies = world.bucket_policies.get(str(params.get("Bucket", "")), ())
    allowed: list[dict[str, Any]] = []
    denied: list[dict[str, Any]] = []
    for item in params.get("Delete", {}).get("Objects", []):
        request = _requests(world, principal, "s3", "DeleteObject", {**params, "Key": item["Key"]})[0]
        (allowed if principal.decide(request, resource_policies) is Decision.ALLOWED else denied).append(item)
    if denied:
        params["Delete"]["Objects"] = allowed
        context[_DENIED_KEYS] = [
            {"Key": item["Key"], "Code": "AccessDenied", "Message": "Access Denied"} for item in denied
        ]
        context[_NONE_ALLOWED] = not allowed


def _deletes_answer(context: dict[str, Any]) -> tuple[AWSResponse, Any] | None:
    """When every key was refused there is nothing to send: S3's answer is the list of refusals."""
    if not context.get(_NONE_ALLOWED):
        return None
    response = AWSResponse("https://s3.amazonaws.com", 200, HTTPHeaders(), _Raw(b""))
    return response, {"Errors": context.pop(_DENIED_KEYS), "ResponseMetadata": {"HTTPStatusCode": 200}}


def _report_denied_deletes(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    errors = context.get(_DENIED_KEYS)
    if errors:
        parsed.setdefault("Errors", []).extend(errors)


# --- the refusal, as the service sends it ---


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def denial_message(principal: Principal, request: Request, decision: Decision) -> str:
    """The message AWS gives ``principal`` for a refused ``request`` (every local refusal words it alike)."""
    why = (
        "with an explicit deny in a policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {request.action} action"
    )
    return f"User: {principal.arn} is not authorized to perform: {request.action} on resource: {request.resource} {why}"


def _denied(model: OperationModel, message: str, service: str) -> tuple[AWSResponse, Any]:
    """The HTTP answer AWS gives a refused call, parsed by botocore as a real one would be."""
    request_id = str(uuid.uuid4())
    protocol = model.service_model.protocol
    if service == "s3":
        status, headers = 403, {"x-amz-request-id": request_id}
        body = (
            b""
            if model.name == "HeadObject"
            else (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            ).encode()
        )
    elif protocol in ("json", "rest-json"):
        status = 403 if protocol == "rest-json" else 400
        headers = {"x-amzn-RequestId": request_id, "Content-Type": "application/x-amz-json-1.1"}
        error = {"__type": "AccessDeniedException", "message": message}
        if protocol == "rest-json":
            headers["x-amzn-ErrorType"] = "AccessDeniedException"
        body = json.dumps(error).encode()
    else:
        raise LocalIamError(f"no local refusal for the {protocol} protocol of {service}")
    response = AWSResponse(f"https://{service}.amazonaws.com", status, HTTPHeaders.from_dict(headers), _Raw(body))
    response_dict = convert_to_response_dict(response, model)
    parsed = create_parser(protocol).parse(response_dict, model.output_shape)  # type: ignore[arg-type]
    return response, parsed
