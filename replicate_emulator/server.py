"""The HTTP side: a Flask app speaking Replicate's predictions and models API, served by werkzeug.

The official ``replicate`` client works against it unmodified::

    with ReplicateEmulator() as emu:
        client = replicate.Client(api_token="x", base_url=emu.base_url)
        client.predictions.create(model="kwaivgi/kling-v1.6-pro", input={"prompt": "...", ...})  # official
        client.predictions.create(version="671ac645…", input={"prompt": "..."})  # community: by version

As strict as Replicate where callers depend on it: official models run by name, community models
only by version (their ``/v1/models/{owner}/{name}/predictions`` answers 404); every create is
validated against the model's published schema (422 with ``invalid_fields``); rate limits per
rolling minute (429, ``Retry-After``); outputs removed after the retention window.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import mimetypes
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import audio, models, video  # noqa: F401  (audio and video register their models' renderers)
from .config import ConfigError, ConfigState, EmulatorConfig, coerce_config_updates
from .engine import Engine, FaultPlan, Prediction
from .errors import InputValidationError, InvalidField
from .faults import Faults, FaultsError, FaultState, coerce_fault_updates
from .limits import RateLimiter, retry_after_seconds, throttled_detail
from .validation import CheckedInput, json_type
from .webhooks import DEFAULT_EVENTS, EVENTS, WebhookFaults, WebhookSender

log = logging.getLogger(__name__)
access_log = logging.getLogger("replicate_emulator.access")

MAX_PREFER_WAIT_S = 60
_JOIN_TIMEOUT_S = 10.0


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """A Replicate-style error body: ``{"title": ..., "detail": ..., "status": ...}``."""
    response = jsonify({"title": title, "detail": detail, "status": status, **extra})
    response.status_code = status
    return response


NOT_FOUND_DETAIL = "The requested resource could not be found."
INVALID_VERSION = (
    "Invalid version or not permitted",
    "The specified version does not exist (or perhaps you don't have permission to use it?)",
)


class ReplicateEmulator:
    """A real HTTP emulator of Replicate's predictions API that renders real videos with ffmpeg."""

    def __init__(
        self,
        api_token: str | None = None,
        render_concurrency: int = 2,
        config: EmulatorConfig | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        if render_concurrency < 1:
            raise ValueError("render_concurrency must be at least 1")
        unserved = models.unserved_models()
        if unserved:
            raise RuntimeError(f"the emulator has no renderer for catalog model(s) {', '.join(unserved)}")
        self.api_token = api_token
        self.render_concurrency = render_concurrency
        self._config = ConfigState(config or EmulatorConfig())
        self.limiter = RateLimiter()
        self._fault_state = FaultState()
        #: The account's webhook signing secret (``whsec_…``) and the deliveries made with it.
        self.webhooks = WebhookSender(webhook_secret, base_url=lambda: self.base_url)
        self._engine: Engine | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._connections = _ConnectionRegistry()
        self._workdir: Path | None = None
        self.base_url = ""
        self.port = 0
        self.app = create_app(self)

    # ----------------------------------------------------------------------------------- lifecycle

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = any free port) in a background thread; returns the base URL."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        handler = _make_request_handler(self._connections)
        server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._workdir = Path(tempfile.mkdtemp(prefix="replicate-emulator-"))
        self._engine = Engine(self._workdir, self.render_concurrency, lambda: self.config.data_retention_s)
        self._server = server
        self.port = server.server_port
        self.base_url = f"http://{_url_host(host)}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="replicate-emulator-http", daemon=True
        )
        self._thread.start()
        log.info("Replicate emulator listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving, cancel running predictions (killing their ffmpeg), join threads, delete files."""
        server, thread, engine = self._server, self._thread, self._engine
        if server is None:
            return
        server.shutdown()  # no new connections
        self.webhooks.close()  # the cancellations below send no webhooks
        if engine is not None:
            engine.close(_JOIN_TIMEOUT_S)  # releases handlers blocked in Prefer: wait
        self._connections.close_all(_JOIN_TIMEOUT_S)  # keep-alive connections and their threads
        server.server_close()
        if thread is not None:
            thread.join(_JOIN_TIMEOUT_S)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._server = self._thread = None
        self._workdir = None
        log.info("Replicate emulator on %s stopped", self.base_url)

    def __enter__(self) -> ReplicateEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------- test helpers

    @property
    def faults(self) -> Faults:
        return self._fault_state.faults

    @property
    def fault_state(self) -> FaultState:
        return self._fault_state

    @property
    def config(self) -> EmulatorConfig:
        return self._config.current

    def configure(self, **updates: float) -> EmulatorConfig:
        """Change the config live (same fields and checks as ``POST /_emulator/config``)."""
        return self._config.update(coerce_config_updates(updates))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("emulator not started")
        return self._engine

    def reset(self) -> None:
        """Cancel and forget all predictions (and their files); default faults, the constructor's
        config, empty rate-limit windows, no webhook deliveries (those of the forgotten predictions stop)."""
        self.webhooks.reset()
        self.engine.forget_all(_JOIN_TIMEOUT_S)
        self._fault_state.reset()
        self._config.reset()
        self.limiter.reset()

    def get_prediction(self, prediction_id: str) -> dict[str, Any]:
        """The JSON ``GET /v1/predictions/{id}`` would return, plus ``_emulator``; KeyError if unknown."""
        prediction = self.engine.get(prediction_id)
        if prediction is None:
            raise KeyError(prediction_id)
        return prediction.to_json(self.base_url, internal=True)

    def predictions(self) -> list[dict[str, Any]]:
        """Every prediction as ``GET /v1/predictions/{id}`` shows it, plus ``_emulator`` (dropped
        input keys, what the renderer chose)."""
        return [p.to_json(self.base_url, internal=True) for p in self.engine.all()]

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt since the last reset (``GET /_emulator/webhooks``)."""
        return [d.to_json() for d in self.webhooks.deliveries()]

    def running_ffmpeg_pids(self) -> list[int]:
        """PIDs of ffmpeg renders still running (for tests asserting nothing is left behind)."""
        return [] if self._engine is None else self._engine.running_pids()

    def check_token(self, authorization: str | None) -> bool:
        token = bearer_token(authorization)
        if not token:
            return False
        return self.api_token is None or secrets_equal(token, self.api_token)


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "token") else ""


def _url_host(bind_host: str) -> str:
    """How clients reach a bind address: wildcards become loopback, IPv6 literals get brackets."""
    if bind_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind_host == "::":
        return "[::1]"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def secrets_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --------------------------------------------------------------------------------------------- app


def create_app(emu: ReplicateEmulator) -> Flask:
    app = Flask("replicate_emulator")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.before_request(lambda: _before_api_request(emu))
    _register_prediction_routes(app, emu)
    _register_model_routes(app, emu)
    _register_control_routes(app, emu)

    @app.get("/files/<prediction_id>/<filename>")
    def get_file(prediction_id: str, filename: str) -> Response:
        path = emu.engine.output_file(prediction_id, filename)
        if path is None:
            return problem(404, "Not found", NOT_FOUND_DETAIL)
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return send_file(path, mimetype=mimetype, max_age=0, conditional=True)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        if code == 404:
            return problem(404, "Not found", NOT_FOUND_DETAIL)
        return problem(code, exc.name, exc.description or exc.name)

    return app


def _before_api_request(emu: ReplicateEmulator) -> Response | None:
    if not request.path.startswith("/v1/"):
        return None
    latency = emu.faults.latency_s
    if latency > 0:
        time.sleep(latency)
    if not emu.check_token(request.headers.get("Authorization")):
        return problem(401, "Unauthenticated", "You did not pass a valid authentication token")
    creating = request.method == "POST" and request.path.rstrip("/").endswith("/predictions")
    config = emu.config
    wait_s = emu.limiter.acquire(
        bearer_token(request.headers.get("Authorization")),
        "create" if creating else "other",
        config.creates_per_minute if creating else config.other_calls_per_minute,
    )
    if wait_s is not None:
        return _throttled(retry_after_seconds(wait_s))
    return None


def _register_prediction_routes(app: Flask, emu: ReplicateEmulator) -> None:
    @app.post("/v1/models/<owner>/<name>/predictions")
    def create_for_model(owner: str, name: str) -> Response:
        # A community model has no such route: Replicate answers 404 and wants its version.
        spec = models.find_model(owner, name)
        return _create(emu, lambda body: (spec if spec is not None and spec.official else None, None))

    @app.post("/v1/predictions")
    def create_for_version() -> Response:
        return _create(emu, _model_from_version)

    @app.get("/v1/predictions")
    def list_predictions() -> Response:
        base = request.host_url
        newest_first = sorted(emu.engine.all(), key=lambda p: p.created_at, reverse=True)
        return jsonify({"previous": None, "next": None, "results": [p.to_json(base) for p in newest_first]})

    @app.get("/v1/predictions/<prediction_id>")
    def get_prediction(prediction_id: str) -> Response:
        if emu.fault_state.take("throttle_gets"):
            return _throttled()
        prediction = emu.engine.get(prediction_id)
        if prediction is None:
            return problem(404, "Not found", NOT_FOUND_DETAIL)
        return jsonify(prediction.to_json(request.host_url))

    @app.get("/v1/webhooks/default/secret")
    def webhook_secret() -> Response:
        """The account's signing secret: verify webhooks with it."""
        return jsonify({"key": emu.webhooks.secret})

    @app.post("/v1/predictions/<prediction_id>/cancel")
    def cancel_prediction(prediction_id: str) -> Response:
        prediction = emu.engine.get(prediction_id)
        if prediction is None:
            return problem(404, "Not found", NOT_FOUND_DETAIL)
        prediction.cancel()
        return jsonify(prediction.to_json(request.host_url))


ModelLookup = Callable[[dict[str, Any]], tuple[models.ModelSpec | None, Response | None]]


def _model_from_version(body: dict[str, Any]) -> tuple[models.ModelSpec | None, Response | None]:
    version = body.get("version")
    if not isinstance(version, str) or not version:
        return None, problem(422, "Input validation failed", "- version: version is required\n")
    spec = models.resolve_version(version)
    if spec is None:
        return None, problem(422, *INVALID_VERSION)
    return spec, None


def _create(emu: ReplicateEmulator, lookup: ModelLookup) -> Response:
    """Shared create path: faults, body, model, input validation, then an optional ``Prefer: wait``."""
    if emu.fault_state.take("unavailable_creates"):
        return problem(503, "Service Unavailable", "The service is temporarily unavailable. Please retry.")
    if emu.fault_state.take("throttle_creates"):
        return _throttled()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return problem(400, "Bad request", "The request body must be a JSON object")
    spec, error = lookup(body)
    if error is not None:
        return error
    if spec is None:
        return problem(404, "Not found", NOT_FOUND_DETAIL)
    raw_input = body.get("input")
    try:
        checked = _checked_input(emu, spec, raw_input)
    except InputValidationError as exc:
        invalid = [
            {"type": f.type, "field": f.field, "description": f.description} for f in exc.invalid_fields
        ]
        return problem(422, "Input validation failed", exc.detail, invalid_fields=invalid)
    webhook, events, refusal = _webhook_request(body)
    if refusal is not None:
        return refusal
    if checked.ignored:
        log.warning("%s: ignoring unknown input(s) %s", spec.full_name, ", ".join(checked.ignored))
    plan = FaultPlan.for_model(emu.faults, spec, emu.config.model_time_scale)
    hook_faults = WebhookFaults.of(emu.faults)

    def subscribe(prediction: Prediction) -> None:
        if webhook is not None:
            prediction.listener = emu.webhooks.subscribe(prediction, webhook, events, hook_faults).notify

    try:
        prediction = emu.engine.create(spec, raw_input or {}, checked, plan, before_start=subscribe)
    except RuntimeError:
        return problem(503, "Service Unavailable", "The emulator is shutting down")
    wait_s = _prefer_wait_seconds(request.headers.get("Prefer"))
    if wait_s:
        prediction.done.wait(wait_s)
    return _prediction_response(prediction, 201)


def _webhook_request(body: dict[str, Any]) -> tuple[str | None, frozenset[str], Response | None]:
    """``webhook`` (an http(s) URL) and ``webhook_events_filter`` (events) of a create, checked as
    Replicate checks them: a 422 naming the field."""
    webhook = body.get("webhook")
    events = body.get("webhook_events_filter")
    invalid = []
    if webhook is not None:
        parts = urlsplit(webhook) if isinstance(webhook, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            invalid.append(("webhook", "format", "Does not match format 'uri'"))
    if events is not None:
        if not isinstance(events, list):
            invalid.append(("webhook_events_filter", "invalid_type", "Invalid type. Expected: array"))
        else:
            allowed = ", ".join(json.dumps(e) for e in EVENTS)
            invalid += [
                (
                    f"webhook_events_filter.{i}",
                    "enum",
                    f"webhook_events_filter.{i} must be one of the following: {allowed}",
                )
                for i, event in enumerate(events)
                if event not in EVENTS
            ]
    if invalid:
        detail = "".join(f"- {field}: {description}\n" for field, _, description in invalid)
        fields = [{"type": kind, "field": field, "description": text} for field, kind, text in invalid]
        return None, frozenset(), problem(422, "Input validation failed", detail, invalid_fields=fields)
    chosen = frozenset(events) if isinstance(events, list) else DEFAULT_EVENTS
    return (webhook if isinstance(webhook, str) else None), chosen, None


def _checked_input(emu: ReplicateEmulator, spec: models.ModelSpec, raw_input: Any) -> CheckedInput:
    checked = spec.validate(raw_input)
    rejected = emu.faults.rejected_field(spec.full_name)
    if rejected is not None:  # fault: answer as if this field's value broke its schema
        schema = spec.entry.field(rejected) if rejected in spec.entry.input_names else {}
        value = (raw_input or {}).get(rejected) if isinstance(raw_input, dict) else None
        field = f"input.{rejected}"
        if "enum" in schema:
            allowed = ", ".join(json.dumps(option) for option in schema["enum"])
            problem_field = InvalidField(field, "enum", f"{rejected} must be one of the following: {allowed}")
        elif schema.get("format") == "uri":
            problem_field = InvalidField(field, "format", "Does not match format 'uri'")
        elif "maximum" in schema:
            problem_field = InvalidField(
                field, "number_lte", f"Must be less than or equal to {schema['maximum']}"
            )
        else:
            expected = "integer" if json_type(value) == "string" else "string"
            problem_field = InvalidField(
                field, "invalid_type", f"Invalid type. Expected: {expected}, given: {json_type(value)}"
            )
        raise InputValidationError([problem_field])
    return checked


def _prediction_response(prediction: Prediction, status: int) -> Response:
    response = jsonify(prediction.to_json(request.host_url))
    response.status_code = status
    return response


def _throttled(seconds: int = 1) -> Response:
    """Replicate's 429: its message (docs: topics/predictions/rate-limits) and ``Retry-After``."""
    response = problem(429, "Request was throttled", throttled_detail(seconds), retry_after=seconds)
    response.headers["Retry-After"] = str(seconds)
    return response


def _prefer_wait_seconds(prefer: str | None) -> float:
    """``Prefer: wait`` -> 60 s, ``Prefer: wait=N`` -> N (clamped to 1..60), anything else -> 0."""
    for preference in (prefer or "").split(","):
        key, _, value = preference.strip().partition("=")
        if key.strip().lower() != "wait":
            continue
        if not value:
            return MAX_PREFER_WAIT_S
        try:
            return float(min(max(int(value.strip()), 1), MAX_PREFER_WAIT_S))
        except ValueError:
            return 0
    return 0


def _register_model_routes(app: Flask, emu: ReplicateEmulator) -> None:
    """The models API as clients read it: a model with its ``latest_version``, and a version with
    its ``openapi_schema`` (the catalog's schemas in Cog's shape)."""

    @app.get("/v1/models/<owner>/<name>")
    def get_model(owner: str, name: str) -> Response:
        spec = models.find_model(owner, name)
        if spec is None:
            return problem(404, "Not found", NOT_FOUND_DETAIL)
        return jsonify(_model_json(spec))

    @app.get("/v1/models/<owner>/<name>/versions")
    def list_versions(owner: str, name: str) -> Response:
        spec = models.find_model(owner, name)
        if spec is None:
            return problem(404, "Not found", NOT_FOUND_DETAIL)
        return jsonify({"previous": None, "next": None, "results": [_version_json(spec)]})

    @app.get("/v1/models/<owner>/<name>/versions/<version_id>")
    def get_version(owner: str, name: str, version_id: str) -> Response:
        spec = models.find_model(owner, name)
        if spec is None or version_id != spec.version:
            return problem(404, "Not found", NOT_FOUND_DETAIL)
        return jsonify(_version_json(spec))


def _version_json(spec: models.ModelSpec) -> dict[str, Any]:
    return {
        "id": spec.version,
        "created_at": "2025-01-01T00:00:00.000000Z",
        "cog_version": "0.13.6",
        "openapi_schema": spec.openapi_schema(),
    }


def _model_json(spec: models.ModelSpec) -> dict[str, Any]:
    return {
        "url": f"https://replicate.com/{spec.full_name}",
        "owner": spec.owner,
        "name": spec.name,
        "description": spec.description,
        "visibility": "public",
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": 0,
        "cover_image_url": None,
        "default_example": None,
        "latest_version": _version_json(spec),
    }


def _register_control_routes(app: Flask, emu: ReplicateEmulator) -> None:
    """Test backdoor under ``/_emulator`` (no auth): faults, reset, prediction listing, health."""

    @app.get("/_emulator/health")
    def health() -> Response:
        return jsonify({"status": "ok", "models": sorted(models.MODELS)})

    @app.get("/_emulator/faults")
    def get_faults() -> Response:
        return jsonify(emu.faults.to_json())

    @app.post("/_emulator/faults")
    def set_faults() -> Response:
        try:
            updates = coerce_fault_updates(request.get_json(silent=True, force=True))
        except FaultsError as exc:
            return problem(400, "Invalid faults", str(exc))
        emu.fault_state.update(updates)
        return jsonify(emu.faults.to_json())

    @app.get("/_emulator/config")
    def get_config() -> Response:
        return jsonify(emu.config.to_json())

    @app.post("/_emulator/config")
    def set_config() -> Response:
        try:
            updates = coerce_config_updates(request.get_json(silent=True, force=True))
        except ConfigError as exc:
            return problem(400, "Invalid config", str(exc))
        return jsonify(emu._config.update(updates).to_json())

    @app.post("/_emulator/reset")
    def reset() -> Response:
        emu.reset()
        return jsonify(emu.faults.to_json())

    @app.get("/_emulator/webhooks")
    def webhook_deliveries() -> Response:
        return jsonify(emu.webhook_deliveries())

    @app.get("/_emulator/predictions")
    def predictions() -> Response:
        return jsonify([p.to_json(request.host_url, internal=True) for p in emu.engine.all()])


# --------------------------------------------------------------------------------------------- serving


class _ConnectionRegistry:
    """Open client connections and their handler threads, so ``stop()`` can end keep-alive sessions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[socket.socket, threading.Thread] = {}

    def add(self, conn: socket.socket) -> None:
        with self._lock:
            self._open[conn] = threading.current_thread()

    def discard(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.pop(conn, None)

    def close_all(self, timeout_s: float) -> None:
        with self._lock:
            items = list(self._open.items())
        for conn, _ in items:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout_s
        for _, thread in items:
            thread.join(max(0.0, deadline - time.monotonic()))


def _make_request_handler(connections: _ConnectionRegistry) -> type[WSGIRequestHandler]:
    class Handler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.add(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                connections.discard(self.connection)

        def log(self, type: str, message: str, *args: Any) -> None:
            level = logging.ERROR if type == "error" else logging.INFO
            access_log.log(level, "%s - %s", self.address_string(), message % args)

    return Handler
