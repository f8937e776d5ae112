"""Logger and metrics, created once per process.

powertools reads ``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_LOG_LEVEL`` and
``POWERTOOLS_METRICS_NAMESPACE`` from the environment; these are the defaults when unset.
"""

import os
import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME", "videogen"))
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "VideoGen"))

# A rejected request publishes no business metric; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
