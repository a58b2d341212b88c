"""Citations stay inside the repository: code, comments, tests and docs cite ids of ``docs/compatibility.md``.

The facts the code relies on are restated there in the project's own words; a citation of a document a clone does
not carry (the behaviour spec of the Go exporter, the API notes, the architecture note) cannot be checked by a reader,
and an id that the page does not define points nowhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPATIBILITY = "docs/compatibility.md"
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Names of documents outside the repository, and the section sign their citations used.
FORBIDDEN = re.compile(r"reference-exporter|kubecost-api\.md|flexera-api\.md|ARCHITECTURE\.md|§")
# An id as docs/compatibility.md writes them: GO-CSV-4, GO-D7, KC-PAGE-1, ARCH-S3-2, SRC-GO-ROWS.
CITED_ID = re.compile(r"(?<![A-Za-z0-9_-])(?:GO|KC|FX|ARCH|SRC)-[A-Z0-9]+(?:-[A-Z0-9]+)*(?![A-Za-z0-9_-])")
# The id an entry defines: "- **GO-CSV-4** — ...".
DEFINED_ID = re.compile(r"^- \*\*([A-Z]+(?:-[A-Z0-9]+)+)\*\*", re.MULTILINE)
# Families named by a wildcard or a bare prefix ("GO-D*", "FX-*", "GO-D<n>"), not ids.
FAMILY = re.compile(r"(?:GO|KC|FX|ARCH|SRC)-[A-Z0-9-]*(?:\*|<)")


@cache
def tracked_texts() -> dict[str, str]:
    """Every tracked text file, as git sees it in the work tree (binary and missing files left out)."""
    git = shutil.which("git")
    assert git is not None, "git is needed to list the tracked files"
    listing = [git, "ls-files", "-z"]
    names = subprocess.run(listing, cwd=ROOT, check=True, capture_output=True, text=True).stdout  # noqa: S603 - fixed command
    texts: dict[str, str] = {}
    for name in filter(None, names.split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def forbidden_citations(texts: dict[str, str]) -> list[str]:
    """``path:line: text`` of each line outside the compatibility page that cites a document not in the repository."""
    return [
        f"{name}:{number}: {line.strip()}"
        for name, text in texts.items()
        if name not in {COMPATIBILITY, THIS_FILE}
        for number, line in enumerate(text.splitlines(), 1)
        if FORBIDDEN.search(line)
    ]


def undefined_ids(texts: dict[str, str], defined: set[str]) -> list[str]:
    """``path:line: id`` of each cited id that the compatibility page does not define."""
    return [
        f"{name}:{number}: {cited}"
        for name, text in texts.items()
        if name != THIS_FILE
        for number, line in enumerate(text.splitlines(), 1)
        for cited in CITED_ID.findall(FAMILY.sub("", line))
        if cited not in defined
    ]


def defined_ids() -> set[str]:
    return set(DEFINED_ID.findall(tracked_texts()[COMPATIBILITY]))


def test_no_file_cites_a_document_outside_the_repository() -> None:
    # Given every tracked file but the compatibility page / Then none names the external documents or cites a §
    assert forbidden_citations(tracked_texts()) == []


def test_every_cited_id_is_defined_by_the_compatibility_page() -> None:
    # Given the ids the compatibility page defines / Then every id cited anywhere (the page included) is one of them
    assert undefined_ids(tracked_texts(), defined_ids()) == []


def test_the_compatibility_page_defines_each_id_once() -> None:
    # Given the entries of the page / Then no id is defined twice (ids are never reused)
    ids = DEFINED_ID.findall(tracked_texts()[COMPATIBILITY])
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    assert len(ids) > 100


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("It follows ``reference-exporter.md`` §3.", True),
        ("# kubecost-api.md §2.1", True),
        ("(flexera-api.md)", True),
        ("the design in ARCHITECTURE.md", True),
        ("the rule of §5.2", True),
        ("the rule of GO-CSV-2 (docs/compatibility.md)", False),
    ],
)
def test_forbidden_citations_are_recognised(line: str, found: bool) -> None:
    # Given one line in a file other than the compatibility page / Then it is reported exactly when it cites outside
    assert bool(forbidden_citations({"x.py": line})) is found


@pytest.mark.parametrize(
    ("line", "undefined"),
    [
        ("defects GO-D1 to GO-D4, GO-D6 (``KC-PAGE-1``)", []),
        ("the Flexera facts (``FX-*``), the defects ``GO-D*`` and ``GO-D<n>``", []),
        ("see GO-D24 and KC-PAGE-9", ["GO-D24", "KC-PAGE-9"]),
        ("SRC-GO-ROWS, ARCH-S3-2.", []),
        ("a bucket named my-GO-D1 or GO-D1x is not a citation", []),
    ],
)
def test_cited_ids_are_checked_against_the_page(line: str, undefined: list[str]) -> None:
    # Given a line citing ids / Then exactly those the page does not define are reported
    assert [entry.rsplit(": ", 1)[1] for entry in undefined_ids({"x.py": line}, defined_ids())] == undefined
