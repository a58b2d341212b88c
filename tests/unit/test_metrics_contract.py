"""The custom metrics the code emits are exactly those the template's dashboard and alarms read.

A renamed metric would leave a dashboard graph empty and an alarm blind without any error, so the names are
checked here: every ``add_metric`` name in the functions and the layer, against ``CUSTOM_METRICS``.
"""

from __future__ import annotations

import re
from pathlib import Path

from functions.upload.app import _STATUS_METRICS
from tests.fixtures.template import CUSTOM_METRICS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*ROOT.glob("functions/*/app.py"), *ROOT.glob("layers/kubecost_flexera/kubecost_flexera/**/*.py")]
_LITERAL_NAME = re.compile(r'add_metric\(\s*name="(\w+)"')


def emitted_metric_names() -> set[str]:
    literal = {name for path in SOURCES for name in _LITERAL_NAME.findall(path.read_text())}
    return literal | set(_STATUS_METRICS.values())


def test_every_emitted_metric_is_on_the_dashboard() -> None:
    assert emitted_metric_names() - CUSTOM_METRICS == set()


def test_every_dashboard_metric_is_emitted() -> None:
    assert CUSTOM_METRICS - emitted_metric_names() == set()
