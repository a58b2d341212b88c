"""Emulators of the services the exporter talks to: Kubecost/OpenCost (``emulators.kubecost``) and Flexera One
(``emulators.flexera``), real HTTP servers on 127.0.0.1 built on ``emulators.http_server``.

They serve the tests, the benchmarks and the local runner (``local/``), and run on their own as
``python -m emulators.kubecost`` and ``python -m emulators.flexera``; they import nothing of the exporter.
"""
