"""Workflow fixtures: the Replicate emulator (real HTTP, real ffmpeg) and an image server."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import imageio_ffmpeg
import pytest

from replicate_emulator import ReplicateEmulator
from service.catalog import WorkflowTiming
from tests.support import Stack


@pytest.fixture(scope="session")
def emulator() -> Iterator[ReplicateEmulator]:
    with ReplicateEmulator() as emu:  # started on a free loopback port, stopped at the end
        yield emu


@pytest.fixture(scope="session")
def image_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two real JPEGs (and a file that is not an image) over loopback HTTP."""
    folder: Path = tmp_path_factory.mktemp("images")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    for name, source in (("front.jpg", "testsrc2=size=640x360"), ("tail.jpg", "mandelbrot=size=640x360")):
        subprocess.run(
            [ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", source, "-frames:v", "1", str(folder / name)],
            check=True,
        )
    (folder / "notes.jpg").write_text("this is not an image")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def live(deploy: Callable[..., Stack], emulator: ReplicateEmulator) -> Callable[..., Stack]:
    """Deploy against the emulator (reset for each test); the test picks the timing."""
    emulator.reset()
    stacks: list[Stack] = []

    def _live(timing: WorkflowTiming | None = None, *, webhooks: bool = False, **settings: str) -> Stack:
        stack = deploy(
            timing or WorkflowTiming(poll_interval_s=1, max_polls=30),
            emulator.base_url,
            webhooks=webhooks,
            **settings,
        )
        stacks.append(stack)
        return stack

    yield _live  # type: ignore[misc]
    for stack in stacks:
        stack.stop_all()
