"""``Client`` (sync) and ``AsyncClient``: the same methods, over httpx.

API calls carry ``Authorization: Token …``; the presigned S3 URLs (upload, download) are called
without it, through a second HTTP client: S3 refuses a request signed two ways.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from videogen_client import _protocol as protocol
from videogen_client.errors import VideogenError
from videogen_client.models import (
    Accepted,
    TaskList,
    TaskListItem,
    TaskStatus,
    TransitionRequest,
    TransitionResult,
    Upload,
    VideoStatus,
    WebhookSecret,
)

DEFAULT_TIMEOUT = 30.0
CHUNK = 1024 * 1024

# Looked up at call time, so tests can replace them.
_sleep = time.sleep
_async_sleep = asyncio.sleep
_monotonic = time.monotonic

T = TypeVar("T")
#: Called with every status answer while waiting (may be ``async`` for ``AsyncClient``).
OnStatus = Callable[[Any], Any]
#: Called with (bytes so far, total bytes or None) while downloading.
OnProgress = Callable[[int, int | None], Any]


def _request(request: TransitionRequest | Mapping[str, Any]) -> TransitionRequest:
    return request if isinstance(request, TransitionRequest) else TransitionRequest.model_validate(request)


def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")


class Client:
    """A synchronous client. ``Client(base_url, token)``, or ``Client.from_env()`` to read
    ``VIDEOGEN_URL`` and ``VIDEOGEN_TOKEN``. Use as a context manager, or call ``close()``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api = httpx.Client(
            base_url=self.base_url, headers=protocol.auth_headers(token), timeout=timeout, transport=transport
        )
        self._files = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        return cls(os.environ["VIDEOGEN_URL"], os.environ["VIDEOGEN_TOKEN"], **kwargs)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()
        self._files.close()

    def _send(self, http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return http.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise protocol.network_error(error) from error

    # -- submit ------------------------------------------------------------------------------------
    def create_transition(
        self, request: TransitionRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Accepted:
        """``POST /api/transitions/create-and-generate/`` (202): the task id to poll. With an
        ``idempotency_key``, a retry of the same request answers the same task (``replayed``)."""
        body = _request(request).payload()
        headers = protocol.submit_headers(idempotency_key)
        return protocol.accepted(
            self._send(self._api, "POST", protocol.CREATE_TRANSITION, json=body, headers=headers)
        )

    def generate_dream(
        self,
        dream: str,
        style: str,
        *,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """``POST /generate-video?dream=…&style=…`` (202)."""
        params = {"dream": dream, "style": style}
        if webhook_url is not None:
            params["webhook_url"] = webhook_url
        headers = protocol.submit_headers(idempotency_key)
        return protocol.accepted(
            self._send(self._api, "POST", protocol.GENERATE_DREAM, params=params, headers=headers)
        )

    # -- task controls -----------------------------------------------------------------------------
    def cancel(self, task_id: str) -> TaskStatus:
        """``POST /api/tasks/{id}/cancel/`` (202): the task, FAILURE "Task was canceled" (cancelling
        twice is harmless). ``ConflictError`` if it had already finished (its status in ``.task``)."""
        return protocol.parse(TaskStatus, self._send(self._api, "POST", protocol.cancel_path(task_id)))

    def delete(self, task_id: str) -> None:
        """``DELETE /api/tasks/{id}/`` (204): cancelled if it runs, its record and media erased."""
        protocol.no_content(self._send(self._api, "DELETE", protocol.task_path(task_id)))

    def list_tasks(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        state: str | None = None,
        kind: str | None = None,
    ) -> TaskList:
        """One page of ``GET /api/tasks/``, newest first (``next_cursor`` for the next one)."""
        params = protocol.list_params(limit, cursor, state, kind)
        return protocol.parse(TaskList, self._send(self._api, "GET", protocol.TASKS, params=params))

    def iter_tasks(
        self, *, state: str | None = None, kind: str | None = None, page_size: int = 100
    ) -> Iterator[TaskListItem]:
        """Every task of the owner, newest first, page after page."""
        cursor: str | None = None
        while True:
            page = self.list_tasks(limit=page_size, cursor=cursor, state=state, kind=kind)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def webhook_secret(self) -> WebhookSecret:
        """The owner's webhook signing secret (created at the first read)."""
        return protocol.parse(WebhookSecret, self._send(self._api, "GET", protocol.WEBHOOK_SECRET))

    def rotate_webhook_secret(self) -> WebhookSecret:
        """A new secret; the previous one also signs for a day."""
        return protocol.parse(WebhookSecret, self._send(self._api, "POST", protocol.WEBHOOK_SECRET))

    # -- status ------------------------------------------------------------------------------------
    def task_status(self, task_id: str) -> TaskStatus:
        """The transitions schema; serves tasks of either kind."""
        response = self._send(self._api, "GET", protocol.task_status_path(task_id))
        return protocol.parse_status(TaskStatus, response)

    def video_status(self, task_id: str) -> VideoStatus:
        """The dream schema (dream tasks only)."""
        response = self._send(self._api, "GET", protocol.video_status_path(task_id))
        return protocol.parse_status(VideoStatus, response)

    def _poll(
        self,
        task_id: str,
        fetch: Callable[[str], Any],
        outcome: Callable[[Any], T | None],
        on_status: OnStatus | None,
        policy: protocol.PollPolicy,
    ) -> T:
        poller = protocol.Poller(task_id, policy, clock=_monotonic)
        while True:
            try:
                status = fetch(task_id)
            except VideogenError as error:
                delay = poller.delay_after_error(error)
            else:
                if on_status is not None:
                    on_status(status)
                result = outcome(status)
                if result is not None:
                    return result
                delay = poller.delay_after(status)
            _sleep(delay)

    def wait(
        self,
        task_id: str,
        *,
        on_status: OnStatus | None = None,
        interval: float = 2.0,
        timeout: float = 900.0,
        backoff: float = 1.5,
        max_interval: float = 15.0,
        honor_retry_after: bool = True,
        max_retries: int = 3,
    ) -> TransitionResult:
        """Poll task-status until the task is ready (any kind; also to resume by id).

        Returns the result on SUCCESS; raises ``TaskFailedError`` (the task's error) on FAILURE,
        ``TaskTimeoutError`` after ``timeout`` seconds. ``on_status`` sees every ``TaskStatus``.
        """
        policy = protocol.PollPolicy(interval, timeout, backoff, max_interval, honor_retry_after, max_retries)
        return self._poll(task_id, self.task_status, protocol.transition_outcome, on_status, policy)

    def wait_dream(
        self,
        task_id: str,
        *,
        on_status: OnStatus | None = None,
        interval: float = 5.0,
        timeout: float = 900.0,
        backoff: float = 1.5,
        max_interval: float = 15.0,
        honor_retry_after: bool = True,
        max_retries: int = 3,
    ) -> VideoStatus:
        """Poll video-status (the dream API's schema) until ``completed`` (returned) or ``failed``."""
        policy = protocol.PollPolicy(interval, timeout, backoff, max_interval, honor_retry_after, max_retries)
        return self._poll(task_id, self.video_status, protocol.dream_outcome, on_status, policy)

    # -- files -------------------------------------------------------------------------------------
    def upload(
        self, source: str | Path | bytes, *, content_type: str | None = None, filename: str | None = None
    ) -> Upload:
        """Upload an image (path or bytes); send the returned ``file_url`` as front/tail image."""
        data, name = protocol.read_upload(source)
        content_type = content_type or protocol.sniff_content_type(data, filename or name)
        body: dict[str, Any] = {"content_type": content_type, "content_length": len(data)}
        if filename or name:
            body["filename"] = filename or name
        ticket = protocol.parse(Upload, self._send(self._api, "POST", protocol.UPLOADS, json=body))
        put = self._send(self._files, ticket.method, ticket.upload_url, content=data, headers=ticket.headers)
        protocol.raise_for_status(put)
        return ticket

    def download(self, url: str, dest: str | Path, *, on_progress: OnProgress | None = None) -> Path:
        """Stream ``url`` (a presigned result URL) to ``dest``, through ``dest.part``."""
        path = Path(dest)
        part = _part(path)
        try:
            with self._files.stream("GET", url) as response:
                if not response.is_success:
                    response.read()
                    protocol.raise_for_status(response)
                total = (
                    int(response.headers["Content-Length"]) if "Content-Length" in response.headers else None
                )
                done = 0
                with part.open("wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if on_progress is not None:
                            on_progress(done, total)
        except httpx.TransportError as error:
            part.unlink(missing_ok=True)
            raise protocol.network_error(error) from error
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(path)
        return path


class AsyncClient:
    """The asynchronous twin of ``Client``: the same methods, awaited."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api = httpx.AsyncClient(
            base_url=self.base_url, headers=protocol.auth_headers(token), timeout=timeout, transport=transport
        )
        self._files = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=True)

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncClient:
        return cls(os.environ["VIDEOGEN_URL"], os.environ["VIDEOGEN_TOKEN"], **kwargs)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._files.aclose()

    async def _send(self, http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await http.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise protocol.network_error(error) from error

    async def create_transition(
        self, request: TransitionRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Accepted:
        body = _request(request).payload()
        headers = protocol.submit_headers(idempotency_key)
        response = await self._send(self._api, "POST", protocol.CREATE_TRANSITION, json=body, headers=headers)
        return protocol.accepted(response)

    async def generate_dream(
        self,
        dream: str,
        style: str,
        *,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted:
        params = {"dream": dream, "style": style}
        if webhook_url is not None:
            params["webhook_url"] = webhook_url
        headers = protocol.submit_headers(idempotency_key)
        response = await self._send(
            self._api, "POST", protocol.GENERATE_DREAM, params=params, headers=headers
        )
        return protocol.accepted(response)

    async def cancel(self, task_id: str) -> TaskStatus:
        return protocol.parse(TaskStatus, await self._send(self._api, "POST", protocol.cancel_path(task_id)))

    async def delete(self, task_id: str) -> None:
        protocol.no_content(await self._send(self._api, "DELETE", protocol.task_path(task_id)))

    async def list_tasks(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        state: str | None = None,
        kind: str | None = None,
    ) -> TaskList:
        params = protocol.list_params(limit, cursor, state, kind)
        return protocol.parse(TaskList, await self._send(self._api, "GET", protocol.TASKS, params=params))

    async def iter_tasks(
        self, *, state: str | None = None, kind: str | None = None, page_size: int = 100
    ) -> AsyncIterator[TaskListItem]:
        cursor: str | None = None
        while True:
            page = await self.list_tasks(limit=page_size, cursor=cursor, state=state, kind=kind)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def webhook_secret(self) -> WebhookSecret:
        return protocol.parse(WebhookSecret, await self._send(self._api, "GET", protocol.WEBHOOK_SECRET))

    async def rotate_webhook_secret(self) -> WebhookSecret:
        return protocol.parse(WebhookSecret, await self._send(self._api, "POST", protocol.WEBHOOK_SECRET))

    async def task_status(self, task_id: str) -> TaskStatus:
        response = await self._send(self._api, "GET", protocol.task_status_path(task_id))
        return protocol.parse_status(TaskStatus, response)

    async def video_status(self, task_id: str) -> VideoStatus:
        response = await self._send(self._api, "GET", protocol.video_status_path(task_id))
        return protocol.parse_status(VideoStatus, response)

    async def _poll(
        self,
        task_id: str,
        fetch: Callable[[str], Awaitable[Any]],
        outcome: Callable[[Any], T | None],
        on_status: OnStatus | None,
        policy: protocol.PollPolicy,
    ) -> T:
        poller = protocol.Poller(task_id, policy, clock=_monotonic)
        while True:
            try:
                status = await fetch(task_id)
            except VideogenError as error:
                delay = poller.delay_after_error(error)
            else:
                if on_status is not None:
                    called = on_status(status)
                    if inspect.isawaitable(called):
                        await called
                result = outcome(status)
                if result is not None:
                    return result
                delay = poller.delay_after(status)
            await _async_sleep(delay)

    async def wait(
        self,
        task_id: str,
        *,
        on_status: OnStatus | None = None,
        interval: float = 2.0,
        timeout: float = 900.0,
        backoff: float = 1.5,
        max_interval: float = 15.0,
        honor_retry_after: bool = True,
        max_retries: int = 3,
    ) -> TransitionResult:
        policy = protocol.PollPolicy(interval, timeout, backoff, max_interval, honor_retry_after, max_retries)
        return await self._poll(task_id, self.task_status, protocol.transition_outcome, on_status, policy)

    async def wait_dream(
        self,
        task_id: str,
        *,
        on_status: OnStatus | None = None,
        interval: float = 5.0,
        timeout: float = 900.0,
        backoff: float = 1.5,
        max_interval: float = 15.0,
        honor_retry_after: bool = True,
        max_retries: int = 3,
    ) -> VideoStatus:
        policy = protocol.PollPolicy(interval, timeout, backoff, max_interval, honor_retry_after, max_retries)
        return await self._poll(task_id, self.video_status, protocol.dream_outcome, on_status, policy)

    async def upload(
        self, source: str | Path | bytes, *, content_type: str | None = None, filename: str | None = None
    ) -> Upload:
        data, name = await asyncio.to_thread(protocol.read_upload, source)
        content_type = content_type or protocol.sniff_content_type(data, filename or name)
        body: dict[str, Any] = {"content_type": content_type, "content_length": len(data)}
        if filename or name:
            body["filename"] = filename or name
        ticket = protocol.parse(Upload, await self._send(self._api, "POST", protocol.UPLOADS, json=body))
        put = await self._send(
            self._files, ticket.method, ticket.upload_url, content=data, headers=ticket.headers
        )
        protocol.raise_for_status(put)
        return ticket

    async def download(self, url: str, dest: str | Path, *, on_progress: OnProgress | None = None) -> Path:
        path = Path(dest)
        part = _part(path)
        try:
            async with self._files.stream("GET", url) as response:
                if not response.is_success:
                    await response.aread()
                    protocol.raise_for_status(response)
                total = (
                    int(response.headers["Content-Length"]) if "Content-Length" in response.headers else None
                )
                done = 0
                with part.open("wb") as out:
                    async for chunk in response.aiter_bytes(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if on_progress is not None:
                            on_progress(done, total)
        except httpx.TransportError as error:
            part.unlink(missing_ok=True)
            raise protocol.network_error(error) from error
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(path)
        return path
