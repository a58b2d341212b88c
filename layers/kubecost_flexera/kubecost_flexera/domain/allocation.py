"""One Kubecost allocation item as the export reads it: the fields the CSV uses, typed as the Go exporter's
``KubecostAllocation`` struct (JSON names in camel case).

The Kubecost client decodes pages straight into these structs and the CSV formatter reads them; both depend on this
module, neither on the other. ``gc=False``: items hold no cycles, and the collector need not track hundreds of
thousands of them.
"""

from __future__ import annotations

import msgspec


class Properties(msgspec.Struct, rename="camel", gc=False):
    """The ``properties`` of an allocation item that the CSV uses (Kubecost sends more; decoding skips it)."""

    cluster: str | None = None
    container: str | None = None
    namespace: str | None = None
    pod: str | None = None
    node: str | None = None
    controller: str | None = None
    controller_kind: str | None = None
    provider_id: str | None = msgspec.field(default=None, name="providerID")
    # A null label value is Go's zero value, "" (a map element decoded from null).
    labels: dict[str, str | None] | None = None
    namespace_labels: dict[str, str | None] | None = None


class Window(msgspec.Struct, gc=False):
    start: str | None = None


class Allocation(msgspec.Struct, rename="camel", gc=False):
    """One allocation item. None is a missing field or JSON ``null`` (Kubecost's NaN)."""

    name: str | None = None
    properties: Properties | None = None
    window: Window | None = None
    start: str | None = None
    end: str | None = None
    minutes: float | None = None
    cpu_core_hours: float | None = None
    cpu_cost: float | None = None
    cpu_cost_adjustment: float | None = None
    gpu_hours: float | None = None
    gpu_cost: float | None = None
    gpu_cost_adjustment: float | None = None
    ram_byte_hours: float | None = None
    ram_cost: float | None = None
    ram_cost_adjustment: float | None = None
    pv_byte_hours: float | None = None
    pv_cost: float | None = None
    pv_cost_adjustment: float | None = None
    network_transfer_bytes: float | None = None
    network_cost: float | None = None
    network_cost_adjustment: float | None = None
    shared_cost: float | None = None
    external_cost: float | None = None
    load_balancer_cost: float | None = None
    load_balancer_cost_adjustment: float | None = None
