"""Data access for API tokens: only their SHA-256 hashes are stored, with the owner id.

The authorizer imports this on every cold start: it stays free of the pydantic models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.adapters import aws


class TokensTable:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def put(self, token_hash: str, owner: str) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "token_hash": {"S": token_hash},
                "owner": {"S": owner},
                "created_at": {"S": datetime.now(UTC).isoformat()},
            },
            ConditionExpression="attribute_not_exists(token_hash)",
        )

    def owner_of(self, token_hash: str) -> str | None:
        item = self.client.get_item(TableName=self.table_name, Key={"token_hash": {"S": token_hash}})
        return item["Item"]["owner"]["S"] if "Item" in item else None

    def delete(self, token_hash: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table_name, Key={"token_hash": {"S": token_hash}}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in response

    def delete_owner(self, owner: str) -> int:
        """Revoke every token of ``owner`` (an ops action on a small table: a scan is fine)."""
        removed = 0
        for page in self.client.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="#o = :owner",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
            ProjectionExpression="token_hash",
        ):
            for item in page["Items"]:
                removed += self.delete(item["token_hash"]["S"])
        return removed
