"""API Gateway usage plans: each owner's API key, in the stage's usage plan.

The stack's usage plan throttles and meters each API key on its own; the authorizer returns the
owner's key value as the usage identifier (the API's key source is AUTHORIZER), so each owner
has its own rate and burst. Operators' commands (``videogen tokens``) and the twin create keys
here; no function calls API Gateway.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from service.adapters import aws


@dataclass(frozen=True)
class ApiKey:
    id: str
    value: str


class UsagePlans:
    def __init__(self, plan_id: str, client: Any = None) -> None:
        self.plan_id = plan_id
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("apigateway")
        return self._client

    def key_for(self, owner: str, known_id: str | None = None) -> ApiKey:
        """The owner's enabled key in this plan: ``known_id`` if it still exists, else a new one."""
        key = self._existing(known_id) if known_id else None
        if key is None:
            created = self.client.create_api_key(
                name=f"videogen {owner}",
                description=f"Usage plan key of the videogen owner {owner!r}",
                customerId=owner,
                enabled=True,
                value=secrets.token_urlsafe(30),
            )
            key = ApiKey(created["id"], created["value"])
        try:
            self.client.get_usage_plan_key(usagePlanId=self.plan_id, keyId=key.id)
        except ClientError as error:
            if error.response["Error"]["Code"] != "NotFoundException":
                raise
            self.client.create_usage_plan_key(usagePlanId=self.plan_id, keyId=key.id, keyType="API_KEY")
        return key

    def _existing(self, key_id: str) -> ApiKey | None:
        try:
            found = self.client.get_api_key(apiKey=key_id, includeValue=True)
        except ClientError as error:
            if error.response["Error"]["Code"] == "NotFoundException":
                return None
            raise
        if not found.get("enabled"):
            self.client.update_api_key(
                apiKey=key_id, patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}]
            )
        return ApiKey(found["id"], found["value"])
