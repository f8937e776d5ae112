"""The handlers in-process against moto (decorator mode), called through the API Gateway emulator.

Three measurements, each on a freshly provisioned service (``twin.deployment``, in-process):

* **warm latency** — submit and status handler durations (and authorizer), executions recorded
  but not run, so only the API path is timed;
* **a counted workflow run** — tasks run to SUCCESS through the real ASL and the Replicate
  emulator while a client reads their status, and a *naive* status reader (DescribeExecution on
  every read) reads them too. Every AWS call is counted by the Lambda function that made it,
  every Replicate call from the emulator's access log, every state transition from the
  execution histories; these per-task counts feed the cost model;
* **a stale record** — a task whose execution never writes back, read every 0.1 s with a short
  ``VIDEOGEN_STALE_AFTER_SECONDS``: how many DescribeExecution calls a stuck task costs.

Run alone: ``python -m bench.inprocess --out inprocess.json``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.counting import (
    AwsCallCounter,
    ReplicateRequestCounter,
    count_transitions,
    execution_history,
    state_seconds,
)
from bench.stats import summary
from twin.examples import spec_transition_request

#: A request as the transitions spec shows it; the images need not exist (executions do not run).
TRANSITION_BODY: dict[str, Any] = spec_transition_request()
API_FUNCTIONS = ("submit", "status", "authorizer")
WORKFLOW_FUNCTIONS = ("start_predictions", "await_wake", "poll_predictions", "finalize", "fail_task")
#: The functions that run once per poll cycle (WaitBeforePoll's and PollPredictions').
CYCLE_FUNCTIONS = ("await_wake", "poll_predictions")


#: The bench submits hundreds of tasks as one owner, faster than any owner may: its load phases lift
#: the per-owner limits and the usage plan's throttle (what they cost is measured all the same).
UNLIMITED_OWNER = {"max_in_flight": "100000", "submits_per_minute": "100000", "submits_per_day": "1000000"}
UNLIMITED_RATE = {"owner_rate_limit": 100_000.0, "owner_burst_limit": 100_000}


def fake_aws_environment() -> None:
    """No real AWS: fake credentials, no endpoint override, quiet powertools (as tests/conftest)."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
    )
    for variable in (
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "MOTO_PORT",
    ):
        os.environ.pop(variable, None)


def reset_process_caches() -> None:
    from service import settings
    from service.handlers import wiring, workflow_wiring

    settings.reset()
    wiring.reset()
    workflow_wiring.reset()


