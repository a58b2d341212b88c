"""The row formatter as the layer ships it for Lambda's arm64: the same bytes as the build every other test runs."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tests.fixtures import format_corpus

if TYPE_CHECKING:
    from tests.fixtures.arm64 import Arm64Python

ROOT: Final = Path(__file__).resolve().parents[2]
LAYER: Final = ROOT / "layers" / "kubecost_flexera"
SCRIPT: Final = Path(format_corpus.__file__)
ELF_MACHINE_AARCH64: Final = 0xB7


def _format(command: list[str], pythonpath: list[Path], corpus: Path, output: Path) -> list[tuple[bytes, int, str]]:
    """Each block's bytes, item count and cost text, as the script prints them with that interpreter."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    subprocess.run([*command, str(SCRIPT), str(corpus), str(output)], check=True, env=environment)  # noqa: S603
    blocks: list[tuple[bytes, int, str]] = pickle.loads(output.read_bytes())  # noqa: S301 - our script's output
    return blocks


def test_the_layers_arm64_row_formatter_writes_what_this_machines_build_writes(
    arm64_python: Arm64Python, tmp_path: Path
) -> None:
    # Given the layer's package with the row formatter built for arm64, as the layer's Makefile builds it
    package = tmp_path / "layer"
    shutil.copytree(LAYER / "kubecost_flexera", package / "kubecost_flexera", ignore=shutil.ignore_patterns("*.so"))
    module = package / "kubecost_flexera" / "domain" / "_cbi_rows.abi3.so"
    build = [sys.executable, str(LAYER / "native" / "build.py"), "--arch", "aarch64", "--output", str(module)]
    subprocess.run(build, check=True)  # noqa: S603 - our interpreter and script
    header = module.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64
    # And an emulator day plus items whose every field is an edge case of the format
    corpus = tmp_path / "corpus.pkl"
    assert format_corpus.write_corpus(corpus) > 2_000

    # When this machine's build and the arm64 one (in an arm64 CPython) format them with three day settings
    here = _format([sys.executable], [LAYER], corpus, tmp_path / "here.pkl")
    arm64 = _format(arm64_python.command(), [package, arm64_python.site], corpus, tmp_path / "arm64.pkl")

    # Then every block is the same: bytes, item count and cost
    assert len(here) > 3 * 30
    assert arm64 == here
