"""Fixtures for the Replicate emulator tests: a running emulator, the official client, an image server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import replicate

from replicate_emulator import ReplicateEmulator

from .helpers import TOKEN, ImageServer, make_image


@pytest.fixture(scope="module")
def emulator() -> Iterator[ReplicateEmulator]:
    emu = ReplicateEmulator(api_token=TOKEN)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def _reset_emulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from default faults; leftovers are canceled and forgotten afterwards."""
    yield
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset()


@pytest.fixture
def client(emulator: ReplicateEmulator) -> replicate.Client:
    return replicate.Client(api_token=TOKEN, base_url=emulator.base_url)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageServer]:
    """Serves start.png, end.jpg and not_an_image.jpg over HTTP on loopback; anything else is a 404."""
    root = tmp_path_factory.mktemp("images")
    make_image(root / "start.png", "testsrc2=s=800x450")
    make_image(root / "end.jpg", "mandelbrot=s=480x480:maxiter=100")
    (root / "not_an_image.jpg").write_text("<html>this is not an image</html>\n")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="test-image-server", daemon=True)
    thread.start()
    yield ImageServer(f"http://127.0.0.1:{server.server_address[1]}", root)
    server.shutdown()
    server.server_close()
    thread.join(5)
