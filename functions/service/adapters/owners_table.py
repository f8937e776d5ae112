"""Data access for owners: per-owner limits (overrides of the deployment's defaults) and usage.

One item per owner (key ``owner``):

* overrides, set by ``videogen tokens create|update``: ``max_in_flight``, ``per_minute``,
  ``per_day`` (absent: the deployment's default), and ``api_key_id`` (the owner's API Gateway key);
* usage, written by submits: ``in_flight``, ``minute_window``/``minute_count`` (epoch minute and
  submits in it), ``day_window``/``day_count`` (epoch day, UTC).

Submit reads the item (consistently), decides with :mod:`service.domain.limits`, and writes the new
usage in the same ``TransactWriteItems`` as the task record. The write carries the limits as its
condition (``in_flight < max``, ``minute_count < per_minute`` in the same minute…) and changes the
counters relatively (``ADD``), so DynamoDB itself decides atomically among concurrent submits: they
all go through until a limit is reached, without retries (a version check would make all but one
retry, and under a burst some would never win). Only a window that rolled over since the read makes
the condition fail without a limit reached: the submit reads and decides again. Every terminal
write of a task releases its slot in the same transaction (:meth:`release`, used by ``TasksTable``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from service.adapters import aws

#: The overrides an operator may set per owner (``videogen tokens --max-in-flight`` ...).
LIMIT_FIELDS = ("max_in_flight", "per_minute", "per_day")


@dataclass(frozen=True)
class OwnerUsage:
    """An owner's item as read; zeros when the owner has never submitted."""

    owner: str
    in_flight: int = 0
    minute_window: int = 0
    minute_count: int = 0
    day_window: int = 0
    day_count: int = 0
    max_in_flight: int | None = None
    per_minute: int | None = None
    per_day: int | None = None
    api_key_id: str | None = None


@dataclass(frozen=True)
class Admission:
    """The usage a submit writes: the windows it counted in and the counts after it."""

    minute_window: int
    minute_count: int
    day_window: int
    day_count: int


class OwnersTable:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def usage(self, owner: str) -> OwnerUsage:
        item = self.client.get_item(
            TableName=self.table_name, Key={"owner": {"S": owner}}, ConsistentRead=True
        ).get("Item", {})
        values: dict[str, Any] = {"owner": owner}
        for spec in fields(OwnerUsage):
            attribute = item.get(spec.name)
            if attribute is None or spec.name == "owner":
                continue
            values[spec.name] = attribute["S"] if "S" in attribute else int(attribute["N"])
        return OwnerUsage(**values)

    # -- parts of the tasks table's transactions --------------------------------------------------
    def admission(
        self,
        usage: OwnerUsage,
        admitted: Admission,
        *,
        max_in_flight: int,
        per_minute: int,
        per_day: int,
        webhook_secret: str | None = None,
    ) -> dict[str, Any]:
        """The transaction item that records one more submit, on condition that it stays within the
        limits at the moment it is written (``admitted``: the windows the submit counts in, from
        ``usage`` as read). ``webhook_secret``: a task with a webhook_url makes sure its owner has a
        signing secret (this one, if it had none), in the same write."""
        sets: list[str] = []
        secret_values: dict[str, Any] = {}
        if webhook_secret is not None:
            sets.append("webhook_secret = if_not_exists(webhook_secret, :webhook_secret)")
            secret_values[":webhook_secret"] = {"S": webhook_secret}
        adds = ["in_flight :one"]
        conditions = ["(attribute_not_exists(in_flight) OR in_flight < :max_in_flight)"]
        values = {":one": 1, ":max_in_flight": max_in_flight}
        for window, count, limit, new, read in (
            ("minute_window", "minute_count", per_minute, admitted.minute_window, usage.minute_window),
            ("day_window", "day_count", per_day, admitted.day_window, usage.day_window),
        ):
            values[f":{window}"], values[f":{count}_limit"] = new, limit
            if new == read:  # the same window as read: one more, if still below the limit
                adds.append(f"{count} :one")
                conditions.append(f"{window} = :{window} AND {count} < :{count}_limit")
            else:  # a new window: the first of it, unless another submit opened it meanwhile
                sets.append(f"{window} = :{window}, {count} = :one")
                conditions.append(f"(attribute_not_exists({window}) OR {window} < :{window})")
        expression = (f"SET {', '.join(sets)} " if sets else "") + f"ADD {', '.join(adds)}"
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"owner": {"S": usage.owner}},
                "UpdateExpression": expression,
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeValues": {k: {"N": str(v)} for k, v in values.items()} | secret_values,
            }
        }

    def release(self, owner: str) -> dict[str, Any]:
        """The transaction item that frees one slot (never below zero)."""
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"owner": {"S": owner}},
                "UpdateExpression": "ADD in_flight :minus_one",
                "ConditionExpression": "in_flight > :zero",
                "ExpressionAttributeValues": {":minus_one": {"N": "-1"}, ":zero": {"N": "0"}},
            }
        }

    # -- caller webhooks: the owner's signing secret -----------------------------------------------
    def webhook_secret(
        self, owner: str, new: str, *, rotate: bool, keep_previous_until: str
    ) -> dict[str, Any]:
        """The owner's secret, created (``new``) if it has none; with ``rotate``, replaced by ``new``
        while the one it replaces keeps signing until ``keep_previous_until``. One UpdateItem."""
        if rotate:
            expression = (
                "SET webhook_secret_previous = if_not_exists(webhook_secret, :new), "
                "webhook_secret_previous_until = :until, webhook_secret = :new"
            )
            values = {":new": {"S": new}, ":until": {"S": keep_previous_until}}
        else:
            expression = "SET webhook_secret = if_not_exists(webhook_secret, :new)"
            values = {":new": {"S": new}}
        item = self.client.update_item(
            TableName=self.table_name,
            Key={"owner": {"S": owner}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return {
            name: item[name]["S"]
            for name in ("webhook_secret", "webhook_secret_previous", "webhook_secret_previous_until")
            if name in item
        }

    def webhook_secrets(self, owner: str) -> dict[str, str]:
        """The owner's secret attributes as stored (none if it never asked for one)."""
        item = self.client.get_item(
            TableName=self.table_name,
            Key={"owner": {"S": owner}},
            ProjectionExpression="webhook_secret, webhook_secret_previous, webhook_secret_previous_until",
        ).get("Item", {})
        return {name: value["S"] for name, value in item.items()}

    # -- operator commands (videogen tokens) ------------------------------------------------------
    def set_limits(self, owner: str, limits: dict[str, int | None]) -> None:
        """Set the given overrides; ``None`` removes one (the deployment's default applies again)."""
        unknown = set(limits) - set(LIMIT_FIELDS)
        if unknown:
            raise ValueError(f"Unknown limit(s): {', '.join(sorted(unknown))}")
        sets = {name: value for name, value in limits.items() if value is not None}
        removes = [name for name, value in limits.items() if value is None]
        if not sets and not removes:
            return
        expression = ""
        if sets:
            expression += "SET " + ", ".join(f"{name} = :{name}" for name in sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        kwargs: dict[str, Any] = {}
        if sets:
            kwargs["ExpressionAttributeValues"] = {f":{k}": {"N": str(v)} for k, v in sets.items()}
        self.client.update_item(
            TableName=self.table_name,
            Key={"owner": {"S": owner}},
            UpdateExpression=expression.strip(),
            **kwargs,
        )

    def set_api_key_id(self, owner: str, api_key_id: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={"owner": {"S": owner}},
            UpdateExpression="SET api_key_id = :id",
            ExpressionAttributeValues={":id": {"S": api_key_id}},
        )
