"""Kubecost/OpenCost to Flexera One exporter: the domain package shared by every Lambda function.

Nothing here knows about Lambda events or contexts; handlers in ``functions/`` parse events and call in.
"""
