"""API tokens: ``Authorization: Token <token>``; only SHA-256 hashes are ever stored.

API Gateway checks the header against :data:`HEADER_PATTERN` (the authorizer's identity
validation expression) before it invokes the authorizer, so junk headers cost no invocation; the
twin's gateway does the same. The pattern accepts exactly what :func:`token_from_header` accepts
from a token of ours.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "vg_"
SCHEME = "token"
#: ``Token <token>``, the scheme in any case, as API Gateway's identity validation expression
#: (a Java regular expression: kept to the syntax Java and Python share). A token is printable
#: ASCII without spaces (ours: ``vg_`` and URL-safe base64).
HEADER_PATTERN = r"^[ \t]*[Tt][Oo][Kk][Ee][Nn] +[!-~]+[ \t]*$"
_HEADER = re.compile(HEADER_PATTERN)


def new_token() -> str:
    """A fresh token (shown once to its owner, never stored in clear)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def header_looks_valid(header: str | None) -> bool:
    """What the identity validation expression lets through to the authorizer."""
    return bool(header) and _HEADER.fullmatch(header or "") is not None


def token_usable(expires_at: int | None, now: float) -> bool:
    """A token without an expiry lasts until revoked; one with an expiry stops at that second."""
    return expires_at is None or now < expires_at


def token_from_header(header: str | None) -> str | None:
    """The token of ``Token <token>`` (scheme case-insensitive), or None if absent or malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != SCHEME or not token or " " in token:
        return None
    return token
