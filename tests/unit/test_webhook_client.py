"""The caller webhooks' HTTP client against raw loopback receivers: what it reads of an answer, and
that it follows no redirect."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from service.adapters.webhook_client import WebhookClient


@contextmanager
def receiver(answer: Callable[[socket.socket], None]) -> Iterator[tuple[str, dict[str, bool]]]:
    """One connection on loopback: read the request's head, then ``answer`` on the socket."""
    server = socket.create_server(("127.0.0.1", 0))
    seen = {"hung_up": False}

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(4096)
            try:
                answer(connection)
            except (BrokenPipeError, ConnectionResetError):
                seen["hung_up"] = True

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook", seen
    finally:
        thread.join(10)
        server.close()


def endless_body(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(20_000):  # 1.3 GB if read to the end; a read timeout never comes (data flows)
        connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def test_an_answer_is_read_to_its_status_only_an_endless_body_costs_nothing() -> None:
    client = WebhookClient(allow_loopback=True, timeout_s=5)
    with receiver(endless_body) as (url, seen):
        result = client.post(url, {"content-type": "application/json"}, b"{}")
    assert result.status_code == 200 and result.delivered
    assert seen["hung_up"], "the client kept reading the body"


def test_a_redirect_is_a_failed_attempt_not_followed() -> None:
    def redirect(connection: socket.socket) -> None:
        connection.sendall(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n"
        )

    client = WebhookClient(allow_loopback=True, timeout_s=5)
    with receiver(redirect) as (url, _):
        result = client.post(url, {}, b"{}")
    assert result.status_code == 307 and not result.delivered and result.error == "redirects are not followed"


def test_loopback_is_refused_unless_allowed() -> None:
    result = WebhookClient(allow_loopback=False, timeout_s=5).post("http://127.0.0.1:9/hook", {}, b"{}")
    assert result.status_code is None and not result.delivered and result.error
