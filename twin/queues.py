"""SQS event source mappings, for the twin and the tests: a consumer function reads its queue.

moto has SQS but no Lambda event source mapping that runs our functions, so this stands in for the
ones CDK deploys (``infra/deliveries.py``): receive up to ``batch_size`` messages (each receive counts
towards the queue's redrive policy, as in SQS), invoke the consumer with an SQS event shaped as
Lambda builds one, then delete every message the consumer did not report in ``batchItemFailures``
(partial batch responses, as the stack's mapping is configured). A failed invocation leaves the
whole batch in the queue. The twin runs :meth:`QueueConsumers.start` (a thread); tests call
:meth:`QueueConsumers.poll` or :meth:`QueueConsumers.drain`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.catalog import QUEUES, FunctionSpec, QueueSpec, function

#: (function, event) → (payload, errored): the deployment's runtime.
Invoke = Callable[[FunctionSpec, dict[str, Any]], tuple[str, bool]]


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for ``messages`` (ReceiveMessage's)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


@dataclass
class QueueConsumers:
    sqs: Any  # an SQS client of the deployment
    urls: dict[str, str]  # queue name -> URL
    invoke: Invoke
    region: str = "us-east-1"
    queues: tuple[QueueSpec, ...] = QUEUES
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _arn(self, spec: QueueSpec) -> str:
        return str(
            self.sqs.get_queue_attributes(QueueUrl=self.urls[spec.name], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        )

    def poll(self, wait_s: int = 0) -> int:
        """One receive per queue; the messages handed to their consumer. Returns how many."""
        handled = 0
        with self._lock:
            for spec in self.queues:
                url = self.urls[spec.name]
                received = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=spec.batch_size,
                    AttributeNames=["All"],
                    WaitTimeSeconds=wait_s,
                ).get("Messages", [])
                if not received:
                    continue
                handled += len(received)
                payload, errored = self.invoke(
                    function(spec.consumer), sqs_event(received, self._arn(spec), self.region)
                )
                if errored:
                    continue  # the batch comes back after the visibility timeout
                failed = {item["itemIdentifier"] for item in json.loads(payload).get("batchItemFailures", [])}
                for message in received:
                    if message["MessageId"] not in failed:
                        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return handled

    def in_queue(self, name: str) -> int:
        """Messages in the queue, visible or not."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.urls[name],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def drain(self, timeout_s: float = 30.0, interval_s: float = 0.1) -> None:
        """Poll until every queue is empty (retries come back as their delays pass)."""
        deadline = time.monotonic() + timeout_s
        while any(self.in_queue(spec.name) for spec in self.queues):
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues not empty after {timeout_s} s")
            if not self.poll():
                time.sleep(interval_s)

    # -- the twin: a thread ------------------------------------------------------------------------
    def start(self, interval_s: float = 0.5) -> None:
        def run() -> None:
            while not self._stop.is_set():
                handled = 0
                with contextlib.suppress(Exception):  # moto stopping under us: the next round retries
                    handled = self.poll()
                if not handled:
                    self._stop.wait(interval_s)

        self._thread = threading.Thread(target=run, name="twin-queue-consumers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
