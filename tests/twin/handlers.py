"""Handlers the twin's runtime tests run in worker processes (imported there by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def rendezvous(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Say it started, then wait until the test says go: two of these can only both start if
    they run at the same time."""
    folder = Path(event["dir"])
    (folder / f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + 30
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"pid": os.getpid(), "function": context.function_name}


def environment(event: dict[str, Any], context: Any) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("VIDEOGEN_", "AWS_LAMBDA_"))}


def crash(event: dict[str, Any], context: Any) -> None:
    os._exit(3)


def sleep(event: dict[str, Any], context: Any) -> dict[str, int]:
    time.sleep(event["seconds"])
    return {"pid": os.getpid()}


def fail(event: dict[str, Any], context: Any) -> None:
    raise LookupError("no such thing")
