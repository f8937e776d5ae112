"""SQS: a consumer's control over its messages (the next attempt's delay; the dead-letter queue)."""

from __future__ import annotations

import math
from typing import Any

from service.adapters import aws

#: SQS's longest visibility timeout (a message's next receive is at most this far away).
MAX_VISIBILITY_S = 12 * 3600


class Queue:
    def __init__(self, url: str, dead_letter_url: str, client: Any = None) -> None:
        self.url = url
        self.dead_letter_url = dead_letter_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("sqs")
        return self._client

    def retry_in(self, receipt_handle: str, seconds: float) -> None:
        """The message comes back in ``seconds`` (the consumer then reports it failed, so the event
        source mapping leaves it in the queue)."""
        timeout = max(0, min(MAX_VISIBILITY_S, math.ceil(seconds)))
        self.client.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout
        )

    def dead_letter(self, body: str, reason: str) -> None:
        self.client.send_message(
            QueueUrl=self.dead_letter_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256]}},
        )
