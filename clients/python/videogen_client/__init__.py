"""Python SDK of the videogen API: HTTP only (httpx), sync and async.

>>> from videogen_client import Client, TransitionRequest
>>> with Client("http://127.0.0.1:8000", token) as client:
...     front = client.upload("front.jpg").file_url
...     task = client.create_transition(TransitionRequest(front_image=front, tail_image=url, duration=5))
...     result = client.wait(task.task_id, on_status=print)
...     client.download(result.video_url, "video.mp4")
"""

from videogen_client.client import AsyncClient, Client
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
    WebhookVerificationError,
)
from videogen_client.models import (
    Accepted,
    ErrorItem,
    ProgressInfo,
    Subtitle,
    TaskEvent,
    TaskList,
    TaskListItem,
    TaskStatus,
    TransitionRequest,
    TransitionResult,
    Upload,
    VideoStatus,
    WebhookAttempt,
    WebhookInfo,
    WebhookSecret,
)
from videogen_client.webhooks import verify_webhook

__all__ = [
    "APIError",
    "Accepted",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "ErrorItem",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProgressInfo",
    "Subtitle",
    "TaskEvent",
    "TaskFailedError",
    "TaskList",
    "TaskListItem",
    "TaskStatus",
    "TaskTimeoutError",
    "TransitionRequest",
    "TransitionResult",
    "Upload",
    "ValidationError",
    "VideoStatus",
    "VideogenError",
    "WebhookAttempt",
    "WebhookInfo",
    "WebhookSecret",
    "WebhookVerificationError",
    "verify_webhook",
]
