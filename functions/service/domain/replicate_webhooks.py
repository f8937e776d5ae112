"""Replicate's webhooks: verified, recorded in the task record, and the workflow woken on ``completed``.

Replicate calls ``POST /api/replicate-webhooks/{task_id}`` (the URL StartPredictions gave it) with
the prediction object as the body, signed the Standard Webhooks way: ``webhook-id``,
``webhook-timestamp``, ``webhook-signature`` (``v1,<base64>`` items), an HMAC-SHA256 over
``{id}.{timestamp}.{body}`` keyed by the account's ``whsec_`` secret (kept in Secrets Manager). The
route has no token: the signature is its authorization.

* A malformed request (a header missing, a timestamp that is not one, a body that is not a
  prediction) is a 400; a timestamp more than 5 minutes away from now is a 400 (stale: a replay);
  a signature that does not match is a 401. Nothing is read or written for any of them.
* A genuine event is news only if it is newer than what the record holds for that prediction: not
  the webhook recorded last (``webhook-id``: Replicate's retries keep it) and further along
  (``PredictionHook.key``: status, then the length of its logs and output, which only grow). A
  duplicate or a late, out-of-order event is answered 200 and changes nothing.
* ``logs`` events (and ``start``) update the prediction's hook and the task's progress, so status
  reads show live progress without anyone reading Replicate. ``completed`` records the final state
  (output or error) and wakes the workflow: SendTaskSuccess with the token its wait stored.

Whatever comes or fails to come, the outcome is the workflow's: it polls Replicate itself when the
webhooks fall silent (``Workflow.poll_predictions``), so a lost, late, duplicated, reordered or
forged webhook changes only how soon a task ends, never how.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from service.adapters.executions import WorkflowWake
from service.adapters.tasks_table import TasksTable
from service.domain.predictions import STATUSES, TERMINAL, snapshot_of
from service.domain.progress import PredictionProgress, combine
from service.domain.tasks import parse_task_name
from service.model_catalog import catalog
from service.models.domain import PredictionHook, Progress, Task, utcnow
from service.observability import logger

#: Standard Webhooks' (and Replicate's) tolerance: older or newer timestamps are refused.
TOLERANCE_S = 300
#: How often a webhook is applied again when another write to the same record came in between.
ATTEMPTS = 4
_STATUS_RANK = {"starting": 0, "processing": 1}


class WebhookRefused(Exception):
    """A request the route refuses: ``status`` (400, 401) and ``reason`` (the refusals metric's
    dimension: malformed, stale, signature, secret)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Received:
    """What the route answers a genuine webhook: ``status`` (200 recorded or ignored; 409 when the
    prediction is not recorded yet, so that Replicate retries) and what happened."""

    status: int
    detail: str
    recorded: bool = False
    woke: bool = False


def ordering_key(body: Mapping[str, Any]) -> int:
    """Orders one prediction's states: its status's rank, then the length of its logs and of its
    output (both only grow while it runs). A duplicate has the same key; an older state a lower one."""
    status = str(body.get("status") or "")
    rank = 2 if status in TERMINAL else _STATUS_RANK.get(status, 0)
    logs = body.get("logs")
    logs_length = len(logs) if isinstance(logs, str) else 0
    output = body.get("output")
    output_length = len(json.dumps(output)) if output is not None else 0
    return rank * 10**24 + min(logs_length, 10**12 - 1) * 10**12 + min(output_length, 10**12 - 1)


