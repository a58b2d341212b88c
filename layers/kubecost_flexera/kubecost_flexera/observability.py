"""The Powertools objects every module shares: one Logger, one Tracer, one Metrics namespace.

Service name and namespace come from ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` (set once in
the template's Globals); the defaults keep local runs and tests readable.
"""

from __future__ import annotations

import os
from typing import Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE: Final = os.environ.get("POWERTOOLS_SERVICE_NAME", "kubecost-flexera-exporter")
NAMESPACE: Final = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "KubecostFlexeraExporter")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count_retry() -> None:
    """One more attempt after a transient failure (Kubecost or Flexera): the ``Retries`` metric of the dashboard."""
    metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)
