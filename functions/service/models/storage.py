"""The DynamoDB items: how a task and a token are stored, converted explicitly.

Attribute names are short and stable; the item keeps plain maps (not JSON strings) so operators
can read them in the console. Numbers go through ``Decimal`` as DynamoDB requires.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from service.models.domain import Task, Tombstone

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo_values(value: Any) -> Any:
    """JSON-able Python → values TypeSerializer accepts (floats become Decimal, None dropped)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def _from_dynamo_values(value: Any) -> Any:
    """Decimals back to int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo_values(v) for v in value]
    return value


def serialize(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict → DynamoDB attribute values (None values are left out)."""
    plain = _to_dynamo_values({k: v for k, v in values.items() if v is not None})
    return {k: _serializer.serialize(v) for k, v in plain.items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo_values(_deserializer.deserialize(v)) for k, v in item.items()}


def task_to_item(task: Task) -> dict[str, Any]:
    return serialize(task.model_dump(mode="json"))


def task_from_item(item: dict[str, Any]) -> Task:
    return Task.model_validate(deserialize(item))


#: The attribute that marks a tombstone (``Tombstone``): a task its owner deleted.
TOMBSTONE_MARK = "deleted_at"


def record_from_item(item: dict[str, Any]) -> Task | Tombstone:
    """A task record, or what its owner's delete left of it."""
    if TOMBSTONE_MARK in item:
        return Tombstone.model_validate(deserialize(item))
    return task_from_item(item)


def task_from_summary(item: dict[str, Any]) -> Task:
    """A task from an item of the owner index (plain values): it carries what a list item shows
    (``service.catalog.OWNER_INDEX``), not the request, the job or the TTL."""
    return Task.model_validate({"request": {}, "expires_at": 0, **item})
