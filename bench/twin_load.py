"""The local twin under load, over loopback HTTP: what a user waits for, and how much it takes.

The twin (:mod:`bench.twin_server`) runs in its own process with the production timing (5 s
between polls); this process is the clients. Three measurements:

* **orchestration overhead** — from the emulated model finishing (the prediction's
  ``completed_at``, from the emulator) to SUCCESS being visible at the status route, read every
  0.15 s; measured with Replicate's webhooks (the default) and again on a second twin that polls
  alone (``--no-replicate-webhooks``). The model's run time is spread evenly over one poll interval across the tasks (the
  emulator's ``min_processing_s``), so the moment it finishes falls at every phase of the 5 s
  poll cycle, as real models' random run times do;
* **concurrency** — tasks submitted at once, polled every 2 s like the spec's clients, counted
  when they end in SUCCESS;
* **sustained status reads** — a few client threads reading status (of running and finished
  tasks) for a fixed time: reads per second and errors.

Every request goes to 127.0.0.1; counts and durations are bounded by the arguments.

Run alone: ``python -m bench.twin_load --out twin.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.stats import summary

ROOT = Path(__file__).resolve().parent.parent
TERMINAL = ("SUCCESS", "FAILURE")
CREATE = "/api/transitions/create-and-generate/"


def status_path(task_id: str) -> str:
    return f"/api/transitions/task-status/{task_id}/"


class HttpClient:
    """Keep-alive HTTP/1.1 to one loopback server, one connection per thread."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token
        self.timeout_s = timeout_s
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self._local.connection = connection
        return connection

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):  # a keep-alive connection the server closed is retried once, anew
            connection = self._connection()
            try:
                connection.request(method, path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                self._local.connection = None
                if attempt == 2 or method != "GET":
                    raise
        text = data.decode() if data else ""
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text


@dataclass
class RunningTwin:
    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    replicate_url: str
    example_request: dict[str, Any]
    poll_interval_s: int
    started_in_s: float
    log_path: Path
    replicate_webhooks: bool = True
    aws_endpoint: str = ""
    api: HttpClient = field(init=False)
    emulator: HttpClient = field(init=False)

    def __post_init__(self) -> None:
        self.api = HttpClient(self.base_url, self.token)
        self.emulator = HttpClient(self.replicate_url)

    # -- the Replicate emulator's control API (no auth) -------------------------------------------
    def set_faults(self, **faults: Any) -> None:
        status, answer = self.emulator.request("POST", "/_emulator/faults", faults)
        if status != 200:
            raise RuntimeError(f"emulator faults answered {status}: {answer}")

    def predictions(self) -> list[dict[str, Any]]:
        status, answer = self.emulator.request("GET", "/_emulator/predictions")
        if status != 200:
            raise RuntimeError(f"emulator predictions answered {status}")
        return list(answer)

    # -- the API ------------------------------------------------------------------------------------
    def submit(self, body: dict[str, Any] | None = None) -> tuple[int, str | None]:
        status, answer = self.api.request("POST", CREATE, body or self.example_request)
        return status, (answer or {}).get("task_id") if status == 202 else None

    def state(self, task_id: str) -> tuple[int, str | None]:
        status, answer = self.api.request("GET", status_path(task_id))
        return status, answer.get("state") if status == 200 and isinstance(answer, dict) else None

    def stop(self, timeout_s: float = 30) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.close()  # the server stops the twin and exits
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_twin(workdir: Path, timeout_s: float = 90, *options: str) -> RunningTwin:
    """``python -m bench.twin_server [options]`` in its own session; its output goes to a log file."""
    ready = workdir / f"twin-ready{len(list(workdir.glob('twin-ready*')))}.json"
    log_path = ready.with_suffix(".log")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIDEOGEN_", "MOTO_"))}
    env.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.twin_server", "--ready-file", str(ready), *options],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            raise RuntimeError(f"the twin did not start:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.1)
    info = json.loads(ready.read_text())
    return RunningTwin(
        process=process,
        base_url=info["base_url"],
        token=info["token"],
        replicate_url=info["replicate_url"],
        example_request=info["example_request"],
        poll_interval_s=int(info["poll_interval_s"]),
        started_in_s=float(info["started_in_s"]),
        log_path=log_path,
        replicate_webhooks=bool(info.get("replicate_webhooks", True)),
        aws_endpoint=str(info.get("aws_endpoint") or ""),
    )


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _wait_until_started(twin: RunningTwin, task_id: str, timeout_s: float = 60) -> None:
    """StartPredictions creates every prediction of the task, then marks it PROCESSING."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if twin.state(task_id)[1] != "PENDING":
            return
        time.sleep(0.05)
    raise RuntimeError(f"the task's predictions were not created within {timeout_s} s")


# -- orchestration overhead ---------------------------------------------------------------------------
def measure_overhead(
    twin: RunningTwin,
    *,
    tasks: int = 10,
    in_flight: int = 2,
    base_processing_s: float = 4.0,
    read_every_s: float = 0.15,
    timeout_s: float = 120,
) -> dict[str, Any]:
    """Seconds from a task's last prediction finishing to SUCCESS at the status route."""
    lock = threading.Lock()
    known = {p["id"] for p in twin.predictions()}
    interval = twin.poll_interval_s

    def one(index: int) -> dict[str, Any]:
        # Model run times spread evenly over one poll interval: every phase of the cycle is hit.
        processing = base_processing_s + interval * (index + 0.5) / tasks
        with lock:  # faults are read when a prediction is created: one task's creations at a time
            twin.set_faults(min_processing_s=processing)
            status, task_id = twin.submit()
            if task_id is None:
                return {"error": f"submit answered {status}"}
            _wait_until_started(twin, task_id)
            mine = {p["id"] for p in twin.predictions()} - known
            known.update(mine)
        deadline = time.monotonic() + timeout_s
        seen = None
        state: str | None = None
        while time.monotonic() < deadline:
            _, state = twin.state(task_id)
            if state in TERMINAL:
                seen = time.time()
                break
            time.sleep(read_every_s)
        if state != "SUCCESS" or seen is None:
            return {"error": f"task ended {state}"}
        finished = [p for p in twin.predictions() if p["id"] in mine]
        last_done = max(_parse_time(p["completed_at"]) for p in finished)
        first_created = min(_parse_time(p["created_at"]) for p in finished)
        return {
            "predictions": len(finished),
            "model_seconds": round(last_done - first_created, 2),
            "overhead_s": round(seen - last_done, 3),
        }

    with ThreadPoolExecutor(in_flight) as pool:
        results = list(pool.map(one, range(tasks)))
    twin.set_faults(min_processing_s=0)
    overheads = [r["overhead_s"] for r in results if "overhead_s" in r]
    return {
        "tasks": tasks,
        "in_flight": in_flight,
        "poll_interval_s": interval,
        "status_read_every_s": read_every_s,
        "overhead_s": summary(overheads, digits=3),
        "samples": results,
        "errors": [r["error"] for r in results if "error" in r],
    }


