"""``--sources FILE``: a local run of several Kubecost/OpenCost sources, as a stack with a sources document runs them.

The file is the sources document (docs/sources.md) as a user puts it in the bucket: the runner puts it in the
emulated bucket at ``SOURCES_DOCUMENT_KEY`` (``config/sources.json`` unless set) before the run, and the plan reads
and judges it there, as deployed. The runner reads only what it needs to start emulators: each source's ``name``
and the settings that choose its emulator. A source with no ``KUBECOST_HOST`` (in the document, or the stack's
``KUBECOST_HOST``/``--kubecost-url``) gets an embedded emulator of its own: the product its ``COST_SOURCE`` names,
at its ``KUBECOST_API_PATH``, with data of its own (the emulator's seed is taken from the source name), and the
document put in the bucket names that emulator's URL as the source's ``KUBECOST_HOST``.

After the run each bill connect's committed months are reconciled, per member source, with what the source's
emulator holds for the days the commit has of it (rows, eight per allocation, and cost times the source's
``MULTIPLIER``), read with the settings the plan gave the source (its output holds each source's settings, so the
document is judged once, by the plan). A bill connect with several members names its files
``kubecost-<source>-<day>[-N].csv.gz``; one with a single member keeps the Go names, all of them that member's.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from emulators.kubecost import KubecostEmulator
from kubecost_flexera.config import load_kubecost
from local.runner_emulators import DAY_FILE_RE, MonthReconciliation, expected_days, format_reconciliation

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from emulators.flexera import FlexeraEmulator
    from emulators.kubecost import KubecostEmulatorConfig

DEFAULT_SOURCES_DOCUMENT_KEY: Final = "config/sources.json"


class SourcesFileError(ValueError):
    """``--sources FILE`` cannot be read as a sources document; nothing was started."""


@dataclass(frozen=True)
class LocalSource:
    """One source of the document as the runner sees it: its name, the string settings that choose its emulator, its
    bill connect (its own ``BILL_CONNECT_ID`` or the stack's; the Flexera emulator must know it) and its embedded
    emulator, if it has one."""

    name: str
    settings: Mapping[str, str]
    bill_connect_id: str
    emulator: KubecostEmulator | None


@dataclass(frozen=True)
class SourceReconciliation(MonthReconciliation):
    """One member source's days in a bill connect's committed month, against its emulator."""

    bill_connect_id: str
    source: str


def sources_document_key(environ: Mapping[str, str]) -> str:
    return environ.get("SOURCES_DOCUMENT_KEY") or DEFAULT_SOURCES_DOCUMENT_KEY


def read_sources_file(path: Path) -> dict[str, Any]:
    """The document in ``path``: a JSON object whose ``sources`` is a list of objects, each with a string ``name``
    (what the runner needs to start emulators; every other rule is the plan's to judge, in the bucket)."""
    try:
        body = path.read_text()
    except OSError as exc:
        raise SourcesFileError(f"--sources {path}: cannot read the file ({exc.strerror})") from None
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise SourcesFileError(f"--sources {path} is not JSON ({exc}): allowed a sources document") from None
    sources = document.get("sources") if isinstance(document, dict) else None
    if (
        not isinstance(document, dict)
        or not isinstance(sources, list)
        or not all(isinstance(entry, dict) and isinstance(entry.get("name"), str) for entry in sources)
    ):
        raise SourcesFileError(
            f'--sources {path}: allowed a sources document {{"sources": [{{"name": "...", ...}}, ...]}}, '
            "each source an object with a name"
        )
    return document


def source_seed(name: str) -> int:
    """The seed of a source's embedded emulator: stable, and different for different names."""
    return zlib.crc32(name.encode())


class LocalSources:
    """The document's sources, an emulator for each that names no Kubecost; use as a context manager."""

    def __init__(
        self,
        document: Mapping[str, Any],
        environ: Mapping[str, str],
        *,
        stack_kubecost_url: str | None,
        default_bill_connect_id: str,
        emulator_config: Callable[[Mapping[str, str]], KubecostEmulatorConfig],
    ) -> None:
        """``emulator_config`` gives the embedded emulator for a source's merged settings (``runner_emulators``)."""
        self._document = document
        self._environ = environ
        sources = []
        for entry in document["sources"]:
            # Only strings choose an emulator; any other value is the plan's to judge (it refuses a non-string here).
            settings = {key: value for key, value in entry.items() if key != "name" and isinstance(value, str)}
            emulator = None
            if not settings.get("KUBECOST_HOST", "").strip() and stack_kubecost_url is None:
                config = emulator_config({**environ, **settings})
                emulator = KubecostEmulator(replace(config, seed=source_seed(entry["name"])))
            bill_connect_id = settings.get("BILL_CONNECT_ID") or default_bill_connect_id
            sources.append(LocalSource(entry["name"], settings, bill_connect_id, emulator))
        self.sources: tuple[LocalSource, ...] = tuple(sources)
        self._stack_kubecost_url = stack_kubecost_url

    def __enter__(self) -> LocalSources:
        for emulator in self._emulators():
            emulator.start()
        return self

    def __exit__(self, *_: object) -> None:
        for emulator in self._emulators():
            emulator.stop()

    def _emulators(self) -> Iterator[KubecostEmulator]:
        return (source.emulator for source in self.sources if source.emulator is not None)

    @property
    def kubecost_url(self) -> str:
        """The stack's ``KUBECOST_HOST``: as given, else the first source's (the functions read one either way)."""
        if self._stack_kubecost_url is not None:
            return self._stack_kubecost_url
        first = self.sources[0] if self.sources else None
        if first is None:
            return ""
        return first.emulator.url if first.emulator is not None else first.settings.get("KUBECOST_HOST", "")

    @property
    def bill_connect_ids(self) -> frozenset[str]:
        return frozenset(source.bill_connect_id for source in self.sources)

    def document_body(self) -> bytes:
        """The document as put in the bucket: each embedded emulator's URL as its source's ``KUBECOST_HOST``."""
        document = json.loads(json.dumps(self._document))
        for entry, source in zip(document["sources"], self.sources, strict=True):
            if source.emulator is not None:
                entry["KUBECOST_HOST"] = source.emulator.url
        return json.dumps(document, indent=2).encode()

    def describe(self) -> list[str]:
        lines = []
        for source in self.sources:
            if source.emulator is None:
                where = source.settings.get("KUBECOST_HOST") or "the stack's KUBECOST_HOST"
            else:
                config = source.emulator.config
                where = (
                    f"{source.emulator.url} (embedded {config.flavour} emulator, seed {config.seed}, "
                    f"{config.allocations_per_day} allocations a day)"
                )
            lines.append(f"Source {source.name}: {where}, bill connect {source.bill_connect_id}")
        return lines

    def reconcile(self, flexera: FlexeraEmulator, plan: Mapping[str, Any]) -> list[SourceReconciliation]:
        """Each committed month of each bill connect of the run's plan, per member source of the run that has an
        embedded emulator, read with the settings the plan gave it (a member not in the run has none in the plan)."""
        planned = {str(source["name"]): source for source in plan["sources"]}
        emulators = {source.name: source.emulator for source in self.sources if source.emulator is not None}
        results = []
        for connect in plan["billConnects"]:
            bill_connect_id, members = str(connect["billConnectId"]), [str(name) for name in connect["sources"]]
            for month in plan["months"]:
                committed = flexera.committed(bill_connect_id, month)
                if committed is None:
                    continue
                by_source: dict[str, list[tuple[str, date]]] = {}
                for name in committed.files:
                    source, day = _file_source_day(name, members)
                    by_source.setdefault(source, []).append((name, day))
                for member in members:
                    emulator = emulators.get(member)
                    if emulator is None or member not in planned:
                        continue
                    files = by_source.get(member, [])
                    days = sorted({day for _, day in files})
                    settings = load_kubecost(
                        {**self._environ, **planned[member]["settings"], "KUBECOST_HOST": emulator.url}
                    )
                    expected_rows, expected_cost = expected_days(emulator, settings, days)
                    results.append(
                        SourceReconciliation(
                            bill_connect_id=bill_connect_id,
                            month=month,
                            source=member,
                            bill_upload_id=committed.bill_upload_id,
                            days=len(days),
                            files=len(files),
                            rows=sum(committed.rows_per_file.get(name, 0) for name, _ in files),
                            expected_rows=expected_rows,
                            cost=math.fsum(committed.cost_per_file.get(name, 0.0) for name, _ in files),
                            expected_cost=expected_cost,
                        )
                    )
        return results


def format_source_reconciliation(results: Sequence[SourceReconciliation]) -> str:
    return format_reconciliation(
        "Flexera emulator: months this run committed, per bill connect and source",
        f"{'Bill connect':<24} {'Month':<8} {'Source':<16}",
        [(f"{r.bill_connect_id:<24} {r.month:<8} {r.source:<16}", r) for r in results],
    )


def _file_source_day(name: str, members: Sequence[str]) -> tuple[str, date]:
    """Whose day a committed file is: named in it (several members) or the single member's (Go names)."""
    match = DAY_FILE_RE.match(name)
    if match is None:
        raise ValueError(f"{name} is not a day file name")
    day = date.fromisoformat(match.group("day"))
    if len(members) == 1:
        if match.group("source") is not None:
            raise ValueError(f"{name} names a source, but its bill connect has one member ({members[0]})")
        return members[0], day
    source = match.group("source")
    if source is None or source not in members:
        raise ValueError(f"{name} names no member source of its bill connect ({', '.join(members)})")
    return source, day