@dataclass
class Service:
    """One provisioned deployment in moto, called as a client would through the gateway emulator."""

    deployment: Any
    gateway: Any
    token: str

    def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        response = self.gateway.request(method, url, token=self.token, json_body=body)
        text = response.body.decode()
        return response.status, json.loads(text) if text else None

    def submit_transition(self, body: dict[str, Any] | None = None) -> str:
        status, answer = self.call("POST", "/api/transitions/create-and-generate/", body or TRANSITION_BODY)
        if status != 202:
            raise RuntimeError(f"submit answered {status}: {answer}")
        return str(answer["task_id"])

    def submit_dream(self, dream: str = "a whale over Paris", style: str = "Animated") -> str:
        query = urllib.parse.urlencode({"dream": dream, "style": style})
        status, answer = self.call("POST", f"/generate-video?{query}")
        if status != 202:
            raise RuntimeError(f"submit answered {status}: {answer}")
        return str(answer["task_id"])

    def status(self, task_id: str) -> dict[str, Any]:
        status, answer = self.call("GET", f"/api/transitions/task-status/{task_id}/")
        if status != 200:
            raise RuntimeError(f"status answered {status}: {answer}")
        return dict(answer)

    @property
    def sfn(self) -> Any:
        return self.deployment.client("stepfunctions")

    def running(self, arn: str) -> bool:
        return str(self.sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING"


@contextmanager
def provisioned(
    *,
    execute: bool,
    timing: Any = None,
    replicate_url: str = "http://127.0.0.1:9",
    webhook_base_url: str | None = None,
    **settings: str,
) -> Iterator[Service]:
    """moto (decorator mode) with the whole service provisioned (``twin.deployment``, the functions
    in process), and a token for one owner. The authorizer runs on every request (no cache): the
    cost model counts it per request, an upper bound."""
    from moto import mock_aws

    from service.catalog import WorkflowTiming
    from twin.deployment import LocalDeployment

    with mock_aws(config={"stepfunctions": {"execute_state_machine": execute}}):
        reset_process_caches()
        deployment = LocalDeployment(
            timing=timing or WorkflowTiming(),
            replicate_base_url=replicate_url,
            settings={**UNLIMITED_OWNER, **settings},
            webhook_base_url=webhook_base_url,
            **UNLIMITED_RATE,  # type: ignore[arg-type]
        )
        with deployment:
            reset_process_caches()
            yield Service(deployment, deployment.gateway(), deployment.mint_token("bench"))
        reset_process_caches()


def import_handlers() -> None:
    """Warm containers: every handler module imported before anything is timed."""
    from service.catalog import FUNCTIONS
    from twin import lambda_runner

    for spec in FUNCTIONS:
        lambda_runner.resolve(spec.handler)


# -- warm latency ------------------------------------------------------------------------------------
def measure_warm_latency(counter: AwsCallCounter, *, submits: int = 150, reads: int = 300) -> dict[str, Any]:
    """Handler durations of warm submit and status calls (executions recorded, not run)."""
    gateway_ms: dict[str, list[float]] = {"submit": [], "status": []}
    with provisioned(execute=False) as service, counter.instrument_invocations():
        for _ in range(5):  # the first calls build settings, clients and resolvers
            service.status(service.submit_transition())
        counter.reset()
        task_ids = []
        for _ in range(submits):
            began = time.perf_counter()
            task_ids.append(service.submit_transition())
            gateway_ms["submit"].append((time.perf_counter() - began) * 1000)
        for i in range(reads):
            began = time.perf_counter()
            service.status(task_ids[i % len(task_ids)])
            gateway_ms["status"].append((time.perf_counter() - began) * 1000)
        handlers = {name: summary(counter.invocation_ms(name)) for name in API_FUNCTIONS}
        errors = dict(counter.errors)
        dynamodb = submit_dynamodb(counter, submits)
    return {
        "handler": handlers,
        "submit_dynamodb": dynamodb,
        "through_gateway_emulator": {name: summary(values) for name, values in gateway_ms.items()},
        "errors": errors,
        "note": "moto in-process stands in for DynamoDB and Step Functions (its latency, not AWS's)",
    }


def submit_dynamodb(counter: AwsCallCounter, submits: int) -> dict[str, Any]:
    """What a submit costs in DynamoDB: calls, items written, request units (the hot path of the
    per-owner limits: one consistent read of the owner and one more item in the record's write)."""
    units = counter.capacity_units("submit")
    return {
        "calls": {
            op: _per(n, submits)
            for op, n in counter.operations("submit").items()
            if op.startswith("dynamodb.")
        },
        "items_written": _per(counter.items_written("submit"), submits),
        "read_units": _per(units["read_units"], submits),
        "write_units": _per(units["write_units"], submits),
    }


# -- the counted workflow run ---------------------------------------------------------------------------
class NaiveStatusReader:
    """The design we did not build: every status read asks Step Functions (and reads the record)."""

    def __init__(self, deployment: Any) -> None:
        from service.adapters.executions import Executions
        from service.adapters.tasks_table import TasksTable

        self.tasks = TasksTable(deployment.names.table("tasks"))
        self.executions = Executions(deployment.state_machine_arn)

    def read(self, task_arn: str) -> str:
        name = self.executions.name_from_arn(task_arn) or task_arn
        self.tasks.get(name)
        return self.executions.describe(task_arn).status


def measure_workflow(
    counter: AwsCallCounter,
    *,
    tasks: int = 3,
    poll_interval_s: int = 1,
    processing_s: float = 6.0,
    read_interval_s: float = 0.2,
    timeout_s: float = 120.0,
    webhooks: bool = False,
) -> dict[str, Any]:
    """Run ``tasks`` transition tasks (the spec's example request, its images served on loopback)
    to the end while a client, and the naive reader, poll their status. ``webhooks``: the API is
    served over loopback HTTP too and Replicate (the emulator) calls its webhook route."""
    from replicate_emulator import ReplicateEmulator
    from service.adapters import aws
    from service.catalog import WorkflowTiming
    from twin.gateway import GatewayFront

    images = _serve_example_images()
    # Up to three predictions a task (video, music, voice), none queued: this run counts, not times.
    emulator = ReplicateEmulator(render_concurrency=3 * tasks)
    emulator.start()
    emulator.faults.min_processing_s = processing_s
    timing = WorkflowTiming(
        poll_interval_s=poll_interval_s, max_polls=int(timeout_s / max(poll_interval_s, 1))
    )
    front = GatewayFront() if webhooks else None
    try:
        with (
            ReplicateRequestCounter() as replicate_calls,
            provisioned(
                execute=True,
                timing=timing,
                replicate_url=emulator.base_url,
                webhook_base_url=front.url if front else None,
            ) as service,
            counter.instrument_invocations(),
        ):
            if front is not None:
                front.serve(service.gateway)
            counter.reset()
            body = TRANSITION_BODY | {
                "front_image": f"{images.url}/front.jpg",
                "tail_image": f"{images.url}/tail.jpg",
            }
            arns = [service.submit_transition(body) for _ in range(tasks)]
            naive = NaiveStatusReader(service.deployment)
            reads = naive_reads = 0
            states: dict[str, str] = {}
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                for arn in arns:
                    states[arn] = service.status(arn)["state"]
                    reads += 1
                    with counter.label("naive_status"):
                        naive.read(arn)
                    naive_reads += 1
                if all(s in ("SUCCESS", "FAILURE") for s in states.values()) and not any(
                    service.running(a) for a in arns
                ):
                    break
                time.sleep(read_interval_s)
            histories = {arn: execution_history(service.sfn, arn) for arn in arns}
            names = service.deployment.names
            counter.record_table_sizes(
                aws.client("dynamodb"), [names.table(t) for t in ("tasks", "tokens", "owners")]
            )
            return _workflow_figures(
                counter,
                histories,
                states,
                reads=reads,
                naive_reads=naive_reads,
                replicate=dict(replicate_calls.requests),
                poll_interval_s=poll_interval_s,
                read_interval_s=read_interval_s,
                webhook_deliveries=len(emulator.webhook_deliveries()),
            )
    finally:
        emulator.stop()
        images.stop()
        if front is not None:
            front.close()


@dataclass
class _StaticServer:
    server: http.server.ThreadingHTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve_example_images() -> _StaticServer:
    """The twin's example images over loopback HTTP (the emulator fetches a transition's frames)."""
    from twin.server import ASSETS

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(ASSETS))
    )
    threading.Thread(target=server.serve_forever, name="bench-images", daemon=True).start()
    return _StaticServer(server)


