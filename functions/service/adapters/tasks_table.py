"""Data access for task records (one item per execution) and the integer id counter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from service.adapters import aws
from service.models.domain import PredictionRef, Progress, Task, TaskResult, TaskState, utcnow
from service.models.storage import serialize, task_from_item, task_to_item

#: The id counter shares the table; uuid task ids can never collide with this key.
COUNTER_KEY = "#counter"


class TaskAlreadyExistsError(Exception):
    pass


class TasksTable:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

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

    def put_new(self, task: Task) -> None:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=task_to_item(task),
                ConditionExpression="attribute_not_exists(task_id)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TaskAlreadyExistsError(task.task_id) from error
            raise

    def get(self, task_id: str) -> Task | None:
        if task_id == COUNTER_KEY:
            return None
        item = self.client.get_item(
            TableName=self.table_name, Key={"task_id": {"S": task_id}}, ConsistentRead=True
        )
        return task_from_item(item["Item"]) if "Item" in item else None

    def delete(self, task_id: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key={"task_id": {"S": task_id}})

    def _update_live(self, task_id: str, values: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        """Set ``values`` on a task that exists and is not terminal. False if it was terminal or gone.

        The condition makes every transition one-way: a late poll can never overwrite SUCCESS,
        and a stale-record check can never overwrite a result that landed meanwhile.
        """
        values = {**values, "updated_at": utcnow().isoformat()}
        names = {f"#{k}": k for k in (*values, *remove, "state")}
        attrs = serialize({f":{k}": v for k, v in values.items()})
        attrs |= {":success": {"S": TaskState.SUCCESS.value}, ":failure": {"S": TaskState.FAILURE.value}}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in values)
        if remove:
            expression += " REMOVE " + ", ".join(f"#{k}" for k in remove)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": task_id}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(task_id) AND #state <> :success AND #state <> :failure",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attrs,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_processing(self, task_id: str, predictions: list[PredictionRef], progress: Progress) -> bool:
        return self._update_live(
            task_id,
            {
                "state": TaskState.PROCESSING.value,
                "predictions": [p.model_dump() for p in predictions],
                "progress": progress.model_dump(),
            },
        )

    def mark_success(self, task_id: str, result: TaskResult) -> bool:
        return self._update_live(
            task_id, {"state": TaskState.SUCCESS.value, "result": result.model_dump()}, remove=("progress",)
        )

    def mark_failure(self, task_id: str, error: str) -> bool:
        return self._update_live(task_id, {"state": TaskState.FAILURE.value, "error": error})

    def mark_checked(self, task_id: str, when: datetime) -> None:
        """Remember a DescribeExecution that found the execution alive (no updated_at change)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET checked_at = :when",
                ConditionExpression="attribute_exists(task_id)",
                ExpressionAttributeValues={":when": {"S": when.isoformat()}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