class ReplicateWebhooks:
    def __init__(
        self,
        tasks: TasksTable,
        wake: WorkflowWake,
        secret: Callable[[], str],
        *,
        model_time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tasks = tasks
        self.wake = wake
        self._secret = secret
        self.model_time_scale = model_time_scale
        self.clock = clock

    # -- verification -----------------------------------------------------------------------------
    def verify(self, body: str, headers: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        """The webhook's id and its prediction object, or ``WebhookRefused``."""
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        webhook_id = lowered.get("webhook-id", "").strip()
        stamp = lowered.get("webhook-timestamp", "").strip()
        signature = lowered.get("webhook-signature", "").strip()
        if not (webhook_id and stamp and signature):
            raise WebhookRefused(
                400, "malformed", "webhook-id, webhook-timestamp and webhook-signature are required"
            )
        if not stamp.isdigit():
            raise WebhookRefused(400, "malformed", "webhook-timestamp must be seconds since the epoch")
        if abs(self.clock() - int(stamp)) > TOLERANCE_S:
            raise WebhookRefused(
                400, "stale", f"webhook-timestamp is more than {TOLERANCE_S // 60} minutes from now"
            )
        try:
            key = self._secret()
            if not key.startswith("whsec_"):
                raise ValueError("not a whsec_ key")
            verifier = Webhook(key)
        except Exception as error:  # no signing secret set (a fresh stack): ours to fix, not the caller's
            logger.error("The Replicate webhook secret is not a signing key", extra={"error": str(error)})
            raise WebhookRefused(401, "secret", "The signature cannot be verified") from None
        try:
            verifier.verify(body, lowered, json_parse=False)
        except (WebhookVerificationError, ValueError):  # ValueError: a signature item without "v1,"
            raise WebhookRefused(401, "signature", "The signature does not match") from None
        return webhook_id, self._prediction(body)

    @staticmethod
    def _prediction(body: str) -> dict[str, Any]:
        """The body as a prediction object (the route checked its depth before: json.loads recurses)."""
        try:
            parsed = json.loads(body)
        except ValueError:
            raise WebhookRefused(400, "malformed", "The body is not JSON") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("id"), str) or not parsed["id"]:
            raise WebhookRefused(400, "malformed", "The body is not a prediction (no id)")
        if parsed.get("status") not in STATUSES:
            raise WebhookRefused(400, "malformed", "The body is not a prediction (unknown status)")
        return parsed

    # -- recording ---------------------------------------------------------------------------------
    def receive(self, task_id: str, body: str, headers: Mapping[str, str]) -> Received:
        """Verify, then record what is news and wake the workflow on a prediction's end."""
        webhook_id, prediction = self.verify(body, headers)
        name = parse_task_name(task_id)
        if name is None:
            return Received(200, "ignored: not a task of this service")
        prediction_id = prediction["id"]
        for _ in range(ATTEMPTS):
            task = self.tasks.get(name)
            if task is None or task.state.terminal:
                return Received(200, "ignored: the task has ended")
            ref = next((p for p in task.predictions if p.id == prediction_id), None)
            if ref is None:  # created a moment ago, not recorded yet: Replicate retries a completed event
                return Received(409, "The prediction is not recorded yet; retry")
            hook = self._hook(webhook_id, prediction, ref.model)
            known = task.hooks.get(prediction_id)
            if known is not None and (known.webhook_id == webhook_id or known.key >= hook.key):
                return Received(200, "ignored: not newer than what was recorded")
            progress = self._progress(task, prediction_id, hook)
            updated = self.tasks.record_hook(name, prediction_id, hook, progress)
            if updated is None:
                continue  # another write came in between: read again and decide again
            woke = False
            if hook.status in TERMINAL and updated.wake_token:
                woke = self.wake.wake(
                    updated.wake_token, {"prediction_id": prediction_id, "status": hook.status}
                )
            logger.info(
                "Replicate webhook recorded",
                extra={"task_id": name, "prediction_id": prediction_id, "status": hook.status, "woke": woke},
            )
            return Received(200, "recorded", recorded=True, woke=woke)
        logger.warning("A Replicate webhook kept colliding with other writes", extra={"task_id": name})
        return Received(409, "The task changed while recording; retry")

    def _hook(self, webhook_id: str, prediction: dict[str, Any], model: str) -> PredictionHook:
        snapshot = snapshot_of(prediction, model)
        terminal = snapshot.status in TERMINAL
        return PredictionHook(
            status=snapshot.status,
            key=ordering_key(prediction),
            webhook_id=webhook_id,
            received_at=datetime.fromtimestamp(self.clock(), UTC),
            started_at=snapshot.started_at,
            fraction=snapshot.fraction,
            output=snapshot.output if terminal else None,
            error=snapshot.error if terminal else None,
        )

    def _progress(self, task: Task, prediction_id: str, hook: PredictionHook) -> Progress | None:
        """The task's progress with this news, or None if that would take the record's back."""
        now = utcnow()
        parts = []
        for ref in task.predictions:
            known = hook if ref.id == prediction_id else task.hooks.get(ref.id)
            status = known.status if known is not None else ref.status
            started = (known.started_at if known is not None else None) or ref.started_at
            entry = catalog().entry_for(ref.model)
            parts.append(
                PredictionProgress(
                    status,
                    known.fraction if known is not None else None,
                    ref.role,
                    running_s=(now - started).total_seconds() if started else None,
                    typical_s=entry.progress.typical_seconds * self.model_time_scale if entry else None,
                )
            )
        progress = combine(parts)
        if task.progress is not None and progress.current < task.progress.current:
            return None
        return progress