# -- concurrency --------------------------------------------------------------------------------------
def measure_concurrency(
    twin: RunningTwin,
    *,
    tasks: int = 50,
    submit_threads: int = 10,
    client_interval_s: float = 2.0,
    timeout_s: float = 900,
) -> tuple[dict[str, Any], list[str]]:
    """``tasks`` submitted at once, each polled every ``client_interval_s`` until it ends.
    Returns the figures and the ids of the tasks that succeeded."""
    began = time.monotonic()

    def submit(_: int) -> tuple[int, str | None, float]:
        started = time.perf_counter()
        status, task_id = twin.submit()
        return status, task_id, (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(submit_threads) as pool:
        submitted = list(pool.map(submit, range(tasks)))
    task_ids = [task_id for _, task_id, _ in submitted if task_id]
    states: dict[str, str | None] = dict.fromkeys(task_ids)
    read_errors = 0
    deadline = time.monotonic() + timeout_s
    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() < deadline:
            pending = [t for t, s in states.items() if s not in TERMINAL]
            if not pending:
                break
            round_began = time.monotonic()
            for task_id, (status, state) in zip(pending, pool.map(twin.state, pending), strict=True):
                if status != 200:
                    read_errors += 1
                states[task_id] = state
            time.sleep(max(0.0, client_interval_s - (time.monotonic() - round_began)))
    finished = [s for s in states.values() if s in TERMINAL]
    figures = {
        "submitted": tasks,
        "accepted": len(task_ids),
        "succeeded": sum(1 for s in states.values() if s == "SUCCESS"),
        "failed": sum(1 for s in states.values() if s == "FAILURE"),
        "unfinished": len(states) - len(finished),
        "read_errors": read_errors,
        "submit_ms": summary([ms for _, _, ms in submitted]),
        "all_done_in_s": round(time.monotonic() - began, 1),
    }
    return figures, [t for t, s in states.items() if s == "SUCCESS"]


# -- sustained status reads ----------------------------------------------------------------------------
def measure_status_reads(
    twin: RunningTwin,
    finished_task_ids: list[str],
    *,
    seconds: float = 30.0,
    threads: int = 4,
    running_tasks: int = 4,
) -> dict[str, Any]:
    """Reads of running (kept running by the emulator) and finished tasks for ``seconds``."""
    twin.set_faults(never_finish=["*"])
    running = [task_id for _, task_id in (twin.submit() for _ in range(running_tasks)) if task_id]
    for task_id in running:  # wait until their predictions run: steady-state polling
        deadline = time.monotonic() + 30
        while twin.state(task_id)[1] != "PROCESSING" and time.monotonic() < deadline:
            time.sleep(0.1)
    twin.set_faults(never_finish=[])
    targets = running + finished_task_ids[:running_tasks]
    stop_at = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads

    def reader(index: int) -> None:
        position = index
        while time.monotonic() < stop_at:
            task_id = targets[position % len(targets)]
            position += 1
            started = time.perf_counter()
            try:
                status, _ = twin.state(task_id)
            except (OSError, http.client.HTTPException):
                status = 0
            latencies[index].append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors[index] += 1

    began = time.monotonic()
    workers = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 60)
    elapsed = time.monotonic() - began
    all_ms = [ms for per_thread in latencies for ms in per_thread]
    ok = len(all_ms) - sum(errors)
    return {
        "seconds": round(elapsed, 1),
        "threads": threads,
        "tasks_read": {"running": len(running), "finished": len(targets) - len(running)},
        "reads": len(all_ms),
        "errors": sum(errors),
        "reads_per_s": round(ok / elapsed, 1),
        "latency_ms": summary(all_ms),
    }


