"""Caller webhooks: where we may POST (checked at submit and again at every attempt), how an event is
signed (the Standard Webhooks scheme), and when the next attempt comes (exponential backoff, full
jitter).

Written here rather than taken from a library: the check is a few lines of ``ipaddress`` over
``getaddrinfo`` (no library refuses exactly the address classes below for both families), and the
signature is one HMAC-SHA256 from the standard library. ``tests/unit`` checks the signature against
the Standard Webhooks reference implementation (the ``standardwebhooks`` package), both ways.

Nothing here does HTTP: the deliver function's adapter connects only to addresses this module
allowed (``service.adapters.webhook_client``), so a DNS answer that changes between the check and the
connection cannot take a delivery to a private address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: The longest webhook_url we take.
MAX_URL_CHARS = 2048
SECRET_PREFIX = "whsec_"
#: Bytes of a new secret (Standard Webhooks: between 24 and 64).
SECRET_BYTES = 32

#: ``getaddrinfo``'s signature, injectable (tests resolve names without a network).
Resolve = Callable[..., Any]

#: Addresses no delivery may reach, beyond what ``ipaddress`` calls non-global: the instance
#: metadata services (AWS's IPv4 and IPv6, and the link-local range they live in), CGNAT, and the
#: IPv4 ranges that hide inside IPv6 (mapped, NAT64, 6to4, Teredo) are unwrapped and checked too.
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookUrlRefused(ValueError):
    """The webhook_url cannot be used: the message says why, for the owner."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> str | None:
    """Why a delivery may not go to ``address`` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped IPv6 address"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return refusal(embedded, allow_loopback=allow_loopback)
    if address in _METADATA:
        return "the instance metadata address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    for test, name in (
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a carrier-grade NAT address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "an address that is not public"),
    ):
        if test:
            return name
    return None


@dataclass(frozen=True)
class Destination:
    """A checked webhook URL: its parts and the addresses its host resolved to (all allowed)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse_url(url: str, *, allow_loopback: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL, or ``WebhookUrlRefused`` saying what is wrong with it."""
    if len(url) > MAX_URL_CHARS:
        raise WebhookUrlRefused(f"webhook_url is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookUrlRefused(f"webhook_url is not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise WebhookUrlRefused("webhook_url must be an https:// URL")
    if scheme == "http" and not allow_loopback:
        raise WebhookUrlRefused("webhook_url must be an https:// URL (http is not accepted)")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused("webhook_url must not carry a user name or password")
    if parts.fragment:
        raise WebhookUrlRefused("webhook_url must not have a #fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookUrlRefused("webhook_url has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def resolve_allowed(
    host: str, port: int, *, allow_loopback: bool, resolve: Resolve | None = None
) -> tuple[str, ...]:
    """Every address ``host`` resolves to, if all of them may be reached; else ``WebhookUrlRefused``.
    One refused address refuses the host: which address a connection would use is not ours to pick."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found: list[str] = [str(literal)]
    else:
        try:
            infos = (resolve or socket.getaddrinfo)(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise WebhookUrlRefused(f"webhook_url's host {host!r} does not resolve") from None
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not found:
            raise WebhookUrlRefused(f"webhook_url's host {host!r} does not resolve")
    for text in found:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        why = refusal(address, allow_loopback=allow_loopback)
        if why is not None:
            raise WebhookUrlRefused(
                f"webhook_url's host must be a public address: {host!r} is {why} ({address})"
            )
    return tuple(found)


def check_url(url: str, *, allow_loopback: bool, resolve: Resolve | None = None) -> Destination:
    """A webhook URL we may POST to: https (or loopback http where allowed), no credentials, a host
    whose every address is public (loopback too where allowed)."""
    scheme, host, port = parse_url(url, allow_loopback=allow_loopback)
    addresses = resolve_allowed(host, port, allow_loopback=allow_loopback, resolve=resolve)
    if scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise WebhookUrlRefused("webhook_url must be an https:// URL (http only to loopback, here)")
    return Destination(url, scheme, host, port, addresses)


# -- Standard Webhooks signatures ---------------------------------------------------------------------
def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed by the secret's base64 part."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Sequence[str], event_id: str, timestamp: int, body: bytes) -> str:
    """One signature per valid secret, space-separated (after a rotation, the previous secret signs
    too for a while, so that receivers can switch without losing events)."""
    return " ".join(signature(secret, event_id, timestamp, body) for secret in secrets_)


def headers(secrets_: Sequence[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, event_id, timestamp, body),
    }


# -- when the next attempt comes ----------------------------------------------------------------------
def backoff_s(failures: int, *, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: a uniform draw from [0, min(cap, base * 2^(failures - 1))]."""
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    return rng() * ceiling


def event_id_for(task_id: str) -> str:
    """One event per task, the same id on every attempt: ``msg_`` + the task's uuid without dashes."""
    return "msg_" + task_id.replace("-", "")
