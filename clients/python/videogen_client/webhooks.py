"""Checking a webhook the service sent: the Standard Webhooks signature, written out here (a few
lines of ``hmac``; the reference package is checked against this one in the project's tests).

>>> event = verify_webhook(request_body, request_headers, secret)   # secret: "whsec_…"
>>> event.type, event.data.state
('task.succeeded', 'SUCCESS')

Headers: ``webhook-id``, ``webhook-timestamp`` (seconds; refused beyond ``tolerance_s`` from now,
which stops replays) and ``webhook-signature`` (``v1,<base64>`` entries, space-separated: after a
rotation the service signs with both secrets for a day). Pass the body exactly as received: bytes.
Deduplicate on ``event.id`` (retries carry the same one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from pydantic import ValidationError as PydanticValidationError

from videogen_client.errors import WebhookVerificationError
from videogen_client.models import TaskEvent

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise WebhookVerificationError("the secret is not a whsec_ secret") from error


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<signature>`` as the service computes it (for tests of your own receiver)."""
    digest = hmac.new(_key(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> TaskEvent:
    """The event, if ``headers`` carry a valid signature of ``payload`` by one of the secrets, made
    within ``tolerance_s`` of ``now``; ``WebhookVerificationError`` otherwise."""
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    event_id, stamp, signatures = (
        lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (event_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too old or too new (a replay?)")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = [sign(s, event_id, timestamp, body).split(",", 1)[1] for s in secrets]
    offered = [entry.split(",", 1)[1] for entry in signatures.split() if entry.startswith("v1,")]
    if not any(hmac.compare_digest(o, e) for o in offered for e in expected):
        raise WebhookVerificationError("no valid signature: wrong secret, or the body was changed")
    try:
        return TaskEvent.model_validate_json(body)
    except PydanticValidationError as error:
        raise WebhookVerificationError(f"signed, but not a task event: {error}") from error
