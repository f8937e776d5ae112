"""Submitting tasks and reading their state: the API functions' domain logic.

Order of writes on submit (the task id must resolve once returned, and nothing may be orphaned):
1. read the owner's usage and decide against its limits (:mod:`service.domain.limits`): over a
   limit, a 429 and nothing written;
2. allocate the integer ids (a gap if we die here, or if step 3 finds a limit reached, is harmless);
3. one transaction: the task record, PENDING, under the execution ARN the execution *will* have
   (the ARN is derived from the state machine ARN and our uuid4 name, so it is known before
   starting), with the job in it; and the owner's new usage, on condition that nobody changed it
   since step 1 (else back to step 1);
4. StartExecution with that name and references only (task id, kind). If it fails, the record is
   deleted and its slot freed in one transaction, and the client gets an error: no half-written
   record. If the process dies between 3 and 4, the id was never returned; the record is a PENDING
   orphan that the status path reports as FAILURE once stale (DescribeExecution says it does not
   exist), which frees its slot, and that TTL removes.
The reverse order would leave a running execution with no record: an orphaned execution.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.adapters.executions import Executions
from service.adapters.owners_table import OwnersTable, OwnerUsage
from service.adapters.tasks_table import OwnerUsageChanged, TasksTable
from service.domain.errors import LimitExceeded, SubmitError, TaskNotFoundError
from service.domain.limits import Limits, admit
from service.domain.webhooks import event_id_for, new_secret
from service.models.domain import GenerationJob, Task, TaskKind, WebhookDelivery, utcnow
from service.models.workflow import ExecutionInput
from service.observability import logger

#: The user-facing error for an execution that ended without writing its own result.
EXECUTION_END_ERRORS: dict[str, str] = {
    "FAILED": "Video generation failed unexpectedly",
    "TIMED_OUT": "Video generation timed out",
    "ABORTED": "Video generation was stopped before it finished",
    "MISSING": "Video generation never started",
}

#: How many times a submit reads and decides again when its write's condition failed without a
#: limit reached (a minute or day window that rolled over since its read).
ADMISSION_ATTEMPTS = 5


def parse_task_name(value: str) -> str | None:
    """The execution name (a uuid4, canonical lower case) of a task id given bare, or None."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return str(parsed) if str(parsed) == value.lower() else None


@dataclass(frozen=True)
class TaskRef:
    """How a client addressed a task: the execution name (uuid) behind it."""

    name: str


