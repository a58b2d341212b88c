"""Deterministic, realistic cost allocations for the Kubecost/OpenCost emulator, and their real aggregation.

Why a generator and not recorded fixtures: exports must be tested at every size from 10 to 100,000 allocations a
day, on any day, always with the same bytes for the same seed, and with the awkward cases a real cluster produces
(``KC-BODY-1`` to ``KC-BODY-4``, ``KC-NAME-1``, ``KC-NAME-2``). So this module builds a fixed topology from the
seed (clusters, nodes with provider ids, namespaces with labels, controllers of each kind and bare pods), then one
*pod-level* record per pod and day, and aggregates those records the way OpenCost does (KC-BODY-2, KC-BODY-3,
KC-NAME-1):

- numbers are summed; request, limit and usage averages are time-weighted (stored as value times minutes, divided by
  the merged span when written); ``cpuCores``, ``ramBytes``, ``gpuCount``, ``pvBytes``, efficiencies and
  ``totalCost`` are derived when written, so they stay consistent whatever was merged;
- properties are intersected (only values common to every merged record survive, label maps key by key);
- names are the aggregate values in request order joined by ``/``; ``controller`` is written ``kind:name``; an
  empty ``controllerKind``, ``controller`` or ``label:x`` becomes ``__unallocated__``; other empty values stay
  empty (so a node-less record gives ``//``);
- ``rawAllocationOnly`` is dropped once two records are merged; ``pvs`` and ``lbAllocations`` merge key by key.

Choices where the Kubecost facts (``KC-*``) are silent or where realism would make reconciliation impossible:

- NaN appears (as ``null`` once written) in ``cpuCoreUsageAverage``, ``networkReceiveBytes`` and
  ``networkCostAdjustment`` of about 1 % of the pods (always one). NaN propagates through sums as in Go, but
  ``totalCost`` counts a NaN component as 0, so a client that maps ``null`` to 0 reconciles with ``totalCost``.
- Idle is computed per node that ran at least one pod that day (nodes without pods were scaled away), from the
  node's price and a daily jitter; it carries CPU, RAM and (GPU nodes) GPU cost and never adjustments.
- Sharing idle (``shareIdle``) happens on the pod records before aggregation, as OpenCost does: each idle pool
  (per node with ``idleByNode``, else per cluster) is spread over the records of that node or cluster in
  proportion to their ``totalCost``, added to their CPU, RAM and GPU costs and recorded in ``*CostIdle``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

JsonDict = dict[str, object]
PropertyValue = str | list[str] | dict[str, str]

IDLE: Final = "__idle__"
UNALLOCATED: Final = "__unallocated__"
UNMOUNTED: Final = "__unmounted__"

# Indexes into Allocation.values: every summable quantity. Averages are stored multiplied by minutes.
(
    CPU_HOURS,
    CPU_REQ_MIN,
    CPU_LIM_MIN,
    CPU_USE_MIN,
    CPU_COST,
    CPU_ADJ,
    CPU_IDLE,
    GPU_HOURS,
    GPU_USE_MIN,
    GPU_COST,
    GPU_ADJ,
    GPU_IDLE,
    NET_TX,
    NET_RX,
    NET_COST,
    NET_ZONE,
    NET_REGION,
    NET_INTERNET,
    NET_NAT_EGRESS,
    NET_NAT_INGRESS,
    NET_ADJ,
    LB_COST,
    LB_ADJ,
    PV_HOURS,
    PV_COST,
    PV_ADJ,
    RAM_HOURS,
    RAM_REQ_MIN,
    RAM_LIM_MIN,
    RAM_USE_MIN,
    RAM_COST,
    RAM_ADJ,
    RAM_IDLE,
    EXTERNAL,
    SHARED,
) = range(35)
VALUE_COUNT: Final = 35
_COST_PAIRS: Final = (
    (CPU_COST, CPU_ADJ),
    (GPU_COST, GPU_ADJ),
    (RAM_COST, RAM_ADJ),
    (PV_COST, PV_ADJ),
    (NET_COST, NET_ADJ),
    (LB_COST, LB_ADJ),
    (SHARED, None),
    (EXTERNAL, None),
)
NAN: Final = math.nan

# List prices (USD) close to an m5 on-demand split: per core-hour, per GiB-hour, per GPU-hour, per GiB-month of disk.
CPU_PRICE: Final = 0.031611
RAM_PRICE: Final = 0.004237
GPU_PRICE: Final = 0.95
PV_PRICE_GIB_HOUR: Final = 0.1 / 730
LB_PRICE_HOUR: Final = 0.025
GIB: Final = 1024**3
DAY_MINUTES: Final = 1440

CLUSTERS: Final = ("prod-us-east-1", "prod-eu-west-1", "staging-ap-southeast-2")
_HOST_DOMAINS: Final = ("ec2.internal", "eu-west-1.compute.internal", "ap-southeast-2.compute.internal")
_BASE_NAMESPACES: Final = (
    "kube-system",
    "kubecost",
    "monitoring",
    "payments",
    "checkout",
    "catalog",
    "search",
    "data-pipeline",
    "ml-training",
    "ingress-nginx",
    "cert-manager",
    "default",
)
_TEAMS: Final = ("platform", "payments", "growth", "data", "ml", "sre", "web")
_APPS: Final = ("api", "web", "worker", "cache", "db", "gateway", "scheduler", "indexer", "exporter", "auth", "etl")
_ROLES: Final = ("server", "consumer", "sync", "batch", "proxy", "agent", "reporter", "replica", "writer")
# controllerKind values as Kubecost writes them; "" is a bare pod (no controller).
_KINDS: Final = ("deployment", "statefulset", "daemonset", "job", "replicaset", "")
_KIND_WEIGHTS: Final = (55, 10, 8, 10, 5, 7)
# (cores, GiB, GPUs) of m5.xlarge, m5.2xlarge, r5.2xlarge, c5.4xlarge, and the GPU node type p3.2xlarge.
_NODE_SHAPES: Final = ((4, 16, 0), (8, 32, 0), (8, 64, 0), (16, 32, 0))
_GPU_NODE_SHAPE: Final = (8, 61, 1)
_POD_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated name suffixes
# Label values that break naive CSV writers, XML/HTML escaping and ASCII-only code; Go's encoder escapes <>& in JSON.
AWKWARD_VALUES: Final = (
    'R&D, "EMEA" <north>',
    "Zoë Ångström-Øster, São Paulo",
    "a,b,c",
    'say "hi"',
    "<script>alert('x')</script> & more",
    "日本語ラベル",
)


@dataclass(frozen=True)
class Node:
    cluster: str
    name: str
    provider_id: str
    cores: int
    ram_gib: int
    gpus: int
    idle_share: float  # typical fraction of the node's capacity left unallocated


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Controller:
    index: int
    cluster: str
    namespace: Namespace
    kind: str  # "" for bare pods
    name: str
    container: str  # "" when the pods run several containers (properties then carry none, as after intersection)
    labels: dict[str, str]
    services: tuple[str, ...]
    template_hash: str
    cpu_request: float
    ram_request_gib: float
    gpus: int
    pv_gib: int
    load_balancer: bool


@dataclass(frozen=True)
class Topology:
    nodes: Mapping[str, tuple[Node, ...]]  # by cluster
    gpu_nodes: Mapping[str, tuple[Node, ...]]
    namespaces: Mapping[str, tuple[Namespace, ...]]
    controllers: tuple[Controller, ...]


class Allocation:
    """One pod-level record or one aggregated item. Never mutated once built: caches share instances."""

    __slots__ = ("end", "gpu_shared", "idle", "lbs", "name", "properties", "pvs", "raw", "start", "total", "values")

    def __init__(
        self,
        *,
        name: str,
        properties: dict[str, PropertyValue],
        start: int,
        end: int,
        values: list[float],
        pvs: dict[str, dict[str, object]] | None = None,
        lbs: dict[str, dict[str, object]] | None = None,
        raw: dict[str, object] | None = None,
        gpu_shared: bool | None = None,
        idle: bool = False,
    ) -> None:
        self.name = name
        self.properties = properties
        self.start = start  # epoch seconds
        self.end = end
        self.values = values
        self.pvs = pvs
        self.lbs = lbs
        self.raw = raw
        self.gpu_shared = gpu_shared
        self.idle = idle
        self.total = total_cost(values)


def total_cost(values: Sequence[float]) -> float:
    """KC-BODY-3: every cost plus its adjustment, plus shared and external; a NaN component counts as 0."""
    total = 0.0
    for cost, adjustment in _COST_PAIRS:
        total += _finite(values[cost])
        if adjustment is not None:
            total += _finite(values[adjustment])
    return total


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


# --- topology ---


def build_topology(seed: int, pods_per_day: int) -> Topology:
    """The clusters' stable structure: the same every day for one (seed, size)."""
    rng = random.Random(f"{seed}:topology:{pods_per_day}")
    nodes: dict[str, tuple[Node, ...]] = {}
    gpu_nodes: dict[str, tuple[Node, ...]] = {}
    namespaces: dict[str, tuple[Namespace, ...]] = {}
    nodes_per_cluster = max(2, pods_per_day // 90)
    extra_namespaces = pods_per_day // 400
    for c, cluster in enumerate(CLUSTERS):
        cluster_nodes = []
        for n in range(nodes_per_cluster):
            is_gpu = n == nodes_per_cluster - 1 or n % 8 == 7
            cores, ram, gpus = _GPU_NODE_SHAPE if is_gpu else rng.choice(_NODE_SHAPES)
            host = f"ip-10-{c}-{n // 250}-{n % 250 + 4}.{_HOST_DOMAINS[c]}"
            provider_id = f"i-0{rng.getrandbits(64):016x}"
            cluster_nodes.append(Node(cluster, host, provider_id, cores, ram, gpus, rng.uniform(0.15, 0.6)))
        nodes[cluster] = tuple(cluster_nodes)
        gpu_nodes[cluster] = tuple(n for n in cluster_nodes if n.gpus)
        names = list(_BASE_NAMESPACES) + [f"team-{rng.choice(_TEAMS)}-{k}" for k in range(extra_namespaces)]
        namespaces[cluster] = tuple(
            Namespace(
                name,
                {
                    "kubernetes_io_metadata_name": name,
                    "team": _TEAMS[i % len(_TEAMS)],
                    "environment": cluster.split("-", 1)[0],
                },
            )
            for i, name in enumerate(names)
        )
    controllers = _build_controllers(rng, namespaces, max(1, pods_per_day // 4))
    return Topology(nodes, gpu_nodes, namespaces, controllers)


def _build_controllers(
    rng: random.Random, namespaces: Mapping[str, tuple[Namespace, ...]], count: int
) -> tuple[Controller, ...]:
    controllers = []
    taken: set[tuple[str, str, str]] = set()
    for index in range(count):
        cluster = CLUSTERS[index % len(CLUSTERS)]
        namespace = rng.choice(namespaces[cluster])
        kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
        name = f"{namespace.name.split('-')[0]}-{rng.choice(_APPS)}-{rng.choice(_ROLES)}"
        if (cluster, namespace.name, name) in taken:
            name = f"{name}-{index}"
        taken.add((cluster, namespace.name, name))
        labels = {"app": name, "app_kubernetes_io_name": name, "app_kubernetes_io_part_of": namespace.name}
        if index % 3 == 0:  # a pod label clashing with a namespace label of the same name
            labels["team"] = _TEAMS[(index + 1) % len(_TEAMS)]
        if index % 11 == 0:
            labels["cost_center"] = AWKWARD_VALUES[index % len(AWKWARD_VALUES)]
            labels["owner"] = AWKWARD_VALUES[(index + 1) % len(AWKWARD_VALUES)]
        template_hash = "".join(rng.choice(_POD_ALPHABET) for _ in range(10))
        if kind == "deployment":
            labels["pod_template_hash"] = template_hash
        controllers.append(
            Controller(
                index=index,
                cluster=cluster,
                namespace=namespace,
                kind=kind,
                name=name,
                container="" if index % 9 == 4 else name.rsplit("-", 1)[-1],
                labels=labels,
                services=(name,) if kind in ("deployment", "statefulset") and index % 2 == 0 else (),
                template_hash=template_hash,
                cpu_request=rng.choice((0.05, 0.1, 0.25, 0.5, 1.0, 2.0)),
                ram_request_gib=rng.choice((0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0)),
                gpus=1 if kind in ("job", "deployment") and index % 23 == 5 else 0,
                pv_gib=rng.choice((10, 20, 50, 100, 500)) if kind == "statefulset" else 0,
                load_balancer=kind == "deployment" and index % 17 == 3,
            )
        )
    return tuple(controllers)


# --- pod records of one day ---


@dataclass(frozen=True)
class DayData:
    """A day's pod-level records and the idle records of the nodes that ran them."""

    records: tuple[Allocation, ...]
    idle: tuple[Allocation, ...]


def day_bounds(day: date) -> tuple[int, int]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return start, start + 86400


def generate_day(seed: int, pods_per_day: int, day: date, topology: Topology) -> DayData:
    """Exactly ``pods_per_day`` pod records (distinct at pod aggregation) and the day's idle records."""
    rng = random.Random(f"{seed}:{day.isoformat()}:{pods_per_day}")
    day_start, day_end = day_bounds(day)
    builder = _PodBuilder(rng, day_start, day_end, day.toordinal())
    records = _special_pods(builder, topology)[:pods_per_day]
    generic = pods_per_day - len(records)
    controllers = topology.controllers
    for i in range(generic):
        controller = controllers[i % len(controllers)]
        records.append(builder.pod(controller, i // len(controllers), topology))
    return DayData(tuple(records), _idle_records(rng, records, topology, day_start, day_end))


class _PodBuilder:
    def __init__(self, rng: random.Random, day_start: int, day_end: int, ordinal: int) -> None:
        self.rng = rng
        self.day_start = day_start
        self.day_end = day_end
        self.ordinal = ordinal

    def suffix(self, controller_index: int, replica: int, length: int = 5) -> str:
        # Unique per (controller, replica) within a day, different from one day to the next.
        number = (replica * 7919 + self.ordinal * 104729 + controller_index * 31) % len(_POD_ALPHABET) ** length
        chars = []
        for _ in range(length):
            number, digit = divmod(number, len(_POD_ALPHABET))
            chars.append(_POD_ALPHABET[digit])
        return "".join(chars)

    def pod(self, controller: Controller, replica: int, topology: Topology) -> Allocation:
        rng = self.rng
        kind = controller.kind
        if kind == "deployment":
            pod = f"{controller.name}-{controller.template_hash}-{self.suffix(controller.index, replica)}"
        elif kind == "statefulset":
            pod = f"{controller.name}-{replica}"
        elif kind == "":
            pod = f"{controller.name}-{replica}" if replica else controller.name
        else:
            pod = f"{controller.name}-{self.suffix(controller.index, replica)}"
        if controller.gpus:
            candidates = topology.gpu_nodes[controller.cluster]
            node = candidates[(replica + controller.index) % len(candidates)]
        elif kind == "daemonset":
            candidates = topology.nodes[controller.cluster]
            node = candidates[(replica + controller.index) % len(candidates)]
        else:
            node = rng.choice(topology.nodes[controller.cluster])
        start, end = self.span(kind)
        properties: dict[str, PropertyValue] = {
            "cluster": controller.cluster,
            "node": node.name,
            "namespace": controller.namespace.name,
            "pod": pod,
            "providerID": node.provider_id,
            "labels": controller.labels,
            "namespaceLabels": controller.namespace.labels,
        }
        if controller.container:
            properties["container"] = controller.container
        if kind:
            properties["controller"] = controller.name
            properties["controllerKind"] = kind
        if controller.services:
            properties["services"] = list(controller.services)
        return self.record(
            properties,
            start,
            end,
            cpu=controller.cpu_request,
            ram_gib=controller.ram_request_gib,
            gpus=controller.gpus,
            pv=(controller.cluster, f"pvc-{self.uuid(controller.index, replica)}", controller.pv_gib)
            if controller.pv_gib
            else None,
            lb=f"{controller.namespace.name}/{controller.name}" if controller.load_balancer else None,
            nan=rng.random() < 0.01,
        )

    def span(self, kind: str) -> tuple[int, int]:
        rng = self.rng
        if kind == "job":
            start = self.day_start + rng.randrange(0, DAY_MINUTES - 30) * 60
            return start, min(self.day_end, start + rng.randrange(5, 240) * 60)
        if rng.random() < 0.1:  # started during the day
            return self.day_start + rng.randrange(1, DAY_MINUTES - 1) * 60, self.day_end
        return self.day_start, self.day_end

    def uuid(self, a: int, b: int) -> str:
        value = random.Random(f"pv:{a}:{b}").getrandbits(128)
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:]}"

    def record(
        self,
        properties: dict[str, PropertyValue],
        start: int,
        end: int,
        *,
        cpu: float,
        ram_gib: float,
        gpus: int = 0,
        pv: tuple[str, str, int] | None = None,
        lb: str | None = None,
        nan: bool = False,
        adjust: float | None = None,
        shared: float | None = None,
        external: float | None = None,
    ) -> Allocation:
        rng = self.rng
        minutes = (end - start) / 60
        hours = minutes / 60
        values = [0.0] * VALUE_COUNT
        cpu_use = cpu * rng.uniform(0.02, 1.4)
        ram_use = ram_gib * GIB * rng.uniform(0.2, 1.3)
        values[CPU_HOURS] = max(cpu, cpu_use) * hours
        values[CPU_REQ_MIN] = cpu * minutes
        values[CPU_LIM_MIN] = cpu * 2 * minutes if rng.random() < 0.5 else 0.0
        values[CPU_USE_MIN] = NAN if nan else cpu_use * minutes
        values[CPU_COST] = values[CPU_HOURS] * CPU_PRICE
        values[RAM_HOURS] = max(ram_gib * GIB, ram_use) * hours
        values[RAM_REQ_MIN] = ram_gib * GIB * minutes
        values[RAM_LIM_MIN] = ram_gib * GIB * 2 * minutes if rng.random() < 0.5 else 0.0
        values[RAM_USE_MIN] = ram_use * minutes
        values[RAM_COST] = values[RAM_HOURS] / GIB * RAM_PRICE
        if gpus:
            values[GPU_HOURS] = gpus * hours
            values[GPU_USE_MIN] = gpus * rng.uniform(0.3, 1.0) * minutes
            values[GPU_COST] = values[GPU_HOURS] * GPU_PRICE
        if rng.random() < 0.35:
            tx = rng.uniform(1e6, 5e10)
            values[NET_TX] = tx
            values[NET_ZONE] = tx / 1e9 * 0.01 * rng.random()
            values[NET_REGION] = tx / 1e9 * 0.02 * rng.random()
            values[NET_INTERNET] = tx / 1e9 * 0.09 * rng.random()
            values[NET_COST] = values[NET_ZONE] + values[NET_REGION] + values[NET_INTERNET]
        values[NET_RX] = NAN if nan else values[NET_TX] * rng.uniform(0.5, 2.0)
        values[NET_ADJ] = NAN if nan else 0.0
        pvs: dict[str, dict[str, object]] | None = None
        if pv is not None:
            cluster, pv_name, gib = pv
            byte_hours = gib * GIB * hours
            cost = gib * PV_PRICE_GIB_HOUR * hours
            values[PV_HOURS] = byte_hours
            values[PV_COST] = cost
            pvs = {f"cluster={cluster}:name={pv_name}": {"byteHours": byte_hours, "cost": cost, "providerID": pv_name}}
        lbs = None
        if lb is not None:
            cost = LB_PRICE_HOUR * hours
            values[LB_COST] = cost
            ip = f"52.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
            lbs = {lb: {"service": lb, "cost": cost, "private": False, "ip": ip, "hours": hours, "adjustment": 0}}
        # Reconciliation deltas of both signs on some pods (never on idle).
        factor = adjust if adjust is not None else (rng.uniform(-0.1, 0.1) if rng.random() < 0.15 else 0.0)
        if factor:
            values[CPU_ADJ] = values[CPU_COST] * factor
            values[RAM_ADJ] = values[RAM_COST] * factor
            values[GPU_ADJ] = values[GPU_COST] * factor
            values[PV_ADJ] = values[PV_COST] * factor
        for entry in (pvs or {}).values():
            entry["adjustment"] = values[PV_ADJ]
        values[SHARED] = shared if shared is not None else (rng.uniform(0.001, 0.5) if rng.random() < 0.05 else 0.0)
        values[EXTERNAL] = external if external is not None else (rng.uniform(0.01, 2) if rng.random() < 0.03 else 0.0)
        raw: dict[str, object] = {"cpuCoreUsageMax": 0 if nan else cpu_use * 1.7, "ramByteUsageMax": int(ram_use * 1.4)}
        raw["gpuUsageMax"] = gpus if gpus else None
        return Allocation(
            name="",
            properties=properties,
            start=start,
            end=end,
            values=values,
            pvs=pvs,
            lbs=lbs,
            raw=raw,
            gpu_shared=False if gpus else None,
        )


def _special_pods(builder: _PodBuilder, topology: Topology) -> list[Allocation]:
    """The awkward cases, present every day whatever the size (a size-10 day is mostly these)."""
    c0, c1, c2 = CLUSTERS
    n0 = topology.nodes[c0][0]
    gpu = topology.gpu_nodes[c1][0]
    n2 = topology.nodes[c2][0]
    ns = {c: {n.name: n for n in topology.namespaces[c]} for c in CLUSTERS}
    start, end = builder.day_start, builder.day_end
    payments = ns[c0]["payments"]
    return [
        # A bare pod whose labels clash with its namespace's and carry commas, quotes, non-ASCII and <>&.
        builder.record(
            {
                "cluster": c0,
                "node": n0.name,
                "container": "migrate",
                "namespace": payments.name,
                "pod": "ledger-migration-2024",
                "providerID": n0.provider_id,
                "labels": {
                    "team": "payments",  # the namespace says team=platform... or whatever its label is
                    "kubernetes_io_metadata_name": "not-payments",
                    "description": AWKWARD_VALUES[0],
                    "owner": AWKWARD_VALUES[1],
                    "ticket": AWKWARD_VALUES[4],
                    "note": AWKWARD_VALUES[5],
                },
                "namespaceLabels": payments.labels,
            },
            start + 3 * 3600,
            end,
            cpu=2.0,
            ram_gib=4.0,
            adjust=0.08,
        ),
        # Unmounted PVs of a namespace: no node, no controller, PV cost only (Kubecost docs sample shape).
        _unmounted(builder, c0, ns[c0]["monitoring"]),
        # A record from a cluster without a name (a federated store missing its cluster id), no node.
        builder.record(
            {"namespace": "default", "pod": "debug-shell", "container": "shell", "labels": {"run": "debug-shell"}},
            start,
            end,
            cpu=0.1,
            ram_gib=0.125,
        ),
        # A GPU training job with a negative reconciliation and network traffic.
        builder.record(
            {
                "cluster": c1,
                "node": gpu.name,
                "container": "trainer",
                "controller": "resnet-train-nightly",
                "controllerKind": "job",
                "namespace": "ml-training",
                "pod": f"resnet-train-nightly-{builder.suffix(0, 0)}",
                "providerID": gpu.provider_id,
                "labels": {"app": "resnet-train", "team": "ml"},
                "namespaceLabels": ns[c1]["ml-training"].labels,
            },
            start + 3600,
            start + 7 * 3600,
            cpu=4.0,
            ram_gib=16.0,
            gpus=1,
            adjust=-0.07,
        ),
        # A deployment pod with NaN metrics and a load balancer.
        builder.record(
            {
                "cluster": c2,
                "node": n2.name,
                "container": "nginx",
                "controller": "ingress-nginx-controller",
                "controllerKind": "deployment",
                "namespace": "ingress-nginx",
                "pod": f"ingress-nginx-controller-7f9c6d8b5d-{builder.suffix(1, 0)}",
                "services": ["ingress-nginx-controller"],
                "providerID": n2.provider_id,
                "labels": {"app_kubernetes_io_name": "ingress-nginx"},
                "namespaceLabels": ns[c2]["ingress-nginx"].labels,
            },
            start,
            end,
            cpu=0.5,
            ram_gib=0.5,
            lb="ingress-nginx/ingress-nginx-controller",
            nan=True,
        ),
        # A statefulset pod with a PV and a positive reconciliation.
        builder.record(
            {
                "cluster": c2,
                "node": n2.name,
                "container": "postgres",
                "controller": "orders-db",
                "controllerKind": "statefulset",
                "namespace": "checkout",
                "pod": "orders-db-0",
                "providerID": n2.provider_id,
                "labels": {"app": "orders-db", "team": "checkout"},
                "namespaceLabels": ns[c2]["checkout"].labels,
            },
            start,
            end,
            cpu=1.0,
            ram_gib=8.0,
            pv=(c2, "pvc-0d6e2b3c-9a41-4c55-8f0e-6b7c3a1d2e90", 200),
            adjust=0.04,
            shared=0.25,
            external=1.5,
        ),
    ]


def _unmounted(builder: _PodBuilder, cluster: str, namespace: Namespace) -> Allocation:
    hours = 24.0
    pvs: dict[str, dict[str, object]] = {}
    values = [0.0] * VALUE_COUNT
    for k, gib in enumerate((50, 8)):
        byte_hours = gib * GIB * hours
        cost = gib * PV_PRICE_GIB_HOUR * hours
        pvs[f"cluster={cluster}:name=pvc-orphan-{namespace.name}-{k}"] = {"byteHours": byte_hours, "cost": cost}
        values[PV_HOURS] += byte_hours
        values[PV_COST] += cost
    return Allocation(
        name="",
        properties={
            "cluster": cluster,
            "container": UNMOUNTED,
            "namespace": namespace.name,
            "pod": f"{namespace.name}-unmounted-pvcs",
        },
        start=builder.day_start,
        end=builder.day_end,
        values=values,
        pvs=pvs,
    )


def _idle_records(
    rng: random.Random, records: Sequence[Allocation], topology: Topology, day_start: int, day_end: int
) -> tuple[Allocation, ...]:
    used: dict[tuple[str, str], None] = {}
    for record in records:
        cluster_name = record.properties.get("cluster")
        node_name = record.properties.get("node")
        if isinstance(cluster_name, str) and isinstance(node_name, str) and cluster_name and node_name:
            used[(cluster_name, node_name)] = None
    idle = []
    for cluster, nodes in topology.nodes.items():
        for node in nodes:
            if (cluster, node.name) not in used:
                continue
            share = node.idle_share * rng.uniform(0.8, 1.2)
            values = [0.0] * VALUE_COUNT
            values[CPU_COST] = node.cores * 24 * CPU_PRICE * share
            values[RAM_COST] = node.ram_gib * 24 * RAM_PRICE * share
            values[GPU_COST] = node.gpus * 24 * GPU_PRICE * share
            idle.append(
                Allocation(
                    name="",
                    properties={"cluster": cluster, "node": node.name, "providerID": node.provider_id},
                    start=day_start,
                    end=day_end,
                    values=values,
                    idle=True,
                )
            )
    return tuple(idle)


# --- idle sharing and aggregation ---


def share_idle(records: Sequence[Allocation], idle: Sequence[Allocation], *, by_node: bool) -> list[Allocation]:
    """New records with each idle pool spread over its node's or cluster's records by their ``totalCost``."""
    pool_of = _node_key if by_node else _cluster_key
    weights: dict[tuple[str, ...], float] = {}
    for record in records:
        key = pool_of(record)
        weights[key] = weights.get(key, 0.0) + record.total
    pools: dict[tuple[str, ...], list[float]] = {}
    for entry in idle:
        costs = pools.setdefault(pool_of(entry), [0.0, 0.0, 0.0])
        costs[0] += entry.values[CPU_COST]
        costs[1] += entry.values[RAM_COST]
        costs[2] += entry.values[GPU_COST]
    shared = []
    for record in records:
        key = pool_of(record)
        pool = pools.get(key)
        if pool is None or weights[key] <= 0:
            shared.append(record)
            continue
        fraction = record.total / weights[key]
        values = list(record.values)
        for cost, idle_field, amount in ((CPU_COST, CPU_IDLE, pool[0]), (RAM_COST, RAM_IDLE, pool[1])):
            values[cost] += amount * fraction
            values[idle_field] += amount * fraction
        values[GPU_COST] += pool[2] * fraction
        values[GPU_IDLE] += pool[2] * fraction
        shared.append(_copy(record, values))
    return shared


def _cluster_key(record: Allocation) -> tuple[str, ...]:
    return (str(record.properties.get("cluster", "")),)


def _node_key(record: Allocation) -> tuple[str, ...]:
    return (str(record.properties.get("cluster", "")), str(record.properties.get("node", "")))


def _copy(record: Allocation, values: list[float]) -> Allocation:
    return Allocation(
        name=record.name,
        properties=record.properties,
        start=record.start,
        end=record.end,
        values=values,
        pvs=record.pvs,
        lbs=record.lbs,
        raw=record.raw,
        gpu_shared=record.gpu_shared,
        idle=record.idle,
    )


def item_key(properties: Mapping[str, PropertyValue], aggregate: Sequence[str]) -> str:
    """KC-NAME-1: the aggregate values in request order joined by ``/`` (OpenCost ``GenerateKey``)."""
    parts = []
    for field in aggregate:
        if field == "controllerKind":
            parts.append(str(properties.get("controllerKind") or UNALLOCATED))
        elif field == "controller":
            controller = properties.get("controller")
            kind = properties.get("controllerKind")
            parts.append(f"{kind}:{controller}" if controller and kind else str(controller or UNALLOCATED))
        elif field.startswith("label:"):
            labels = properties.get("labels")
            value = labels.get(field[6:]) if isinstance(labels, dict) else None
            parts.append(value or UNALLOCATED)
        else:
            parts.append(str(properties.get(field, "")))
    return "/".join(parts)


def aggregate(records: Iterable[Allocation], aggregate_by: Sequence[str]) -> list[Allocation]:
    """Groups records by their key and merges each group (in first-seen order)."""
    groups: dict[str, list[Allocation]] = {}
    for record in records:
        groups.setdefault(item_key(record.properties, aggregate_by), []).append(record)
    return [merge(name, group) for name, group in groups.items()]


def aggregate_idle(idle: Iterable[Allocation], naming: str, *, by_node: bool, depth: int) -> list[Allocation]:
    """Idle items: one per node (``<cluster>/<node>/__idle__``), per cluster (``<cluster>/__idle__``), or one:
    ``__idle__`` (``single``) or ``__idle__`` repeated for each of the ``depth`` aggregate keys (``padded``, as
    third parties report Kubecost 2.x names it)."""
    groups: dict[str, list[Allocation]] = {}
    for entry in idle:
        if by_node:
            name = f"{entry.properties['cluster']}/{entry.properties['node']}/{IDLE}"
        elif naming == "cluster":
            name = f"{entry.properties['cluster']}/{IDLE}"
        elif naming == "padded":
            name = "/".join([IDLE] * depth)
        else:
            name = IDLE
        groups.setdefault(name, []).append(entry)
    return [merge(name, group) for name, group in groups.items()]


def merge(name: str, group: Sequence[Allocation]) -> Allocation:
    first = group[0]
    if len(group) == 1:
        merged = _copy(first, first.values)
        merged.name = name
        return merged
    values = [sum(column) for column in zip(*(item.values for item in group), strict=True)]
    shared_flags = {item.gpu_shared for item in group}
    return Allocation(
        name=name,
        properties=intersect([item.properties for item in group]),
        start=min(item.start for item in group),
        end=max(item.end for item in group),
        values=values,
        pvs=_merge_maps([item.pvs for item in group], ("byteHours", "cost", "adjustment")),
        lbs=_merge_maps([item.lbs for item in group], ("cost", "hours", "adjustment")),
        raw=None,
        gpu_shared=shared_flags.pop() if len(shared_flags) == 1 else None,
        idle=first.idle,
    )


def intersect(properties: Sequence[Mapping[str, PropertyValue]]) -> dict[str, PropertyValue]:
    """Only the values common to all (maps key by key, lists item by item); empty maps and lists disappear."""
    first, rest = properties[0], properties[1:]
    result: dict[str, PropertyValue] = {}
    for key, value in first.items():
        others = [p.get(key) for p in rest]
        if all(other is value for other in others):
            result[key] = value
        elif isinstance(value, dict):
            common = {
                k: v for k, v in value.items() if all(isinstance(other, dict) and other.get(k) == v for other in others)
            }
            if common:
                result[key] = common
        elif isinstance(value, list):
            items = [v for v in value if all(isinstance(other, list) and v in other for other in others)]
            if items:
                result[key] = items
        elif all(other == value for other in others):
            result[key] = value
    return result


def _merge_maps(
    maps: Sequence[dict[str, dict[str, object]] | None], summed: tuple[str, ...]
) -> dict[str, dict[str, object]] | None:
    result: dict[str, dict[str, object]] = {}
    for entries in maps:
        for key, entry in (entries or {}).items():
            existing = result.get(key)
            if existing is None:
                result[key] = dict(entry)
                continue
            for field in summed:
                if field in entry:
                    existing[field] = _number(existing.get(field)) + _number(entry[field])
    return result or None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


# --- JSON shape ---


def to_json(item: Allocation, window_start: int, window_end: int) -> JsonDict:
    """The allocation as OpenCost 1.121.3 writes it (field order of ``allocation_json.go``, 5-decimal numbers)."""
    v = item.values
    minutes = (item.end - item.start) / 60
    hours = minutes / 60

    def rate(total: float) -> float:
        return total / hours if minutes > 0 else 0.0

    def average(total: float) -> float:
        return total / minutes if minutes > 0 else 0.0

    cpu_request, cpu_usage = average(v[CPU_REQ_MIN]), average(v[CPU_USE_MIN])
    ram_request, ram_usage = average(v[RAM_REQ_MIN]), average(v[RAM_USE_MIN])
    gpu_count, gpu_usage = rate(v[GPU_HOURS]), average(v[GPU_USE_MIN])
    cpu_total, ram_total = v[CPU_COST] + v[CPU_ADJ], v[RAM_COST] + v[RAM_ADJ]
    cpu_eff = _efficiency(cpu_usage, cpu_request, cpu_total)
    ram_eff = _efficiency(ram_usage, ram_request, ram_total)
    total_eff = (cpu_eff * cpu_total + ram_eff * ram_total) / (cpu_total + ram_total) if cpu_total + ram_total else 0.0
    out: JsonDict = {
        "name": item.name,
        "properties": item.properties,
        "window": {"start": rfc3339(window_start), "end": rfc3339(window_end)},
        "start": rfc3339(item.start),
        "end": rfc3339(item.end),
        "minutes": num(minutes),
        "cpuCores": num(rate(v[CPU_HOURS])),
        "cpuCoreRequestAverage": num(cpu_request),
        "cpuCoreLimitAverage": num(average(v[CPU_LIM_MIN])),
        "cpuCoreUsageAverage": num(cpu_usage),
        "cpuCoreHours": num(v[CPU_HOURS]),
        "cpuCost": num(v[CPU_COST]),
        "cpuCostAdjustment": num(v[CPU_ADJ]),
        "cpuCostIdle": num(v[CPU_IDLE]),
        "cpuEfficiency": num(cpu_eff),
        "gpuCount": num(gpu_count),
        "gpuHours": num(v[GPU_HOURS]),
        "gpuCost": num(v[GPU_COST]),
        "gpuCostAdjustment": num(v[GPU_ADJ]),
        "gpuCostIdle": num(v[GPU_IDLE]),
        "gpuEfficiency": num(gpu_usage / gpu_count if gpu_count > 0 else 0.0),
        "networkTransferBytes": num(v[NET_TX]),
        "networkReceiveBytes": num(v[NET_RX]),
        "networkCost": num(v[NET_COST]),
        "networkCrossZoneCost": num(v[NET_ZONE]),
        "networkCrossRegionCost": num(v[NET_REGION]),
        "networkInternetCost": num(v[NET_INTERNET]),
        "networkNatGatewayEgressCost": num(v[NET_NAT_EGRESS]),
        "networkNatGatewayIngressCost": num(v[NET_NAT_INGRESS]),
        "networkCostAdjustment": num(v[NET_ADJ]),
        "loadBalancerCost": num(v[LB_COST]),
        "loadBalancerCostAdjustment": num(v[LB_ADJ]),
        "pvBytes": num(rate(v[PV_HOURS])),
        "pvByteHours": num(v[PV_HOURS]),
        "pvCost": num(v[PV_COST]),
        "pvs": item.pvs,
        "pvCostAdjustment": num(v[PV_ADJ]),
        "ramBytes": num(rate(v[RAM_HOURS])),
        "ramByteRequestAverage": num(ram_request),
        "ramByteLimitAverage": num(average(v[RAM_LIM_MIN])),
        "ramByteUsageAverage": num(ram_usage),
        "ramByteHours": num(v[RAM_HOURS]),
        "ramCost": num(v[RAM_COST]),
        "ramCostAdjustment": num(v[RAM_ADJ]),
        "ramCostIdle": num(v[RAM_IDLE]),
        "ramEfficiency": num(ram_eff),
        "externalCost": num(v[EXTERNAL]),
        "sharedCost": num(v[SHARED]),
        "totalCost": num(item.total),
        "totalEfficiency": num(total_eff),
    }
    if item.raw is not None:
        out["rawAllocationOnly"] = item.raw
    if item.idle:
        out["proportionalAssetResourceCosts"] = {}
    out["lbAllocations"] = item.lbs
    if item.idle:
        out["sharedCostBreakdown"] = {}
        out["gpuAllocation"] = None
    else:
        out["gpuAllocation"] = {
            "isGPUShared": item.gpu_shared,
            "gpuUsageAverage": num(gpu_usage) if gpu_count > 0 else None,  # null when no GPU, as in 1.121.3
            "gpuRequestAverage": num(gpu_count),
        }
    return out


def _efficiency(usage: float, request: float, cost: float) -> float:
    if request > 0:
        return usage / request
    return 1.0 if usage > 0 and cost > 0 else 0.0


def num(value: float) -> float | int | None:
    """Rounded to 5 decimals as OpenCost writes; integral values without a fraction; NaN and infinities as null."""
    if not math.isfinite(value):
        return None
    rounded = round(value, 5)
    if rounded.is_integer():
        return int(rounded)
    return rounded


def rfc3339(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_in(start: int, end: int) -> list[date]:
    first = datetime.fromtimestamp(start, UTC).date()
    return [first + timedelta(days=i) for i in range((end - start) // 86400)]
