"""Data access for task records (one item per execution) and the integer id counter.

The record is the truth of a task: the request, the job, the predictions, the outputs, the
errors. Every write to a live record is conditional on it being non-terminal, so terminal states
are final; and every write that *makes* it terminal (or deletes a record that never started)
releases the owner's in-flight slot in the same transaction (``OwnersTable.release``): the slot
is freed exactly once on every terminal path, whoever gets there first, and no caller can forget.

A task its owner deleted while its predictions may still run becomes a tombstone (``bury``: the
prediction ids, ``deleted_at``, the TTL and the terminal ``state``, nothing else), which ``get``
reads as no record; only the clean-up reads it (``read``) and deletes it (``delete_tombstone``).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from service.adapters import aws
from service.adapters.owners_table import OwnersTable
from service.catalog import OWNER_INDEX
from service.models.domain import (
    PredictionHook,
    PredictionRef,
    Progress,
    StepError,
    Task,
    TaskKind,
    TaskResult,
    TaskState,
    Tombstone,
    WebhookDelivery,
    utcnow,
)
from service.models.storage import (
    TOMBSTONE_MARK,
    deserialize,
    record_from_item,
    serialize,
    task_from_item,
    task_to_item,
)
from service.observability import logger

#: The id counter shares the table; uuid task ids can never collide with this key.
COUNTER_KEY = "#counter"
#: A transaction that collides with another on the same item is retried this many times.
CONFLICT_ATTEMPTS = 5


#: A record that exists, is terminal and is not a tombstone (``erase`` and ``bury``).
_TERMINAL_RECORD = (
    "attribute_exists(task_id) AND attribute_not_exists(#mark) AND (#state = :success OR #state = :failure)"
)
#: The record's attributes a tombstone keeps (``expires_at`` is set anew).
_TOMBSTONE_KEEPS = {"task_id", "state", "expires_at"}
_TERMINAL_VALUES = {":success": {"S": TaskState.SUCCESS.value}, ":failure": {"S": TaskState.FAILURE.value}}


class TaskAlreadyExistsError(Exception):
    pass


class OwnerUsageChanged(Exception):
    """The owner's usage no longer admits this submit as written (a limit reached, or a window
    rolled over, since it was read): read and decide again."""


def _cancellation_reasons(error: ClientError) -> list[str]:
    return [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def _not_below(update: dict[str, Any], progress: Progress) -> None:
    """Make a live update that writes ``progress`` hold only if the record's is not higher."""
    update["ExpressionAttributeNames"] |= {"#progress": "progress", "#current": "current"}
    update["ExpressionAttributeValues"] |= serialize({":progress_floor": progress.current})
    update["ConditionExpression"] += (
        " AND (attribute_not_exists(#progress) OR #progress.#current <= :progress_floor)"
    )


