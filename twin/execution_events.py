"""EventBridge's "Step Functions Execution Status Change" events, for the twin and the tests.

moto has no EventBridge wired to Step Functions, so this source stands in for the rules CDK
deploys (``infra/events.py``): every function of the catalog with ``execution_events`` receives an
event, shaped exactly as EventBridge delivers it, when an execution of our state machine reaches
one of those statuses. The twin runs :meth:`ExecutionEvents.start` (a thread that notices
executions leaving RUNNING); tests call :meth:`ExecutionEvents.deliver` when they want the events
to have been delivered. Both use :func:`status_change_event`.

A target that fails is retried on the next round, up to ``attempts`` times, as EventBridge and
Lambda's asynchronous invocation retry; then the event is kept in :attr:`dead_letters` (the
stack's dead-letter queue).
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.catalog import FUNCTIONS, QUEUES, FunctionSpec, QueueSpec
from service.models.events import DETAIL_TYPE, SOURCE

#: (function, event) → whether the function failed; the deployment's runtime invokes it.
Invoke = Callable[[FunctionSpec, dict[str, Any]], bool]
#: (queue, event) → the event sent to that queue (an EventBridge rule's SQS target).
Enqueue = Callable[[QueueSpec, dict[str, Any]], None]


def _millis(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


def status_change_event(execution: dict[str, Any], *, region: str, account: str) -> dict[str, Any]:
    """The EventBridge event for an execution as ``DescribeExecution`` describes it."""
    has_input = execution.get("input") is not None
    has_output = execution.get("output") is not None
    detail = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution["name"],
        "status": execution["status"],
        "startDate": _millis(execution.get("startDate")),
        "stopDate": _millis(execution.get("stopDate")),
        "input": execution.get("input"),
        "output": execution.get("output"),
        "inputDetails": {"included": has_input},
        "outputDetails": {"included": True} if has_output else None,
        "error": execution.get("error"),
        "cause": execution.get("cause"),
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution["executionArn"]],
        "detail": detail,
    }


@dataclass
class ExecutionEvents:
    """Delivers status changes of ``state_machine_arn``'s executions to the subscribed functions."""

    sfn: Any  # a Step Functions client of the deployment
    state_machine_arn: str
    invoke: Invoke
    region: str = "us-east-1"
    #: Deliveries of one event before it is given up (EventBridge retries, then Lambda's own two).
    attempts: int = 3
    targets: list[FunctionSpec] = field(default_factory=lambda: [s for s in FUNCTIONS if s.execution_events])
    #: Queues that rules feed (the caller webhooks' deliveries), and how an event reaches one.
    enqueue: Enqueue | None = None
    queue_targets: list[QueueSpec] = field(default_factory=lambda: [q for q in QUEUES if q.execution_events])
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    _done: set[tuple[str, str, str]] = field(default_factory=set)  # (arn, status, function)
    _failures: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def statuses(self) -> set[str]:
        queued = {s for spec in self.queue_targets for s in spec.execution_events} if self.enqueue else set()
        return {status for spec in self.targets for status in spec.execution_events} | queued

    def _executions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for status in sorted(self.statuses):
            for page in self.sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.state_machine_arn, statusFilter=status
            ):
                found.extend(page["executions"])
        return found

    def deliver(self) -> list[dict[str, Any]]:
        """One round: every execution now in a subscribed status gets its event delivered to each
        function and queue that subscribed to it, once. Returns the events that reached all their
        targets in this round (delivered, or given up as a dead letter), each once."""
        with self._lock:  # one round at a time: the thread and a test's call never deliver twice
            delivered = []
            account = self.state_machine_arn.split(":")[4]
            for listed in self._executions():
                pending = [
                    spec
                    for spec in self.targets
                    if listed["status"] in spec.execution_events
                    and (listed["executionArn"], listed["status"], spec.name) not in self._done
                ]
                queues = [
                    spec
                    for spec in (self.queue_targets if self.enqueue else [])
                    if listed["status"] in spec.execution_events
                    and (listed["executionArn"], listed["status"], f"queue:{spec.name}") not in self._done
                ]
                if not pending and not queues:
                    continue
                described = self.sfn.describe_execution(executionArn=listed["executionArn"])
                event = status_change_event(described, region=self.region, account=account)
                for queue in queues:  # EventBridge's SQS target: sent, or retried on the next round
                    assert self.enqueue is not None
                    try:
                        self.enqueue(queue, event)
                    except Exception:
                        continue
                    self._done.add((listed["executionArn"], listed["status"], f"queue:{queue.name}"))
                for spec in pending:
                    key = (listed["executionArn"], listed["status"], spec.name)
                    if self.invoke(spec, event):
                        self._failures[key] = self._failures.get(key, 0) + 1
                        if self._failures[key] < self.attempts:
                            continue
                        self.dead_letters.append({"function": spec.name, "event": event})
                    self._done.add(key)
                targets = [spec.name for spec in pending] + [f"queue:{spec.name}" for spec in queues]
                if all((listed["executionArn"], listed["status"], t) in self._done for t in targets):
                    delivered.append(event)
            return delivered

    # -- the twin: a thread that delivers every ``interval_s`` --------------------------------------
    def start(self, interval_s: float = 1.0) -> None:
        def run() -> None:
            while not self._stop.wait(interval_s):
                with contextlib.suppress(Exception):  # moto stopping under us: the next round retries
                    self.deliver()

        self._thread = threading.Thread(target=run, name="twin-execution-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def event_json(event: dict[str, Any]) -> str:
    """As EventBridge would hand it to a target (the tests read it back)."""
    return json.dumps(event)
