"""Deliver function: consumes the deliveries queue (an SQS event source mapping with partial batch
responses). Each message is an execution status change (EventBridge); the task's record says
whether it has a webhook_url (``service.domain.deliveries``).

A message to retry gets its visibility timeout set to the backoff's delay and is reported as a
batch item failure, so SQS brings it back then; a message whose retries are spent goes to the
dead-letter queue. An exception (ours) reports the message failed as it is: it comes back after the
queue's visibility timeout, and SQS's redrive policy moves it to the dead-letter queue after
``QueueSpec.max_receive_count`` receives.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.adapters.media import MediaStore
from service.adapters.owners_table import OwnersTable
from service.adapters.queues import Queue
from service.adapters.tasks_table import TasksTable
from service.adapters.webhook_client import WebhookClient
from service.domain.deliveries import Deliveries
from service.models.events import ExecutionStatusChange
from service.observability import logger, metrics
from service.settings import DeliverySettings, load


@cache
def deliveries() -> Deliveries:
    settings = load(DeliverySettings)
    media = MediaStore(settings.media_bucket)
    return Deliveries(
        TasksTable(settings.tasks_table),
        OwnersTable(settings.owners_table),
        WebhookClient(allow_loopback=settings.webhook_allow_loopback, timeout_s=settings.timeout_seconds),
        lambda key: media.presigned_get(key, settings.presign_seconds),
        base_s=settings.retry_base_seconds,
        cap_s=settings.retry_cap_seconds,
        window_s=settings.retry_window_seconds,
    )


@cache
def queue() -> Queue:
    settings = load(DeliverySettings)
    return Queue(settings.deliveries_queue_url, settings.deliveries_dead_letter_queue_url)


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(DeliverySettings)  # cold start: a missing variable fails here, by name
    failures = []
    for record in SQSEvent(event).records:
        try:
            change = ExecutionStatusChange.of(EventBridgeEvent(json.loads(record.body)))
            outcome = deliveries().handle(change.name)
            if outcome.attempted:
                _count("WebhookAttemptsDelivered" if outcome.delivered else "WebhookAttemptsFailed")
            if outcome.action == "retry":
                queue().retry_in(record.receipt_handle, outcome.delay_s)
                failures.append({"itemIdentifier": record.message_id})
            elif outcome.action == "dead_letter":
                _count("WebhookDeliveriesGivenUp")
                queue().dead_letter(record.body, outcome.reason)
        except Exception:
            logger.exception("Could not handle a delivery", extra={"message_id": record.message_id})
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}


def reset() -> None:
    deliveries.cache_clear()
    queue.cache_clear()
