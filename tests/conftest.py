"""Test configuration: every module in ``tests/fixtures`` is a pytest plugin, so each concern keeps its fixtures.

Also: every botocore session of the test process shares one data loader. botocore reads its JSON data (the 1.2 MB
``endpoints.json``, each service's model) once per session, and the code under test makes sessions all the time:
Powertools a new one for each Secrets Manager provider, moto one per backend, boto3 a default one after each
``mock_aws`` start. Reading them again made up about a tenth of the end-to-end tests' time. The files do not change
during a run and botocore already shares what a loader read between the clients of one session.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import botocore.session
import pytest
from botocore.loaders import Loader

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)


class _SearchPaths(list[str]):
    """boto3 adds its own data folder to the loader of each session it makes; a shared loader needs it once."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        super().__init__(paths)

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> Loader:
    """``botocore.loaders.create_loader``, one loader per data path (``AWS_DATA_PATH``)."""
    paths = (os.path.expanduser(os.path.expandvars(path)) for path in (search_path_string or "").split(os.pathsep))
    return Loader(extra_search_paths=_SearchPaths(path for path in paths if path))


@pytest.fixture(autouse=True, scope="session")
def _botocore_data_read_once() -> Iterator[None]:
    with mock.patch.object(botocore.session, "create_loader", _shared_loader):
        yield
