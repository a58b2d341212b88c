"""Benchmark of cold starts: each handler's import time and first invocation, each in a fresh process.

Usage::

    python -m benchmarks.cold_start              # 5 fresh processes per handler, medians
    python -m benchmarks.cold_start --runs 9

A Lambda cold start is the interpreter, the function's imports (the layer, Powertools, boto3) and the first invocation,
which builds the boto3 clients and the configuration. Each run here is a fresh child process that times ``import
functions.<name>.app`` and then one call of its handler with a real event against real dependencies: ``moto.server``
(S3, Secrets Manager, Step Functions), the Kubecost emulator and the Flexera emulator, each in its own process so that
their work never counts. Each child has the environment variables ``template.yaml`` sets to a constant for every
function (``PYDANTIC_DISABLE_PLUGINS`` among them). The plan runs on a dry run (no Flexera secret is read), the day
export writes one 100-allocation day, and the upload sends that month to the Flexera emulator (forced: it holds one
day).

The figures are medians of wall-clock milliseconds; CPU milliseconds of the child are shown beside them. They are
for comparison within one run (before and after a change, on one machine), not absolute: Lambda's CPU share depends
on its memory setting. The layer's installed size is printed when ``sam build`` has produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Final

import boto3

from benchmarks.support import ENV, ROOT, child_env, free_port, server
from emulators.flexera import DEFAULT_BILL_CONNECT_ID, DEFAULT_REFRESH_TOKEN, FlexeraEmulatorConfig
from local.runner_template import load_template

if TYPE_CHECKING:
    from collections.abc import Sequence

HANDLERS: Final = ("plan", "export_day", "upload")
DAY: Final = "2025-07-15"
TODAY: Final = "2025-07-20"
BUCKET: Final = "cold-start-exports"
EXECUTION: Final = "arn:aws:states:us-east-1:123456789012:execution:export:cold-start"
STATE_MACHINE_VARIABLE: Final = "COLD_START_STATE_MACHINE_ARN"  # the benchmark's own: the plan reads it from its event
NO_COOLOFF: Final = ("--cooloff", "0")  # every run uploads the same month: Flexera's 120 s would throttle the next
LAYER_BUILD: Final = ROOT / ".aws-sam" / "build" / "SharedLayer"


def _event(name: str) -> dict[str, Any]:
    if name == "plan":
        machine = os.environ[STATE_MACHINE_VARIABLE]
        return {"request": {"today": TODAY, "dry_run": True}, "executionId": EXECUTION, "stateMachineArn": machine}
    if name == "export_day":
        options = {"dryRun": False, "forceUpload": False}
        return {"day": DAY, "currency": "USD", "options": options, "executionId": EXECUTION}
    # Forced: the month has ended by the real clock and holds one day, and the benchmark wants the upload to Flexera.
    options = {"dryRun": False, "forceUpload": True}
    day_result = {"day": DAY, "status": "written", "parts": 1, "rows": 800, "allocations": 100, "cost": 1.0}
    return {
        "executionId": EXECUTION,
        "today": TODAY,
        "days": [DAY],
        "months": [DAY[:7]],
        "currency": "USD",
        "options": options,
        "dayResults": [day_result],
    }


class _Context:
    """What Powertools and the handlers read from a Lambda context."""

    function_name = "cold-start"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold-start"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def child(name: str) -> None:
    """One cold start in this process; prints its measurements as JSON on the last line of stdout."""
    import importlib  # noqa: PLC0415 - nothing is imported before the clock starts

    wall, cpu = time.perf_counter(), time.process_time()
    module = importlib.import_module(f"functions.{name}.app")
    import_wall, import_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    outcome: str
    try:
        result = module.lambda_handler(_event(name), _Context())
        outcome = "ok" if isinstance(result, dict) else type(result).__name__
    except Exception as error:  # the outcome is reported; the timing still counts
        outcome = f"{type(error).__name__}: {error}"[:120]
    invoke_wall, invoke_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        json.dumps(
            {
                "import_ms": import_wall * 1e3,
                "import_cpu_ms": import_cpu * 1e3,
                "invoke_ms": invoke_wall * 1e3,
                "invoke_cpu_ms": invoke_cpu * 1e3,
                "outcome": outcome,
            }
        )
    )


def _run_child(name: str, environment: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.cold_start", "--child", name]
    output = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, check=True, capture_output=True, text=True, env={**child_env(), **environment}
    )
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def _prepare_aws(aws_url: str) -> dict[str, str]:
    """The bucket, the Flexera secret and a state machine in moto.server; the variables that name them."""
    clients = {
        "endpoint_url": aws_url,
        "region_name": ENV["AWS_DEFAULT_REGION"],
        "aws_access_key_id": ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": ENV["AWS_SECRET_ACCESS_KEY"],
    }
    boto3.client("s3", **clients).create_bucket(Bucket=BUCKET)  # type: ignore[call-overload]
    secret = boto3.client("secretsmanager", **clients).create_secret(  # type: ignore[call-overload]
        Name="flexera", SecretString=json.dumps({"refresh_token": DEFAULT_REFRESH_TOKEN})
    )
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    machine = boto3.client("stepfunctions", **clients).create_state_machine(  # type: ignore[call-overload]
        name="export", definition=definition, roleArn="arn:aws:iam::123456789012:role/export"
    )
    return {
        "AWS_ENDPOINT_URL": aws_url,
        "BUCKET_NAME": BUCKET,
        "FLEXERA_SECRET_ARN": secret["ARN"],
        STATE_MACHINE_VARIABLE: machine["stateMachineArn"],
    }


def _template_constants() -> dict[str, str]:
    """The functions' environment variables that template.yaml sets to a constant (not to a parameter), as Lambda
    gives them to every cold start."""
    variables = load_template(stack_name="cold-start").document["Globals"]["Function"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def _layer_size() -> str:
    if not LAYER_BUILD.is_dir():
        return "layer size: run `make build` first"
    total = sum(path.stat().st_size for path in LAYER_BUILD.rglob("*") if path.is_file())
    return f"layer size (unzipped, {LAYER_BUILD.relative_to(ROOT)}): {total / 2**20:.1f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per handler")
    parser.add_argument("--child", choices=HANDLERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0

    aws_port, kubecost_port, flexera_port = free_port(), free_port(), free_port()
    aws_url, kubecost_url = f"http://127.0.0.1:{aws_port}", f"http://127.0.0.1:{kubecost_port}"
    flexera_url = f"http://127.0.0.1:{flexera_port}"
    kubecost = ["-m", "emulators.kubecost", "--port", str(kubecost_port), "--allocations", "100"]
    with ExitStack() as stack:
        stack.enter_context(server(["-m", "moto.server", "-p", str(aws_port)], aws_url))
        stack.enter_context(server([*kubecost, "--today", TODAY], kubecost_url))
        stack.enter_context(server(["-m", "emulators.flexera", "--port", str(flexera_port), *NO_COOLOFF], flexera_url))
        environment = {
            **_template_constants(),
            **_prepare_aws(aws_url),
            "KUBECOST_HOST": kubecost_url,
            "FLEXERA_ENDPOINT_URL": flexera_url,
            "ORG_ID": FlexeraEmulatorConfig.org_id,
            "BILL_CONNECT_ID": DEFAULT_BILL_CONNECT_ID,
        }
        results = {name: [_run_child(name, environment) for _ in range(args.runs)] for name in HANDLERS}
    _report(results)
    print(_layer_size())
    return 0


def _report(results: dict[str, list[dict[str, Any]]]) -> None:
    print(f"{'handler':<11} {'import ms':>9} {'(CPU)':>7} {'1st call ms':>11} {'(CPU)':>7} {'total ms':>8}  outcome")
    for name, runs in results.items():
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key.endswith("_ms")}
        outcomes = sorted({run["outcome"] for run in runs})
        print(
            f"{name:<11} {median['import_ms']:>9.0f} {median['import_cpu_ms']:>7.0f} {median['invoke_ms']:>11.0f} "
            f"{median['invoke_cpu_ms']:>7.0f} {median['import_ms'] + median['invoke_ms']:>8.0f}  {'; '.join(outcomes)}"
        )


if __name__ == "__main__":
    sys.exit(main())
