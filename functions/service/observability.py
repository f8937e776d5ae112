"""Logger and metrics, created once per process.

powertools reads ``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_LOG_LEVEL`` and
``POWERTOOLS_METRICS_NAMESPACE`` from the environment; these are the defaults when unset.
"""

import functools
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME", "videogen"))
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "VideoGen"))

# A rejected request publishes no business metric; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def count_internal_error(function: str) -> None:
    """One ``InternalErrors`` for ``function`` (a catalog name): a 500 answered by the handler, which
    Lambda's ``Errors`` metric does not count (``service.catalog.INTERNAL_ERRORS_METRIC``)."""
    from service.catalog import INTERNAL_ERRORS_METRIC

    if is_metrics_disabled():  # single_metric prints even then (powertools 3.x)
        return
    with single_metric(
        name=INTERNAL_ERRORS_METRIC, unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as m:
        m.add_dimension(name="function", value=function)


def count_one(name: str, **dimensions: str) -> None:
    """One of metric ``name`` with ``dimensions``, published at once (handlers without log_metrics)."""
    if is_metrics_disabled():  # single_metric prints even then (powertools 3.x)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as m:
        for key, value in dimensions.items():
            m.add_dimension(name=key, value=value)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def workflow_handler(handler: Handler) -> Handler:
    """A workflow step's Lambda entry: every log line of the invocation carries the task id (each
    step's input has ``task_id``) and the Lambda context, and nothing of a previous invocation.

    X-Ray: the functions run with Lambda's active tracing (a segment per invocation), not the
    powertools Tracer: ``Tracer()`` pulls in aws-xray-sdk and patches botocore and httpx at cold
    start, which ``make bench``'s method measured at +0.7-0.9x the whole cold-start floor
    (docs/decisions.md)."""

    @functools.wraps(handler)
    def correlated(event: Any, context: Any) -> Any:
        task_id = event.get("task_id") if isinstance(event, dict) else None
        logger.append_keys(task_id=task_id)
        return handler(event, context)

    return logger.inject_lambda_context(clear_state=True)(correlated)  # type: ignore[return-value]


@contextmanager
def replicate_errors_counted() -> Iterator[None]:
    """Count Replicate failures by type (``ReplicateErrors``, dimension ``error_type``), re-raising."""
    from service.domain.errors import ReplicateRateLimited, ReplicateRejected, ReplicateUnavailable

    try:
        yield
    except (ReplicateRateLimited, ReplicateUnavailable, ReplicateRejected) as error:
        if is_metrics_disabled():  # single_metric prints even then (powertools 3.x)
            raise
        with single_metric(
            name="ReplicateErrors", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as m:
            m.add_dimension(name="error_type", value=type(error).__name__)
        raise
