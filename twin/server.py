"""The local twin: the whole production workflow on one machine, offline, behind one address.

``videogen serve`` runs:

* moto in server mode (DynamoDB, S3, Step Functions with execution on, Secrets Manager, Lambda,
  IAM), provisioned by the one local deployment (``twin.deployment``) from the same catalog and
  ASL file CDK deploys;
* the functions in worker processes, a pool per function, each worker one execution environment
  with that function's own environment (``twin.lambda_runner``), so concurrent requests run in
  parallel as they do in Lambda;
* the Replicate emulator in a process of its own, which the workflow reaches through
  ``VIDEOGEN_REPLICATE_BASE_URL``;
* one HTTP front on ``host:port`` (or ``--public-url``): the API (the API Gateway emulator),
  the media bucket (presigned URLs are signed for this address and proxied to moto's S3),
  the example images.

Every URL a client receives goes through the front. Tasks live in moto's memory: stopping the
twin forgets them.
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from service.catalog import AUTHORIZER_CACHE_S, OWNER_THROTTLE, WorkflowTiming
from twin import web
from twin.examples import spec_transition_request

ASSETS = Path(__file__).resolve().parent / "assets"
DEV_OWNER = "dev"
#: The twin's caller webhooks: loopback receivers allowed, the retry schedule compressed (production:
#: up to 30 s, then doubling to 6 h, for 24 h; here 1 s doubling to 8 s, for 2 minutes).
TWIN_WEBHOOKS = {
    "webhook_allow_loopback": "true",
    "retry_base_seconds": "1",
    "retry_cap_seconds": "8",
    "retry_window_seconds": "120",
}
#: moto and the emulator listen here; the workers reach them here.
LOOPBACK = "127.0.0.1"
#: Connections waiting to be accepted: a burst of clients must queue, not be reset.
LISTEN_BACKLOG = 1024
STOP_DEADLINE_S = 15.0


class PortInUseError(RuntimeError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"port {port} on {host} is already in use (choose another with PORT=N)")
        self.port = port


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class TwinConfig:
    host: str = LOOPBACK
    port: int = 8000
    token: str | None = None
    timing: WorkflowTiming = field(default_factory=WorkflowTiming)
    render_concurrency: int = 2
    #: The address clients use when the twin sits behind a proxy (default ``http://host:port``).
    public_url: str | None = None
    #: Execution environments per function.
    max_workers: int = 4
    #: Models run for this share of their typical time (the model catalog's), and the functions'
    #: progress estimates expect as much; 0: as fast as the emulator renders (tests, bench).
    #: ``videogen serve`` uses 0.1, so progress climbs over several polls as against Replicate.
    model_time_scale: float = 0.0
    authorizer_cache_s: float = AUTHORIZER_CACHE_S
    #: Each owner's request rate and burst at the gateway (the stage's usage plan).
    owner_rate_limit: float = OWNER_THROTTLE.rate_per_s
    owner_burst_limit: int = OWNER_THROTTLE.burst
    #: Overrides of the functions' settings (the bench raises the per-owner limits: ``max_in_flight``...).
    settings: dict[str, str] = field(default_factory=dict)
    #: Replicate's webhooks (the emulator calls the front at its loopback address, as Replicate calls
    #: a deployment's public URL); False: the workflow polls alone, as a deployment without one.
    replicate_webhooks: bool = True
    #: Caller webhooks may go to loopback http:// receivers (a developer's own), and their retries
    #: come seconds apart instead of hours (``TWIN_WEBHOOKS``).
    loopback_webhooks: bool = True


class _FrontServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart right after Ctrl-C must not trip over TIME_WAIT
    request_queue_size = LISTEN_BACKLOG


class Twin:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent); or use as a context manager."""

    def __init__(self, config: TwinConfig | None = None) -> None:
        self.config = config or TwinConfig()
        self.token = ""
        self.base_url = ""
        self.loopback_url = ""
        self.replicate_url = ""
        self.deployment: Any = None
        self.started_in_s = 0.0
        self._moto: Any = None
        self._emulator: subprocess.Popen[str] | None = None
        self._http: _FrontServer | None = None
        self._http_thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> Twin:
        began = time.monotonic()
        config = self.config
        self._bind_front()  # first: a port in use fails before anything else starts
        moto_port = free_port()
        # moto's Step Functions interpreter calls moto back at localhost:$MOTO_PORT (its own
        # setting, read at each call); nothing else of ours reads the process environment.
        os.environ["MOTO_PORT"] = str(moto_port)
        # moto's server answers CORS for any origin on every service; S3 answers only what the
        # bucket's CORS rule allows (the deployment puts the stack's rule): be as strict.
        os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
        _quiet_libraries()
        _speed_up_moto()

        from moto.server import ThreadedMotoServer

        from twin.deployment import LocalDeployment

        self._moto = ThreadedMotoServer(LOOPBACK, moto_port, verbose=False)
        self._moto.start()
        moto_url = f"http://{LOOPBACK}:{moto_port}"
        _enable_step_functions_execution(moto_url)
        self.replicate_url = self._start_emulator()

        self.deployment = LocalDeployment(
            timing=config.timing,
            replicate_base_url=self.replicate_url,
            settings=(
                {"model_time_scale": str(config.model_time_scale)} if config.model_time_scale > 0 else {}
            )
            | (TWIN_WEBHOOKS if config.loopback_webhooks else {})
            | config.settings,
            aws_endpoint=moto_url,
            public_url=self.base_url,
            runtime="workers",
            max_workers=config.max_workers,
            owner_rate_limit=config.owner_rate_limit,
            owner_burst_limit=config.owner_burst_limit,
            webhook_base_url=self.loopback_url if config.replicate_webhooks else None,
        )
        self.deployment.provision()  # held before it runs: a failed provision is still closed
        # EventBridge's rules: executions that end without the workflow's help are cleaned up.
        self.deployment.execution_events.start()
        # The event source mappings: the deliveries queue reaches the deliver function.
        self.deployment.queue_consumers.start()
        self.token = self.deployment.mint_token(DEV_OWNER, config.token)
        # "Ready" means ready: one execution environment per function is up before the banner,
        # so the first requests do not wait for cold starts.
        self.deployment.warm()
        self._serve_front()
        self.started_in_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop everything this twin started: the emulator first (it kills its ffmpeg renders and
        may still be fetching images from our front), then the executions and functions, the
        front and moto."""
        if self._emulator is not None:
            _stop_process(self._emulator)
            self._emulator = None
        if self.deployment is not None:
            self.deployment.close()
            self.deployment = None
        if self._http is not None:
            if self._http_thread is not None:  # shutdown() waits for a serve_forever() that runs
                self._http.shutdown()
                self._http_thread = None
            self._http.server_close()
            self._http = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def kill(self) -> None:
        """The last resort (a second signal while stopping): the emulator gets two seconds to kill
        its renders, the function environments are killed; nothing is left behind."""
        if self._emulator is not None:
            _stop_process(self._emulator, timeout_s=2.0)
        if self.deployment is not None:
            self.deployment.stop_functions()

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- parts ------------------------------------------------------------------------------------
    def _bind_front(self) -> None:
        try:
            self._http = _FrontServer((self.config.host, self.config.port), _FrontHandler)
        except OSError as error:
            raise PortInUseError(self.config.host, self.config.port) from error
        port = self._http.server_address[1]
        host = LOOPBACK if self.config.host in ("", "0.0.0.0") else self.config.host
        self.base_url = (self.config.public_url or f"http://{host}:{port}").rstrip("/")
        # Where the emulator sends Replicate's webhooks: the front itself, whatever a proxy adds.
        self.loopback_url = f"http://{LOOPBACK if host in ('', '0.0.0.0', '::') else host}:{port}"

    def _serve_front(self) -> None:
        assert self._http is not None
        deployment = self.deployment
        self._http.gateway = deployment.gateway(self.config.authorizer_cache_s)  # type: ignore[attr-defined]
        self._http.media_bucket = deployment.names.media_bucket  # type: ignore[attr-defined]
        self._http.moto = urlsplit(deployment.aws_endpoint).netloc  # type: ignore[attr-defined]
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="twin-front", daemon=True)
        self._http_thread.start()

    def _start_emulator(self) -> str:
        """The Replicate emulator in a process of its own (in our process group, so that Ctrl-C
        reaches it too): its renders are its children, and it stops them when it stops."""
        process = subprocess.Popen(
            [
                sys.executable, "-m", "replicate_emulator", "--host", LOOPBACK, "--port", "0",
                "--render-concurrency", str(self.config.render_concurrency), "--log-level", "WARNING",
                "--model-time-scale", str(self.config.model_time_scale),
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        self._emulator = process
        assert process.stdout is not None
        line = process.stdout.readline()
        marker = "listening on "
        if marker not in line:
            raise RuntimeError(f"The Replicate emulator did not start: {line!r}")
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        return line.split(marker, 1)[1].split()[0]

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


class _FrontHandler(http.server.BaseHTTPRequestHandler):
    """The one address: ``/examples/*``, the media bucket (proxied to moto's S3), the API."""

    server: _FrontServer
    protocol_version = "HTTP/1.1"
    server_version = "videogen-twin"

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if parts.path.startswith("/examples/") and self.command in ("GET", "HEAD"):
            self._example(parts.path.removeprefix("/examples/"))
            return
        bucket = getattr(self.server, "media_bucket", None)
        if bucket and (parts.path == f"/{bucket}" or parts.path.startswith(f"/{bucket}/")):
            self._media(body)
            return
        if self.command in ("GET", "HEAD") and (page := web.page_file(parts.path)) is not None:
            self._send(200, page.headers, page.body)
            return
        gateway = getattr(self.server, "gateway", None)
        if gateway is None:
            self._send(503, [("Content-Type", "application/json")], b'{"detail": "The twin is starting"}')
            return
        response = gateway.handle(
            self.command,
            parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        self._send(response.status, response.headers, response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def _example(self, name: str) -> None:
        path = (ASSETS / name).resolve()
        if path.parent != ASSETS.resolve() or not path.is_file():
            self._send(404, [("Content-Type", "application/json")], b'{"detail": "Not Found"}')
            return
        content_type = "image/jpeg" if path.suffix in (".jpg", ".jpeg") else "application/octet-stream"
        self._send(200, [("Content-Type", content_type)], path.read_bytes())

    def _media(self, body: bytes | None) -> None:
        """Presigned S3 requests, as signed (same path, query and Host), to moto's S3."""
        forwarded = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("connection", "keep-alive", "content-length")
        }
        upstream = http.client.HTTPConnection(self.server.moto, timeout=60)  # type: ignore[attr-defined]
        try:
            upstream.request(self.command, self.path, body=body, headers=forwarded)
            answer = upstream.getresponse()
            headers = [
                (k, v) for k, v in answer.getheaders() if k.lower() not in ("transfer-encoding", "connection")
            ]
            self._send(answer.status, headers, answer.read())
        except OSError:
            self._send(502, [("Content-Type", "application/json")], b'{"detail": "Bad gateway"}')
        finally:
            upstream.close()

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        length_sent = False
        for key, value in headers:
            if key.lower() == "connection":
                continue
            if key.lower() == "content-length":
                if self.command != "HEAD":
                    continue
                length_sent = True
            self.send_header(key, value)
        if not length_sent:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger("twin.access").info("%s %s", self.address_string(), format % args)


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def _stop_process(process: subprocess.Popen[str], timeout_s: float = 10.0) -> None:
    """SIGTERM (the emulator then cancels its renders), SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _enable_step_functions_execution(moto_url: str) -> None:
    """moto's switch for executing ASL, in server mode."""
    import urllib.request

    request = urllib.request.Request(
        f"{moto_url}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _speed_up_moto() -> None:
    """Two costs of moto 5.2 that the twin's status reads pay on every request, measured with yappi
    under status-read load, where moto's DynamoDB is the twin's bottleneck:

    * it lists a response class's methods with ``inspect.getmembers`` on every request: cached
      (the list never changes for a class);
    * it serializes every response by walking botocore's shape model, attribute by attribute:
      ~70 % of a GetItem's CPU for a task record. A GetItem's result is already DynamoDB's wire
      JSON (``{"Item": {...}}``), so it is written out as it is; a result holding binary values
      (raw bytes, which the serializer base64-encodes) still goes through the serializer.

    Pinned by tests/workflow/test_lambda_runner_seam.py (same answers, patched or not)."""
    import functools

    import moto.core.responses as responses
    from moto.dynamodb.responses import DynamoHandler

    if not hasattr(responses.method_names_from_class, "cache_info"):
        responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    if getattr(DynamoHandler.get_item, "_videogen_fast", False):
        return
    serialized_get_item = DynamoHandler.get_item

    def get_item(handler: Any) -> Any:
        result = serialized_get_item(handler)
        try:
            return json.dumps(result.result, separators=(",", ":"))
        except TypeError:  # binary values
            return result

    get_item._videogen_fast = True  # type: ignore[attr-defined]
    DynamoHandler.get_item = get_item  # type: ignore[method-assign]


def _quiet_libraries() -> None:
    for name in ("werkzeug", "moto", "botocore", "urllib3", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


# -- videogen serve --------------------------------------------------------------------------------------


def serve(config: TwinConfig) -> int:
    """Run the twin until Ctrl-C or SIGTERM; everything it started stops with it.

    The signal handler only records the signal (it takes no lock: a handler that waits on a lock
    the interrupted main thread holds never returns); the main thread notices within 0.2 s and
    stops the twin with a deadline. A second signal while stopping ends at once, killing what is
    left.
    """
    import faulthandler

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack (diagnosis)
    received: list[int] = []
    twin = Twin(config)

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) > 1 and stopping.is_set():
            twin.kill()
            os._exit(128 + signum)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        twin.start()
    except PortInUseError as error:
        print(f"videogen: {error}", file=sys.stderr)
        twin.stop()
        return 1
    except Exception:
        # Whatever did start stops: moto's and the front's threads, the emulator and the function
        # workers would otherwise keep this process (and its children) alive with no banner.
        traceback.print_exc()
        print(
            "videogen: the twin did not start (above: why); everything it started is stopped", file=sys.stderr
        )
        twin.stop()
        return 1
    if not received:
        print(twin.banner(), flush=True)
    while not received:
        time.sleep(0.2)
    stopping.set()
    print("Stopping the twin...", file=sys.stderr, flush=True)
    stopper = threading.Thread(target=twin.stop, name="twin-stop", daemon=True)
    stopper.start()
    stopper.join(STOP_DEADLINE_S)
    if stopper.is_alive():
        print(f"videogen: the twin did not stop within {STOP_DEADLINE_S:.0f} s; killing it", file=sys.stderr)
        twin.kill()
        return 1
    return 0
