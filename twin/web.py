"""The dashboard page on the twin: ``/`` and the files of the built page (``web/dist``).

The twin serves the page on the API's own origin, so the page's ``config.json`` says
``"apiUrl": ""`` (this origin). ``make serve`` builds the page when it is missing or stale; when
it was never built (no Node.js on the machine), ``/`` says how to build it and the API still works.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

#: The built page (``npm --prefix web run build``).
DIST = Path(__file__).resolve().parent.parent / "web" / "dist"

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


@dataclass(frozen=True)
class PageFile:
    content_type: str
    cache_control: str
    body: bytes


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