def _per(value: float, count: int | float) -> float:
    return round(value / count, 4) if count else 0.0


def _function_figures(counter: AwsCallCounter, name: str, per: float) -> dict[str, Any]:
    durations = counter.invocation_ms(name)
    units = counter.capacity_units(name)
    return {
        "invocations": _per(len(durations), per),
        "mean_ms": round(sum(durations) / len(durations), 2) if durations else 0.0,
        "dynamodb_read_units": _per(units["read_units"], per),
        "dynamodb_write_units": _per(units["write_units"], per),
        "s3_puts": _per(counter.count(name, "s3", "PutObject"), per),
        "calls": {op: _per(n, per) for op, n in counter.operations(name).items()},
    }


def _workflow_figures(
    counter: AwsCallCounter,
    histories: dict[str, list[dict[str, Any]]],
    states: dict[str, str],
    *,
    reads: int,
    naive_reads: int,
    replicate: dict[str, int],
    poll_interval_s: int,
    read_interval_s: float,
    webhook_deliveries: int = 0,
) -> dict[str, Any]:
    counts = [count_transitions(history) for history in histories.values()]
    webhook_requests = len(counter.invocation_ms("replicate_webhooks"))
    predictions = replicate.get("create", 0)
    tasks = len(counts)
    cycles = sum(c.cycles for c in counts)
    submits = len(counter.invocation_ms("submit"))
    status_reads = len(counter.invocation_ms("status"))
    api_requests = submits + status_reads
    describe_ours = counter.count("status", "stepfunctions", "DescribeExecution")
    describe_naive = counter.count("naive_status", "stepfunctions", "DescribeExecution")
    return {
        "tasks": tasks,
        "final_states": sorted(states.values()),
        "poll_interval_s": poll_interval_s,
        "client_read_interval_s": read_interval_s,
        "status_reads": reads,
        "describe_execution": {
            "ours": {
                "reads": status_reads,
                "calls": describe_ours,
                "per_read": _per(describe_ours, status_reads),
            },
            "naive": {
                "reads": naive_reads,
                "calls": describe_naive,
                "per_read": _per(describe_naive, naive_reads),
            },
        },
        "transitions": {
            "per_task": [c.total for c in counts],
            "cycles_per_task": [c.cycles for c in counts],
            "per_cycle": round(sum(c.in_cycles for c in counts) / cycles, 3) if cycles else None,
            "fixed_per_task": round(sum(c.fixed for c in counts) / tasks, 3),
            "by_state": [c.by_state for c in counts],
        },
        "finalize_state_s": summary(
            [seconds for history in histories.values() for seconds in state_seconds(history, "Finalize")]
        ),
        "replicate_calls": {
            "per_cycle_gets": _per(replicate.get("get", 0), cycles),
            "gets_per_task": _per(replicate.get("get", 0), tasks),
            "gets_per_prediction": _per(replicate.get("get", 0), predictions),
            "creates_per_task": _per(predictions, tasks),
            "raw": replicate,
        },
        "webhooks": {
            "requests_per_task": _per(webhook_requests, tasks),
            "deliveries_per_task": _per(webhook_deliveries, tasks),
        },
        # The per-unit figures the cost model scales (per task, per poll cycle, per API request).
        "per_submit": {name: _function_figures(counter, name, per=submits) for name in ("submit",)},
        "per_status_read": {name: _function_figures(counter, name, per=status_reads) for name in ("status",)},
        "per_api_request": {"authorizer": _function_figures(counter, "authorizer", per=api_requests)},
        "per_task_fixed": {
            name: _function_figures(counter, name, per=tasks)
            for name in WORKFLOW_FUNCTIONS
            if name not in CYCLE_FUNCTIONS
        },
        "per_poll_cycle": {name: _function_figures(counter, name, per=cycles) for name in CYCLE_FUNCTIONS},
        "per_webhook": {
            "replicate_webhooks": _function_figures(counter, "replicate_webhooks", per=webhook_requests)
        },
        "errors": dict(counter.errors),
        "largest_item_bytes": _largest_items(counter),
    }


