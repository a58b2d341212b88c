"""``make smoke STACK=<name>`` (``python -m local.smoke --stack <name>``): the check to run right after ``sam deploy``.

Against the deployed stack, with the caller's AWS credentials (``AWS_PROFILE``/``AWS_REGION`` or ``--region``; an
``AWS_ENDPOINT_URL`` is honoured, which is how the tests point it at moto's server):

1. reads the stack's outputs (CloudFormation ``DescribeStacks``): the state machine and the Flexera secret;
2. checks the Flexera secret is filled: JSON with a ``refresh_token``, or a ``client_id`` and a ``client_secret``,
   not the placeholder the stack creates (its values are never printed);
3. starts a dry-run execution (``{"dry_run": true}``: every day exported to S3, nothing uploaded to Flexera) and
   follows it, printing the days done as they finish;
4. prints per day and per month what happened (the local runner's summary, rebuilt from the execution history)
   and, for the first error, its meaning and what to do, from the README's table of errors.

Exit status: 0 when the dry run succeeded, 1 when the stack is not ready or the run failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local.runner_report import DayOutcome, MonthOutcome, WorkflowRun, format_summary
from local.runner_template import ROOT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mypy_boto3_stepfunctions import SFNClient

README: Final = ROOT / "README.md"
ERRORS_HEADING: Final = "### Errors: what each means and what to do"
REQUIRED_OUTPUTS: Final = ("StateMachineArn", "FlexeraCredentialsSecretArn")
# The definition's states whose inputs and outputs carry the plan, the day results and the month results.
MAP_STATE: Final = "ExportDays"
UPLOAD_STATE: Final = "Upload"
DAY_DONE_EVENTS: Final = frozenset({"MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"})
_ROW_RE: Final = re.compile(r"^\| `([A-Za-z.]+)` \| (.*?) \| (.*?) \| (.*?) \|$")


class SmokeError(RuntimeError):
    """The stack is not ready for a run (missing output, unfilled secret): the message says what to do."""


@dataclass(frozen=True)
class ErrorAdvice:
    meaning: str
    retried: str
    remedy: str


def error_table(readme: str) -> dict[str, ErrorAdvice]:
    """The README's table of errors: error type -> meaning, whether retried, what to do."""
    _, _, section = readme.partition(ERRORS_HEADING)
    table: dict[str, ErrorAdvice] = {}
    for line in section.split("\n### ", 1)[0].splitlines():
        match = _ROW_RE.match(line.strip())
        if match:
            table[match.group(1)] = ErrorAdvice(match.group(2), match.group(3), match.group(4))
    return table


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise SmokeError(f"stack {stack}: {exc.response['Error'].get('Message', exc)}") from exc
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise SmokeError(f"stack {stack} has no output {', '.join(missing)}: is it this project's stack, deployed?")
    return outputs


def check_flexera_secret(secrets: Any, secret_arn: str, put_command: str | None) -> str:
    """Which credentials the secret holds (never their values); raises while it holds the placeholder."""
    try:
        text = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as exc:
        raise SmokeError(f"cannot read the Flexera secret {secret_arn}: {exc.response['Error'].get('Code')}") from exc
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and str(body.get("refresh_token") or "").strip():
        return "a refresh token"
    if isinstance(body, dict) and str(body.get("client_id") or "").strip() and str(body.get("client_secret") or ""):
        return "service account credentials"
    state = "still holds the placeholder" if isinstance(body, dict) and "placeholder" in body else "is not filled"
    how = f": {put_command}" if put_command else " (README, Deploying, step 3)"
    raise SmokeError(
        f'the Flexera secret {state}; store {{"refresh_token": ...}} or {{"client_id": ..., "client_secret": '
        f"...}} with the stack output PutFlexeraCredentialsCommand{how}"
    )


