"""The emulator's webhooks, as Replicate sends them: events, signing, throttling, retries, no
redirects, and each fault it injects. A receiver on loopback records what arrives; signatures are
checked with the official client's own validator (``replicate.webhooks.validate``)."""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import replicate
from replicate.webhook import InvalidSignatureError, InvalidTimestampError, WebhookSigningSecret

from replicate_emulator import ReplicateEmulator

from .helpers import TOKEN, create, wait_until_done

MUSICGEN = "meta/musicgen"
KLING = "kwaivgi/kling-v1.6-pro"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_for(condition: Any, timeout: float = 30.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@dataclass
class Received:
    headers: dict[str, str]
    body: str

    @property
    def prediction(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """A webhook endpoint on loopback: records each request; answers ``answers`` in turn, then 200."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self) -> list[str]:
        with self.lock:
            return [r.prediction["status"] for r in self.requests]

    def wait_for_status(self, status: str, timeout: float = 30.0) -> None:
        wait_for(lambda: status in self.statuses(), timeout=timeout, what=f"a {status} webhook")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            with state.lock:
                state.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                answer = state.answers.pop(0) if state.answers else 200
            self.send_response(answer)
            if answer in (301, 302, 307, 308):
                self.send_header("Location", state.url + "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/task-1?x=1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def secret(emulator: ReplicateEmulator) -> WebhookSigningSecret:
    answer = httpx.get(f"{emulator.base_url}/v1/webhooks/default/secret", headers=AUTH, timeout=10)
    assert answer.status_code == 200
    key = answer.json()["key"]
    assert key.startswith("whsec_")
    return WebhookSigningSecret(key=key)


def music(client: replicate.Client, receiver: Receiver, **extra: Any) -> Any:
    return create(client, MUSICGEN, {"prompt": "calm piano", "duration": 3}, webhook=receiver.url, **extra)


# -- events, signing, throttling ------------------------------------------------------------------------
def test_webhooks_carry_the_prediction_signed_with_the_accounts_secret(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    emulator.faults.min_processing_s = 2.0  # audiocraft's counter over 2 s: several logs webhooks
    prediction = music(client, receiver, webhook_events_filter=["start", "logs", "completed"])
    wait_until_done(client, prediction)
    receiver.wait_for_status("succeeded")
    signing = secret(emulator)
    requests = list(receiver.requests)
    # Every one is signed as Replicate signs: the official client's validator accepts it
    for request in requests:
        replicate.webhooks.validate(headers=request.headers, body=request.body, secret=signing, tolerance=300)
        assert request.headers["content-type"] == "application/json"
        assert request.prediction["id"] == prediction.id
    # start first (status starting), then logs while it runs, completed last with the output
    statuses = [r.prediction["status"] for r in requests]
    assert statuses[0] == "starting" and statuses[-1] == "succeeded"
    assert statuses.count("succeeded") == 1 and "processing" in statuses
    assert requests[-1].prediction["output"] and requests[-1].prediction["logs"]
    # logs webhooks at most every 500 ms (a little slack for the clock)
    processing = [r for r in requests if r.prediction["status"] == "processing"]
    assert len(processing) >= 2
    deliveries = [d for d in emulator.webhook_deliveries() if d["event"] == "logs"]
    times = [datetime.fromisoformat(d["sent_at"].replace("Z", "+00:00")).timestamp() for d in deliveries]
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(times)), times
    # each webhook has its own id
    assert len({r.headers["webhook-id"] for r in requests}) == len(requests)


def test_a_tampered_body_or_a_stale_timestamp_does_not_verify(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    prediction = music(client, receiver, webhook_events_filter=["completed"])
    wait_until_done(client, prediction)
    receiver.wait_for_status("succeeded")
    request = receiver.requests[-1]
    signing = secret(emulator)
    with pytest.raises(InvalidSignatureError):
        replicate.webhooks.validate(
            headers=request.headers, body=request.body.replace("succeeded", "failed"), secret=signing
        )
    emulator.faults.stale_webhooks = {"completed"}
    second = music(client, receiver, webhook_events_filter=["completed"])
    wait_until_done(client, second)
    wait_for(
        lambda: (
            sum(
                1
                for r in receiver.requests
                if r.prediction["id"] == second.id and r.prediction["status"] == "succeeded"
            )
            == 1
        ),
        what="the stale completed",
    )
    stale = [r for r in receiver.requests if r.prediction["id"] == second.id][-1]
    replicate.webhooks.validate(headers=stale.headers, body=stale.body, secret=signing)  # genuine...
    with pytest.raises(InvalidTimestampError):  # ...but ten minutes old
        replicate.webhooks.validate(headers=stale.headers, body=stale.body, secret=signing, tolerance=300)


def test_without_a_filter_start_output_and_completed_are_sent_and_no_logs(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    prediction = music(client, receiver)
    wait_until_done(client, prediction)
    receiver.wait_for_status("succeeded")
    wait_for(lambda: len(emulator.webhook_deliveries()) >= 3, what="three deliveries")
    assert [d["event"] for d in emulator.webhook_deliveries()] == ["start", "output", "completed"]


def test_a_canceled_prediction_sends_completed(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    emulator.faults.never_finish = {"*"}
    prediction = music(client, receiver, webhook_events_filter=["completed"])
    client.predictions.cancel(prediction.id)
    receiver.wait_for_status("canceled")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"webhook": "not a url"}, "webhook"),
        ({"webhook": "ftp://example.com/x"}, "webhook"),
        (
            {"webhook": "http://127.0.0.1:9/x", "webhook_events_filter": ["finished"]},
            "webhook_events_filter.0",
        ),
    ],
)
def test_an_invalid_webhook_or_filter_is_refused_before_anything_runs(
    emulator: ReplicateEmulator, body: dict[str, Any], field: str
) -> None:
    answer = httpx.post(
        f"{emulator.base_url}/v1/models/{KLING}/predictions",
        headers=AUTH,
        json={"input": {"prompt": "x", "start_image": "http://127.0.0.1:9/a.png"}, **body},
        timeout=10,
    )
    assert answer.status_code == 422
    assert [f["field"] for f in answer.json()["invalid_fields"]] == [field]
    assert emulator.predictions() == []


# -- delivery: retries, no redirects ------------------------------------------------------------------------
def test_a_failed_completed_is_retried_and_other_events_are_not(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    receiver.answers = [500, 503, 500]  # start, then completed twice
    prediction = music(client, receiver, webhook_events_filter=["completed"])
    wait_until_done(client, prediction)
    wait_for(lambda: receiver.statuses().count("succeeded") == 3, timeout=20, what="two retries")
    attempts = [(d["event"], d["attempt"], d["answer"]) for d in emulator.webhook_deliveries()]
    assert attempts == [
        ("start", 1, 500),
        ("completed", 1, 503),
        ("completed", 2, 500),
        ("completed", 3, 200),
    ]
    completed = [r.headers["webhook-id"] for r in receiver.requests if r.prediction["status"] == "succeeded"]
    assert len(set(completed)) == 1, "a retry keeps its webhook-id"


def test_redirects_are_not_followed(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    receiver.answers = [307, 307]
    prediction = music(client, receiver, webhook_events_filter=["completed"])
    wait_until_done(client, prediction)
    wait_for(lambda: receiver.statuses().count("succeeded") == 2, timeout=20, what="a retry")
    # (the emulator records a delivery once it has read the answer: after the receiver saw it)
    wait_for(lambda: len(emulator.webhook_deliveries()) == 3, timeout=10, what="the retry's answer")
    assert all("/elsewhere" not in r.headers.get("host", "") for r in receiver.requests)
    assert len(receiver.requests) == 3  # start, completed (307: a failure), completed again; never /elsewhere
    assert [d["answer"] for d in emulator.webhook_deliveries()] == [307, 307, 200]


# -- faults ----------------------------------------------------------------------------------------------------
def _finished(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver, **faults: Any
) -> list[dict[str, Any]]:
    for name, value in faults.items():
        setattr(emulator.faults, name, value)
    prediction = music(client, receiver, webhook_events_filter=["start", "logs", "completed"])
    wait_until_done(client, prediction)
    wait_for(
        lambda: any(d["event"] == "completed" for d in emulator.webhook_deliveries()),
        timeout=20,
        what="the completed delivery",
    )
    time.sleep(0.3)
    return emulator.webhook_deliveries()


def test_a_dropped_completed_never_arrives(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    deliveries = _finished(client, emulator, receiver, drop_webhooks={"completed"})
    assert next(d for d in deliveries if d["event"] == "completed")["note"] == "dropped"
    assert "succeeded" not in receiver.statuses() and "starting" in receiver.statuses()


def test_duplicated_webhooks_arrive_twice_with_one_id(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    _finished(client, emulator, receiver, duplicate_webhooks={"completed"})
    wait_for(lambda: receiver.statuses().count("succeeded") == 2, what="both copies")
    ids = {r.headers["webhook-id"] for r in receiver.requests if r.prediction["status"] == "succeeded"}
    assert len(ids) == 1


def test_reordered_webhooks_arrive_newest_first(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    emulator.faults.min_processing_s = 1.5
    _finished(client, emulator, receiver, reorder_webhooks=True)
    wait_for(lambda: "starting" in receiver.statuses(), what="the held start")
    statuses = receiver.statuses()
    assert statuses[0] == "succeeded" and statuses[-1] == "starting", statuses


def test_a_delayed_webhook_comes_that_much_later(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    began = time.monotonic()
    emulator.faults.delay_webhooks_s = 1.5
    prediction = music(client, receiver, webhook_events_filter=["completed"])
    receiver.wait_for_status("starting")
    assert time.monotonic() - began >= 1.5
    wait_until_done(client, prediction)


def test_a_forged_webhook_replaces_the_genuine_one_and_does_not_verify(
    client: replicate.Client, emulator: ReplicateEmulator, receiver: Receiver
) -> None:
    _finished(client, emulator, receiver, forge_webhooks={"completed"})
    receiver.wait_for_status("failed")
    forged = [r for r in receiver.requests if r.prediction["status"] == "failed"][-1]
    assert "succeeded" not in receiver.statuses()
    with pytest.raises(InvalidSignatureError):
        replicate.webhooks.validate(headers=forged.headers, body=forged.body, secret=secret(emulator))


def test_webhook_faults_are_set_and_read_through_the_control_route(emulator: ReplicateEmulator) -> None:
    answer = httpx.post(
        f"{emulator.base_url}/_emulator/faults",
        json={"drop_webhooks": ["completed"], "reorder_webhooks": True, "delay_webhooks_s": 0.5},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["drop_webhooks"] == ["completed"] and answer.json()["reorder_webhooks"] is True
    refused = httpx.post(
        f"{emulator.base_url}/_emulator/faults", json={"forge_webhooks": ["finished"]}, timeout=10
    )
    assert refused.status_code == 400 and "webhook events" in refused.json()["detail"]
    assert httpx.get(f"{emulator.base_url}/_emulator/webhooks", timeout=10).json() == []
