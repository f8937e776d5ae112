"""Finalize's downloads: only from the allowed origins (redirects included, each hop checked before
it is requested), never past the size cap, and errors that name no URL."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.domain.errors import OutputRefused, OutputUnavailable
from service.domain.origins import REPLICATE_DELIVERY, AllowedOrigins, Origin, parse_origins
from service.domain.workflow import Workflow
from service.settings import ConfigurationError, FinalizeSettings


# -- origins ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://replicate.delivery/yhqm/abc/out-0.mp4", True),
        ("https://pbxt.replicate.delivery/abc/out.mp4", True),
        ("https://a.b.replicate.delivery/x", True),
        ("https://REPLICATE.DELIVERY/x", True),
        ("https://replicate.delivery:443/x", True),
        ("http://replicate.delivery/x", False),  # the scheme is part of the origin
        ("https://replicate.delivery:8443/x", False),
        ("https://evilreplicate.delivery/x", False),
        ("https://replicate.delivery.evil.com/x", False),
        ("https://replicate.delivery@169.254.169.254/latest/meta-data", False),
        ("https://user:pw@replicate.delivery/x", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("file:///etc/passwd", False),
        ("https://replicate.delivery:bad/x", False),
        ("not a url", False),
    ],
)
def test_replicate_delivery_and_its_subdomains_only(url: str, allowed: bool) -> None:
    assert AllowedOrigins(REPLICATE_DELIVERY).allows(url) is allowed


@pytest.mark.parametrize(
    "origin",
    ["ftp://x.example", "https://x.example/path", "https://*", "https://a.*.example", "https://x:port"],
)
def test_an_origin_is_scheme_host_and_port(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        Origin.parse(origin)


def test_the_setting_is_checked_at_cold_start() -> None:
    base = {"VIDEOGEN_TASKS_TABLE": "t", "VIDEOGEN_OWNERS_TABLE": "o", "VIDEOGEN_MEDIA_BUCKET": "b"}
    assert parse_origins(FinalizeSettings.from_environment(base).output_origins) == REPLICATE_DELIVERY
    with pytest.raises(ConfigurationError, match="VIDEOGEN_OUTPUT_ORIGINS"):
        FinalizeSettings.from_environment({**base, "VIDEOGEN_OUTPUT_ORIGINS": "https://ok.example,ftp://no"})


# -- downloads --------------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]] = {}
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(f"{self.server.server_address[1]}{self.path}")  # type: ignore[index]
        self.routes[self.path](self)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve() -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """Two hosts (two ports): the allowed one, and another."""
    (a, a_url), (b, b_url) = _serve(), _serve()
    _Handler.seen = []

    def redirect(to: str) -> Callable[[http.server.BaseHTTPRequestHandler], None]:
        def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(302)
            handler.send_header("Location", to)
            handler.end_headers()

        return answer

    def body(data: bytes) -> Callable[[http.server.BaseHTTPRequestHandler], None]:
        def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        return answer

    _Handler.routes = {
        "/video.mp4": body(b"video bytes"),
        "/big.mp4": body(b"x" * 5000),
        "/hop": redirect("/video.mp4"),
        "/away": redirect(f"{b_url}/video.mp4"),
        "/loop": redirect("/loop"),
    }
    yield a_url, b_url
    for server in (a, b):
        server.shutdown()
        server.server_close()


def finalizer(allowed: str, max_bytes: int = 1000) -> Workflow:
    return Workflow(tasks=None, output_origins=AllowedOrigins([allowed]), max_video_bytes=max_bytes)  # type: ignore[arg-type]


def test_an_output_at_an_allowed_origin_is_downloaded_redirects_within_it_too(
    servers: tuple[str, str], tmp_path: Path
) -> None:
    allowed, _ = servers
    steps = finalizer(allowed)
    assert (
        steps._download("t", "video", f"{allowed}/video.mp4", tmp_path / "a").read_bytes() == b"video bytes"
    )
    assert steps._download("t", "video", f"{allowed}/hop", tmp_path / "b").read_bytes() == b"video bytes"


def test_an_output_elsewhere_is_refused_before_any_request(servers: tuple[str, str], tmp_path: Path) -> None:
    allowed, other = servers
    with pytest.raises(OutputRefused) as refused:
        finalizer(allowed)._download("t", "video", f"{other}/video.mp4", tmp_path / "v")
    assert "127.0.0.1" not in str(refused.value) and "http" not in str(refused.value)
    assert _Handler.seen == []


def test_a_redirect_elsewhere_is_not_followed(servers: tuple[str, str], tmp_path: Path) -> None:
    allowed, _ = servers
    with pytest.raises(OutputRefused):
        finalizer(allowed)._download("t", "video", f"{allowed}/away", tmp_path / "v")
    assert [hit.split("/", 1)[0] for hit in _Handler.seen] == [allowed.rsplit(":", 1)[1]]  # never the other


def test_the_size_cap_and_redirect_loops_still_hold(servers: tuple[str, str], tmp_path: Path) -> None:
    allowed, _ = servers
    with pytest.raises(OutputUnavailable, match="too large"):
        finalizer(allowed, max_bytes=1000)._download("t", "video", f"{allowed}/big.mp4", tmp_path / "v")
    with pytest.raises(OutputUnavailable, match="redirects"):
        finalizer(allowed)._download("t", "video", f"{allowed}/loop", tmp_path / "w")
