"""Logger and metrics, created once per process.

powertools reads ``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_LOG_LEVEL`` and
``POWERTOOLS_METRICS_NAMESPACE`` from the environment; these are the defaults when unset.
"""

import os

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME", "videogen"))
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "VideoGen"))
