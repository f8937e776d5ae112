"""The dashboard page on the twin: ``/`` and the files of the built page (``web/dist``).

The twin serves the page on the API's own origin, so the page's ``config.json`` says
``"apiUrl": ""`` (this origin). It sends the security headers CloudFront sends
(``web/headers.json``), so the browser tests run the page under its deployed Content-Security-Policy;
the one difference is that plain ``http:`` is allowed next to ``https:``, because the twin's media
are served over plain HTTP on loopback. ``make serve`` builds the page when it is missing or stale;
when it was never built (no Node.js), ``/`` says how to build it and the API still works.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
#: The built page (``npm --prefix web run build``).
DIST = WEB_ROOT / "dist"

NOT_BUILT = (
    b"<!doctype html><meta charset=utf-8><title>videogen</title>"
    b"<p>The dashboard page is not built. Run <code>make serve</code> (it builds it with npm), "
    b"or <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>.</p>"
)
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}


def security_headers(path: Path = WEB_ROOT / "headers.json") -> list[tuple[str, str]]:
    """``web/headers.json`` as the twin sends it (``http:`` allowed wherever ``https:`` is)."""
    headers = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
    policy = headers.get("Content-Security-Policy")
    if policy:
        headers["Content-Security-Policy"] = policy.replace(" https:", " https: http:")
    return list(headers.items())


_SECURITY = security_headers()


@dataclass(frozen=True)
class PageFile:
    content_type: str
    cache_control: str
    body: bytes

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [("Content-Type", self.content_type), ("Cache-Control", self.cache_control), *_SECURITY]


def page_file(path: str, dist: Path = DIST) -> PageFile | None:
    """The page's file for a request path, or None when the path is not the page's (the API's).

    ``/`` is ``index.html``; other paths are served only if they are files of the built page
    (never outside it). Content-hashed ``assets/`` are immutable; the rest is revalidated.
    """
    if path in ("/", "/index.html"):
        index = dist / "index.html"
        body = index.read_bytes() if index.is_file() else NOT_BUILT
        return PageFile("text/html; charset=utf-8", "no-cache", body)
    relative = path.lstrip("/")
    if not relative or not dist.is_dir():
        return None
    root = dist.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_file() or root not in candidate.parents:
        return None
    content_type = (
        _TYPES.get(candidate.suffix) or mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
    )
    immutable = candidate.parent == root / "assets"
    return PageFile(
        content_type,
        "public, max-age=31536000, immutable" if immutable else "no-cache",
        candidate.read_bytes(),
    )
