"""Caller webhooks without AWS: which addresses a delivery may reach, the Standard Webhooks
signature (ours against the reference implementation, both ways, and the SDK's verifier), the
backoff, the list cursors."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as ReferenceError

from service.domain import webhooks
from service.domain.controls import CursorSigner, InvalidCursor
from service.domain.webhooks import WebhookUrlRefused, check_url
from videogen_client import WebhookVerificationError, verify_webhook


def resolver(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: Any, *args: Any) -> list[Any]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.9.9.9", "::1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254",
        "169.254.1.1", "fe80::1", "fd00:ec2::254", "fc00::1", "100.64.0.1", "100.127.255.254", "224.0.0.1",
        "ff02::1", "0.0.0.0", "::", "240.0.0.1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "64:ff9b::a00:1", "2002:a00:1::", "192.0.2.1", "198.18.0.1", "2001:db8::1",
    ],
)  # fmt: skip
def test_no_delivery_reaches_a_non_public_address(address: str) -> None:
    assert webhooks.refusal(ipaddress.ip_address(address), allow_loopback=False) is not None
    with pytest.raises(WebhookUrlRefused, match="public address"):
        check_url("https://hooks.example.com/x", allow_loopback=False, resolve=resolver(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    found = check_url("https://hooks.example.com/x", allow_loopback=False, resolve=resolver(address))
    assert found.addresses == (address,) and found.port == 443


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(WebhookUrlRefused, match="private"):
        check_url("https://hooks.example.com/", allow_loopback=False, resolve=resolver("8.8.8.8", "10.0.0.1"))


def test_loopback_http_only_where_allowed_and_never_private_http() -> None:
    assert check_url("http://127.0.0.1:9000/h", allow_loopback=True).addresses == ("127.0.0.1",)
    with pytest.raises(WebhookUrlRefused, match="https"):
        check_url("http://127.0.0.1:9000/h", allow_loopback=False)
    with pytest.raises(WebhookUrlRefused, match="private"):
        check_url("http://10.0.0.1/h", allow_loopback=True)
    with pytest.raises(WebhookUrlRefused, match="https"):  # http to a public host: never
        check_url("http://hooks.example.com/h", allow_loopback=True, resolve=resolver("93.184.216.34"))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://h.example.com/", "https"),
        ("https://u:p@h.example.com/", "user name"),
        ("https:///path", "no host"),
        ("https://h.example.com/#frag", "fragment"),
        ("https://h.example.com:99999/", "not a valid URL"),
        ("https://h.example.com/" + "x" * 2100, "longer"),
    ],
)
def test_malformed_webhook_urls_are_refused_with_a_reason(url: str, why: str) -> None:
    with pytest.raises(WebhookUrlRefused, match=why):
        check_url(url, allow_loopback=False, resolve=resolver("93.184.216.34"))


def test_an_unresolvable_host_is_refused() -> None:
    def fail(*args: Any) -> Any:
        raise socket.gaierror("no such host")

    with pytest.raises(WebhookUrlRefused, match="does not resolve"):
        check_url("https://nowhere.example/", allow_loopback=False, resolve=fail)


# -- signatures: ours, the SDK's verifier, the reference implementation ------------------------------
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = json.dumps(
    {
        "id": "msg_1",
        "type": "task.succeeded",
        "timestamp": "2026-11-30T09:00:00Z",
        "data": {"task_id": "t", "state": "SUCCESS", "ready": True, "kind": "dream",
                 "created_at": "2026-11-30T08:59:00Z"},
    }
).encode()  # fmt: skip


def test_our_signature_is_the_reference_implementations() -> None:
    now = int(time.time())
    headers = webhooks.headers([SECRET], "msg_1", now, BODY)
    assert Webhook(SECRET).verify(BODY, headers)["id"] == "msg_1"
    reference = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(now, UTC), BODY.decode())
    assert headers["webhook-signature"] == reference


def test_after_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    other = webhooks.new_secret()
    headers = webhooks.headers([other, SECRET], "msg_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (other, SECRET):
        assert Webhook(secret).verify(BODY, headers)["type"] == "task.succeeded"
        assert verify_webhook(BODY, headers, secret).data.state == "SUCCESS"
    with pytest.raises(ReferenceError):
        Webhook(webhooks.new_secret()).verify(BODY, headers)


def test_the_sdk_verifier_accepts_what_the_reference_signs_and_refuses_tampering() -> None:
    now = int(time.time())
    signature = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(now, UTC), BODY.decode())
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(now), "Webhook-Signature": signature}
    event = verify_webhook(BODY, headers, SECRET)
    assert event.id == "msg_1" and event.type == "task.succeeded" and event.data.kind == "dream"
    for changed_body, changed_headers, why in [
        (BODY.replace(b"SUCCESS", b"FAILURE"), headers, "no valid signature"),
        (BODY, {**headers, "Webhook-Id": "msg_2"}, "no valid signature"),
        (BODY, {**headers, "Webhook-Timestamp": str(now - 3600)}, "too old"),
        (BODY, {k: v for k, v in headers.items() if k != "Webhook-Signature"}, "missing"),
    ]:
        with pytest.raises(WebhookVerificationError, match=why):
            verify_webhook(changed_body, changed_headers, SECRET)
    with pytest.raises(WebhookVerificationError, match="no valid signature"):
        verify_webhook(BODY, headers, webhooks.new_secret())


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret != webhooks.new_secret()


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    top = [webhooks.backoff_s(n, base=30, cap=3600, rng=lambda: 1.0) for n in range(1, 10)]
    assert top == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert webhooks.backoff_s(5, base=30, cap=3600, rng=lambda: 0.0) == 0.0
    assert webhooks.backoff_s(5, base=30, cap=3600, rng=lambda: 0.5) == 240


def test_twenty_four_hours_of_production_retries_fit_in_sqs() -> None:
    """The window is time, not a count: attempts go on while the first is less than 24 h old, each
    delay within SQS's 12-hour visibility limit; with full jitter the count varies, never the window."""
    from service.settings import DeliverySettings

    fields = DeliverySettings.fields()
    base, cap = fields["retry_base_seconds"].default, fields["retry_cap_seconds"].default
    assert fields["retry_window_seconds"].default >= 24 * 3600 and cap <= 12 * 3600
    assert webhooks.backoff_s(100, base=base, cap=cap, rng=lambda: 1.0) == cap


# -- cursors ------------------------------------------------------------------------------------------
def test_cursors_round_trip_and_refuse_tampering_other_owners_and_other_filters() -> None:
    signer = CursorSigner(lambda: b"key")
    position = {"task_id": "t1", "owner": "alice", "created_at": "2026-11-30T09:00:00.000000Z"}
    cursor = signer.encode("alice", "state=&kind=", position)
    assert signer.decode("alice", "state=&kind=", cursor) == position
    payload, mac = cursor.split(".")
    for owner, filters, bad in [
        ("alice", "state=&kind=", payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac),
        ("mallory", "state=&kind=", cursor),
        ("alice", "state=SUCCESS&kind=", cursor),
        ("alice", "state=&kind=", "nonsense"),
        ("alice", "state=&kind=", cursor + "x"),
    ]:
        with pytest.raises(InvalidCursor):
            signer.decode(owner, filters, bad)
    with pytest.raises(InvalidCursor):  # another key (a rotated one)
        CursorSigner(lambda: b"other").decode("alice", "state=&kind=", cursor)
