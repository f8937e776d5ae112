"""`videogen serve` when the twin cannot start: it says why and ends, with nothing left running.

Before this, a start that failed half way (a missing package on a fresh install) printed a
traceback and then hung: moto's and the front's threads kept the process alive, with no banner,
and CI waited on it until its time ran out.
"""

from __future__ import annotations

import socket

import pytest

from twin import server
from twin.server import Twin, TwinConfig


def test_a_failed_start_exits_with_status_1_and_stops_what_it_started(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    stopped: list[bool] = []
    real_stop = Twin.stop

    def failing_start(self: Twin) -> Twin:
        self._bind_front()  # the front's port is taken, as the real start takes it first
        raise ModuleNotFoundError("No module named 'openapi_spec_validator'")

    def recording_stop(self: Twin) -> None:
        stopped.append(True)
        real_stop(self)

    monkeypatch.setattr(Twin, "start", failing_start)
    monkeypatch.setattr(Twin, "stop", recording_stop)
    config = TwinConfig(host="127.0.0.1", port=0)

    assert server.serve(config) == 1  # (serve() installs signal handlers: the main thread only)
    assert stopped == [True]
    printed = capfd.readouterr().err
    assert "openapi_spec_validator" in printed
    assert "the twin did not start" in printed


def test_a_failed_start_frees_the_front_port(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def failing_start(self: Twin) -> Twin:
        self._bind_front()
        raise RuntimeError("boom")

    monkeypatch.setattr(Twin, "start", failing_start)
    assert server.serve(TwinConfig(host="127.0.0.1", port=port)) == 1
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # raises "Address already in use" if the front was left open
