"""Errors: one exception per way a call can fail, with the JS client's meanings.

=======================  ==================================================================
exception                when
=======================  ==================================================================
``ValidationError``      422: the request was refused; ``errors`` holds ``{loc, msg, type}``
``AuthenticationError``  401: missing, unknown or revoked token
``PermissionDeniedError`` 403
``NotFoundError``        404: unknown task (or another owner's)
``ConflictError``        409: cancel of a finished task (``task``), or an Idempotency-Key in use
``APIError``             any other non-2xx answer ("Request failed with status N")
``NetworkError``         no answer: refused, reset, DNS, timeout ("Network Error")
``TaskFailedError``      the task ended in FAILURE; ``str(error)`` is the task's ``error``
``TaskTimeoutError``     ``wait()`` gave up before the task was ready
=======================  ==================================================================

All derive from ``VideogenError``.
"""

from __future__ import annotations

from typing import Any

from videogen_client.models import ErrorItem, TaskStatus, VideoStatus


class VideogenError(Exception):
    """Base of every error this SDK raises."""


class APIError(VideogenError):
    """The API (or S3, for uploads and downloads) answered with a non-2xx status."""

    def __init__(
        self, status_code: int, detail: str, body: Any = None, retry_after: float | None = None
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.body = body
        #: The answer's ``Retry-After`` (seconds), for 429 and 503.
        self.retry_after = retry_after
        super().__init__(f"Request failed with status {status_code}" + (f": {detail}" if detail else ""))


class ValidationError(APIError):
    """422: the service refused the request; one ``ErrorItem`` per problem."""

    def __init__(self, errors: list[ErrorItem], body: Any = None) -> None:
        self.errors = errors
        super().__init__(422, "; ".join(item.describe() for item in errors) or "invalid request", body)


class AuthenticationError(APIError):
    """401: send ``Authorization: Token <token>`` with a valid token."""


class PermissionDeniedError(APIError):
    """403."""


class NotFoundError(APIError):
    """404: no such task for this token's owner."""


class ConflictError(APIError):
    """409: a cancel of a task that had already finished (``task``: its current status), or a submit
    whose Idempotency-Key is still being accepted (retry in a moment)."""

    @property
    def task(self) -> TaskStatus | None:
        found = self.body.get("task") if isinstance(self.body, dict) else None
        return TaskStatus.model_validate(found) if isinstance(found, dict) else None


class WebhookVerificationError(VideogenError):
    """A webhook request whose signature, timestamp or body is not what the service sends."""


class NetworkError(VideogenError):
    """The request got no HTTP answer (connection refused or reset, DNS, timeout)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"Network Error: {reason}")


class TaskFailedError(VideogenError):
    """The task finished in FAILURE; the message is the task's own ``error``."""

    def __init__(self, task_id: str, error: str, status: Any = None) -> None:
        self.task_id = task_id
        self.error = error
        self.status = status
        super().__init__(error)


class TaskTimeoutError(VideogenError):
    """``wait()`` ran out of time; the task may still finish (resume with its id)."""

    def __init__(
        self, task_id: str, timeout: float, last_status: TaskStatus | VideoStatus | None = None
    ) -> None:
        self.task_id = task_id
        self.timeout = timeout
        self.last_status = last_status
        super().__init__(f"Task polling timeout - not ready after {timeout:g} s")
