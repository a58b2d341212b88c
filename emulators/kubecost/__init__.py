"""The Kubecost / OpenCost Allocation API emulator (``python -m emulators.kubecost``)."""

from emulators.kubecost.api import (
    FaultKind,
    KubecostAuth,
    KubecostEmulator,
    KubecostEmulatorConfig,
    KubecostFault,
    day_window,
)

__all__ = ["FaultKind", "KubecostAuth", "KubecostEmulator", "KubecostEmulatorConfig", "KubecostFault", "day_window"]
