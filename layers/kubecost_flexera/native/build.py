"""Compiles ``cbi_rows.c`` into ``kubecost_flexera/domain/_cbi_rows.abi3.so`` for one Linux CPU.

Usage::

    python native/build.py                        # for this machine (tests, the local runner, benchmarks)
    python native/build.py --arch aarch64 --output DIR/_cbi_rows.abi3.so   # for Lambda's arm64 (the layer build)

The compiler is Zig's C compiler from the ``ziglang`` wheel: the same pinned compiler on every machine, and it
cross-compiles to Lambda's arm64 Linux from any host, without Docker, as the rest of the layer build does. The
module uses CPython's stable ABI (3.11 and later), so the headers of the Python running this script serve for
Lambda's python3.13 as well. glibc 2.17 is the oldest the binary asks for (manylinux2014, as the layer's wheels).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import sysconfig
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


def compile_module(arch: str, output: Path) -> None:
    if arch not in ARCHES:
        raise SystemExit(f"--arch must be one of {', '.join(ARCHES)}, not {arch!r}")
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        "-target",
        f"{arch}-linux-gnu.{GLIBC}",
        *FLAGS,
        f"-I{sysconfig.get_paths()['include']}",
        "-o",
        str(output),
        str(SOURCE),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, compiler and source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default=host_arch(), help=f"one of {', '.join(ARCHES)} (default: this machine's)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args()
    compile_module(arguments.arch, arguments.output)


if __name__ == "__main__":
    main()
