"""Runs our Lambda handlers when moto (or the API Gateway emulator) invokes a function, no Docker.

moto's Lambda backend normally runs each invocation in a Docker container, through
``moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)``.
No library offers a local Lambda runtime without Docker, so we replace that one method: it hands
the invocation to the *runtime* that serves the function, which answers exactly what Lambda
would (the result, or ``{errorType, errorMessage}`` with an error flag, which Step Functions
turns into the error name the ASL matches).

Two runtimes, one contract (:class:`Runtime`):

* :class:`WorkerPoolRuntime` — like Lambda: each function has a pool of worker processes
  (``twin.worker``), started with that function's environment, each serving one invocation at
  a time; concurrent invocations of a function run in separate processes. The twin and the
  bench's load phases use it.
* :class:`InProcessRuntime` — the handlers run in this process, one invocation at a time per
  execution environment, each with its function's environment handed over through
  ``service.settings.function_environment`` (no ``os.environ`` rewriting). Tests use it, with
  moto in decorator mode, so that they can reach into the service's internals.

The seam is pinned by ``tests/workflow/test_lambda_runner_seam.py``: a moto upgrade that moves it
fails that test loudly instead of silently reaching for Docker.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from service.catalog import FunctionSpec

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]

_lock = threading.Lock()
_original: Callable[..., tuple[str, bool, str]] | None = None
#: Deployed function name → the runtime serving it and its catalog entry.
_functions: dict[str, tuple[Runtime, FunctionSpec]] = {}


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object our handlers (and powertools) read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.deadline = self.deadline or time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))

    def to_json(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "memory_limit_in_mb": self.memory_limit_in_mb,
            "invoked_function_arn": self.invoked_function_arn,
            "timeout_s": self.timeout_s,
            "aws_request_id": self.aws_request_id,
        }


def resolve(handler: str) -> Handler:
    """``package.module.function`` → the function."""
    module_name, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def error_payload(error_type: str, message: str, request_id: str, trace: list[str] | None = None) -> str:
    return json.dumps(
        {"errorType": error_type, "errorMessage": message, "requestId": request_id, "stackTrace": trace or []}
    )


def call_handler(handler: Handler, event: Any, context: Any) -> tuple[str, bool]:
    """Call a handler as the Lambda runtime would: ``(payload_json, errored)``."""
    try:
        result = handler(event, context)
    except Exception as error:  # the runtime reports any exception as a function error
        trace = traceback.format_exception(error)[-5:]
        return error_payload(type(error).__name__, str(error), context.aws_request_id, trace), True
    return json.dumps(result), False


class Runtime(Protocol):
    """Runs the invocations of the functions registered with it."""

    def invoke(self, spec: FunctionSpec, event: Any, context: LambdaContext) -> tuple[str, bool]: ...

    def close(self) -> None: ...


def context_for(spec: FunctionSpec, function_name: str, function_arn: str) -> LambdaContext:
    return LambdaContext(
        function_name=function_name,
        memory_limit_in_mb=spec.memory_mb,
        invoked_function_arn=function_arn,
        timeout_s=spec.timeout_s,
    )


# -- in process ----------------------------------------------------------------------------------------


class InProcessRuntime:
    """Handlers in this process; each function with its own environment, one invocation at a time
    per execution environment (our handlers keep per-invocation state in module globals, which
    Lambda's one-invocation-per-environment makes safe)."""

    def __init__(self, environments: Callable[[FunctionSpec], Mapping[str, str]]) -> None:
        self._environments = environments
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, spec: FunctionSpec) -> threading.Lock:
        # API handlers share one: powertools keeps the current event on the ``BaseRouter`` class,
        # shared by every resolver of a process (one process per function in Lambda).
        key = "api-resolvers" if spec.routes else spec.name
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def invoke(self, spec: FunctionSpec, event: Any, context: LambdaContext) -> tuple[str, bool]:
        from service.settings import function_environment

        environment = {**os.environ, **self._environments(spec)}
        with self._lock_for(spec), function_environment(environment):
            return call_handler(resolve(spec.handler), event, context)

    def close(self) -> None:
        pass


# -- worker processes ------------------------------------------------------------------------------------


