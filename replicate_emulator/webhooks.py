"""Webhooks the way Replicate sends them.

A prediction created with ``webhook`` (and optionally ``webhook_events_filter``) gets POSTs of its
prediction object (the body ``GET /v1/predictions/{id}`` returns) on these events:

* ``start`` when it is created, ``completed`` when it ends (succeeded, failed, canceled, aborted):
  always sent, whatever the filter says;
* ``logs`` when its logs change and ``output`` when its output does, if the filter asks (without a
  filter: ``output``), each at most once every 500 ms: a burst of log lines is one webhook carrying
  them all.

Each request is signed as Replicate signs (the Standard Webhooks scheme): ``webhook-id`` (kept by
retries), ``webhook-timestamp`` (seconds), ``webhook-signature`` = ``v1,`` + base64 of
HMAC-SHA256(``{id}.{timestamp}.{body}``) keyed by the account's secret, served at
``GET /v1/webhooks/default/secret`` as ``whsec_<base64 key>``. A 2xx answer is a delivery; anything
else, a redirect included (never followed), or no answer within 10 s is a failure. A failed
``completed`` is retried with exponential backoff for about a minute; other events are not retried.
Each prediction's webhooks go out in order, one at a time.

Faults (``faults.py``; fixed when the prediction is created): lost (never sent), delayed, duplicated
(sent twice with the same id, as a retry after a lost answer would be), reordered (all held until the
end, then sent newest first), forged (sent in place of the genuine one, claiming a failure, signed
with another key) and stale (signed correctly, dated ten minutes ago).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

if TYPE_CHECKING:
    from .engine import Prediction
    from .faults import Faults

log = logging.getLogger(__name__)

EVENTS = ("start", "output", "logs", "completed")
ALWAYS_SENT = frozenset({"start", "completed"})
#: Without ``webhook_events_filter``: new outputs and the end (and the start, always sent).
DEFAULT_EVENTS = frozenset({"output", "completed"})
THROTTLED = frozenset({"logs", "output"})
THROTTLE_S = 0.5
DELIVERY_TIMEOUT_S = 10.0
#: Retries of a failed ``completed``: about a minute in all.
COMPLETED_RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
#: A stale webhook's timestamp: this long ago (the receivers' tolerance is 5 minutes).
STALE_BY_S = 600


def new_secret() -> str:
    """An account's signing secret, as Replicate shows it: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class WebhookFaults:
    """The webhook faults of one prediction, fixed when it is created (event names, or ``*``)."""

    drop: frozenset[str] = frozenset()
    delay_s: float = 0.0
    duplicate: frozenset[str] = frozenset()
    reorder: bool = False
    forge: frozenset[str] = frozenset()
    stale: frozenset[str] = frozenset()

    @classmethod
    def of(cls, faults: Faults) -> WebhookFaults:
        return cls(
            drop=frozenset(faults.drop_webhooks),
            delay_s=faults.delay_webhooks_s,
            duplicate=frozenset(faults.duplicate_webhooks),
            reorder=faults.reorder_webhooks,
            forge=frozenset(faults.forge_webhooks),
            stale=frozenset(faults.stale_webhooks),
        )

    @staticmethod
    def hits(events: frozenset[str], event: str) -> bool:
        return event in events or "*" in events


@dataclass
class Delivery:
    """One attempt to deliver a webhook (``GET /_emulator/webhooks`` lists them)."""

    prediction_id: str
    event: str
    webhook_id: str
    status: str  # the prediction's status in the body
    attempt: int
    answer: int | None  # the receiver's HTTP status; None: no answer (refused, timed out) or not sent
    sent_at: str
    note: str = ""  # dropped, forged, stale, duplicate

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Pending:
    event: str
    body: bytes
    status: str
    webhook_id: str = field(default_factory=lambda: "msg_" + secrets.token_hex(12))


class WebhookSender:
    """Signs and delivers every prediction's webhooks; one thread per subscribed prediction."""

    def __init__(self, secret: str | None = None, base_url: Callable[[], str] = lambda: "") -> None:
        self.secret = secret or new_secret()
        self._signer = Webhook(self.secret)
        self._forger = Webhook(new_secret())
        self._base_url = base_url
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._generation = 0
        self._closed = False

    # -- subscriptions ----------------------------------------------------------------------------
    def subscribe(
        self, prediction: Prediction, url: str, events: frozenset[str], faults: WebhookFaults
    ) -> Subscription:
        with self._lock:
            generation = self._generation
        subscription = Subscription(self, prediction, url, events | ALWAYS_SENT, faults, generation)
        subscription.start()
        return subscription

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def reset(self) -> None:
        """Forget every delivery; subscriptions of earlier predictions stop sending."""
        with self._lock:
            self._generation += 1
            self._deliveries.clear()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._generation += 1

    def current(self, generation: int) -> bool:
        with self._lock:
            return not self._closed and generation == self._generation

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def body_of(self, prediction: Prediction) -> dict[str, Any]:
        return prediction.to_json(self._base_url())

    # -- signing and posting ------------------------------------------------------------------------
    def headers(
        self, webhook_id: str, body: bytes, *, forged: bool = False, stale: bool = False
    ) -> dict[str, str]:
        moment = time.time() - (STALE_BY_S if stale else 0)
        signer = self._forger if forged else self._signer
        signature = signer.sign(webhook_id, datetime.fromtimestamp(int(moment), UTC), body.decode())
        return {
            "Content-Type": "application/json",
            "User-Agent": "Replicate-Webhooks (emulator)",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(moment)),
            "webhook-signature": signature,
        }

    @staticmethod
    def post(url: str, body: bytes, headers: dict[str, str]) -> int | None:
        """POST once; the HTTP status, or None without an answer. Redirects are not followed."""
        parts = urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname or "", parts.port, timeout=DELIVERY_TIMEOUT_S)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()


