"""The bench's measuring code on tiny sizes, so `make test` proves `make bench` can work.

No speed is asserted here: only that each measurement measures what it says (a cold import in
a child interpreter, counted calls and transitions on one short execution, the cost arithmetic
on counted inputs, the sizes of installed distributions, the report).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench import cost
from bench.assets import closure, distribution_bytes
from bench.cold_start import handler_module, time_code
from bench.counting import (
    AwsCallCounter,
    ReplicateRequestCounter,
    count_transitions,
    item_size,
    read_units,
    state_seconds,
    write_units,
)
from bench.run import build_report, render_table
from bench.stats import median, percentile, summary
from replicate_emulator import ReplicateEmulator
from service.adapters import aws
from service.catalog import WorkflowTiming, function
from tests.support import Stack

DREAM = "/generate-video?dream=a%20whale&style=Animated"


def test_cold_import_runs_in_a_fresh_interpreter_and_reports_forbidden_modules() -> None:
    # Given the authorizer's handler module
    module = handler_module(function("authorizer").handler)
    assert module == "service.handlers.authorizer"

    # When its import is timed once in a child interpreter
    result = time_code(f"import {module}", runs=1)

    # Then a duration came back, and the API function loaded no Replicate/httpx/ffmpeg code
    assert result["runs"] == 1 and result["median_ms"] > 0
    assert result["forbidden_loaded"] == []


def test_cold_import_sees_a_forbidden_module_when_one_is_loaded() -> None:
    result = time_code("import httpx", runs=1)
    assert result["forbidden_loaded"] == ["httpx"]


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5
    assert summary([1.0])["p99"] == 1.0
    assert math.isnan(percentile([], 50))


def test_dynamodb_item_sizes_and_request_units() -> None:
    item = {"task_id": {"S": "abc"}, "seq": {"N": "12"}, "flags": {"M": {"ok": {"BOOL": True}}}}
    # names 7 + 3 + 5; "abc" 3; 12 -> 2 bytes; map: 3 + (2 + 1 + 1)
    assert item_size(item) == 7 + 3 + 3 + 2 + 5 + 3 + 4
    assert read_units(4096, consistent=True) == 1 and read_units(4097, consistent=True) == 2
    assert read_units(100, consistent=False) == 0.5
    assert write_units(1024) == 1 and write_units(1025) == 2


def _figures(
    invocations: float, mean_ms: float, reads: float = 0, writes: float = 0, puts: float = 0
) -> dict[str, Any]:
    return {
        "invocations": invocations,
        "mean_ms": mean_ms,
        "dynamodb_read_units": reads,
        "dynamodb_write_units": writes,
        "s3_puts": puts,
        "calls": {},
    }


#: Per-unit counts in the shape bench.inprocess measures them.
MEASURED: dict[str, Any] = {
    "per_submit": {"submit": _figures(1, 10.2, writes=2)},
    "per_status_read": {"status": _figures(1, 5.0, reads=1)},
    "per_api_request": {"authorizer": _figures(1, 2.0, reads=0.5)},
    "per_task_fixed": {
        "start_predictions": _figures(1, 100, writes=1),
        "finalize": _figures(1, 1000, 1, 1, 2),
    },
    "per_poll_cycle": {"poll_predictions": _figures(1, 20, writes=1)},
    "transitions": {"fixed_per_task": 3.0, "per_cycle": 3.0, "per_task": [21], "cycles_per_task": [6]},
    "describe_execution": {"ours": {"per_read": 0.0}, "naive": {"per_read": 1.0}},
    "replicate_calls": {"per_cycle_gets": 2.0, "gets_per_task": 12.0, "gets_per_prediction": 12.0},
    "finalize_state_s": {"p50": 1.0, "max": 2.0},
}
#: The same with Replicate's webhooks: the route's invocations per task, fewer GETs.
HOOKED: dict[str, Any] = {
    **MEASURED,
    "per_poll_cycle": {
        "poll_predictions": _figures(1, 20, reads=1, writes=1),
        "await_wake": _figures(1, 5, writes=1),
    },
    "per_webhook": {"replicate_webhooks": _figures(1, 8.0, reads=1, writes=2)},
    "webhooks": {"requests_per_task": 4.0, "deliveries_per_task": 4.0},
    "replicate_calls": {
        "per_cycle_gets": 0.5,
        "gets_per_task": 1.0,
        "gets_per_prediction": 0.5,
        "creates_per_task": 2.0,
    },
}
MEMORY = {
    "await_wake": 256,
    "replicate_webhooks": 256,
    "submit": 256,
    "status": 256,
    "authorizer": 256,
    "start_predictions": 256,
    "finalize": 1024,
    "poll_predictions": 256,
}


def test_cost_model_scales_counted_units_to_a_generation() -> None:
    # Given a 60 s generation, 5 s polls, a client reading every 2 s, 3 s of overhead
    scenario = cost.Scenario(generation_s=60, poll_interval_s=5, client_interval_s=2, overhead_s=3)
    assert scenario.poll_cycles == 12 and scenario.status_reads == 32

    # When the counted units are scaled
    quantities = cost.usage(MEASURED, scenario, MEMORY)

    # Then each quantity is the per-unit count times how often the unit happens
    assert quantities["step_functions_transitions"] == 3 + 3 * 12
    assert quantities["api_gateway_requests"] == 33
    assert quantities["lambda_requests"] == 1 + 32 + 33 + 2 + 12
    gb_s = (0.011 + 32 * 0.005 + 33 * 0.002 + 0.1 + 12 * 0.02) * 0.25 + 1.0 * 1.0
    assert quantities["lambda_gb_seconds"] == pytest.approx(gb_s)
    assert quantities["dynamodb_read_units"] == 32 + 33 * 0.5 + 1
    assert quantities["dynamodb_write_units"] == 2 + 1 + 1 + 12
    assert quantities["s3_puts"] == 2
    usd = cost.price(quantities)
    assert usd["step_functions_transitions"] == pytest.approx(39 * 0.025 / 1000)
    assert usd["total"] == pytest.approx(sum(v for k, v in usd.items() if k != "total"))

    # With webhooks: each webhook is an API request and an invocation of the route; each cycle
    # also invokes WaitBeforePoll's function
    hooked = cost.usage(HOOKED, scenario, MEMORY)
    assert hooked["api_gateway_requests"] == 33 + 4
    assert hooked["lambda_requests"] == 1 + 32 + 33 + 2 + 12 * 2 + 4
    assert hooked["dynamodb_write_units"] == 2 + 1 + 1 + 12 * 2 + 4 * 2


def test_layer_sizes_come_from_installed_distributions() -> None:
    names = closure(("httpx",))
    assert {"httpx", "httpcore", "anyio"} <= set(names)
    assert "httpcore" not in closure(("httpx",), with_deps=False)
    assert distribution_bytes("httpx") > 0


def test_report_and_table_from_phase_outputs() -> None:
    raw: dict[str, Any] = {
        "cold": {
            "baseline": {"median_ms": 100.0},
            "functions": {
                name: {"median_ms": 120.0, "ratio_to_baseline": 1.2, "forbidden_loaded": []}
                for name in ("submit", "status", "authorizer")
            },
        },
        "inprocess": {
            "warm_latency": {
                "handler": {n: {"p50": 1.0, "p99": 2.0} for n in ("submit", "status", "authorizer")},
                "submit_dynamodb": {
                    "calls": {
                        "dynamodb.GetItem": 1.0,
                        "dynamodb.TransactWriteItems": 1.0,
                        "dynamodb.UpdateItem": 1.0,
                    },
                    "items_written": 3.0,
                    "read_units": 1.0,
                    "write_units": 7.0,
                },
            },
            "workflow": MEASURED,
            "stale_record": {"per_stale_period": 1.0, "describe_calls": 3, "span_s": 3.0, "reads": 30},
        },
    }
    report = build_report(raw, phase_seconds={})
    assert report["describe_execution_per_status_read"]["reads_per_s_ceiling_per_account"]["naive"] == 15
    # without a webhook run, the default keys are the polling run's
    assert report["replicate_calls_polling"]["tasks_in_flight_ceiling"] == 125
    hooked_raw = {**raw, "inprocess": {**raw["inprocess"], "workflow_webhooks": HOOKED}}
    hooked_raw["twin"] = {
        "overhead": {"overhead_s": {"p50": 0.4, "p90": 0.6}},
        "overhead_polling": {"overhead_s": {"p50": 3.1, "p90": 5.4}},
        "concurrency": {"succeeded": 200, "submitted": 200},
        "status_reads": {"reads_per_s": 160.0, "errors": 0, "threads": 8},
    }
    both = build_report(hooked_raw, phase_seconds={})
    assert (both["orchestration_overhead_s_p50"], both["orchestration_overhead_s_p50_polling"]) == (0.4, 3.1)
    assert (both["orchestration_overhead_s_p90"], both["orchestration_overhead_s_p90_polling"]) == (0.6, 5.4)
    # a reconcile GET a minute per prediction at worst: 3,000 / 2 predictions
    assert both["replicate_calls"]["tasks_in_flight_ceiling"] == 1500
    assert both["replicate_calls_polling"]["tasks_in_flight_ceiling"] == 125
    assert (
        both["cost_usd_per_task"]["60s"]["quantities"]["api_gateway_requests"]
        > both["cost_usd_per_task_polling"]["60s"]["quantities"]["api_gateway_requests"] - 2
    )
    met = {t["name"]: t["holds"] for t in both["targets"]}
    assert met["orchestration overhead p50 (p90), webhooks"] is True
    assert met["Replicate GETs per prediction (webhooks)"] is True
    assert "Replicate GETs per task (polling only)" in render_table(both)
    assert report["transitions_per_task"]["60s"] == 39
    assert report["cost_usd_per_task"]["60s"]["poll_cycles"] == 12
    assert report["replicate_calls"]["tasks_in_flight_ceiling"] == 125
    held = {t["name"]: t["holds"] for t in report["targets"]}
    assert held["DescribeExecution per status read"] is True
    assert held["DynamoDB items written per submit (limits)"] is True
    table = render_table(report)
    assert "state transitions per poll cycle" in table and "TransactWriteItems 1.00" in table


def test_packaged_cold_imports_run_from_the_bundle_on_the_runtimes_python() -> None:
    # Given the packaged bundle (make test builds it first)
    from bench.cold_start import PACKAGE_MANIFEST, measure_packaged

    if not PACKAGE_MANIFEST.is_file():
        pytest.fail("run `make package`")
    # When each function and the floor are imported once from it
    measured = measure_packaged(runs=1)
    # Then every function of the template is measured on 3.12, API functions load no Replicate or
    # ffmpeg code, and the report carries the keys (no speed is asserted)
    assert measured["python"].startswith("3.12.")
    functions = measured["functions"]
    assert {"authorizer", "submit", "status", "uploads", "finalize"} <= set(functions)
    for name in ("authorizer", "submit", "status", "uploads"):
        assert functions[name]["forbidden_loaded"] == [], name
        assert functions[name]["ratio_to_baseline"] > 0 and functions[name]["cpu_median_ms"] > 0
    assert "replicate" in functions["start_predictions"]["forbidden_loaded"]
    raw = {
        "cold": {
            "baseline": {"median_ms": 100.0},
            "functions": {
                n: {"median_ms": 1.0, "ratio_to_baseline": 0.01, "forbidden_loaded": []} for n in functions
            },
            "packaged": measured,
        }
    }
    report = build_report(raw, phase_seconds={})
    assert set(report["cold_import_packaged_ms"]) == set(functions)
    assert set(report["cold_import_packaged_ratio_to_baseline"]) == set(functions)
    assert report["cold_import_packaged_baseline_ms"] == measured["baseline"]["median_ms"]
    assert "packaged cold import / floor, API functions" in {t["name"] for t in report["targets"]}
    assert "packaged cold import submit" in render_table(report)


# -- one short execution, counted ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator() -> Iterator[ReplicateEmulator]:
    with ReplicateEmulator() as emu:
        yield emu


@pytest.mark.workflow
def test_calls_and_transitions_are_counted_on_one_short_execution(
    deploy: Callable[..., Stack], emulator: ReplicateEmulator
) -> None:
    # Given the service on moto, polling every second, and a model that gives up before starting
    emulator.faults.abort = {"*"}
    stack = deploy(WorkflowTiming(poll_interval_s=1, max_polls=10), emulator.base_url)
    token = stack.token()
    counter = AwsCallCounter()
    counter.attach_service_clients()
    try:
        # When a dream runs to its end while its status is read, everything counted
        with ReplicateRequestCounter() as replicate, counter.instrument_invocations():
            reply = stack.call("POST", DREAM, token=token)
            assert reply.status == 202, reply.body
            arn = reply.body["task_id"]
            stack.wait_execution(arn, timeout=30)
            assert stack.call("GET", f"/video-status/{arn}", token=token).body["status"] == "failed"
        aws.client("stepfunctions").describe_execution(executionArn=arn)  # the bench's own read
    finally:
        counter.detach_service_clients()
        emulator.faults.abort = set()

    # Then each poll cycle is three transitions, and the rest are start and the failure path
    history = stack.history(arn)
    counted = count_transitions(history)
    assert counted.cycles >= 1 and counted.per_cycle == 3
    assert len(state_seconds(history, "PollPredictions")) == counted.cycles
    assert counted.by_state["MarkFailed"] == 1 and counted.fixed == counted.total - 3 * counted.cycles
    # and every call is attributed to the function that made it; the bench's own are not counted
    assert counter.count("submit", "stepfunctions", "StartExecution") == 1
    # the per-owner limits' hot path: the owner read, and its usage written with the record
    assert counter.operations("submit") == {
        "dynamodb.GetItem": 1,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.UpdateItem": 1,
        "stepfunctions.StartExecution": 1,
    }
    assert counter.items_written("submit") == 3  # the id counter, the record, the owner's usage
    assert counter.capacity_units("submit")["write_units"] >= 1 + 2 * 2  # a transaction bills twice
    assert counter.count(service="stepfunctions", operation="DescribeExecution") == 0
    assert counter.count("poll_predictions", "dynamodb", "UpdateItem") == counted.cycles
    assert len(counter.invocation_ms("authorizer")) == 2
    assert counter.capacity_units("status")["read_units"] == 1
    assert replicate.requests["create"] == 1 and replicate.requests["get"] == counted.cycles