class TaskService:
    #: Seconds since the epoch: the limits' minute and day windows (tests set a fixed one).
    clock = staticmethod(time.time)

    def __init__(
        self,
        tasks: TasksTable,
        executions: Executions,
        *,
        owners: OwnersTable | None = None,
        limits: Limits | None = None,
        stale_after: timedelta = timedelta(seconds=60),
        ttl: timedelta = timedelta(days=30),
    ) -> None:
        self.tasks = tasks
        self.executions = executions
        self.owners = owners
        self.limits = limits
        self.stale_after = stale_after
        self.ttl = ttl

    # -- submit ---------------------------------------------------------------------------------
    def submit(
        self,
        owner: str,
        kind: TaskKind,
        request: dict[str, Any],
        job: GenerationJob,
        *,
        webhook_url: str | None = None,
    ) -> Task:
        """``webhook_url``: checked by the caller (``service.domain.webhooks.check_url``)."""
        if self.owners is None or self.limits is None:
            raise RuntimeError("Submitting needs the owners table and the limits")
        usage = self._admissible(owner)  # over a limit: refused before anything is written
        name = str(uuid.uuid4())
        webhook = WebhookDelivery(url=webhook_url, event_id=event_id_for(name)) if webhook_url else None
        transition_id, generated_transition_id = self.tasks.allocate_ids(2)
        now = utcnow()
        task = Task(
            task_id=name,
            execution_arn=self.executions.arn_for(name),
            owner=owner,
            kind=kind,
            request=request,
            job=job,
            transition_id=transition_id,
            generated_transition_id=generated_transition_id,
            created_at=now,
            updated_at=now,
            expires_at=int((now + self.ttl).timestamp()),
            webhook=webhook,
        )
        self._record(task, usage)
        try:
            arn = self.executions.start(name, ExecutionInput(task_id=name, kind=kind).model_dump(mode="json"))
        except Exception as error:
            logger.exception("StartExecution failed; removing the task record", extra={"task_id": name})
            self.tasks.delete_unstarted(task)
            raise SubmitError("Could not start video generation, please retry") from error
        if arn != task.execution_arn:  # would mean arn_for() no longer matches AWS's ARN format
            logger.error(
                "Execution ARN differs from the derived one",
                extra={"arn": arn, "derived": task.execution_arn},
            )
        return task

    def _admissible(self, owner: str) -> OwnerUsage:
        assert self.owners is not None and self.limits is not None
        usage = self.owners.usage(owner)
        admit(usage, self.limits.for_owner(usage), self.clock())
        return usage

    def _record(self, task: Task, usage: OwnerUsage) -> None:
        """Write the record and the owner's usage together; the write's condition is the limits, so
        a submit that loses a race for the last slot is refused on its next decision."""
        assert self.owners is not None and self.limits is not None
        for attempt in range(ADMISSION_ATTEMPTS):
            if attempt:
                usage = self.owners.usage(task.owner)
            limits = self.limits.for_owner(usage)
            admitted = admit(usage, limits, self.clock())  # a limit reached meanwhile: refused here
            admission = self.owners.admission(
                usage,
                admitted,
                max_in_flight=limits.max_in_flight,
                per_minute=limits.per_minute,
                per_day=limits.per_day,
                webhook_secret=new_secret() if task.webhook is not None else None,
            )
            try:
                self.tasks.put_new(task, admission)
                return
            except OwnerUsageChanged:
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise LimitExceeded(
            "Too many submits at once for this owner: retry in a second", retry_after_s=1, limit="concurrency"
        )

    # -- read -----------------------------------------------------------------------------------
    def parse_ref(self, task_id: str) -> TaskRef:
        """Accept our execution ARN or its bare uuid, nothing else (a foreign ARN is unknown)."""
        name = self.executions.name_from_arn(task_id) if task_id.startswith("arn:") else task_id
        parsed = parse_task_name(name) if name is not None else None
        if parsed is None:
            raise TaskNotFoundError(task_id)
        return TaskRef(name=parsed)

    def get(self, owner: str, task_id: str, *, kind: TaskKind | None = None) -> Task:
        ref = self.parse_ref(task_id)
        task = self.tasks.get(ref.name)
        if task is None or task.owner != owner or (kind is not None and task.kind != kind):
            raise TaskNotFoundError(task_id)
        if not task.state.terminal and self._is_stale(task, utcnow()):
            task = self._reconcile(task)
        return task

    def _is_stale(self, task: Task, now: datetime) -> bool:
        last_seen = max(task.updated_at, task.checked_at or task.updated_at)
        return now - last_seen >= self.stale_after

    def _reconcile(self, task: Task) -> Task:
        """The record has not moved for a while: ask Step Functions whether the execution is alive."""
        execution = self.executions.describe(task.execution_arn)
        if execution.status in EXECUTION_END_ERRORS:
            error = EXECUTION_END_ERRORS[execution.status]
            logger.warning(
                "Execution ended without updating its task",
                extra={"task_id": task.task_id, "status": execution.status, "error": execution.error},
            )
            self.tasks.mark_failure(task, error)  # frees the owner's slot
        elif execution.status == "RUNNING":
            self.tasks.mark_checked(task.task_id, utcnow())
            return task
        # SUCCEEDED with a non-terminal record, or anything else: the record is re-read as truth.
        fresh = self.tasks.get(task.task_id)
        return fresh if fresh is not None else task