def measure(
    *,
    overhead_tasks: int = 10,
    concurrent_tasks: int = 200,
    read_seconds: float = 30.0,
    read_threads: int = 16,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-twin-") as workdir:
        # The default: Replicate's webhooks on, as `videogen serve` and a deployment with a public URL
        twin = start_twin(Path(workdir))
        try:
            overhead = measure_overhead(twin, tasks=overhead_tasks)
            concurrency, finished = measure_concurrency(twin, tasks=concurrent_tasks)
            reads = measure_status_reads(twin, finished, seconds=read_seconds, threads=read_threads)
        except Exception:
            sys.stderr.write(twin.log_path.read_text()[-4000:])
            raise
        finally:
            twin.stop()
        # Side by side: polling alone (a deployment without a public webhook URL), the same tasks
        polling = start_twin(Path(workdir), 90, "--no-replicate-webhooks")
        try:
            overhead_polling = measure_overhead(polling, tasks=overhead_tasks)
        except Exception:
            sys.stderr.write(polling.log_path.read_text()[-4000:])
            raise
        finally:
            polling.stop()
    return {
        "twin_started_in_s": twin.started_in_s,
        "overhead": overhead,
        "overhead_polling": overhead_polling,
        "concurrency": concurrency,
        "status_reads": reads,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--overhead-tasks", type=int, default=10)
    parser.add_argument("--concurrent-tasks", type=int, default=200)
    parser.add_argument("--read-seconds", type=float, default=30.0)
    parser.add_argument("--read-threads", type=int, default=16)
    args = parser.parse_args(argv)
    result = measure(
        overhead_tasks=args.overhead_tasks,
        concurrent_tasks=args.concurrent_tasks,
        read_seconds=args.read_seconds,
        read_threads=args.read_threads,
    )
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