class TasksTable:
    def __init__(self, table_name: str, client: Any = None, *, owners: OwnersTable | None = None) -> None:
        self.table_name = table_name
        self._client = client
        #: Where in-flight slots are released; None only for functions that never end a task.
        self.owners = owners

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def allocate_ids(self, count: int = 2) -> list[int]:
        """``count`` consecutive integers, unique across all tasks (atomic ADD)."""
        response = self.client.update_item(
            TableName=self.table_name,
            Key={"task_id": {"S": COUNTER_KEY}},
            UpdateExpression="ADD seq :n",
            ExpressionAttributeValues={":n": {"N": str(count)}},
            ReturnValues="UPDATED_NEW",
        )
        last = int(response["Attributes"]["seq"]["N"])
        return list(range(last - count + 1, last + 1))

    def put_new(self, task: Task, admission: dict[str, Any] | None = None) -> None:
        """Write a new record; with ``admission`` (``OwnersTable.admission``), in one transaction
        with the owner's usage, so that neither is written without the other."""
        put = {
            "TableName": self.table_name,
            "Item": task_to_item(task),
            "ConditionExpression": "attribute_not_exists(task_id)",
        }
        if admission is None:
            try:
                self.client.put_item(**put)
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    raise TaskAlreadyExistsError(task.task_id) from error
                raise
            return
        try:
            self.client.transact_write_items(TransactItems=[{"Put": put}, admission])
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            reasons = _cancellation_reasons(error)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise TaskAlreadyExistsError(task.task_id) from error
            if {"ConditionalCheckFailed", "TransactionConflict"} & set(reasons):
                raise OwnerUsageChanged(task.owner) from error
            raise

    def get(self, task_id: str) -> Task | None:
        """The task's record; None if there is none, or only its tombstone (its owner deleted it)."""
        record = self.read(task_id)
        return record if isinstance(record, Task) else None

    def read(self, task_id: str) -> Task | Tombstone | None:
        """The task's record, or the tombstone its owner's delete left (the clean-up's read)."""
        if task_id == COUNTER_KEY:
            return None
        item = self.client.get_item(
            TableName=self.table_name, Key={"task_id": {"S": task_id}}, ConsistentRead=True
        )
        return record_from_item(item["Item"]) if "Item" in item else None

    def delete_unstarted(self, task: Task) -> None:
        """Remove a PENDING record whose execution could not be started, and free its slot."""
        delete = {
            "TableName": self.table_name,
            "Key": {"task_id": {"S": task.task_id}},
            "ConditionExpression": "#state = :pending",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":pending": {"S": TaskState.PENDING.value}},
        }
        if self._transact_with_release(task.owner, {"Delete": delete}) is None:
            self.client.delete_item(TableName=self.table_name, Key={"task_id": {"S": task.task_id}})

    # -- live records ---------------------------------------------------------------------------
    def _live_update(
        self, task_id: str, values: dict[str, Any], remove: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """An update of a task that exists and is not terminal (parameters of UpdateItem).

        The condition makes every transition one-way: a late poll can never overwrite SUCCESS,
        and a stale-record check can never overwrite a result that landed meanwhile."""
        values = {**values, "updated_at": utcnow().isoformat()}
        present = {k: v for k, v in values.items() if v is not None}
        remove = (*remove, *(k for k, v in values.items() if v is None))
        names = {f"#{k}": k for k in (*present, *remove, "state")}
        attrs = serialize({f":{k}": v for k, v in present.items()})
        attrs |= {":success": {"S": TaskState.SUCCESS.value}, ":failure": {"S": TaskState.FAILURE.value}}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in present)
        if remove:
            expression += " REMOVE " + ", ".join(f"#{k}" for k in remove)
        return {
            "TableName": self.table_name,
            "Key": {"task_id": {"S": task_id}},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(task_id) AND #state <> :success AND #state <> :failure",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": attrs,
        }

    def _update(self, update: dict[str, Any]) -> bool:
        """Apply a live update. False if the task was terminal or gone."""
        try:
            self.client.update_item(**update)
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_processing(
        self,
        task_id: str,
        predictions: list[PredictionRef],
        progress: Progress,
        *,
        outputs: dict[str, str] | None = None,
        step_error: StepError | None = None,
        monotonic: bool = False,
    ) -> bool:
        """Record the predictions (and what the last poll learnt). False if the task ended meanwhile.

        ``monotonic``: the progress is written only if it is not below the record's (the Replicate
        webhook route writes progress too: neither writer may take it back); a higher one stays."""
        values: dict[str, Any] = {
            "state": TaskState.PROCESSING.value,
            "predictions": [p.model_dump(mode="json") for p in predictions],
            "progress": progress.model_dump(),
        }
        if outputs:
            values["outputs"] = outputs
        if step_error is not None:
            values["step_error"] = step_error.model_dump()
        update = self._live_update(task_id, values)
        if not monotonic:
            return self._update(update)
        _not_below(update, progress)
        if self._update(update):
            return True
        fresh = self.get(task_id)  # a higher progress landed meanwhile, or the task ended
        if fresh is None or fresh.state.terminal:
            return False
        del values["progress"]
        return self._update(self._live_update(task_id, values))

    # -- Replicate's webhooks and the workflow's wake-up --------------------------------------------
    def store_wake_token(self, task_id: str, token: str) -> Task | None:
        """Keep the token of the workflow's current wait; the record as it is now (its hooks tell
        whether a webhook came meanwhile), or None if the task ended or is gone."""
        update = self._live_update(task_id, {"wake_token": token})
        try:
            answer = self.client.update_item(**update, ReturnValues="ALL_NEW")
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return task_from_item(answer["Attributes"])

    def record_hook(
        self, task_id: str, prediction_id: str, hook: PredictionHook, progress: Progress | None
    ) -> Task | None:
        """Record what a webhook said about one prediction, if it is news: the task is live, and the
        webhook is not the one recorded (``webhook_id``) nor older than it (``key``). ``progress``
        (the task's, with this news) is written only if not below the record's. The record as it is
        now, or None if any of that did not hold (the caller reads again to know which)."""
        values: dict[str, Any] = {}
        if progress is not None:
            values["progress"] = progress.model_dump()
        update = self._live_update(task_id, values)
        names, attrs = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
        names |= {"#hooks": "hooks", "#pid": prediction_id, "#hkey": "key", "#hid": "webhook_id"}
        attrs |= serialize(
            {":hook": hook.model_dump(mode="json"), ":hkey": hook.key, ":hid": hook.webhook_id}
        )
        assignment = "#hooks.#pid = :hook"
        update["UpdateExpression"] = (
            update["UpdateExpression"].replace("SET ", f"SET {assignment}, ", 1)
            if update["UpdateExpression"].startswith("SET ")
            else f"SET {assignment} " + update["UpdateExpression"]
        )
        update["ConditionExpression"] += (
            " AND attribute_exists(#hooks) AND (attribute_not_exists(#hooks.#pid)"
            " OR (#hooks.#pid.#hkey < :hkey AND #hooks.#pid.#hid <> :hid))"
        )
        if progress is not None:
            _not_below(update, progress)
        try:
            answer = self.client.update_item(**update, ReturnValues="ALL_NEW")
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return task_from_item(answer["Attributes"])

    def record_step_error(self, task_id: str, step_error: StepError) -> bool:
        """Why a step failed, for MarkFailed (the execution history carries only the error's name)."""
        return self._update(self._live_update(task_id, {"step_error": step_error.model_dump()}))

    # -- terminal writes: each releases the owner's slot in the same transaction ------------------
    def mark_success(self, task: Task, result: TaskResult) -> bool:
        return self._finish(
            task, {"state": TaskState.SUCCESS.value, "result": result.model_dump()}, remove=("progress",)
        )

    def mark_failure(
        self,
        task: Task,
        error: str,
        predictions: list[PredictionRef] | None = None,
        *,
        canceled: bool = False,
    ) -> bool:
        values: dict[str, Any] = {"state": TaskState.FAILURE.value, "error": error}
        if predictions is not None:
            values["predictions"] = [p.model_dump(mode="json") for p in predictions]
        if canceled:
            values["canceled_at"] = utcnow().isoformat()
        return self._finish(task, values)

    def _finish(self, task: Task, values: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        """Make the record terminal and free the slot, or do nothing if it already was terminal."""
        update = self._live_update(task.task_id, values, remove)
        done = self._transact_with_release(task.owner, {"Update": update})
        return self._update(update) if done is None else done

    def _transact_with_release(self, owner: str, operation: dict[str, Any]) -> bool | None:
        """``operation`` (conditional) and the release of one of ``owner``'s slots, atomically.

        True: both done. False: the operation's condition failed (another path already ended the
        task, and released its slot). None: no release is possible (no owners table here, or the
        owner's count is already zero: a record from before limits existed): the caller does the
        operation alone."""
        if self.owners is None:
            return None
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=[operation, self.owners.release(owner)])
                return True
            except ClientError as error:
                if _code(error) != "TransactionCanceledException":
                    raise
                reasons = _cancellation_reasons(error)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return False
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    logger.error("The owner had no slot in flight to release", extra={"owner": owner})
                    return None
                if "TransactionConflict" not in reasons:
                    raise
                time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # a concurrent submit: back off
        raise RuntimeError(f"The task's terminal write kept conflicting with other writes ({owner})")

    def mark_checked(self, task_id: str, when: datetime) -> None:
        """Remember a DescribeExecution that found the execution alive (no updated_at change)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET checked_at = :when",
                ConditionExpression="attribute_exists(task_id) AND attribute_not_exists(#mark)",
                ExpressionAttributeNames={"#mark": TOMBSTONE_MARK},
                ExpressionAttributeValues={":when": {"S": when.isoformat()}},
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    # -- the owner's controls -----------------------------------------------------------------------
    def erase(self, task: Task) -> bool:
        """Delete a terminal record (its slot was freed by the terminal write). False if it was gone
        (or is a tombstone: only the clean-up, or the TTL, removes one)."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"task_id": {"S": task.task_id}},
                ConditionExpression=_TERMINAL_RECORD,
                ExpressionAttributeNames={"#state": "state", "#mark": TOMBSTONE_MARK},
                ExpressionAttributeValues=_TERMINAL_VALUES,
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def bury(self, task: Task, prediction_ids: list[str], *, keep_for: timedelta) -> bool:
        """Replace a terminal record by its tombstone (``Tombstone``): the ids of the predictions the
        clean-up must still cancel, ``deleted_at``, and an ``expires_at`` (the table's TTL) ``keep_for``
        from now. Every other attribute is removed: what the owner sent and got back, and ``owner``
        and ``created_at``, the owner index's keys, so the index drops it. ``state`` stays (terminal),
        so every live write's condition fails on it as on any ended task, and no terminal write (which
        would free a slot) can happen again. False if the record was gone (or already buried).

        An UpdateItem, not a PutItem, so that no function but submit may create records; it removes
        every attribute ``Task`` has, which are all a record can have (items are ``Task`` dumps)."""
        now = utcnow()
        removed = {f"#r{i}": name for i, name in enumerate(sorted(set(Task.model_fields) - _TOMBSTONE_KEEPS))}
        names = removed | {"#state": "state", "#mark": TOMBSTONE_MARK, "#ids": "cancel_predictions"}
        names |= {"#expires": "expires_at"}
        values = _TERMINAL_VALUES | serialize(
            {
                ":ids": prediction_ids,
                ":at": now.isoformat(),
                ":expires": int((now + keep_for).timestamp()),
            }
        )
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": task.task_id}},
                UpdateExpression="SET #ids = :ids, #mark = :at, #expires = :expires REMOVE "
                + ", ".join(removed),
                ConditionExpression=_TERMINAL_RECORD,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_tombstone(self, task_id: str) -> bool:
        """Remove a tombstone once its predictions are cancelled (the clean-up). False if gone."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key={"task_id": {"S": task_id}},
                ConditionExpression="attribute_exists(#mark)",
                ExpressionAttributeNames={"#mark": TOMBSTONE_MARK},
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def owner_page(
        self,
        owner: str,
        *,
        limit: int,
        start: dict[str, str] | None = None,
        state: TaskState | None = None,
        kind: TaskKind | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One Query of the owner index, newest first: up to ``limit`` items evaluated (the filter
        applies after), as plain dicts, and where the next Query starts (None: the index is exhausted).
        Keys are plain strings (``task_id``, ``owner``, ``created_at``)."""
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": OWNER_INDEX.name,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        filters = []
        for name, value in (("state", state), ("kind", kind)):
            if value is not None:
                filters.append(f"#{name} = :{name}")
                params["ExpressionAttributeNames"][f"#{name}"] = name
                params["ExpressionAttributeValues"][f":{name}"] = {"S": value.value}
        if filters:
            params["FilterExpression"] = " AND ".join(filters)
        if start:
            params["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        response = self.client.query(**params)
        items = [deserialize(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, ({k: v["S"] for k, v in last.items()} if last else None)

    # -- caller webhooks ---------------------------------------------------------------------------
    def record_webhook(self, task_id: str, webhook: WebhookDelivery, *, attempts_before: int) -> bool:
        """Write the delivery's new state if nobody else recorded an attempt meanwhile (the record's
        attempt count is still ``attempts_before``): concurrent copies of one event make one attempt.
        False: another attempt got there first, or the record is gone (erased by its owner)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET #webhook = :webhook",
                ConditionExpression="attribute_exists(task_id) AND #webhook.#attempts = :before",
                ExpressionAttributeNames={"#webhook": "webhook", "#attempts": "attempts"},
                ExpressionAttributeValues={
                    ":webhook": serialize({"w": webhook.model_dump(mode="json")})["w"],
                    ":before": {"N": str(attempts_before)},
                },
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True
