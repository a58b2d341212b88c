"""The Kubecost / OpenCost Allocation API emulator (``python -m emulators.kubecost``).

``data`` generates and aggregates the allocations, ``api`` serves them as Kubecost or OpenCost does, ``faults`` makes
it fail on purpose, ``__main__`` is the command line. From Python: ``with KubecostEmulator(KubecostEmulatorConfig(...))
as emu: emu.url``.
"""

from emulators.kubecost.api import KubecostAuth, KubecostEmulator, KubecostEmulatorConfig, day_window
from emulators.kubecost.faults import FaultKind, KubecostFault

__all__ = ["FaultKind", "KubecostAuth", "KubecostEmulator", "KubecostEmulatorConfig", "KubecostFault", "day_window"]
