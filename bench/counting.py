"""Counting what a task costs: AWS calls (botocore event hooks), Lambda invocations and their
durations (a wrapper around the in-process runner), Replicate calls (the emulator's access log),
DynamoDB capacity units (from item sizes) and state transitions (from execution histories).

Every call is attributed to a *label*: the Lambda function whose handler made it (set by
:meth:`AwsCallCounter.instrument_invocations`), or a label the caller sets with
:meth:`AwsCallCounter.label`. Calls made outside any label (the bench's own reads of histories
and tables) are not counted.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from service.catalog import FUNCTIONS

#: Operations that read or write DynamoDB items (and how they are billed).
DYNAMODB_READS = frozenset({"GetItem"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
#: Transactional writes: each item is billed twice (2 WRU per KB, AWS's published rule).
DYNAMODB_TRANSACTIONS = frozenset({"TransactWriteItems"})
#: S3 operations of an upload (s3transfer makes them from worker threads, outside any label).
S3_WRITES = frozenset({"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"})
#: Operations IAM authorizes as another action: a DeleteObjects is a DeleteObject of each key.
AUTHORIZED_AS = {("s3", "DeleteObjects"): "s3:DeleteObject"}
#: The clients of ``service.adapters.aws`` the functions use.
SERVICES = ("dynamodb", "stepfunctions", "s3", "sqs")


def media_writer() -> str | None:
    """The one function the catalog lets write media (uploads are attributed to it), if one."""
    writers = [spec.name for spec in FUNCTIONS if "media:write" in spec.needs]
    return writers[0] if len(writers) == 1 else None


@dataclass
class Call:
    label: str
    service: str
    operation: str
    table: str | None = None
    key: str | None = None
    consistent: bool = False
    item_bytes: int | None = None  # PutItem: the item written
    #: TransactWriteItems: (the item's action: PutItem, UpdateItem, DeleteItem; table, key, bytes of
    #: a Put's item or None) per item written
    items: list[tuple[str, str | None, str | None, int | None]] = field(default_factory=list)


@dataclass
class AwsCallCounter:
    """Counts calls on boto3 clients by label; also times Lambda invocations by function name."""

    calls: list[Call] = field(default_factory=list)
    invocations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    #: The largest size seen per (table, key): GetItem answers, PutItem items, final scans.
    item_sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- attach ---------------------------------------------------------------------------------
    def attach(self, client: Any) -> None:
        """Count every API call ``client`` makes from now on (idempotent per client)."""
        events = client.meta.events
        events.register("before-parameter-build", self._before, unique_id=f"bench-count-{id(self)}")
        events.register("after-call.dynamodb.GetItem", self._after_get, unique_id=f"bench-get-{id(self)}")

    def detach(self, client: Any) -> None:
        events = client.meta.events
        events.unregister("before-parameter-build", unique_id=f"bench-count-{id(self)}")
        events.unregister("after-call.dynamodb.GetItem", unique_id=f"bench-get-{id(self)}")

    def attach_service_clients(self, services: Iterable[str] = SERVICES) -> None:
        from service.adapters import aws

        for service in services:
            self.attach(aws.client(service))

    def detach_service_clients(self, services: Iterable[str] = SERVICES) -> None:
        from service.adapters import aws

        for service in services:
            self.detach(aws.client(service))

    @contextmanager
    def label(self, name: str) -> Iterator[None]:
        previous = getattr(self._local, "label", None)
        self._local.label = name
        try:
            yield
        finally:
            self._local.label = previous

    @contextmanager
    def instrument_invocations(self) -> Iterator[None]:
        """Label and time every handler the in-process Lambda runner calls (the state machine's
        tasks and the API Gateway emulator's integrations alike)."""
        from twin.lambda_runner import InProcessRuntime

        original = InProcessRuntime.invoke

        def timed(runtime: InProcessRuntime, spec: Any, event: Any, context: Any) -> tuple[str, bool]:
            with self.label(spec.name):
                began = time.perf_counter()
                payload, errored = original(runtime, spec, event, context)
                elapsed_ms = (time.perf_counter() - began) * 1000
            with self._lock:
                self.invocations[spec.name].append(elapsed_ms)
                if errored:
                    self.errors[spec.name] += 1
            return payload, errored

        InProcessRuntime.invoke = timed  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            InProcessRuntime.invoke = original  # type: ignore[method-assign]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.invocations.clear()
            self.errors.clear()

    # -- hooks ----------------------------------------------------------------------------------
    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get("is_presign_request"):  # signing a URL is not a call
            return
        service = model.service_model.service_name
        label = getattr(self._local, "label", None)
        if label is None and service == "s3" and model.name in S3_WRITES:
            label = media_writer()  # s3transfer uploads from its own worker threads
        if label is None:
            return
        call = Call(label, service, model.name)
        if service == "dynamodb":
            call.table = params.get("TableName")
            call.key = _key_text(params.get("Key") or params.get("Item") or {})
            call.consistent = bool(params.get("ConsistentRead"))
            if model.name == "PutItem":
                call.item_bytes = item_size(params.get("Item") or {})
                self._remember_size(call.table, call.key, call.item_bytes)
            for entry in params.get("TransactItems") or []:
                ((kind, operation),) = entry.items()
                if kind == "ConditionCheck":
                    continue
                key = _key_text(operation.get("Key") or operation.get("Item") or {})
                size = item_size(operation["Item"]) if kind == "Put" else None
                call.items.append((f"{kind}Item", operation.get("TableName"), key, size))
                if size is not None:
                    self._remember_size(operation.get("TableName"), key, size)
        context["bench_call"] = call  # the same dict reaches after-call
        with self._lock:
            self.calls.append(call)

    def _after_get(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("bench_call")
        if call is not None and parsed.get("Item"):
            self._remember_size(call.table, call.key, item_size(parsed["Item"]))

    def _remember_size(self, table: str | None, key: str | None, size: int) -> None:
        if table is None or key is None:
            return
        with self._lock:
            self.item_sizes[(table, key)] = max(self.item_sizes.get((table, key), 0), size)

    def record_table_sizes(self, client: Any, tables: Iterable[str]) -> None:
        """Scan ``tables`` (uncounted) and remember every item's size."""
        for table in tables:
            for page in client.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    key = _key_text(
                        {k: v for k, v in item.items() if k in ("task_id", "token_hash", "owner")}
                    )
                    self._remember_size(table, key, item_size(item))

    # -- reading the counts ---------------------------------------------------------------------
    def count(
        self, label: str | None = None, service: str | None = None, operation: str | None = None
    ) -> int:
        return sum(
            1
            for c in self.calls
            if (label is None or c.label == label)
            and (service is None or c.service == service)
            and (operation is None or c.operation == operation)
        )

    def operations(self, label: str) -> dict[str, int]:
        """``{"dynamodb.GetItem": n, ...}`` for one label."""
        counted = Counter(f"{c.service}.{c.operation}" for c in self.calls if c.label == label)
        return dict(sorted(counted.items()))

    def capacity_units(self, label: str) -> dict[str, float]:
        """DynamoDB on-demand request units the label's calls consumed (item sizes as recorded)."""
        reads = writes = 0.0
        for c in self.calls:
            if c.label != label or c.service != "dynamodb":
                continue
            size = self.item_sizes.get((c.table or "?", c.key or "?")) or c.item_bytes or 1
            if c.operation in DYNAMODB_READS:
                reads += read_units(size, consistent=c.consistent)
            elif c.operation in DYNAMODB_WRITES:
                writes += write_units(size)
            elif c.operation in DYNAMODB_TRANSACTIONS:
                for _, table, key, put_bytes in c.items:
                    item = self.item_sizes.get((table or "?", key or "?")) or put_bytes or 1
                    writes += 2 * write_units(item)
        return {"read_units": reads, "write_units": writes}

    def actions(self, label: str) -> set[str]:
        """The IAM actions of the label's calls (``dynamodb:GetItem``...): a transaction is authorized
        as the PutItem, UpdateItem or DeleteItem of each of its items."""
        prefixes = {"dynamodb": "dynamodb", "stepfunctions": "states", "s3": "s3", "sqs": "sqs"}
        found: set[str] = set()
        for c in self.calls:
            if c.label != label:
                continue
            if c.operation in DYNAMODB_TRANSACTIONS:
                found |= {f"dynamodb:{action}" for action, *_ in c.items}
            elif (c.service, c.operation) in AUTHORIZED_AS:
                found.add(AUTHORIZED_AS[(c.service, c.operation)])
            else:
                found.add(f"{prefixes[c.service]}:{c.operation}")
        return found

    def items_written(self, label: str) -> int:
        """DynamoDB items the label's calls wrote (a transaction writes each of its items)."""
        return sum(
            len(c.items) if c.operation in DYNAMODB_TRANSACTIONS else 1
            for c in self.calls
            if c.label == label
            and c.service == "dynamodb"
            and c.operation in DYNAMODB_WRITES | DYNAMODB_TRANSACTIONS
        )

    def invocation_ms(self, name: str) -> list[float]:
        return list(self.invocations.get(name, []))


def _key_text(key: dict[str, Any]) -> str | None:
    for name in ("task_id", "token_hash", "owner"):
        value = key.get(name)
        if isinstance(value, dict) and "S" in value:
            return f"{name}={value['S']}"
    return None


# -- DynamoDB item size and request units (AWS's published rules) ----------------------------------
def _value_size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":  # ~1 byte per two significant digits, plus one
        digits = str(inner).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        element = kind[0]
        return sum(_value_size({element: v}) for v in inner)
    return len(str(inner))


def item_size(item: dict[str, Any]) -> int:
    """Bytes of a DynamoDB item in its wire form: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def read_units(size_bytes: int, *, consistent: bool) -> float:
    """One RRU per 4 KB strongly consistent read; half for an eventually consistent one."""
    units = max(1, math.ceil(size_bytes / 4096))
    return float(units if consistent else units / 2)


def write_units(size_bytes: int) -> float:
    """One WRU per 1 KB written."""
    return float(max(1, math.ceil(size_bytes / 1024)))


# -- Replicate calls (counted from the emulator's access log) ---------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/')


class ReplicateRequestCounter(logging.Handler):
    """Counts the Replicate emulator's API requests (``GET /v1/predictions/…`` and creates)."""

    LOGGER = "replicate_emulator.access"

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.requests: Counter[str] = Counter()
        self._logger = logging.getLogger(self.LOGGER)
        self._previous_level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        found = _REQUEST_LINE.search(_ANSI.sub("", record.getMessage()))
        if found is None or not found["path"].startswith("/v1/"):
            return
        method, path = found["method"], found["path"]
        if path.endswith("/cancel"):
            self.requests["cancel"] += 1
        elif method == "POST" and path.endswith("/predictions"):
            self.requests["create"] += 1
        elif method == "GET" and path.startswith("/v1/predictions/"):
            self.requests["get"] += 1
        else:
            self.requests["other"] += 1

    def __enter__(self) -> ReplicateRequestCounter:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._previous_level)


# -- state transitions from execution histories -----------------------------------------------------
#: One poll cycle: the states the workflow enters once per poll.
POLL_CYCLE_STATES = ("WaitBeforePoll", "PollPredictions", "PredictionsDone?")


@dataclass(frozen=True)
class TransitionCount:
    """State transitions of one execution (Step Functions Standard bills each state entered)."""

    total: int
    cycles: int
    by_state: dict[str, int]

    @property
    def in_cycles(self) -> int:
        return sum(self.by_state.get(state, 0) for state in POLL_CYCLE_STATES)

    @property
    def per_cycle(self) -> float:
        return self.in_cycles / self.cycles if self.cycles else math.nan

    @property
    def fixed(self) -> int:
        """Transitions that do not repeat with polling (start, finalize, the end state)."""
        return self.total - self.in_cycles


def count_transitions(history: Iterable[dict[str, Any]]) -> TransitionCount:
    """Count ``*StateEntered`` events; a poll cycle is one entry into ``PollPredictions``."""
    by_state: Counter[str] = Counter()
    for event in history:
        if event.get("type", "").endswith("StateEntered"):
            by_state[event["stateEnteredEventDetails"]["name"]] += 1
    return TransitionCount(
        total=sum(by_state.values()), cycles=by_state.get("PollPredictions", 0), by_state=dict(by_state)
    )


def state_seconds(history: Iterable[dict[str, Any]], state: str) -> list[float]:
    """How long each visit to ``state`` lasted (entered to exited), from the history's timestamps."""
    durations: list[float] = []
    entered = None
    for event in history:
        kind = event.get("type", "")
        if kind.endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == state:
            entered = event["timestamp"]
        elif (
            kind.endswith("StateExited")
            and entered is not None
            and event["stateExitedEventDetails"]["name"] == state
        ):
            durations.append((event["timestamp"] - entered).total_seconds())
            entered = None
    return durations


def execution_history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events
