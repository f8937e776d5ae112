"""What operators do to owners and their tokens (``videogen tokens``); the twin mints its tokens
the same way.

A token is stored as its hash, with its owner, its expiry and the owner's usage plan key; the
owner's limits (overrides of the deployment's defaults) and the id of its key live in the
owners table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from service.adapters.owners_table import OwnersTable
from service.adapters.tokens_table import TokensTable
from service.adapters.usage_plans import UsagePlans
from service.domain.auth import hash_token, new_token
from service.settings import ConfigurationError


@dataclass
class Operators:
    tokens: TokensTable
    owners: OwnersTable | None = None
    plans: UsagePlans | None = None

    def _owners(self) -> OwnersTable:
        if self.owners is None:
            raise ConfigurationError("VIDEOGEN_OWNERS_TABLE is not set: it holds owners' limits and keys")
        return self.owners

    def api_key(self, owner: str) -> str | None:
        """The owner's usage plan key value (created and added to the plan if needed); None
        without a usage plan."""
        if self.plans is None:
            return None
        owners = self._owners()
        key = self.plans.key_for(owner, owners.usage(owner).api_key_id)
        owners.set_api_key_id(owner, key.id)
        return key.value

    def create_token(
        self,
        owner: str,
        *,
        expires_in_s: int | None = None,
        limits: dict[str, int | None] | None = None,
        token: str | None = None,
    ) -> str:
        """A new token for ``owner`` (returned once; stored only as its hash)."""
        if limits:
            self._owners().set_limits(owner, limits)
        token = token or new_token()
        expires_at = int(time.time()) + expires_in_s if expires_in_s is not None else None
        self.tokens.put(hash_token(token), owner, expires_at=expires_at, api_key=self.api_key(owner))
        return token

    def update_owner(self, owner: str, *, limits: dict[str, int | None] | None = None) -> int:
        """Set the owner's limits; with a usage plan, make sure every token of the owner carries the
        owner's key. Returns how many tokens the owner has."""
        if limits:
            self._owners().set_limits(owner, limits)
        key = self.api_key(owner)
        if key is not None:
            return self.tokens.set_api_key(owner, key)
        return len(self.tokens.hashes_of(owner))
