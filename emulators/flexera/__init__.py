"""The Flexera One emulator: token service, Bill Upload API and bill connects (``python -m emulators.flexera``).

``state`` holds the configuration, clock and records, ``api`` serves Flexera's routes over them, ``faults`` makes
them fail on purpose, ``__main__`` is the command line.
"""

from emulators.flexera.api import FlexeraEmulator
from emulators.flexera.faults import Endpoint, FaultKind, FlexeraFault
from emulators.flexera.state import (
    DEFAULT_BILL_CONNECT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    FlexeraEmulatorConfig,
    ManualClock,
    WallClock,
    split_bill_connect_id,
)

__all__ = [
    "DEFAULT_BILL_CONNECT_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "Endpoint",
    "FaultKind",
    "FlexeraEmulator",
    "FlexeraEmulatorConfig",
    "FlexeraFault",
    "ManualClock",
    "WallClock",
    "split_bill_connect_id",
]
