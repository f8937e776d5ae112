"""Data access for API tokens: only their SHA-256 hashes are stored, with the owner id.

An item: ``token_hash`` (key), ``owner``, ``created_at``, and optionally ``expires_at`` (epoch
seconds: the authorizer refuses the token from then on, and DynamoDB's TTL deletes the item
within a few days) and ``api_key`` (the owner's API Gateway key value: the authorizer returns it
as the usage identifier of the owner's usage plan, without a second read).

The authorizer imports this on every cold start: it stays free of the pydantic models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.adapters import aws


@dataclass(frozen=True)
class TokenGrant:
    """What a token grants: its owner, until when, and the key its requests are metered by."""

    owner: str
    expires_at: int | None = None
    api_key: str | None = None


class TokensTable:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("dynamodb")
        return self._client

    def put(
        self, token_hash: str, owner: str, *, expires_at: int | None = None, api_key: str | None = None
    ) -> None:
        item = {
            "token_hash": {"S": token_hash},
            "owner": {"S": owner},
            "created_at": {"S": datetime.now(UTC).isoformat()},
        }
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        if api_key is not None:
            item["api_key"] = {"S": api_key}
        self.client.put_item(
            TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(token_hash)"
        )

    def grant(self, token_hash: str) -> TokenGrant | None:
        item = self.client.get_item(TableName=self.table_name, Key={"token_hash": {"S": token_hash}}).get(
            "Item"
        )
        if item is None:
            return None
        expires = item.get("expires_at", {}).get("N")
        return TokenGrant(
            owner=item["owner"]["S"],
            expires_at=int(expires) if expires is not None else None,
            api_key=item.get("api_key", {}).get("S"),
        )

    def delete(self, token_hash: str) -> bool:
        response = self.client.delete_item(
            TableName=self.table_name, Key={"token_hash": {"S": token_hash}}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in response

    def hashes_of(self, owner: str) -> list[str]:
        """Every token (hash) of ``owner`` (an ops action on a small table: a scan is fine)."""
        hashes: list[str] = []
        for page in self.client.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="#o = :owner",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
            ProjectionExpression="token_hash",
        ):
            hashes.extend(item["token_hash"]["S"] for item in page["Items"])
        return hashes

    def delete_owner(self, owner: str) -> int:
        """Revoke every token of ``owner``."""
        return sum(self.delete(token_hash) for token_hash in self.hashes_of(owner))

    def set_api_key(self, owner: str, api_key: str) -> int:
        """Give every token of ``owner`` the owner's API key (its usage plan key)."""
        for token_hash in self.hashes_of(owner):
            self.client.update_item(
                TableName=self.table_name,
                Key={"token_hash": {"S": token_hash}},
                UpdateExpression="SET api_key = :key",
                ConditionExpression="attribute_exists(token_hash)",
                ExpressionAttributeValues={":key": {"S": api_key}},
            )
        return len(self.hashes_of(owner))
