"""``make bench``: run every phase in its own process, check the targets, print the table and
write ``bench-results.json`` at the repository root.

``python -m bench [--phases cold,assets,inprocess,twin] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cost

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("cold", "assets", "inprocess", "twin")
MODULES = {
    "cold": "bench.cold_start",
    "assets": "bench.assets",
    "inprocess": "bench.inprocess",
    "twin": "bench.twin_load",
}
#: The functions whose latency the issue targets (warm latency is measured for these).
API_FUNCTIONS = ("submit", "status", "authorizer")

#: The targets of the issue (and what the design promises).
COLD_IMPORT_TARGET_MS = 150
#: Issue 11: an API function's import from the packaged bundle, on the runtime's Python, at most this
#: many times the floor (boto3 + a powertools Logger) measured the same way in the same run.
PACKAGED_RATIO_TARGET = 1.5
TRANSITIONS_PER_CYCLE_TARGET = 3
#: Issue 15: with Replicate's webhooks (the default mode), model done -> SUCCESS visible.
OVERHEAD_P50_TARGET_S = 0.5
#: Polling alone (a deployment without a public webhook URL): half the poll interval plus Finalize.
OVERHEAD_P50_POLLING_TARGET_S = 3.0
#: Issue 15: Replicate GETs per prediction with webhooks.
GETS_PER_PREDICTION_TARGET = 1.0
#: DynamoDB items a submit writes: the id counter and the record before per-owner limits (issue
#: 12), plus at most one (the owner's usage, in the record's transaction).
SUBMIT_ITEMS_WRITTEN_BEFORE_LIMITS = 2
SUBMIT_ITEMS_WRITTEN_TARGET = SUBMIT_ITEMS_WRITTEN_BEFORE_LIMITS + 1
#: The twin on this 2-core machine (issue 13): status reads per second, tasks submitted at once.
STATUS_READS_TARGET_PER_S = 150
CONCURRENT_TASKS_TARGET = 200
#: DescribeExecution's refill rate per account (largest regions): the naive design's ceiling.
DESCRIBE_EXECUTION_REFILL_PER_S = 15
#: Replicate's limit on calls other than creates, per account (FINDINGS: 3,000 a minute).
REPLICATE_NON_CREATE_PER_MIN = 3000
#: The spec's clients poll every 2 s.
CLIENT_POLL_INTERVAL_S = 2.0
GENERATIONS_S = {"60s": 60, "5min": 300}


def run_phase(name: str, workdir: Path, timeout_s: float) -> dict[str, Any]:
    """``python -m bench.<phase> --out FILE`` with its output in a log (shown if it fails)."""
    out = workdir / f"{name}.json"
    log = workdir / f"{name}.log"
    env = dict(os.environ, JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    with log.open("wb") as sink:
        done = subprocess.run(
            [sys.executable, "-m", MODULES[name], "--out", str(out)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"phase {name} failed ({done.returncode}):\n{log.read_text()[-6000:]}")
    return dict(json.loads(out.read_text()))


@dataclass
class Target:
    name: str
    measured: str
    target: str
    holds: bool | None  # None: not measured in this run


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def build_report(raw: dict[str, Any], *, phase_seconds: dict[str, float]) -> dict[str, Any]:
    """The results file: the issue's keys at the top level, every phase's details below."""
    cold, assets = raw.get("cold"), raw.get("assets")
    inprocess, twin = raw.get("inprocess"), raw.get("twin")
    report: dict[str, Any] = {}

    if cold:
        functions = cold["functions"]
        report["cold_import_ms"] = {name: f["median_ms"] for name, f in functions.items()}
        report["cold_import_baseline_ms"] = cold["baseline"]["median_ms"]
        report["cold_import_ratio_to_baseline"] = {n: f["ratio_to_baseline"] for n, f in functions.items()}
        report["cold_import_forbidden_modules"] = {n: f["forbidden_loaded"] for n, f in functions.items()}
        report["cold_import_no_bytecode_ms"] = {
            n: f["no_bytecode_median_ms"] for n, f in functions.items() if "no_bytecode_median_ms" in f
        }
        packaged = cold.get("packaged")
        if packaged:
            report["cold_import_packaged_ms"] = {n: f["median_ms"] for n, f in packaged["functions"].items()}
            report["cold_import_packaged_baseline_ms"] = packaged["baseline"]["median_ms"]
            report["cold_import_packaged_ratio_to_baseline"] = {
                n: f["ratio_to_baseline"] for n, f in packaged["functions"].items()
            }
            report["cold_import_packaged_cpu_ratio_to_baseline"] = {
                n: f["cpu_ratio_to_baseline"] for n, f in packaged["functions"].items()
            }

    if inprocess:
        warm, workflow = inprocess["warm_latency"], inprocess["workflow"]
        report["warm_latency_ms"] = {
            name: {"p50": warm["handler"][name]["p50"], "p99": warm["handler"][name]["p99"]}
            for name in API_FUNCTIONS
        }
        report["submit_dynamodb"] = warm["submit_dynamodb"]
        ours = workflow["describe_execution"]["ours"]["per_read"]
        naive = workflow["describe_execution"]["naive"]["per_read"]
        report["describe_execution_per_status_read"] = {
            "ours": ours,
            "naive": naive,
            "reads_per_s_ceiling_per_account": {
                "ours": None if ours == 0 else round(DESCRIBE_EXECUTION_REFILL_PER_S / ours, 1),
                "naive": None if naive == 0 else round(DESCRIBE_EXECUTION_REFILL_PER_S / naive, 1),
            },
            "tasks_polled_every_2s_ceiling": {
                "ours": None
                if ours == 0
                else round(DESCRIBE_EXECUTION_REFILL_PER_S / ours * CLIENT_POLL_INTERVAL_S),
                "naive": None
                if naive == 0
                else round(DESCRIBE_EXECUTION_REFILL_PER_S / naive * CLIENT_POLL_INTERVAL_S),
            },
            "stale_record": inprocess["stale_record"],
        }
        poll_interval = _production_poll_interval()
        hooked = inprocess.get("workflow_webhooks")
        # The default mode (webhooks) under the plain keys, polling alone under ``_polling``.
        for suffix, measured in (("", hooked or workflow), ("_polling", workflow)):
            if measured is None:
                continue
            transitions = measured["transitions"]
            report[f"transitions_per_poll_cycle{suffix}"] = transitions["per_cycle"]
            report[f"transitions_per_task{suffix}"] = {
                "measured": {
                    "transitions": transitions["per_task"],
                    "poll_cycles": transitions["cycles_per_task"],
                },
                "fixed": transitions["fixed_per_task"],
                "per_cycle": transitions["per_cycle"],
                **{
                    label: transitions["fixed_per_task"]
                    + transitions["per_cycle"] * math.ceil(seconds / poll_interval)
                    for label, seconds in GENERATIONS_S.items()
                },
            }
            report[f"replicate_calls{suffix}"] = replicate_figures(
                measured, poll_interval, webhooks=suffix == "" and hooked is not None
            )
        report["finalize_state_s"] = workflow["finalize_state_s"]

    if twin:
        overhead = twin["overhead"]["overhead_s"]
        report["orchestration_overhead_s_p50"] = overhead["p50"]
        report["orchestration_overhead_s_p90"] = overhead["p90"]
        polling = (twin.get("overhead_polling") or {}).get("overhead_s")
        if polling:
            report["orchestration_overhead_s_p50_polling"] = polling["p50"]
            report["orchestration_overhead_s_p90_polling"] = polling["p90"]
        concurrency = twin["concurrency"]
        report["concurrent_tasks_ok"] = concurrency["succeeded"]
        report["concurrent_tasks_submitted"] = concurrency["submitted"]
        report["status_reads_per_s"] = twin["status_reads"]["reads_per_s"]
        report["status_read_errors"] = twin["status_reads"]["errors"]
        report["status_read_threads"] = twin["status_reads"]["threads"]

    if inprocess:
        hooked = inprocess.get("workflow_webhooks")
        for suffix, measured in (("", hooked or inprocess["workflow"]), ("_polling", inprocess["workflow"])):
            overhead_s = report.get(f"orchestration_overhead_s_p50{suffix}")
            report[f"cost_usd_per_task{suffix}"] = {
                label: cost.cost_per_task(
                    measured,
                    generation_s=seconds,
                    poll_interval_s=_production_poll_interval(),
                    client_interval_s=CLIENT_POLL_INTERVAL_S,
                    overhead_s=overhead_s if isinstance(overhead_s, int | float) else 0.0,
                    memory_mb=cost.catalog_memory(),
                )
                for label, seconds in GENERATIONS_S.items()
            }
        overhead_s = report.get("orchestration_overhead_s_p50")
        report["cost_model"] = {
            **cost.price_list(),
            "client_poll_interval_s": CLIENT_POLL_INTERVAL_S,
            "poll_interval_s": _production_poll_interval(),
            "overhead_s_used": overhead_s,
            "authorizer": "invoked on every request (no authorizer cache): an upper bound",
        }

    if assets:
        report["asset_mb"] = {
            "code": assets["code_mb"],
            "layers": {name: layer["mb"] for name, layer in assets["layers"].items()},
            "per_function_unzipped": {name: f["unzipped_mb"] for name, f in assets["functions"].items()},
            "unzipped_limit": assets["unzipped_limit_mb"],
        }

    report["targets"] = [t.__dict__ for t in targets(report)]
    report["phase_seconds"] = phase_seconds
    report["details"] = raw
    return report


def replicate_figures(measured: dict[str, Any], poll_interval: int, *, webhooks: bool) -> dict[str, Any]:
    """Replicate GETs per task and prediction, and the tasks in flight Replicate's limit on calls
    other than creates (3,000 a minute per account) allows. Polling: every prediction read every
    poll interval. Webhooks: a prediction is read only when the webhooks fall silent, at most once
    per reconcile period (the worst case: every model silent for its whole run)."""
    calls = dict(measured["replicate_calls"])
    predictions = calls.get("creates_per_task") or 1.0
    if webhooks:
        reconcile = _reconcile_seconds()
        per_task_per_minute = predictions * 60 / reconcile
        calls["reconcile_s"] = reconcile
    else:
        per_task_per_minute = calls["per_cycle_gets"] * 60 / poll_interval
    calls["gets_per_task_per_minute_worst"] = round(per_task_per_minute, 3)
    calls["tasks_in_flight_ceiling"] = (
        round(REPLICATE_NON_CREATE_PER_MIN / per_task_per_minute) if per_task_per_minute else None
    )
    calls["predictions_in_flight_ceiling"] = (
        round(REPLICATE_NON_CREATE_PER_MIN / (per_task_per_minute / predictions))
        if per_task_per_minute
        else None
    )
    calls["webhooks"] = webhooks
    return calls


def _reconcile_seconds() -> float:
    from service.settings import PredictionSettings

    value = PredictionSettings.fields()["webhook_reconcile_seconds"].default
    assert isinstance(value, float)
    return value


def api_facing_functions() -> list[str]:
    """Every function behind the API (the catalog's ``api`` and ``authorizer`` kinds): the
    cold-import target and the no-replicate/ffmpeg rule apply to all of them."""
    from service.catalog import FUNCTIONS

    return [spec.name for spec in FUNCTIONS if spec.kind in ("api", "authorizer")]


def _production_poll_interval() -> int:
    from service.catalog import WorkflowTiming

    return WorkflowTiming().poll_interval_s


def targets(report: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    cold = report.get("cold_import_ms")
    if cold:
        api = {name: cold[name] for name in api_facing_functions() if name in cold}
        found.append(
            Target(
                "cold import, API functions (median)",
                ", ".join(f"{n} {_fmt(ms, 0)} ms" for n, ms in api.items()),
                f"<= {COLD_IMPORT_TARGET_MS} ms",
                all(ms <= COLD_IMPORT_TARGET_MS for ms in api.values()),
            )
        )
        ratios = report.get("cold_import_packaged_ratio_to_baseline")
        if ratios:
            packaged = {name: ratios[name] for name in api_facing_functions() if name in ratios}
            found.append(
                Target(
                    "packaged cold import / floor, API functions",
                    ", ".join(f"{n} x{_fmt(r, 2)}" for n, r in packaged.items()),
                    f"<= x{PACKAGED_RATIO_TARGET}",
                    all(r <= PACKAGED_RATIO_TARGET for r in packaged.values()),
                )
            )
        forbidden = {n: report["cold_import_forbidden_modules"][n] for n in api}
        found.append(
            Target(
                "API functions load replicate/httpx/ffmpeg",
                "; ".join(f"{n}: {', '.join(m) or 'none'}" for n, m in forbidden.items()),
                "none",
                not any(forbidden.values()),
            )
        )
    describe = report.get("describe_execution_per_status_read")
    if describe:
        found.append(
            Target(
                "DescribeExecution per status read",
                f"{_fmt(describe['ours'], 3)} (naive {_fmt(describe['naive'], 3)})",
                "0",
                describe["ours"] == 0,
            )
        )
    submit = report.get("submit_dynamodb")
    if submit:
        found.append(
            Target(
                "DynamoDB items written per submit (limits)",
                f"{_fmt(submit['items_written'], 2)} ({_fmt(submit['write_units'], 1)} WRU, "
                f"{_fmt(submit['read_units'], 1)} RRU)",
                f"<= {SUBMIT_ITEMS_WRITTEN_TARGET}",
                submit["items_written"] <= SUBMIT_ITEMS_WRITTEN_TARGET,
            )
        )
    for suffix, mode in (("", "webhooks"), ("_polling", "polling only")):
        per_cycle = report.get(f"transitions_per_poll_cycle{suffix}")
        if per_cycle is not None:
            found.append(
                Target(
                    f"state transitions per poll cycle ({mode})",
                    _fmt(per_cycle, 2),
                    f"<= {TRANSITIONS_PER_CYCLE_TARGET}",
                    per_cycle <= TRANSITIONS_PER_CYCLE_TARGET,
                )
            )
    calls = report.get("replicate_calls")
    if calls is not None and calls.get("webhooks"):
        found.append(
            Target(
                "Replicate GETs per prediction (webhooks)",
                _fmt(calls["gets_per_prediction"], 2),
                f"<= {GETS_PER_PREDICTION_TARGET:g}",
                calls["gets_per_prediction"] <= GETS_PER_PREDICTION_TARGET,
            )
        )
    for suffix, mode, wanted in (
        ("", "webhooks", OVERHEAD_P50_TARGET_S),
        ("_polling", "polling only", OVERHEAD_P50_POLLING_TARGET_S),
    ):
        p50 = report.get(f"orchestration_overhead_s_p50{suffix}")
        if p50 is not None:
            found.append(
                Target(
                    f"orchestration overhead p50 (p90), {mode}",
                    f"{_fmt(p50, 2)} s ({_fmt(report[f'orchestration_overhead_s_p90{suffix}'], 2)} s)",
                    f"<= {wanted} s",
                    p50 <= wanted,
                )
            )
    if "concurrent_tasks_ok" in report:
        ok, submitted = report["concurrent_tasks_ok"], report["concurrent_tasks_submitted"]
        found.append(
            Target(
                "tasks submitted at once, all SUCCESS (twin)",
                f"{ok}/{submitted}",
                f">= {CONCURRENT_TASKS_TARGET}, all",
                ok == submitted >= CONCURRENT_TASKS_TARGET,
            )
        )
    if "status_reads_per_s" in report:
        reads = report["status_reads_per_s"]
        found.append(
            Target(
                "sustained status reads (twin, 30 s)",
                f"{_fmt(reads)}/s, {report['status_read_errors']} errors",
                f">= {STATUS_READS_TARGET_PER_S}/s, 0 errors",
                report["status_read_errors"] == 0 and reads >= STATUS_READS_TARGET_PER_S,
            )
        )
    assets = report.get("asset_mb")
    if assets:
        largest = max(assets["per_function_unzipped"].items(), key=lambda item: item[1])
        found.append(
            Target(
                "largest function unzipped (code + layers)",
                f"{largest[0]} {_fmt(largest[1])} MB",
                f"<= {assets['unzipped_limit']} MB",
                largest[1] <= assets["unzipped_limit"],
            )
        )
    return found


def render_table(report: dict[str, Any]) -> str:
    rows = [("target", "measured", "wanted", "")]
    for t in report["targets"]:
        rows.append(
            (t["name"], t["measured"], t["target"], {True: "OK", False: "MISS", None: "-"}[t["holds"]])
        )
    lines = _columns(rows)
    figures: list[tuple[str, str]] = []
    if "cold_import_ms" in report:
        ratios = report["cold_import_ratio_to_baseline"]
        figures.append(
            ("cold import baseline (boto3 + Logger)", f"{_fmt(report['cold_import_baseline_ms'], 0)} ms")
        )
        for name, ms in report["cold_import_ms"].items():
            extra = report["cold_import_no_bytecode_ms"].get(name)
            without = f", {_fmt(extra, 0)} ms without .pyc" if extra is not None else ""
            figures.append((f"cold import {name}", f"{_fmt(ms, 0)} ms (x{_fmt(ratios[name], 2)}){without}"))
    if "cold_import_packaged_ms" in report:
        packaged_ratios = report["cold_import_packaged_ratio_to_baseline"]
        cpu_ratios = report["cold_import_packaged_cpu_ratio_to_baseline"]
        figures.append(
            (
                "packaged floor (3.12, boto3 + Logger)",
                f"{_fmt(report['cold_import_packaged_baseline_ms'], 0)} ms",
            )
        )
        for name, ms in report["cold_import_packaged_ms"].items():
            figures.append(
                (
                    f"packaged cold import {name}",
                    f"{_fmt(ms, 0)} ms (x{_fmt(packaged_ratios[name], 2)}; CPU x{_fmt(cpu_ratios[name], 2)})",
                )
            )
    if "warm_latency_ms" in report:
        for name, p in report["warm_latency_ms"].items():
            figures.append(
                (f"warm {name} handler (moto)", f"p50 {_fmt(p['p50'])} ms, p99 {_fmt(p['p99'])} ms")
            )
    describe = report.get("describe_execution_per_status_read")
    if describe:
        ceiling = describe["reads_per_s_ceiling_per_account"]
        tasks = describe["tasks_polled_every_2s_ceiling"]
        figures.append(
            (
                "status reads/s per account (DescribeExecution 15/s)",
                f"ours {_fmt(ceiling['ours']) if ceiling['ours'] else 'unbounded'}, naive {_fmt(ceiling['naive'])} "
                f"(= {tasks['naive']} tasks polled every 2 s)",
            )
        )
        stale = describe["stale_record"]
        figures.append(
            (
                "stuck record: DescribeExecution per stale period",
                f"{_fmt(stale['per_stale_period'], 2)} ({stale['describe_calls']} in {stale['span_s']} s, "
                f"{stale['reads']} reads)",
            )
        )
    if "submit_dynamodb" in report:
        calls = report["submit_dynamodb"]["calls"]
        figures.append(
            (
                "DynamoDB calls per submit",
                ", ".join(f"{op.removeprefix('dynamodb.')} {_fmt(n, 2)}" for op, n in calls.items()),
            )
        )
    for suffix, mode in (("", "webhooks"), ("_polling", "polling only")):
        if f"transitions_per_task{suffix}" in report:
            per_task = report[f"transitions_per_task{suffix}"]
            figures.append(
                (
                    f"state transitions per task ({mode})",
                    f"{per_task['fixed']} + {per_task['per_cycle']}/cycle: 60 s -> {_fmt(per_task['60s'], 0)}, "
                    f"5 min -> {_fmt(per_task['5min'], 0)}",
                )
            )
    for suffix, mode in (("", "webhooks"), ("_polling", "polling only")):
        if f"replicate_calls{suffix}" in report:
            calls = report[f"replicate_calls{suffix}"]
            figures.append(
                (
                    f"Replicate GETs per task ({mode})",
                    f"{_fmt(calls.get('gets_per_task'), 2)} ({_fmt(calls.get('gets_per_prediction'), 2)} per prediction, "
                    f"{_fmt(calls['per_cycle_gets'], 2)} per poll cycle); at most "
                    f"{_fmt(calls['gets_per_task_per_minute_worst'], 1)}/min a task: 3,000/min caps it at "
                    f"{calls['tasks_in_flight_ceiling']} tasks ({calls['predictions_in_flight_ceiling']} predictions) in flight",
                )
            )
    if "finalize_state_s" in report:
        finalize = report["finalize_state_s"]
        figures.append(
            (
                "Finalize state (moto run)",
                f"p50 {_fmt(finalize['p50'], 2)} s, max {_fmt(finalize['max'], 2)} s",
            )
        )
    if "status_reads_per_s" in report:
        figures.append(
            (
                f"status reads/s on the twin ({report.get('status_read_threads', '?')} client threads)",
                _fmt(report["status_reads_per_s"]),
            )
        )
    for suffix, mode in (("", "webhooks"), ("_polling", "polling only")):
        for label, figure in (report.get(f"cost_usd_per_task{suffix}") or {}).items():
            by = figure["usd_by_service"]
            biggest = max(by.items(), key=lambda item: item[1])
            figures.append(
                (
                    f"AWS cost per task, {label} generation ({mode})",
                    f"${figure['usd']:.5f} ({figure['quantities']['step_functions_transitions']:.0f} transitions, "
                    f"{figure['status_reads']} reads; largest: {biggest[0]} ${biggest[1]:.5f})",
                )
            )
    assets = report.get("asset_mb")
    if assets:
        layers = ", ".join(f"{name} {mb} MB" for name, mb in assets["layers"].items())
        figures.append(("code asset / layers", f"{assets['code']} MB / {layers}"))
    lines.append("")
    lines.extend(_columns([("figure", "value"), *figures]))
    return "\n".join(lines)


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_average_1m_at_start": round(load[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {PHASES}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results.json")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")

    began = time.monotonic()
    host = machine()
    raw: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        for phase in phases:
            print(f"bench: {phase} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                raw[phase] = run_phase(phase, Path(workdir), timeout_s=540)
            except (RuntimeError, subprocess.TimeoutExpired) as error:  # the other phases still run
                failed[phase] = str(error)
                print(f"bench: {phase} FAILED\n{error}", file=sys.stderr, flush=True)
            seconds[phase] = round(time.monotonic() - started, 1)
            print(f"bench: {phase} ended after {seconds[phase]} s", file=sys.stderr, flush=True)
    report = build_report(raw, phase_seconds=seconds)
    report["failed_phases"] = failed
    host["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    report["machine"] = host
    report["bench_seconds"] = round(time.monotonic() - began, 1)
    report["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(render_table(report))
    print(
        f"\n{report['bench_seconds']} s on {host['cpus']} CPUs (load {host['load_average_1m_at_start']} -> "
        f"{host['load_average_1m_at_end']}); details in {args.out}"
    )
    if failed:
        print(f"failed phases: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