class Subscription:
    """One prediction's webhooks, sent in order by a thread of their own."""

    def __init__(
        self,
        sender: WebhookSender,
        prediction: Prediction,
        url: str,
        events: frozenset[str],
        faults: WebhookFaults,
        generation: int,
    ) -> None:
        self.sender = sender
        self.prediction = prediction
        self.url = url
        self.events = events
        self.faults = faults
        self.generation = generation
        self._cond = threading.Condition()
        self._changed: set[str] = set()
        self._ended = False
        self._held: list[_Pending] = []
        self._thread = threading.Thread(
            target=self._run, name=f"replicate-webhooks-{prediction.id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def notify(self, event: str) -> None:
        """The prediction changed: ``logs``, ``output`` or ``completed``."""
        with self._cond:
            if event == "completed":
                self._ended = True
            elif event in self.events:
                self._changed.add(event)
            self._cond.notify_all()

    # -- the thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._emit("start")
            next_allowed = 0.0
            while True:
                with self._cond:
                    while not self._changed and not self._ended:
                        self._cond.wait()
                    # throttled events wait out the 500 ms since the last one (the end does not)
                    while not self._ended and time.monotonic() < next_allowed:
                        self._cond.wait(next_allowed - time.monotonic())
                    if self._ended:
                        break
                    changed, self._changed = sorted(self._changed), set()
                for event in changed:
                    self._emit(event)
                next_allowed = time.monotonic() + THROTTLE_S
            if "output" in self.events and self.sender.body_of(self.prediction).get("output") is not None:
                self._emit("output")
            self._emit("completed")
            for pending in reversed(self._held):  # reordered: newest first, once it is over
                self._deliver(pending)
        except Exception:  # a bug here must not take the emulator down
            log.exception("webhooks of prediction %s", self.prediction.id)

    def _emit(self, event: str) -> None:
        if not self.sender.current(self.generation):
            return
        body = self.sender.body_of(self.prediction)
        pending = _Pending(event, json.dumps(body).encode(), str(body.get("status")))
        if self.faults.reorder:
            self._held.append(pending)
            return
        self._deliver(pending)

    def _deliver(self, pending: _Pending) -> None:
        faults = self.faults
        event = pending.event
        if WebhookFaults.hits(faults.drop, event):
            self._record(pending, 0, None, "dropped")
            return
        if faults.delay_s > 0:
            time.sleep(faults.delay_s)
        if WebhookFaults.hits(faults.forge, event):
            self._send_forged(pending)
            return
        stale = WebhookFaults.hits(faults.stale, event)
        copies = 2 if WebhookFaults.hits(faults.duplicate, event) else 1
        for copy in range(copies):
            delays = COMPLETED_RETRY_DELAYS_S if event == "completed" and not stale else ()
            for attempt in range(len(delays) + 1):
                if not self.sender.current(self.generation):
                    return
                headers = self.sender.headers(pending.webhook_id, pending.body, stale=stale)
                answer = WebhookSender.post(self.url, pending.body, headers)
                note = "stale" if stale else ("duplicate" if copy else "")
                self._record(pending, attempt + 1, answer, note)
                if answer is not None and 200 <= answer < 300:
                    break
                if attempt < len(delays):
                    time.sleep(delays[attempt])

    def _send_forged(self, pending: _Pending) -> None:
        """A forger's version of the event: the prediction claimed failed, signed with another key."""
        body = json.loads(pending.body)
        body.update({"status": "failed", "error": "forged: this prediction did not fail", "output": None})
        forged = json.dumps(body).encode()
        headers = self.sender.headers(pending.webhook_id, forged, forged=True)
        answer = WebhookSender.post(self.url, forged, headers)
        self._record(_Pending(pending.event, forged, "failed", pending.webhook_id), 1, answer, "forged")

    def _record(self, pending: _Pending, attempt: int, answer: int | None, note: str) -> None:
        with contextlib.suppress(Exception):
            self.sender.record(
                Delivery(
                    prediction_id=self.prediction.id,
                    event=pending.event,
                    webhook_id=pending.webhook_id,
                    status=pending.status,
                    attempt=attempt,
                    answer=answer,
                    sent_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    note=note,
                )
            )
