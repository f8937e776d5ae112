"""The owner's controls over its tasks: cancel, delete, list; and its webhook signing secret.

Cancel is the terminal write every other end of a task uses (FAILURE "Task was canceled", with the
owner's slot freed in the same transaction: ``TasksTable.mark_failure``), then StopExecution. The
API functions never call Replicate: the stopped execution's ABORTED status change reaches the
clean-up (EventBridge), which cancels the task's predictions; a step that was running when the
record went terminal finds it so and cancels what it created (``service.domain.workflow``). If
StopExecution fails, the next step of the workflow finds the task ended and ends the execution
through MarkFailed, which cancels the predictions too.

Delete cancels first (if the task still runs), removes the task's media (``videos/``,
``thumbnails/``, ``subtitles/`` keys of that task) and then the record: a failure half way leaves the
record, so the owner's retry finishes the job. A Finalize still running when its task was cancelled
removes what it uploads (``Workflow.finalize``). If the record lists predictions not known to have
ended (a running task just cancelled, or one cancelled or reconciled before whose clean-up may not
have come yet), the record is replaced by a tombstone instead (``TasksTable.bury``: their ids and a
TTL, nothing of the owner's), which every read treats as not found: the clean-up, on the execution's
end, cancels them at Replicate and deletes it. Deleting the record outright would leave the clean-up
nothing to cancel from.

List reads the owner index (``service.catalog.OWNER_INDEX``) newest first. DynamoDB applies
``Limit`` before a filter, so a filtered page is read in several queries until it is full or the
index is exhausted, at most ``MAX_QUERIES`` (then the page may be short, and ``next_cursor`` goes on
from there). Cursors are opaque and signed (``CursorSigner``): a tampered cursor, or one made for
another owner or other filters, is a 422.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from service.adapters.executions import Executions
from service.adapters.media import MediaStore
from service.adapters.owners_table import OwnersTable
from service.adapters.tasks_table import TasksTable
from service.catalog import (
    RESULT_PREFIXES,
    SUBTITLE_PREFIX,
    THUMBNAIL_PREFIX,
    TOMBSTONE_DAYS,
    VIDEO_PREFIX,
)
from service.domain.errors import TaskNotFoundError
from service.domain.predictions import TERMINAL
from service.domain.status import Presign, transition_status_body
from service.domain.tasks import TaskService
from service.domain.webhooks import new_secret
from service.models.domain import Task, TaskKind, TaskState, utcnow
from service.models.storage import task_from_summary
from service.observability import logger

CANCELED = "Task was canceled"
#: Queries one list request may make to fill a filtered page.
MAX_QUERIES = 5
#: Items one query evaluates when a filter may drop some (without a filter: just what is missing).
FILTERED_BATCH = 50
#: After a rotation, the previous secret still signs for this long.
PREVIOUS_SECRET_VALID = timedelta(hours=24)


class TaskFinished(Exception):
    """Cancel of a task that already ended (SUCCESS, or FAILURE for another reason): 409."""

    def __init__(self, task: Task) -> None:
        super().__init__("The task has already finished: there is nothing to cancel")
        self.task = task


class InvalidCursor(ValueError):
    """A list cursor that is not one of ours, was altered, or belongs to another owner or filters."""


class CursorSigner:
    """``base64url(json(position)) "." base64url(HMAC-SHA256)``; the MAC covers the owner and the
    filters too, so a cursor works only for the listing that produced it. ``key``: the signing key
    (read from Secrets Manager by the caller, lazily)."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key

    def _mac(self, owner: str, filters: str, payload: str) -> str:
        message = f"{owner}\n{filters}\n{payload}".encode()
        digest = hmac.new(self._key(), message, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def encode(self, owner: str, filters: str, position: dict[str, str]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode())
        text = payload.decode().rstrip("=")
        return f"{text}.{self._mac(owner, filters, text)}"

    def decode(self, owner: str, filters: str, cursor: str) -> dict[str, str]:
        text, _, mac = cursor.partition(".")
        if not text or not mac or not hmac.compare_digest(mac, self._mac(owner, filters, text)):
            raise InvalidCursor("cursor is not valid for this listing: start again without it")
        try:
            position = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError) as error:  # signed by us, so never; but never a 500 either
            raise InvalidCursor("cursor is not valid for this listing: start again without it") from error
        if not isinstance(position, dict) or not all(isinstance(v, str) for v in position.values()):
            raise InvalidCursor("cursor is not valid for this listing: start again without it")
        return position


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def list_item(task: Task, presign: Presign) -> dict[str, Any]:
    """A list item: the task-status answer, plus ``kind`` and ``created_at``."""
    body = transition_status_body(task, presign)
    body["kind"] = task.kind.value
    body["created_at"] = task.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return body


