"""Benchmarks of the exporter, run as ``python -m benchmarks.<name>`` from the repository root.

Importing ``local`` first puts the shared layer's package on ``sys.path`` (``local/__init__.py``), so the
benchmarks' own imports of ``functions`` and ``kubecost_flexera`` resolve without ``PYTHONPATH``.
"""

import local  # noqa: F401 - imported for its effect on sys.path
