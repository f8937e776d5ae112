"""Download prediction inputs given as URLs (http/https) or ``data:`` URIs, like Cog does."""

from __future__ import annotations

import base64
import binascii
import errno
import threading
import urllib.parse
from pathlib import Path

import httpx

from .errors import PredictionCanceled, PredictionError

FETCH_TIMEOUT_S = 15.0
MAX_INPUT_BYTES = 20 * 1024 * 1024


def fetch_input(
    url: str,
    dest: Path,
    field: str,
    *,
    timeout_s: float = FETCH_TIMEOUT_S,
    max_bytes: int = MAX_INPUT_BYTES,
    canceled: threading.Event | None = None,
) -> Path:
    """Store the file behind ``url`` at ``dest``; PredictionError with a readable reason otherwise."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "data":
        data = _decode_data_uri(url, field)
        if len(data) > max_bytes:
            raise _fetch_error(field, url, f"larger than {max_bytes // (1024 * 1024)} MB")
        dest.write_bytes(data)
        return dest
    if scheme not in ("http", "https"):
        raise _fetch_error(field, url, f"unsupported URL scheme {scheme or '(none)'!r}")
    _download(url, dest, field, timeout_s, max_bytes, canceled)
    return dest


def _download(
    url: str, dest: Path, field: str, timeout_s: float, max_bytes: int, canceled: threading.Event | None
) -> None:
    received = 0
    try:
        # trust_env=False: proxy settings must not hijack loopback/LAN fetches in the offline twin.
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=True, trust_env=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise _fetch_error(field, url, f"HTTP {response.status_code}")
            with dest.open("wb") as out:
                for chunk in response.iter_bytes():
                    if canceled is not None and canceled.is_set():
                        raise PredictionCanceled()
                    received += len(chunk)
                    if received > max_bytes:
                        raise _fetch_error(field, url, f"larger than {max_bytes // (1024 * 1024)} MB")
                    out.write(chunk)
    except httpx.TimeoutException as exc:
        raise _fetch_error(field, url, f"timed out after {timeout_s:g} s") from exc
    except httpx.ConnectError as exc:
        raise _fetch_error(field, url, _connect_reason(exc)) from exc
    except httpx.HTTPError as exc:
        raise _fetch_error(field, url, str(exc) or type(exc).__name__) from exc


def _connect_reason(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else f"connection failed ({text})"


def _decode_data_uri(url: str, field: str) -> bytes:
    header, sep, payload = url[len("data:") :].partition(",")
    if not sep:
        raise _fetch_error(field, url, "malformed data URI")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise _fetch_error(field, url, "invalid base64 in data URI") from exc
    return urllib.parse.unquote_to_bytes(payload)


def describe_url(url: str) -> str:
    """URLs for error messages: data URIs are shortened, they can be megabytes long."""
    if url.lower().startswith("data:"):
        return url.split(",", 1)[0] + ",…"
    return url if len(url) <= 300 else url[:297] + "…"


def _fetch_error(field: str, url: str, reason: str) -> PredictionError:
    return PredictionError(f"Could not fetch {field} from {describe_url(url)}: {reason}")
