"""The local twin as a user runs it: `videogen serve` in a subprocess, driven over real HTTP."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from twin.server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningTwin:
    process: subprocess.Popen[str]
    base_url: str
    token: str
    banner: list[str]
    #: What it printed after the banner (drained, so that it never blocks on a full pipe).
    output: list[str]


#: A twin starts in 5-20 s here; a minute covers a loaded CI machine, not a hung start.
START_TIMEOUT_S = 90


def _drain(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def _lines_then_end(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _queue_into(lines: queue.Queue[str | None], into: list[str]) -> None:
    while (line := lines.get()) is not None:
        into.append(line)


def _end_group(process: subprocess.Popen[str]) -> None:
    """Kill the twin and everything it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def start_twin(port: int, token: str | None = None, *args: str) -> RunningTwin:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIDEOGEN_", "MOTO_"))}
    if token:
        env["VIDEOGEN_TOKEN"] = token
    videogen = Path(sys.executable).with_name("videogen")
    process = subprocess.Popen(
        [str(videogen), "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group: we can check nothing of it survives
    )
    assert process.stdout is not None and process.stderr is not None
    # Both streams are drained from the start, by threads: a readline() here would wait forever
    # on a twin that hangs without printing (CI once did, until its time limit).
    printed: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=_lines_then_end, args=(process.stdout, printed), daemon=True).start()
    threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True).start()
    banner: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while not any(line.startswith("Ready in") for line in banner):
        try:
            line = printed.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:  # the twin ended, or the deadline passed
            break
        banner.append(line.rstrip("\n"))
    if not any(line.startswith("Ready in") for line in banner) or not banner[0].startswith(
        "videogen local twin: "
    ):
        _end_group(process)
        raise AssertionError(
            f"twin did not start within {START_TIMEOUT_S} s: {banner} {''.join(errors)[-8000:]}"
        )
    output: list[str] = errors  # stderr so far, then both streams
    threading.Thread(target=_queue_into, args=(printed, output), daemon=True).start()
    return RunningTwin(
        process=process,
        base_url=banner[0].removeprefix("videogen local twin: "),
        token=banner[1].removeprefix("token: "),
        banner=banner,
        output=output,
    )


def stop_twin(twin: RunningTwin, timeout: float = 30) -> int:
    twin.process.send_signal(signal.SIGTERM)
    try:
        return twin.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        twin.process.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack to stderr
        time.sleep(1)
        twin.process.kill()
        twin.process.wait(timeout=10)
        printed = "".join(twin.output)
        raise AssertionError(f"the twin did not stop within {timeout} s:\n{printed[-8000:]}") from None


def process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    """The shared twin runs models as fast as they render (these tests check the flows); the
    progress test starts one as a user gets it (models at a tenth of their typical time)."""
    running = start_twin(free_port(), None, "--model-time-scale", "0")
    yield running
    if running.process.poll() is None:
        stop_twin(running)


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed on this machine")
    return path
