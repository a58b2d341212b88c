"""Flexera One emulator: OIDC token service, Bill Upload API (CBI) and FinOps Onboarding bill connects, on one URL.

The command line (``python -m emulators.flexera``); the clock follows real time there, so a second run two minutes
later is not throttled::

    python -m emulators.flexera --port 8081 --org-id 12345 --refresh-token my-refresh-token \\
        --client my-client-id:my-secret --bill-connect cbi-oi-kubecost-1 [--cooloff 120] [--max-files 500] \\
        [--max-file-bytes N] [--token-lifetime 3600] [--frozen-clock]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from emulators.flexera.api import FlexeraEmulator
from emulators.flexera.state import DEFAULT_BILL_CONNECT_ID, DEFAULT_REFRESH_TOKEN, FlexeraEmulatorConfig

if TYPE_CHECKING:
    from collections.abc import Sequence


def config_from_args(argv: Sequence[str] | None = None) -> tuple[FlexeraEmulatorConfig, int]:
    """The configuration and port the command line asks for."""
    defaults = FlexeraEmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m emulators.flexera", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (printed)")
    parser.add_argument("--org-id", default=defaults.org_id)
    parser.add_argument("--refresh-token", action="append", help=f"repeatable; default {DEFAULT_REFRESH_TOKEN}")
    parser.add_argument("--client", action="append", metavar="ID:SECRET", help="repeatable; default the emulator's")
    parser.add_argument(
        "--bill-connect", action="append", help=f"existing bill connect; default {DEFAULT_BILL_CONNECT_ID}"
    )
    parser.add_argument("--token-lifetime", type=int, default=defaults.token_lifetime_seconds, help="seconds")
    parser.add_argument("--cooloff", type=int, default=defaults.cooloff_seconds, help="seconds")
    parser.add_argument("--max-files", type=int, default=defaults.max_files)
    parser.add_argument("--max-file-bytes", type=int, default=defaults.max_file_bytes)
    parser.add_argument("--frozen-clock", action="store_true", help="time moves only through /__emulator__/clock")
    args = parser.parse_args(argv)
    clients = dict(defaults.clients)
    if args.client:
        pairs = [client.partition(":") for client in args.client]
        if any(not sep or not client_id or not secret for client_id, sep, secret in pairs):
            parser.error("--client takes ID:SECRET")
        clients = {client_id: secret for client_id, _, secret in pairs}
    try:
        config = FlexeraEmulatorConfig(
            org_id=args.org_id,
            refresh_tokens=frozenset(args.refresh_token) if args.refresh_token else defaults.refresh_tokens,
            clients=clients,
            token_lifetime_seconds=args.token_lifetime,
            max_file_bytes=args.max_file_bytes,
            max_files=args.max_files,
            cooloff_seconds=args.cooloff,
            bill_connects=frozenset(args.bill_connect) if args.bill_connect else defaults.bill_connects,
            wall_clock=not args.frozen_clock,
        )
    except ValueError as exc:
        parser.error(str(exc))
    return config, args.port


def main(argv: Sequence[str] | None = None) -> None:
    config, port = config_from_args(argv)
    FlexeraEmulator(config, port=port).serve_forever()


if __name__ == "__main__":
    main()
