"""The folder tree shows the architecture: the product's domain depends on no adapter, no AWS or HTTP library and no
Lambda event (``docs/architecture.md``), the emulators are a package of their own (``emulators/``), ``local/`` holds
the local runner only, and no test module imports another (what tests share is in ``tests/fixtures``)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Final

from local.runner_template import ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LAYER: Final = ROOT / "layers" / "kubecost_flexera" / "kubecost_flexera"
# What the domain must not need at run time: the adapters, the AWS SDK, HTTP clients, Lambda's parser.
NOT_FOR_THE_DOMAIN: Final = (
    "kubecost_flexera.adapters",
    "boto3",
    "botocore",
    "requests",
    "urllib3",
    "aws_lambda_powertools.utilities",
)
# What an HTTP server that plays a service is built on.
SERVER_BASES: Final = frozenset({"EmulatorServer", "BaseHTTPRequestHandler", "ThreadingHTTPServer", "HTTPServer"})


def imported_modules(path: Path, *, type_hints: bool = True) -> Iterator[str]:
    """Every module ``path`` imports, by its full dotted name (``from a import b`` gives ``a`` and ``a.b``); without
    ``type_hints``, not those imported under ``if TYPE_CHECKING:``."""
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"), filename=str(path))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and not type_hints and ast.unparse(node.test) == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_no_test_module_is_imported_by_another_module_of_the_tests() -> None:
    imports = {
        (relative(path), module)
        for path in (ROOT / "tests").rglob("*.py")
        for module in imported_modules(path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    }
    assert imports == set(), "move what the tests share into tests/fixtures"


def test_the_domain_needs_no_adapter_sdk_or_http_client_at_run_time() -> None:
    imports = {
        (relative(path), module)
        for path in (LAYER / "domain").rglob("*.py")
        for module in imported_modules(path, type_hints=False)
        if module.startswith(NOT_FOR_THE_DOMAIN)
    }
    assert imports == set(), "the domain takes adapters as arguments; name them under TYPE_CHECKING only"


def test_local_holds_the_runner_and_no_emulator() -> None:
    servers = {
        (relative(path), node.name)
        for path in (ROOT / "local").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases} & SERVER_BASES
    }
    named = {relative(path) for path in (ROOT / "local").rglob("*emulator*.py") if path.name != "runner_emulators.py"}
    assert (servers, named) == (set(), set()), "emulators belong in emulators/"


def test_the_emulators_know_nothing_of_the_exporter_or_the_runner() -> None:
    # The emulators play Kubecost and Flexera: code of the exporter or of the runner in them would test itself.
    imports = {
        (relative(path), module)
        for path in (ROOT / "emulators").rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in {"kubecost_flexera", "functions", "local", "tests", "benchmarks"}
    }
    assert imports == set()
