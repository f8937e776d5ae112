"""Delivering a task's end to its owner's webhook_url: one event per task, retried until a 2xx for at
least ``window`` seconds, every attempt recorded on the task (its status answers show them).

The trigger is the execution's end (an EventBridge rule on the state machine's status changes puts
each into the deliveries queue; ``service.catalog.QUEUES``): every way a task ends ends its execution
(Finalize and MarkFailed before the execution ends; a cancel or an outside stop by ABORTED), so the
event fires once per task whichever path ended it, and no terminal write has to remember to send
it. EventBridge delivers at least once: the record's attempt count is claimed with a conditional
write before each POST, so copies of one event make one attempt, and the event's ``webhook-id``
never changes (receivers dedupe on it). The record may not be terminal yet when the event arrives
(an outside stop is recorded by the clean-up, which runs on the same event): the message then comes
back a few seconds later.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from service.adapters.owners_table import OwnersTable
from service.adapters.tasks_table import TasksTable
from service.adapters.webhook_client import WebhookClient
from service.domain.controls import list_item
from service.domain.status import Presign
from service.domain.webhooks import backoff_s, headers
from service.models.domain import (
    MAX_RECORDED_ATTEMPTS,
    Task,
    TaskState,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from service.observability import logger

#: When the record is not terminal yet (the clean-up records an outside stop on the same event).
NOT_ENDED_RETRY_S = 5.0


@dataclass(frozen=True)
class Outcome:
    """What to do with the message: ``done`` (delete it), ``retry`` (after ``delay_s``) or
    ``dead_letter`` (its retries are spent: to the dead-letter queue, then delete it)."""

    action: Literal["done", "retry", "dead_letter"]
    delay_s: float = 0.0
    reason: str = ""
    attempted: bool = False
    delivered: bool = False


def event_body(task: Task, presign: Presign) -> bytes:
    """``{id, type, timestamp, data}``: ``data`` is the task as ``GET /api/tasks/`` lists it (its
    webhook state aside), with result URLs minted now."""
    assert task.webhook is not None
    shown = task.model_copy(update={"webhook": None})
    event = {
        "id": task.webhook.event_id,
        "type": "task.succeeded" if task.state is TaskState.SUCCESS else "task.failed",
        "timestamp": task.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": list_item(shown, presign),
    }
    return json.dumps(event, separators=(",", ":")).encode()


def valid_secrets(stored: dict[str, str], now: datetime) -> list[str]:
    """The owner's secret, and the previous one while it still signs (after a rotation)."""
    found = [stored["webhook_secret"]] if "webhook_secret" in stored else []
    until = stored.get("webhook_secret_previous_until")
    previous = stored.get("webhook_secret_previous")
    if previous and until and until > now.strftime("%Y-%m-%dT%H:%M:%SZ") and previous not in found:
        found.append(previous)
    return found


class Deliveries:
    def __init__(
        self,
        tasks: TasksTable,
        owners: OwnersTable,
        client: WebhookClient,
        presign: Presign,
        *,
        base_s: float,
        cap_s: float,
        window_s: float,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.tasks, self.owners, self.client, self.presign = tasks, owners, client, presign
        self.base_s, self.cap_s, self.window_s = base_s, cap_s, window_s
        self.rng, self.clock = rng, clock

    def handle(self, task_id: str) -> Outcome:
        task = self.tasks.get(task_id)
        if task is None or task.webhook is None:
            return Outcome("done")  # no webhook, or the owner erased the task: nothing to send
        webhook = task.webhook
        if webhook.state == "delivered":
            return Outcome("done")
        if not task.state.terminal:
            return Outcome("retry", NOT_ENDED_RETRY_S, "the task's record is not terminal yet")
        now = self.clock()
        if webhook.state == "failed":  # an operator moved it back from the dead-letter queue: try again
            webhook = webhook.model_copy(update={"state": "retrying", "first_attempt_at": None})
        before = webhook.attempts
        claimed = webhook.model_copy(
            update={"attempts": before + 1, "first_attempt_at": webhook.first_attempt_at or now}
        )
        if not self.tasks.record_webhook(task.task_id, claimed, attempts_before=before):
            return Outcome("done", reason="another copy of this event made the attempt")
        secrets = valid_secrets(self.owners.webhook_secrets(task.owner), now)
        if not secrets:
            return self._give_up(task, claimed, now, "the owner has no webhook secret")
        body = event_body(task, self.presign)
        signed_at = int(now.timestamp())
        result = self.client.post(webhook.url, headers(secrets, webhook.event_id, signed_at, body), body)
        attempt = WebhookAttempt(at=now, status_code=result.status_code, error=result.error)
        recorded = [*claimed.last_attempts, attempt][-MAX_RECORDED_ATTEMPTS:]
        if result.delivered:
            done = claimed.model_copy(
                update={
                    "state": "delivered",
                    "last_attempts": recorded,
                    "delivered_at": now,
                    "next_attempt_at": None,
                }
            )
            self.tasks.record_webhook(task.task_id, done, attempts_before=claimed.attempts)
            logger.info("Webhook delivered", extra={"task_id": task.task_id, "attempts": claimed.attempts})
            return Outcome("done", attempted=True, delivered=True)
        assert claimed.first_attempt_at is not None
        elapsed = (now - claimed.first_attempt_at).total_seconds()
        if elapsed >= self.window_s:
            failed = claimed.model_copy(update={"last_attempts": recorded})
            return self._give_up(task, failed, now, f"no 2xx answer in {elapsed:.0f} s ({result.error})")
        delay = backoff_s(claimed.attempts, base=self.base_s, cap=self.cap_s, rng=self.rng)
        retrying = claimed.model_copy(
            update={
                "state": "retrying",
                "last_attempts": recorded,
                "next_attempt_at": now + timedelta(seconds=delay),
            }
        )
        self.tasks.record_webhook(task.task_id, retrying, attempts_before=claimed.attempts)
        logger.info(
            "Webhook attempt failed; retrying",
            extra={
                "task_id": task.task_id,
                "attempt": claimed.attempts,
                "error": result.error,
                "delay_s": delay,
            },
        )
        return Outcome("retry", delay, result.error or "", attempted=True)

    def _give_up(self, task: Task, webhook: WebhookDelivery, now: datetime, reason: str) -> Outcome:
        failed = webhook.model_copy(update={"state": "failed", "next_attempt_at": None})
        self.tasks.record_webhook(task.task_id, failed, attempts_before=webhook.attempts)
        logger.warning("Webhook delivery given up", extra={"task_id": task.task_id, "reason": reason})
        return Outcome("dead_letter", reason=reason, attempted=True)
