"""The local twin: the whole production workflow on one machine, offline.

One process runs moto in server mode (DynamoDB, S3, Step Functions with execution on, Secrets
Manager, Lambda, IAM), provisioned from the same catalog and ASL file CDK deploys; the
in-process Lambda runner, so the state machine's Lambda tasks run our handlers; the API Gateway
emulator on ``host:port``; and the Replicate emulator, which the workflow reaches through
``VIDEOGEN_REPLICATE_BASE_URL``. It is a twin of production, not a second implementation.

Tasks live in moto's memory: stopping the twin forgets them.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from service.catalog import WorkflowTiming
from twin import web
from twin.examples import spec_transition_request

ASSETS = Path(__file__).resolve().parent / "assets"
DEV_OWNER = "dev"
#: The workflow's clients reach moto here; the in-process Lambdas too.
LOOPBACK = "127.0.0.1"


class PortInUseError(RuntimeError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"port {port} on {host} is already in use (choose another with PORT=N)")
        self.port = port


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUseError(host, port) from error


@dataclass
class TwinConfig:
    host: str = LOOPBACK
    port: int = 8000
    token: str | None = None
    timing: WorkflowTiming = field(default_factory=WorkflowTiming)
    render_concurrency: int = 2


class Twin:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent); or use as a context manager."""

    def __init__(self, config: TwinConfig | None = None) -> None:
        self.config = config or TwinConfig()
        self.token = ""
        self.base_url = ""
        self._moto: Any = None
        self._emulator: Any = None
        self._http: http.server.ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self.started_in_s = 0.0

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> Twin:
        began = time.monotonic()
        config = self.config
        _check_port_free(config.host, config.port)  # fail fast, before anything else starts
        moto_port = free_port()
        self._environment(moto_port)
        _quiet_libraries()

        from moto.server import ThreadedMotoServer

        from replicate_emulator import ReplicateEmulator
        from twin import lambda_runner

        self._moto = ThreadedMotoServer(LOOPBACK, moto_port, verbose=False)
        self._moto.start()
        _enable_step_functions_execution(moto_port)
        lambda_runner.install()

        self._emulator = ReplicateEmulator(render_concurrency=config.render_concurrency)
        replicate_url = self._emulator.start(LOOPBACK, 0)

        self._provision(replicate_url)
        self._serve_http()
        self.started_in_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop everything this twin started. The Replicate emulator goes first: it kills its
        ffmpeg renders and may still be fetching input images from our HTTP server."""
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- parts ------------------------------------------------------------------------------------
    @staticmethod
    def _environment(moto_port: int) -> None:
        """Every AWS client of this process (ours, moto's ASL interpreter's) talks to moto."""
        os.environ.update(
            {
                "MOTO_PORT": str(moto_port),
                "AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{moto_port}",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            }
        )
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(variable, None)
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

    def _provision(self, replicate_url: str) -> None:
        from service.adapters import aws
        from service.adapters.tokens_table import TokensTable
        from service.domain.auth import hash_token, new_token
        from service.settings import get_settings
        from twin.provision import provision

        deployment = provision(aws.client, timing=self.config.timing)
        os.environ.update(deployment.environment(replicate_url))
        get_settings.cache_clear()
        self.token = self.config.token or new_token()
        TokensTable(get_settings().tokens_table).put(hash_token(self.token), DEV_OWNER)

    def _serve_http(self) -> None:
        from twin.gateway import ApiGateway

        gateway = ApiGateway()
        handler = type("TwinHandler", (_GatewayHandler,), {"gateway": gateway})
        try:
            self._http = http.server.ThreadingHTTPServer((self.config.host, self.config.port), handler)
        except OSError as error:
            raise PortInUseError(self.config.host, self.config.port) from error
        self._http.daemon_threads = True
        self.base_url = f"http://{self.config.host}:{self._http.server_address[1]}"
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="twin-http", daemon=True)
        self._http_thread.start()

    @property
    def replicate_url(self) -> str:
        """Where the twin's Replicate emulator listens (its ``/_emulator/*`` routes drive faults)."""
        return str(self._emulator.base_url) if self._emulator is not None else ""

    # -- what `videogen serve` prints -------------------------------------------------------------
    def example_request(self) -> dict[str, Any]:
        """The transitions spec's example request, with images the twin serves itself."""
        return spec_transition_request(
            f"{self.base_url}/examples/front.jpg", f"{self.base_url}/examples/tail.jpg"
        )

    def banner(self) -> str:
        body = json.dumps(self.example_request())
        return "\n".join(
            [
                f"videogen local twin: {self.base_url}",
                f"token: {self.token}",
                f"dashboard: {self.base_url}/#token={self.token}  (open it in a browser)",
                "",
                "Try it:",
                f"  curl -s -X POST {self.base_url}/api/transitions/create-and-generate/ \\",
                f"    -H 'Authorization: Token {self.token}' -H 'Content-Type: application/json' \\",
                f"    -d '{body}'",
                f"  curl -s -H 'Authorization: Token {self.token}' "
                f"{self.base_url}/api/transitions/task-status/TASK_ID/",
                "",
                f"Ready in {self.started_in_s:.1f} s. Tasks live in memory: stopping the twin forgets them. "
                "Ctrl-C stops it.",
            ]
        )


class _GatewayHandler(http.server.BaseHTTPRequestHandler):
    """HTTP ↔ the API Gateway emulator; ``/examples/*`` serves the shipped example images."""

    gateway: Any
    protocol_version = "HTTP/1.1"
    server_version = "videogen-twin"

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if parts.path.startswith("/examples/") and self.command in ("GET", "HEAD"):
            self._example(parts.path.removeprefix("/examples/"))
            return
        if self.command in ("GET", "HEAD") and (page := web.page_file(parts.path)) is not None:
            self._send(200, page.headers, page.body)
            return
        response = self.gateway.handle(
            self.command,
            parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        self._send(response.status, response.headers, response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def do_HEAD(self) -> None:
        self._handle()

    def _example(self, name: str) -> None:
        path = (ASSETS / name).resolve()
        if path.parent != ASSETS.resolve() or not path.is_file():
            self._send(404, [("Content-Type", "application/json")], b'{"detail": "Not Found"}')
            return
        content_type = "image/jpeg" if path.suffix in (".jpg", ".jpeg") else "application/octet-stream"
        self._send(200, [("Content-Type", content_type)], path.read_bytes())

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger("twin.server.access").info("%s %s", self.address_string(), format % args)


def _enable_step_functions_execution(moto_port: int) -> None:
    """moto's switch for executing ASL, in server mode."""
    import urllib.request

    request = urllib.request.Request(
        f"http://{LOOPBACK}:{moto_port}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _quiet_libraries() -> None:
    for name in ("werkzeug", "moto", "botocore", "urllib3", "httpx", "replicate_emulator"):
        logging.getLogger(name).setLevel(logging.ERROR)
