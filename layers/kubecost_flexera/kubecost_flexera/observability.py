"""The Powertools objects every module shares: one Logger, one Tracer, one Metrics namespace.

Service name and namespace come from ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` (set once in
the template's Globals); the defaults keep local runs and tests readable.
"""

from __future__ import annotations

import os
from typing import Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE: Final = os.environ.get("POWERTOOLS_SERVICE_NAME", "kubecost-flexera-exporter")
NAMESPACE: Final = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "KubecostFlexeraExporter")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count_retry() -> None:
    """One more attempt after a transient failure (Kubecost or Flexera): the ``Retries`` metric of the dashboard."""
    metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)


def add_metric_by(
    name: str, unit: MetricUnit, value: float, dimension: str, dimension_value: str, **metadata: str
) -> None:
    """``name`` for one ``dimension`` (``Source``, ``BillConnect``) beside the service dimension, printed at once as
    its own EMF document (Powertools ``single_metric``): the dimension stays off the function's other metrics, and
    the aggregate of the same name is unchanged. ``metadata`` (a month) goes into the document, not a dimension."""
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={"service": SERVICE}
    ) as metric:
        metric.add_dimension(name=dimension, value=dimension_value)
        for key, text in metadata.items():
            metric.add_metadata(key=key, value=text)
