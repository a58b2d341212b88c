"""The template as written and as the SAM transform makes it, shared by the template tests (read once per module)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.template import load_template, translated_template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translated_template()
