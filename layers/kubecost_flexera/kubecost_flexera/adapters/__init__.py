"""Adapters to what the exporter talks to: Kubecost/OpenCost, Flexera One, S3 and HTTP deadlines."""
