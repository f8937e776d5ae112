"""POSTs a caller webhook: to an address the webhook rules allow, and only there.

httpx (and the libraries above it) resolve a host name again at connect time, after any check of
ours: a DNS answer that changes in between (rebinding) would take the request to a private address.
So the connection goes through httpcore with a network backend that resolves the host itself,
checks every address (``service.domain.webhooks.resolve_allowed``) and connects to one of those it
checked; TLS still verifies the certificate against the URL's host name. No redirect is followed (a
3xx is a failed attempt), no proxy from the environment is used, and nothing of the answer is read
beyond its status line and headers: a receiver that answers with an endless body costs nothing.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpcore

from service.domain.webhooks import WebhookUrlRefused, check_url, resolve_allowed


class _CheckedBackend(httpcore.SyncBackend):
    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:  # fmt: skip
        addresses = resolve_allowed(host.strip("[]"), port, allow_loopback=self.allow_loopback)
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last = error
        raise last or httpcore.ConnectError(f"no address of {host} could be reached")


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookClient:
    def __init__(self, *, allow_loopback: bool, timeout_s: float) -> None:
        self.allow_loopback = allow_loopback
        self.timeout_s = timeout_s

    def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        try:
            check_url(url, allow_loopback=self.allow_loopback)  # the rules again: DNS may have changed
        except WebhookUrlRefused as refused:
            return AttemptResult(None, str(refused))
        timeouts = {
            "connect": self.timeout_s,
            "read": self.timeout_s,
            "write": self.timeout_s,
            "pool": self.timeout_s,
        }
        try:
            with (
                httpcore.ConnectionPool(
                    ssl_context=ssl.create_default_context(),
                    network_backend=_CheckedBackend(self.allow_loopback),
                    max_connections=1,
                ) as pool,
                pool.stream(
                    "POST",
                    url,
                    headers=[
                        *headers.items(),
                        ("user-agent", "videogen-webhooks/1"),
                        ("content-length", str(len(body))),
                    ],
                    content=body,
                    extensions={"timeout": timeouts},
                ) as response,
            ):
                status = response.status  # the body is never read: closing drops it
        except WebhookUrlRefused as refused:
            return AttemptResult(None, str(refused))
        except httpcore.TimeoutException:
            return AttemptResult(None, f"no answer within {self.timeout_s:g} s")
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as error:
            return AttemptResult(None, f"could not connect: {type(error).__name__}")
        if 300 <= status < 400:
            return AttemptResult(status, "redirects are not followed")
        if not 200 <= status < 300:
            return AttemptResult(status, f"the receiver answered {status}")
        return AttemptResult(status, None)