class TaskControls:
    def __init__(
        self,
        tasks: TasksTable,
        executions: Executions,
        media: MediaStore,
        owners: OwnersTable,
        cursors: CursorSigner,
        presign: Presign,
    ) -> None:
        self.tasks = tasks
        self.executions = executions
        self.media = media
        self.owners = owners
        self.cursors = cursors
        self.presign = presign
        #: Reads a task as the status routes do (ownership, the ARN or the bare uuid).
        self.reader = TaskService(tasks, executions)

    def _owned(self, owner: str, task_id: str) -> Task:
        ref = self.reader.parse_ref(task_id)
        task = self.tasks.get(ref.name)
        if task is None or task.owner != owner:
            raise TaskNotFoundError(task_id)
        return task

    # -- cancel -------------------------------------------------------------------------------------
    def cancel(self, owner: str, task_id: str) -> Task:
        """The task, cancelled now or before (idempotent); ``TaskFinished`` if it ended otherwise."""
        task = self._owned(owner, task_id)
        if not task.state.terminal:
            if self.tasks.mark_failure(task, CANCELED, canceled=True):
                logger.info("Task canceled by its owner", extra={"task_id": task.task_id})
                self._stop(task)
            task = self.tasks.get(task.task_id) or task  # ended by us, or by another path meanwhile
        if task.canceled_at is not None:
            return task
        raise TaskFinished(task)

    def _stop(self, task: Task) -> None:
        """StopExecution, retried briefly; if it never goes through, the workflow's next step finds
        the task ended and stops itself (MarkFailed cancels the predictions): not the owner's error."""
        for attempt in range(3):
            try:
                self.executions.stop(task.execution_arn, error="TaskCanceled", cause="Canceled by its owner")
                return
            except Exception:
                if attempt == 2:
                    logger.exception(
                        "Could not stop a canceled task's execution", extra={"task_id": task.task_id}
                    )
                    return
                time.sleep(0.05 * (attempt + 1))

    # -- delete -------------------------------------------------------------------------------------
    def delete(self, owner: str, task_id: str) -> None:
        task = self._owned(owner, task_id)
        if not task.state.terminal:
            try:
                task = self.cancel(owner, task_id)
            except TaskFinished as finished:  # it ended meanwhile: erase it as it is
                task = finished.task
        self.media.delete(media_keys(task))
        running = [p.id for p in task.predictions if p.status not in TERMINAL]
        if not running:
            if self.tasks.erase(task):
                logger.info("Task erased by its owner", extra={"task_id": task.task_id})
        elif self.tasks.bury(task, running, keep_for=timedelta(days=TOMBSTONE_DAYS)):
            logger.info(
                "Task erased by its owner; its tombstone waits for the clean-up to cancel its predictions",
                extra={"task_id": task.task_id, "predictions": running},
            )

    # -- list ---------------------------------------------------------------------------------------
    def list(
        self,
        owner: str,
        *,
        limit: int,
        cursor: str | None = None,
        state: TaskState | None = None,
        kind: TaskKind | None = None,
    ) -> Page:
        filters = f"state={state.value if state else ''}&kind={kind.value if kind else ''}"
        start = self.cursors.decode(owner, filters, cursor) if cursor else None
        filtered = state is not None or kind is not None
        items: list[dict[str, Any]] = []
        next_position: dict[str, str] | None = None
        for _ in range(MAX_QUERIES):
            missing = limit - len(items)
            batch = max(missing, FILTERED_BATCH) if filtered else missing
            found, last = self.tasks.owner_page(
                owner, limit=min(batch, 100), start=start, state=state, kind=kind
            )
            for index, item in enumerate(found):
                items.append(list_item(task_from_summary(item), self.presign))
                if len(items) == limit:
                    more = index < len(found) - 1 or last is not None
                    next_position = _position(item) if more else None
                    break
            else:
                next_position = last
                start = last
                if last is None:
                    break
                continue
            break
        token = self.cursors.encode(owner, filters, next_position) if next_position else None
        return Page(items, token)

    # -- the owner's webhook secret -----------------------------------------------------------------
    def webhook_secret(self, owner: str, *, rotate: bool = False) -> dict[str, Any]:
        until = (utcnow() + PREVIOUS_SECRET_VALID).strftime("%Y-%m-%dT%H:%M:%SZ")
        stored = self.owners.webhook_secret(owner, new_secret(), rotate=rotate, keep_previous_until=until)
        previous_until = stored.get("webhook_secret_previous_until")
        if previous_until is not None and previous_until <= utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"):
            previous_until = None
        return {"secret": stored["webhook_secret"], "previous_secret_valid_until": previous_until}


def _position(item: dict[str, Any]) -> dict[str, str]:
    """Where a listing goes on after ``item``: the index's keys and the table's."""
    return {
        "task_id": str(item["task_id"]),
        "owner": str(item["owner"]),
        "created_at": str(item["created_at"]),
    }


def media_keys(task: Task) -> list[str]:
    """Every key the task's media may have: the result's, and the ones Finalize would write."""
    keys = {
        f"{VIDEO_PREFIX}{task.task_id}.mp4",
        f"{THUMBNAIL_PREFIX}{task.task_id}.jpg",
        f"{SUBTITLE_PREFIX}{task.task_id}.vtt",
    }
    if task.result is not None:
        keys |= {task.result.video_key, task.result.thumbnail_key}
        if task.result.subtitles_key:
            keys.add(task.result.subtitles_key)
    return sorted(key for key in keys if key.startswith(RESULT_PREFIXES))
