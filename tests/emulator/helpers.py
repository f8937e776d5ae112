"""Helpers shared by the emulator tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import replicate
from replicate.prediction import Prediction

from replicate_emulator.render import ffmpeg_exe
from service.model_catalog import catalog

TOKEN = "r8_test_token"
TERMINAL = ("succeeded", "failed", "canceled", "aborted")


@dataclass(frozen=True)
class ImageServer:
    base_url: str
    root: Path

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


def create(client: replicate.Client, model: str, inp: dict[str, Any], **extra: Any) -> Prediction:
    """Create a prediction the way Replicate wants this model addressed: an official model by
    name, a community model by its version (the catalog's)."""
    entry = catalog().get(model)
    assert entry is not None, model
    if entry.official:
        return client.predictions.create(model=model, input=inp, **extra)
    return client.predictions.create(version=entry.version, input=inp, **extra)


def version_of(model: str) -> str:
    entry = catalog().get(model)
    assert entry is not None, model
    return entry.version


def make_image(path: Path, lavfi_source: str) -> Path:
    source = ["-f", "lavfi", "-i", lavfi_source]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *source, "-frames:v", "1", str(path)]
    subprocess.run(cmd, check=True, timeout=30)
    return path


def closed_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_done(client: replicate.Client, prediction: Prediction, timeout_s: float = 30.0) -> Prediction:
    """Poll quickly (the client's own ``wait()`` polls every 0.5 s) until a terminal status."""
    deadline = time.monotonic() + timeout_s
    while prediction.status not in TERMINAL:
        if time.monotonic() > deadline:
            raise AssertionError(f"prediction {prediction.id} still {prediction.status} after {timeout_s}s")
        time.sleep(0.05)
        prediction = client.predictions.get(prediction.id)
    return prediction


def wait_for(condition: Any, timeout_s: float = 10.0, interval_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval_s)


def ffmpeg_children() -> list[int]:
    """PIDs of live ffmpeg processes whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after ')'.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == os.getpid() and state != "Z" and b"ffmpeg" in cmdline:
            found.append(int(entry.name))
    return found
