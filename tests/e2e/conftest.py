"""The local twin as a user runs it: `videogen serve` in a subprocess, driven over real HTTP."""

from __future__ import annotations

import os
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


def _drain(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


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
    assert process.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(line.startswith("Ready in") for line in banner):
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
    if not banner or not banner[0].startswith("videogen local twin: "):
        process.kill()
        raise AssertionError(
            f"twin did not start: {banner} {process.stderr.read() if process.stderr else ''}"
        )
    output: list[str] = []
    for stream in (process.stdout, process.stderr):
        threading.Thread(target=_drain, args=(stream, output), daemon=True).start()
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
