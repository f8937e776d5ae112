"""Where Finalize may download model outputs from: a list of origins, checked before every request.

A model's output URL comes from the provider's answer; Finalize fetches it with the function's
network access, so it must only ever reach the provider's delivery hosts (Replicate serves output
files from ``replicate.delivery`` and its subdomains), never an address someone slipped into an
answer or a redirect (the metadata service, a private host, ...).

An origin is ``scheme://host[:port]``; a host may start with ``*.`` to mean any subdomain (not the
domain itself). Without a port, the scheme's default port is the only one allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"https": 443, "http": 80}
#: Replicate's delivery domains (https://replicate.com/docs/topics/predictions/output-files).
REPLICATE_DELIVERY = ("https://replicate.delivery", "https://*.replicate.delivery")


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower-case; without the "*." of a wildcard
    port: int
    subdomains: bool  # "*.host": any subdomain of host

    @classmethod
    def parse(cls, text: str) -> Origin:
        parts = urlsplit(text.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"origin {text!r}: the scheme must be https or http")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError(f"origin {text!r}: scheme://host[:port] only")
        netloc = parts.netloc.lower()
        host, _, port_text = netloc.rpartition(":") if netloc.count(":") == 1 else (netloc, "", "")
        subdomains = host.startswith("*.")
        host = host.removeprefix("*.")
        if not host or "*" in host:
            raise ValueError(f"origin {text!r}: a host, or *.domain")
        try:
            port = int(port_text) if port_text else DEFAULT_PORTS[scheme]
        except ValueError:
            raise ValueError(f"origin {text!r}: the port must be a number") from None
        return cls(scheme, host, port, subdomains)

    def allows(self, scheme: str, host: str, port: int) -> bool:
        if (scheme, port) != (self.scheme, self.port):
            return False
        return host.endswith("." + self.host) if self.subdomains else host == self.host


class AllowedOrigins:
    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = tuple(Origin.parse(text) for text in origins if text.strip())

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
            port = parts.port or DEFAULT_PORTS.get(scheme)
        except ValueError:  # a malformed port
            return False
        if not host or port is None or parts.username is not None or parts.password is not None:
            return False
        return any(origin.allows(scheme, host, port) for origin in self.origins)


def parse_origins(text: str) -> tuple[str, ...]:
    """A comma-separated list (the settings' form), each entry checked."""
    entries = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    for entry in entries:
        Origin.parse(entry)
    return entries
