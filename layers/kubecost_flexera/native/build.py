"""Compiles ``cbi_rows.c`` into ``kubecost_flexera/domain/_cbi_rows.abi3.so``.

Usage::

    python native/build.py                        # for this machine (tests, the local runner, benchmarks)
    python native/build.py --arch aarch64 --output DIR/_cbi_rows.abi3.so   # for Lambda's arm64 (the layer build)

The compiler is Zig's C compiler from the ``ziglang`` wheel (``native/requirements.txt``): the same pinned compiler
on every machine, and it cross-compiles to Lambda's arm64 Linux from any host, without Docker, as the rest of the
layer build does. The module uses CPython's stable ABI (3.11 and later), so the headers of the Python running this
script serve for Lambda's python3.13 as well. ``--arch`` builds for Linux on that CPU with glibc 2.17 at the oldest
(manylinux2014, as the layer's wheels); without it, for this machine: the same on Linux, Zig's native target
elsewhere (macOS, not tested by this repository's CI).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Final

NATIVE: Final = Path(__file__).resolve().parent
SOURCE: Final = NATIVE / "cbi_rows.c"
DEFAULT_OUTPUT: Final = NATIVE.parent / "kubecost_flexera" / "domain" / "_cbi_rows.abi3.so"
ARCHES: Final = ("x86_64", "aarch64")
GLIBC: Final = "2.17"
FLAGS: Final = (
    "-O2",
    "-shared",
    "-fPIC",
    "-ffp-contract=off",  # no fused multiply-add: each cost is the IEEE operations Go does, in its order
    "-fno-strict-aliasing",  # as CPython itself and its extensions are compiled
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-s",
)


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def headers(work: Path) -> Path:
    """A copy of the running Python's headers with its own ``pyconfig.h``. Debian and Ubuntu install a wrapper
    there that includes ``<triplet>/python3.X/pyconfig.h`` from the system's include folder, which Zig does not
    search (and which has no other CPU's file): the real one takes its place."""
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        raise SystemExit(
            f"the row formatter needs the headers of the Python that builds it ({include / 'Python.h'} is missing): "
            "install them (Debian and Ubuntu: python3-dev) or build with a Python that has them"
        )
    config = include / "pyconfig.h"
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        split = include.parent / str(multiarch) / include.name / "pyconfig.h"
        if split.is_file():
            config = split
    copy = work / "include"
    shutil.copytree(include, copy)
    shutil.copyfile(config, copy / "pyconfig.h")
    return copy


def target_flags(arch: str | None) -> list[str]:
    """Linux with glibc on ``arch``; without one, this machine."""
    if arch is None:
        if sys.platform != "linux":
            return ["-Wl,-undefined,dynamic_lookup"]  # Zig's native target; Python's symbols come from the process
        arch = host_arch()
    if arch not in ARCHES:
        raise SystemExit(f"--arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    return ["-target", f"{arch}-linux-gnu.{GLIBC}"]


def compile_module(arch: str | None, output: Path) -> None:
    flags = target_flags(arch)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        include = headers(Path(work))
        command = [
            sys.executable,
            "-m",
            "ziglang",
            "cc",
            *flags,
            *FLAGS,
            f"-I{include}",
            "-o",
            str(output),
            str(SOURCE),
        ]
        subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, compiler and source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=ARCHES, help="build for Linux on this CPU (default: for this machine)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args()
    compile_module(arguments.arch, arguments.output)


if __name__ == "__main__":
    main()
