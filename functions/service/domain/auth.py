"""API tokens: ``Authorization: Token <token>``; only SHA-256 hashes are ever stored."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "vg_"
SCHEME = "token"


def new_token() -> str:
    """A fresh token (shown once to its owner, never stored in clear)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_from_header(header: str | None) -> str | None:
    """The token of ``Token <token>`` (scheme case-insensitive), or None if absent or malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != SCHEME or not token or " " in token:
        return None
    return token