def _largest_items(counter: AwsCallCounter) -> dict[str, int]:
    """The largest item seen per table (the id counter apart): what capacity units were sized by."""
    largest: dict[str, int] = {}
    for (table, key), size in counter.item_sizes.items():
        name = table if not key.endswith("=#counter") else f"{table} (id counter)"
        largest[name] = max(largest.get(name, 0), size)
    return largest


# -- a stale record -----------------------------------------------------------------------------------
def measure_stale_record(
    counter: AwsCallCounter, *, stale_after_s: float = 1.0, span_s: float = 3.5, read_interval_s: float = 0.1
) -> dict[str, Any]:
    """A task whose execution never writes back (executions recorded, not run): DescribeExecution
    calls per stale period while a client reads it continuously."""
    with provisioned(execute=False, stale_after_seconds=str(stale_after_s)) as service:
        with counter.instrument_invocations():
            arn = service.submit_transition()
            counter.reset()
            began = time.monotonic()
            while time.monotonic() - began < span_s:
                service.status(arn)
                time.sleep(read_interval_s)
            elapsed = time.monotonic() - began
        reads = len(counter.invocation_ms("status"))
        calls = counter.count("status", "stepfunctions", "DescribeExecution")
    return {
        "stale_after_s": stale_after_s,
        "span_s": round(elapsed, 2),
        "reads": reads,
        "describe_calls": calls,
        "per_stale_period": round(calls / (elapsed / stale_after_s), 3),
    }


def measure(*, submits: int = 150, reads: int = 300, tasks: int = 3) -> dict[str, Any]:
    fake_aws_environment()
    import moto  # noqa: F401  (before any boto3 client exists: moto hooks clients created after it)

    import_handlers()
    counter = AwsCallCounter()
    counter.attach_service_clients()
    began = time.monotonic()
    warm = measure_warm_latency(counter, submits=submits, reads=reads)
    workflow = measure_workflow(counter, tasks=tasks)  # polling only: no public webhook URL
    hooked = measure_workflow(counter, tasks=tasks, webhooks=True)
    stale = measure_stale_record(counter)
    return {
        "warm_latency": warm,
        "workflow": workflow,
        "workflow_webhooks": hooked,
        "stale_record": stale,
        "seconds": round(time.monotonic() - began, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--submits", type=int, default=150)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=3)
    args = parser.parse_args(argv)
    result = measure(submits=args.submits, reads=args.reads, tasks=args.tasks)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
