"""The Flexera One emulator: token service, Bill Upload API and bill connects (``python -m emulators.flexera``)."""

from emulators.flexera.api import (
    DEFAULT_BILL_CONNECT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    Endpoint,
    FaultKind,
    FlexeraEmulator,
    FlexeraEmulatorConfig,
    FlexeraFault,
    ManualClock,
    WallClock,
    config_from_args,
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
    "config_from_args",
    "split_bill_connect_id",
]