def history(sfn: SFNClient, execution_arn: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [dict(event) for page in pages for event in page["events"]]


def _state_data(events: Sequence[Mapping[str, Any]], kind: str, state: str) -> Any:
    """The JSON input (``kind="Entered"``) or output (``"Exited"``) of the last visit of ``state``."""
    key, field = ("stateEnteredEventDetails", "input") if kind == "Entered" else ("stateExitedEventDetails", "output")
    for event in reversed(events):
        details = event.get(key)
        if details and details.get("name") == state and field in details:
            return json.loads(details[field])
    return None


def rebuild_run(execution_arn: str, description: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> WorkflowRun:
    """The execution's outcome as the local runner reports it, from what its history recorded."""
    plan = _state_data(events, "Entered", MAP_STATE)
    upload_input = _state_data(events, "Entered", UPLOAD_STATE) or {}
    upload_output = _state_data(events, "Exited", UPLOAD_STATE) or {}
    days = tuple(DayOutcome.from_result(result) for result in upload_input.get("dayResults", []))
    months = tuple(MonthOutcome.from_result(result) for result in upload_output.get("upload", {}).get("months", []))
    upload_error = None
    if upload_input and not upload_output and description["status"] != "RUNNING":
        upload_error = f"{description.get('error')}: {description.get('cause', '')}"
    return WorkflowRun(
        execution_arn=execution_arn,
        status=str(description["status"]),
        error=description.get("error"),
        cause=description.get("cause"),
        plan=plan,
        days=days,
        months=months,
        upload_error=upload_error,
        invocations=(),
        history_events=len(events),
    )


def first_error(run: WorkflowRun) -> str | None:
    """The error type to explain: the first failed day's, else the execution's."""
    for day in run.days:
        if day.status == "failed" and day.error:
            return day.error.split(":", 1)[0]
    return run.error if not run.succeeded else None


def follow(sfn: SFNClient, execution_arn: str, *, poll_seconds: float, timeout_seconds: float) -> WorkflowRun:
    deadline = time.monotonic() + timeout_seconds
    reported = ""
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        events = history(sfn, execution_arn)
        plan = _state_data(events, "Entered", MAP_STATE)
        done = sum(1 for event in events if event["type"] in DAY_DONE_EVENTS)
        progress = f"  {description['status'].lower()}: " + (
            f"{done}/{len(plan['days'])} day(s) done" if plan else "planning"
        )
        if progress != reported:
            print(progress, flush=True)
            reported = progress
        if description["status"] != "RUNNING":
            return rebuild_run(execution_arn, dict(description), events)
        if time.monotonic() > deadline:
            raise SmokeError(f"{execution_arn} still running after {timeout_seconds:.0f} s; follow it in the console")
        time.sleep(poll_seconds)


def smoke(args: argparse.Namespace) -> int:
    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    outputs = stack_outputs(session.client("cloudformation"), args.stack)
    print(f"Stack {args.stack}: state machine {outputs['StateMachineArn']}")
    held = check_flexera_secret(
        session.client("secretsmanager"),
        outputs["FlexeraCredentialsSecretArn"],
        outputs.get("PutFlexeraCredentialsCommand"),
    )
    print(f"Flexera secret: filled ({held})")
    sfn = session.client("stepfunctions")
    name = f"smoke-{time.strftime('%Y%m%dT%H%M%S')}"
    execution_arn = sfn.start_execution(
        stateMachineArn=outputs["StateMachineArn"], name=name, input=json.dumps({"dry_run": True})
    )["executionArn"]
    print(f"Dry run {name} started (exports to S3, uploads nothing)")
    run = follow(sfn, execution_arn, poll_seconds=args.poll, timeout_seconds=args.timeout)
    print()
    print(format_summary(run))
    error = first_error(run)
    if error is not None:
        advice = error_table(README.read_text()).get(error)
        print(f"\nFirst error: {error}")
        if advice is None:
            print("  not in the README's table of errors: read the execution's events in the Step Functions console")
        else:
            print(f"  Meaning: {advice.meaning}\n  Retried: {advice.retried}\n  What to do: {advice.remedy}")
    return 0 if run.succeeded else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.smoke", description="Smoke test of a deployed stack: outputs, Flexera secret, a dry run."
    )
    parser.add_argument("--stack", required=True, help="the CloudFormation stack name given to sam deploy")
    parser.add_argument("--region", help="the stack's region (default: the AWS CLI's)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between progress checks (default 5)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up following after this many seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return smoke(args)
    except SmokeError as exc:
        print(f"Not ready: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"AWS refused or failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
