"""EventBridge's "Step Functions Execution Status Change" events, for the twin and the tests.

moto has no EventBridge wired to Step Functions, so this source stands in for the rules CDK
deploys (``infra/events.py``): every function of the catalog with ``execution_events`` receives an
event, shaped exactly as EventBridge delivers it, when an execution of our state machine reaches
one of those statuses. Both use :func:`status_change_event`.

EventBridge is told of a status change; it does not look for one. So is this source: moto runs in
this process (the tests' decorator mode, the twin's ``ThreadedMotoServer``), and :func:`install`
has moto's execution worker report each execution's end here (no library offers this; the seam is
pinned by ``tests/workflow/test_lambda_runner_seam.py``). Listing every ended execution instead
costs a round trip per status and page each round, which after a few hundred tasks took most of
moto's CPU from the API's reads (``docs/performance.md``). The twin runs :meth:`ExecutionEvents.start`
(a thread that delivers as soon as an execution ends); tests call :meth:`ExecutionEvents.deliver`
when they want the events to have been delivered.

A target that fails is retried in a later round, up to ``attempts`` times, as EventBridge and
Lambda's asynchronous invocation retry (the thread retries every ``interval_s``); then the event is
kept in :attr:`dead_letters` (the stack's dead-letter queue).
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
import uuid
import weakref
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


#: The event sources in this process, told of every execution's end (weakly held: a source that is
#: never closed is forgotten with its deployment).
_sources: list[weakref.ref[ExecutionEvents]] = []
_sources_lock = threading.Lock()


def _live_sources(state_machine_arn: str) -> list[ExecutionEvents]:
    with _sources_lock:
        _sources[:] = [ref for ref in _sources if ref() is not None]
        found = [ref() for ref in _sources]
    return [
        source for source in found if source is not None and source.state_machine_arn == state_machine_arn
    ]


def install() -> None:
    """Have moto's execution worker tell the sources of this process when an execution ends.

    The source hears of the end twice: before moto records the final status (so whoever sees the
    status, a test's ``describe_execution`` included, finds the execution already announced), and
    after (so the source's thread wakes when the status can be read)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    with _sources_lock:
        if getattr(BaseExecutionWorkerCommunication.terminated, "_videogen_announces", False):
            return
        original = BaseExecutionWorkerCommunication.terminated

        @functools.wraps(original)
        def terminated(self: Any) -> None:
            execution = self.execution
            sources = _live_sources(execution.state_machine.arn)
            for source in sources:
                source._announce(execution.exec_arn)
            try:
                original(self)
            finally:
                for source in sources:
                    source._wake.set()

        terminated._videogen_announces = True  # type: ignore[attr-defined]
        BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


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
    #: Seconds between a target's failed delivery and its retry (the thread's rounds).
    retry_after_s: float = 1.0
    _announced: list[str] = field(default_factory=list)  # ended executions not yet taken by a round
    _announced_lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: dict[str, None] = field(default_factory=dict)  # ended executions with targets left
    _done: set[tuple[str, str, str]] = field(default_factory=set)  # (arn, status, function)
    _failures: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _retry_at: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        install()
        with _sources_lock:
            _sources.append(weakref.ref(self))

    def _subscribed(self, status: str) -> dict[str, FunctionSpec | QueueSpec]:
        """Key in ``_done`` → each function and queue whose rule matches ``status``."""
        found: dict[str, FunctionSpec | QueueSpec] = {
            spec.name: spec for spec in self.targets if status in spec.execution_events
        }
        if self.enqueue is not None:
            found |= {f"queue:{q.name}": q for q in self.queue_targets if status in q.execution_events}
        return found

    def _announce(self, execution_arn: str) -> None:
        with self._announced_lock:
            self._announced.append(execution_arn)

    def deliver(self) -> list[dict[str, Any]]:
        """One round: every execution that ended in a subscribed status gets its event delivered to
        each function and queue that subscribed to it, once (a failed target is retried). Returns
        the events that reached all their targets in this round (delivered, or given up as a dead
        letter), each once."""
        return self._round(now=None)

    def _round(self, now: float | None) -> list[dict[str, Any]]:
        """``now``: the thread's clock (a failed target waits ``retry_after_s``); None: retry now."""
        with self._lock:  # one round at a time: the thread and a test's call never deliver twice
            with self._announced_lock:
                announced, self._announced = self._announced, []
            self._pending.update(dict.fromkeys(announced))
            delivered = []
            account = self.state_machine_arn.split(":")[4]
            for arn in list(self._pending):
                described = self.sfn.describe_execution(executionArn=arn)
                status = described["status"]
                if status == "RUNNING":
                    continue  # announced while moto records its end: the next round (woken) has it
                targets = self._subscribed(status)
                due = [
                    name
                    for name in targets
                    if (arn, status, name) not in self._done
                    and (now is None or self._retry_at.get((arn, status, name), 0.0) <= now)
                ]
                if not targets:  # a status nobody subscribed to
                    del self._pending[arn]
                    continue
                if not due:
                    continue  # its failed targets wait for their retry
                event = status_change_event(described, region=self.region, account=account)
                for name in due:
                    self._deliver_one((arn, status, name), targets[name], event)
                if all((arn, status, name) in self._done for name in targets):
                    del self._pending[arn]
                    delivered.append(event)
            return delivered

    def _deliver_one(
        self, key: tuple[str, str, str], target: FunctionSpec | QueueSpec, event: dict[str, Any]
    ) -> None:
        if isinstance(target, QueueSpec):  # EventBridge's SQS target: sent, or retried in a later round
            assert self.enqueue is not None
            try:
                self.enqueue(target, event)
            except Exception:
                self._retry_at[key] = time.monotonic() + self.retry_after_s
                return
        elif self.invoke(target, event):  # a function: retried, then kept as a dead letter
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] < self.attempts:
                self._retry_at[key] = time.monotonic() + self.retry_after_s
                return
            self.dead_letters.append({"function": target.name, "event": event})
        self._done.add(key)

    # -- the twin: a thread that delivers as executions end ------------------------------------------
    def start(self, interval_s: float = 1.0) -> None:
        """Deliver as soon as an execution ends, and retry failed targets every ``interval_s``."""
        self.retry_after_s = interval_s

        def run() -> None:
            while not self._stop.is_set():
                self._wake.wait(interval_s if self._pending else None)
                self._wake.clear()
                if self._stop.is_set():
                    return
                with contextlib.suppress(Exception):  # moto stopping under us: the next round retries
                    self._round(now=time.monotonic())

        self._thread = threading.Thread(target=run, name="twin-execution-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and stop listening to moto (the deployment is closing)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with _sources_lock:
            _sources[:] = [ref for ref in _sources if ref() is not None and ref() is not self]


def event_json(event: dict[str, Any]) -> str:
    """As EventBridge would hand it to a target (the tests read it back)."""
    return json.dumps(event)
