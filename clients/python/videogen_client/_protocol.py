"""What the sync and async clients share: paths, answers → models or exceptions, the polling
policy. No I/O here."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from videogen_client.errors import (
    APIError,
    AuthenticationError,
    ConflictError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    TaskFailedError,
    TaskTimeoutError,
    ValidationError,
    VideogenError,
)
from videogen_client.models import Accepted, ErrorItem, TaskStatus, TransitionResult, VideoStatus

CREATE_TRANSITION = "/api/transitions/create-and-generate/"
GENERATE_DREAM = "/generate-video"
UPLOADS = "/api/uploads/"
TASKS = "/api/tasks/"
WEBHOOK_SECRET = "/api/webhooks/secret/"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

#: Answers worth retrying while waiting: the request may well succeed a moment later.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})

Model = TypeVar("Model", bound=BaseModel)


def _task_segment(task_id: str) -> str:
    """Task ids are execution ARNs (colons) or uuids; anything else is escaped."""
    task_id = task_id.strip()
    if not task_id:
        raise ValueError("task_id must not be empty")
    return quote(task_id, safe=":")


def task_status_path(task_id: str) -> str:
    return f"/api/transitions/task-status/{_task_segment(task_id)}/"


def video_status_path(task_id: str) -> str:
    return f"/video-status/{_task_segment(task_id)}"


def cancel_path(task_id: str) -> str:
    return f"{TASKS}{_task_segment(task_id)}/cancel/"


def task_path(task_id: str) -> str:
    return f"{TASKS}{_task_segment(task_id)}/"


def list_params(limit: int | None, cursor: str | None, state: str | None, kind: str | None) -> dict[str, Any]:
    given = {"limit": limit, "cursor": cursor, "state": state, "kind": kind}
    return {k: v for k, v in given.items() if v is not None}


def submit_headers(idempotency_key: str | None) -> dict[str, str]:
    return {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key is not None else {}


def accepted(response: httpx.Response) -> Accepted:
    answer = parse(Accepted, response)
    answer.replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
    return answer


def no_content(response: httpx.Response) -> None:
    raise_for_status(response)


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}", "Accept": "application/json"}


def network_error(error: httpx.TransportError, url: Any = None) -> NetworkError:
    reason = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError) and "refused" in reason.lower():
        reason = "connection refused"
    elif isinstance(error, httpx.TimeoutException):
        reason = f"timed out ({type(error).__name__})"
    target = url if url is not None else getattr(getattr(error, "request", None), "url", None)
    return NetworkError(f"{reason} ({target})" if target is not None else reason)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _s3_message(text: str) -> str:
    """S3 answers XML: ``<Code>SignatureDoesNotMatch</Code><Message>…</Message>``."""
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    return ": ".join(m.group(1) for m in (code, message) if m)


def raise_for_status(response: httpx.Response) -> None:
    """The exception an answer means, if it is not a 2xx."""
    if response.is_success:
        return
    body = _json(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    status = response.status_code
    if status == 422 and isinstance(detail, list):
        items = []
        for item in detail:
            try:
                items.append(ErrorItem.model_validate(item))
            except PydanticValidationError:
                items.append(ErrorItem(msg=str(item)))
        raise ValidationError(items, body)
    if detail is None:
        text = response.text.strip()
        detail = _s3_message(text) if text.startswith("<") else text[:200]
    message = detail if isinstance(detail, str) else str(detail)
    error_type: type[APIError] = {
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
    }.get(status, APIError)
    raise error_type(status, message, body, retry_after(response))


def parse(model: type[Model], response: httpx.Response) -> Model:
    raise_for_status(response)
    try:
        return model.model_validate(response.json())
    except (ValueError, PydanticValidationError) as error:
        raise VideogenError(
            f"Unexpected answer from {response.request.url} (status {response.status_code}): {error}"
        ) from error


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (either form of the header), if present and sane."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds)


def parse_status(model: type[Model], response: httpx.Response) -> Model:
    status = parse(model, response)
    if isinstance(status, TaskStatus | VideoStatus):
        status.retry_after = retry_after(response)
    return status


# -- uploads ------------------------------------------------------------------------------------------
_SUFFIX_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def sniff_content_type(data: bytes, name: str | None = None) -> str:
    """The image type from the file's first bytes (then its name); the server decides what is allowed."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if name:
        return _SUFFIX_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
    return "application/octet-stream"


def read_upload(source: str | Path | bytes) -> tuple[bytes, str | None]:
    if isinstance(source, bytes):
        return source, None
    path = Path(source)
    return path.read_bytes(), path.name


# -- waiting --------------------------------------------------------------------------------------------
@dataclass
class PollPolicy:
    """How ``wait()`` polls.

    The first poll is immediate (a resumed task may be done already); then the delay starts at
    ``interval`` and grows by ``backoff`` up to ``max_interval``. With ``honor_retry_after`` the
    server's ``Retry-After`` is the minimum delay. Transient failures (network, 429, 502-504) are
    retried up to ``max_retries`` times in a row. After ``timeout`` seconds: ``TaskTimeoutError``.
    """

    interval: float = 2.0
    timeout: float = 900.0
    backoff: float = 1.5
    max_interval: float = 15.0
    honor_retry_after: bool = True
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0 or self.backoff < 1 or self.max_interval <= 0:
            raise ValueError("interval, timeout and max_interval must be > 0 and backoff >= 1")


@dataclass
class Poller:
    """The clock and counters of one ``wait()``: which delay comes next, when to give up."""

    task_id: str
    policy: PollPolicy
    clock: Callable[[], float] = time.monotonic
    polls: int = 0
    retries: int = 0
    last_status: TaskStatus | VideoStatus | None = None
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def _bounded(self, delay: float) -> float:
        left = self.started + self.policy.timeout - self.clock()
        if left <= 0:
            raise TaskTimeoutError(self.task_id, self.policy.timeout, self.last_status)
        return min(delay, left)

    def delay_after(self, status: TaskStatus | VideoStatus) -> float:
        """The wait before the next poll of a task that is not ready."""
        self.retries = 0
        self.last_status = status
        policy = self.policy
        delay = min(policy.max_interval, policy.interval * policy.backoff**self.polls)
        self.polls += 1
        if policy.honor_retry_after and status.retry_after is not None:
            delay = max(delay, min(status.retry_after, policy.max_interval))
        return self._bounded(delay)

    def delay_after_error(self, error: VideogenError) -> float:
        """Transient errors are retried (re-raised once ``max_retries`` follow each other)."""
        transient = isinstance(error, NetworkError) or (
            isinstance(error, APIError) and error.status_code in TRANSIENT_STATUSES
        )
        self.retries += 1
        if not transient or self.retries > self.policy.max_retries:
            raise error
        delay = min(
            self.policy.max_interval, self.policy.interval * self.policy.backoff ** (self.retries - 1)
        )
        hint = error.retry_after if isinstance(error, APIError) else None
        if hint is not None:
            delay = max(delay, min(hint, self.policy.max_interval))
        return self._bounded(delay)


def transition_outcome(status: TaskStatus) -> TransitionResult | None:
    """The result of a ready task, ``TaskFailedError`` for a failed one, None while running."""
    if not status.ready:
        return None
    if status.state == "SUCCESS" and status.result is not None:
        return status.result
    raise TaskFailedError(status.task_id, status.error or "Video generation failed", status)


def dream_outcome(status: VideoStatus) -> VideoStatus | None:
    if status.status == "completed":
        return status
    if status.status == "failed":
        raise TaskFailedError(status.task_id, status.error or "Video generation failed", status)
    return None
