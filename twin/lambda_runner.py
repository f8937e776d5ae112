"""Runs our Lambda handlers in-process when moto invokes a function (no Docker).

moto's Lambda backend normally runs each invocation in a Docker container, through
``moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)``.
No library offers an in-process runner, so we replace that one method: it imports the handler
named by the function's ``Handler`` and calls it with the event and a Lambda-like context,
answering exactly what Lambda would (the result, or ``{errorType, errorMessage}`` with an
error flag, which Step Functions turns into the error name the ASL matches).

The seam is pinned by ``tests/workflow/test_lambda_runner_seam.py``: a moto upgrade that moves
it fails that test loudly instead of silently reaching for Docker.
"""

from __future__ import annotations

import importlib
import json
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, Any], Any]

_lock = threading.Lock()
_original: Callable[..., tuple[str, bool, str]] | None = None


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

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_s * 1000


def resolve(handler: str) -> Handler:
    """``package.module.function`` → the function."""
    module_name, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


_environments: dict[str, threading.Lock] = {}


def _environment_key(handler: str) -> str:
    """API handlers share one key: powertools keeps the current event on the ``BaseRouter`` class,
    shared by every resolver in a process (one process per function in Lambda, one for all here)."""
    from service.catalog import FUNCTIONS

    api_handlers = {spec.handler for spec in FUNCTIONS if spec.routes}
    return "api-resolvers" if handler in api_handlers else handler


def _environment(handler: str) -> threading.Lock:
    """Like a Lambda execution environment, a handler module serves one invocation at a time: our
    handlers keep per-invocation state in module globals (the resolver's current event, the
    logger's keys), which is safe in Lambda and would race between threads here."""
    key = _environment_key(handler)
    with _lock:
        return _environments.setdefault(key, threading.Lock())


def invoke(handler: str, event: Any, context: LambdaContext) -> tuple[str, bool]:
    """Call a handler as the Lambda runtime would: ``(payload_json, errored)``."""
    try:
        with _environment(handler):
            result = resolve(handler)(event, context)
    except Exception as error:  # the runtime reports any exception as a function error
        payload = {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "requestId": context.aws_request_id,
            "stackTrace": traceback.format_exception(error)[-5:],
        }
        return json.dumps(payload), True
    return json.dumps(result), False


def _invoke_in_process(function: Any, event: Any = None) -> tuple[str, bool, str]:
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    context = LambdaContext(
        function_name=function.function_name,
        memory_limit_in_mb=int(function.memory_size),
        invoked_function_arn=function.function_arn,
        timeout_s=int(function.timeout),
    )
    payload, errored = invoke(function.handler, event if event is not None else {}, context)
    return payload, errored, ""


def install() -> None:
    """Make moto run every Lambda invocation in this process. Idempotent."""
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