class WorkerError(Exception):
    """A worker died or timed out: the invocation fails as Lambda's would."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class Worker:
    """One execution environment: a ``twin.worker`` process serving one invocation at a time."""

    #: How long an init (the handler's imports) may take before the environment is given up.
    INIT_TIMEOUT_S = 60.0

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str]) -> None:
        ours, theirs = socket.socketpair()
        self.spec = spec
        self.process = subprocess.Popen(
            [sys.executable, "-m", "twin.worker", spec.handler, str(theirs.fileno())],
            env=dict(environment),
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        theirs.close()
        threading.Thread(target=_forward_logs, args=(self.process.stdout,), daemon=True).start()
        self.connection = Connection(ours.detach())
        ready = self._receive(self.INIT_TIMEOUT_S)
        if not ready.get("ready"):
            self.kill()
            raise WorkerError(
                str(ready.get("errorType", "Runtime.ImportModuleError")), str(ready.get("errorMessage"))
            )

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        try:
            if not self.connection.poll(timeout_s):
                raise WorkerError("Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds")
            return dict(json.loads(self.connection.recv_bytes()))
        except (EOFError, OSError) as error:
            code = self.process.poll()
            raise WorkerError(
                "Runtime.ExitError", f"The execution environment exited (status {code})"
            ) from error

    def invoke(self, event: Any, context: LambdaContext) -> tuple[str, bool]:
        self.connection.send_bytes(json.dumps({"event": event, "context": context.to_json()}).encode())
        answer = self._receive(context.timeout_s + 1.0)
        return str(answer["payload"]), bool(answer["errored"])

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _forward_logs(stream: Any) -> None:
    """A worker's stdout is its CloudWatch log stream: the twin shows its log lines (powertools
    writes them at ``POWERTOOLS_LOG_LEVEL``) and drops its metrics (EMF documents, which
    CloudWatch would turn into metrics)."""
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        if line.startswith('{"_aws"'):
            continue
        sys.stderr.write(line)


class FunctionPool:
    """A function's execution environments: up to ``max_workers`` processes, started on demand."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], max_workers: int) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.max_workers = max_workers
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._cond = threading.Condition()
        self._closed = False

    def _acquire(self) -> Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerError("Runtime.Closed", "The twin is stopping")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.max_workers:
                    self._starting += 1
                    break
                self._cond.wait()
        try:
            worker = Worker(self.spec, self.environment)
        finally:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
        with self._cond:
            self._all.add(worker)
        return worker

    def _release(self, worker: Worker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            self._cond.notify()
        if not healthy or self._closed:
            worker.kill()

    def warm(self) -> None:
        """Start one environment ahead of the first invocation (the twin's start-up)."""
        with contextlib.suppress(WorkerError):
            self._release(self._acquire(), healthy=True)

    def invoke(self, event: Any, context: LambdaContext) -> tuple[str, bool]:
        try:
            worker = self._acquire()
        except WorkerError as error:
            return error_payload(error.error_type, str(error), context.aws_request_id), True
        try:
            result = worker.invoke(event, context)
        except WorkerError as error:
            self._release(worker, healthy=False)
            return error_payload(error.error_type, str(error), context.aws_request_id), True
        self._release(worker, healthy=True)
        return result

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            worker.kill()


class WorkerPoolRuntime:
    """Every function in worker processes of its own, with its own environment."""

    def __init__(
        self, environments: Callable[[FunctionSpec], Mapping[str, str]], max_workers: int = 4
    ) -> None:
        self._environments = environments
        self.max_workers = max_workers
        self._pools: dict[str, FunctionPool] = {}
        self._guard = threading.Lock()

    def pool(self, spec: FunctionSpec) -> FunctionPool:
        with self._guard:
            if spec.name not in self._pools:
                self._pools[spec.name] = FunctionPool(spec, self._environments(spec), self.max_workers)
            return self._pools[spec.name]

    def invoke(self, spec: FunctionSpec, event: Any, context: LambdaContext) -> tuple[str, bool]:
        return self.pool(spec).invoke(event, context)

    def warm(self, specs: list[FunctionSpec]) -> None:
        threads = [threading.Thread(target=self.pool(spec).warm, daemon=True) for spec in specs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def close(self) -> None:
        with self._guard:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()


# -- the moto seam -------------------------------------------------------------------------------------


def register(function_name: str, spec: FunctionSpec, runtime: Runtime) -> None:
    """Route moto's invocations of ``function_name`` to ``runtime``."""
    with _lock:
        _functions[function_name] = (runtime, spec)


def unregister(runtime: Runtime) -> None:
    with _lock:
        for name in [name for name, (owner, _) in _functions.items() if owner is runtime]:
            del _functions[name]


def _invoke_in_process(function: Any, event: Any = None) -> tuple[str, bool, str]:
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    event = event if event is not None else {}
    with _lock:
        registered = _functions.get(function.function_name)
    if registered is None:  # not one of ours (the seam test): import what Handler names
        context = LambdaContext(
            function_name=function.function_name,
            memory_limit_in_mb=int(function.memory_size),
            invoked_function_arn=function.function_arn,
            timeout_s=int(function.timeout),
        )
        payload, errored = call_handler(resolve(function.handler), event, context)
        return payload, errored, ""
    runtime, spec = registered
    payload, errored = runtime.invoke(
        spec, event, context_for(spec, function.function_name, function.function_arn)
    )
    return payload, errored, ""


def install() -> None:
    """Make moto run every Lambda invocation through the registered runtimes. Idempotent."""
    global _original
    from moto.awslambda.models import LambdaFunction

    with _lock:
        if _original is None:
            _original = LambdaFunction._invoke_lambda
            LambdaFunction._invoke_lambda = _invoke_in_process  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    global _original
    from moto.awslambda.models import LambdaFunction

    with _lock:
        if _original is not None:
            LambdaFunction._invoke_lambda = _original  # type: ignore[method-assign]
            _original = None
