"""The local runner (the emulators are the package ``emulators``); importing the package puts the shared layer's
package on ``sys.path``.

The layer (``layers/kubecost_flexera``) is not installed: in AWS the Lambda runtime puts it on the path as
``/opt/python``. ``python -m local.run`` and ``python -m benchmarks.<name>`` start from the repository root without
``PYTHONPATH`` (``benchmarks/__init__.py`` imports this package first), so its directory goes on the path here,
once, before any module of the package imports ``kubecost_flexera``.
"""

import sys
from pathlib import Path

_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "kubecost_flexera")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
