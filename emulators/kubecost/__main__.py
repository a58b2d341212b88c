"""A Kubecost / OpenCost Allocation API emulator: a real HTTP server on 127.0.0.1 for tests, benchmarks and the demo.

The command line (``python -m emulators.kubecost``); the emulator itself is ``emulators.kubecost.api``.

Usage::

    python -m emulators.kubecost --port 9090                     # Kubecost on http://127.0.0.1:9090/model/
    python -m emulators.kubecost --port 9003 --flavour opencost  # OpenCost on http://127.0.0.1:9003/
    python -m emulators.kubecost --port 9090 --allocations 50000 --seed 7 --latency 0.05 \\
        --today 2025-07-20 --empty-day 2025-07-14 --auth-bearer s3cret --config-mode full --currency EUR

    curl 'http://127.0.0.1:9090/model/allocation?window=2025-07-15T00:00:00Z,2025-07-16T00:00:00Z&aggregate=cluster,namespace'
    curl 'http://127.0.0.1:9090/__emulator__/expected?window=2025-07-15T00:00:00Z,2025-07-16T00:00:00Z&aggregate=cluster,namespace'
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING

from emulators.kubecost.api import KubecostAuth, KubecostEmulator, KubecostEmulatorConfig

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parse_args(argv: Sequence[str] | None) -> tuple[KubecostEmulatorConfig, int]:
    parser = argparse.ArgumentParser(prog="python -m emulators.kubecost", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--flavour", choices=("kubecost", "opencost"), default="kubecost")
    parser.add_argument("--allocations", type=int, default=50, help="pods (non-idle items at pod level) per day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: UTC today)")
    parser.add_argument("--retention-days", type=int, default=400)
    parser.add_argument("--empty-day", type=date.fromisoformat, action="append", default=[], help="repeatable")
    parser.add_argument("--currency", default="USD")
    parser.add_argument(
        "--config-mode", choices=("static", "full", "not_found", "error", "undecodable"), default="static"
    )
    parser.add_argument("--api-path", default=None, help="default /model/ (kubecost) or / (opencost)")
    parser.add_argument("--idle-naming", choices=("cluster", "single", "padded"), default="cluster")
    parser.add_argument("--idle-in-limit", action="store_true", help="count idle items inside limit")
    parser.add_argument("--include-status", action="store_true", help='add "status":"success" to the envelope')
    parser.add_argument("--ignore-offset", action="store_true", help="honour limit but answer every offset as 0")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--auth-bearer", metavar="TOKEN")
    auth.add_argument("--auth-basic", metavar="USER:PASSWORD")
    auth.add_argument("--auth-cookie", metavar="TOKEN", help="require Cookie: token=TOKEN")
    args = parser.parse_args(argv)
    credentials: KubecostAuth | None = None
    if args.auth_bearer:
        credentials = KubecostAuth("bearer", args.auth_bearer)
    elif args.auth_basic:
        username, _, password = args.auth_basic.partition(":")
        credentials = KubecostAuth("basic", password, username=username)
    elif args.auth_cookie:
        credentials = KubecostAuth("cookie", args.auth_cookie)
    config = KubecostEmulatorConfig(
        flavour=args.flavour,
        seed=args.seed,
        allocations_per_day=args.allocations,
        today=args.today,
        retention_days=args.retention_days,
        empty_days=frozenset(args.empty_day),
        latency_seconds=args.latency,
        auth=credentials,
        currency=args.currency,
        config_mode=args.config_mode,
        api_path=args.api_path,
        idle_naming=args.idle_naming,
        idle_in_limit=args.idle_in_limit,
        include_status=args.include_status,
        ignore_offset=args.ignore_offset,
    )
    return config, args.port


def main(argv: Sequence[str] | None = None) -> None:
    config, port = _parse_args(argv)
    KubecostEmulator(config, port=port).serve_forever()


if __name__ == "__main__":
    main()
