"""Prediction state and lifecycle: starting -> processing -> succeeded/failed/canceled/aborted.

Each prediction runs on its own daemon thread. Renders take one of ``render_concurrency`` slots
(a semaphore), so extra predictions wait in ``starting`` like a queue. Faults are snapshotted at
create time (``FaultPlan``) so later fault changes do not rewrite predictions already in flight.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import render
from .errors import PredictionCanceled, PredictionError
from .faults import Faults
from .fetch import fetch_input
from .models import ModelSpec

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "aborted"})
ABORTED_ERROR = "Prediction deadline exceeded before the prediction started"
_STALL_FRACTION = 0.4  # never_finish renders stop making progress around here
_KILL_WAIT_S = 5.0


def new_prediction_id() -> str:
    """26 lowercase base32 characters, like Replicate's ids (e.g. ``gm3qorzdhgbfurvjtvhg6dckhu``)."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class FaultPlan:
    """The faults that apply to one prediction, fixed when it is created."""

    start_delay_s: float = 0.0
    min_processing_s: float = 0.0
    abort: bool = False
    fail: str | None = None
    never_finish: bool = False

    @classmethod
    def for_model(cls, faults: Faults, model: str) -> FaultPlan:
        return cls(
            start_delay_s=faults.start_delay_s,
            min_processing_s=faults.min_processing_s,
            abort=faults.aborts(model),
            fail=faults.failure_for(model),
            never_finish=faults.never_finishes(model),
        )


class Prediction:
    """One prediction's mutable state. All fields are guarded by ``self.lock``."""

    def __init__(
        self,
        spec: ModelSpec,
        raw_input: dict[str, Any],
        clean_input: dict[str, Any],
        root: Path,
        plan: FaultPlan,
    ) -> None:
        self.id = new_prediction_id()
        self.spec = spec
        self.raw_input = raw_input
        self.input = clean_input
        self.workdir = root / self.id
        self.plan = plan
        self.lock = threading.Lock()
        self.canceled = threading.Event()
        self.done = threading.Event()
        self.status = "starting"
        self.created_at = _now()
        self.started_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.output: Any = None
        self.output_files: set[str] = set()
        self.error: str | None = None
        self._logs: list[str] = []
        self._processes: set[subprocess.Popen[str]] = set()

    # ----------------------------------------------------------------------------------- transitions

    def log(self, message: str) -> None:
        with self.lock:
            self._logs.extend(message.splitlines() or [""])

    def mark_processing(self) -> None:
        with self.lock:
            if self.canceled.is_set():
                raise PredictionCanceled()
            self.status = "processing"
            self.started_at = _now()

    def finish(self, status: str, *, output: Any = None, error: str | None = None) -> bool:
        """Move to a terminal status unless already terminal (a cancel always wins the race)."""
        with self.lock:
            if self.status in TERMINAL_STATUSES:
                return False
            self.status = status
            self.output = output
            self.output_files = {p.name for p in _paths_in(output)}
            self.error = error
            self.completed_at = _now()
        self.done.set()
        return True

    def cancel(self) -> None:
        """Cancel now: status ``canceled`` immediately, then kill any ffmpeg this prediction runs."""
        with self.lock:
            if self.status in TERMINAL_STATUSES:
                return
            self.status = "canceled"
            self.completed_at = _now()
            self.canceled.set()
            processes = list(self._processes)
        for proc in processes:
            _kill(proc)
        self.done.set()

    def attach_process(self, proc: subprocess.Popen[str]) -> None:
        with self.lock:
            self._processes.add(proc)
            canceled = self.canceled.is_set()
        if canceled:  # canceled between Popen and registration: nobody else will kill it
            _kill(proc)

    def detach_process(self, proc: subprocess.Popen[str]) -> None:
        with self.lock:
            self._processes.discard(proc)

    def running_pids(self) -> list[int]:
        with self.lock:
            return [p.pid for p in self._processes if p.poll() is None]

    # ----------------------------------------------------------------------------------- serialisation

    def to_json(self, base_url: str) -> dict[str, Any]:
        """The prediction as Replicate's API returns it; output files become URLs under ``base_url``."""
        base = base_url.rstrip("/")
        with self.lock:
            return {
                "id": self.id,
                "model": self.spec.full_name,
                "version": self.spec.version,
                "input": self.raw_input,
                "logs": "".join(f"{line}\n" for line in self._logs),
                "output": _encode_output(self.output, f"{base}/files/{self.id}"),
                "error": self.error,
                "status": self.status,
                "source": "api",
                "data_removed": False,
                "created_at": _iso(self.created_at),
                "started_at": _iso(self.started_at),
                "completed_at": _iso(self.completed_at),
                "urls": {
                    "get": f"{base}/v1/predictions/{self.id}",
                    "cancel": f"{base}/v1/predictions/{self.id}/cancel",
                },
                "metrics": self._metrics(),
            }

    def _metrics(self) -> dict[str, float]:
        if self.completed_at is None:
            return {}
        metrics = {"total_time": (self.completed_at - self.created_at).total_seconds()}
        if self.started_at is not None:
            metrics["predict_time"] = (self.completed_at - self.started_at).total_seconds()
        return metrics


def _paths_in(value: Any) -> Iterator[Path]:
    if isinstance(value, Path):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _paths_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _paths_in(item)


def _encode_output(value: Any, files_url: str) -> Any:
    if isinstance(value, Path):
        return f"{files_url}/{value.name}"
    if isinstance(value, list | tuple):
        return [_encode_output(v, files_url) for v in value]
    if isinstance(value, dict):
        return {k: _encode_output(v, files_url) for k, v in value.items()}
    return value


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL: a paced (``realtime``) ffmpeg sleeps through SIGTERM."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_KILL_WAIT_S)


class _ProgressLog:
    """Turns render progress into tqdm-style log lines, one per whole percent at most."""

    def __init__(self, prediction: Prediction) -> None:
        self._prediction = prediction
        self._started = time.monotonic()
        self._last_percent = -1
        self.total: int | None = None

    @property
    def complete(self) -> bool:
        return self._last_percent >= 100

    def update(self, current: int, total: int) -> None:
        self.total = total
        percent = 100 * current // max(total, 1)
        if percent != self._last_percent:
            self._last_percent = percent
            self._prediction.log(render.tqdm_line(current, total, time.monotonic() - self._started))


class _Context:
    """The ``RenderContext`` handed to model renderers."""

    def __init__(self, prediction: Prediction) -> None:
        self._prediction = prediction
        self.prediction_id = prediction.id
        self.workdir = prediction.workdir
        self._started = time.monotonic()
        self.progress_total: int | None = None
        """Units of the last render's progress, so the final 100% line matches them."""
        self.progress_complete = False

    def log(self, message: str) -> None:
        self._prediction.log(message)

    def check_canceled(self) -> None:
        if self._prediction.canceled.is_set():
            raise PredictionCanceled()

    def fetch(self, field: str, url: str) -> Path:
        path = fetch_input(url, self.workdir / f"{field}.input", field, canceled=self._prediction.canceled)
        self.log(f"Downloaded {field} ({path.stat().st_size} bytes)")
        return path

    def run_ffmpeg(self, job: render.FfmpegJob, output: Path) -> Path:
        self.check_canceled()
        progress = _ProgressLog(self._prediction)
        run = render.FfmpegRun(
            on_start=self._prediction.attach_process,
            on_exit=self._prediction.detach_process,
            on_progress=progress.update,
            canceled=self._prediction.canceled,
            pacing=self._pacing(job),
        )
        try:
            render.run_ffmpeg(job, output, run, self.workdir / f"{output.stem}.ffmpeg.log")
        finally:
            self.progress_total = progress.total or self.progress_total
            self.progress_complete = progress.complete
        if not output.is_file():
            raise PredictionError(f"ffmpeg produced no {output.name}")
        return output

    def _pacing(self, job: render.FfmpegJob) -> render.Pacing:
        """Stretch the render over what is left of ``min_processing_s``; stall it for never_finish."""
        plan = self._prediction.plan
        remaining = plan.min_processing_s - (time.monotonic() - self._started)
        speed = job.duration_s / remaining if remaining > 0.2 else None
        stall = job.duration_s * _STALL_FRACTION if plan.never_finish else None
        return render.Pacing(speed=speed, stall_at_s=stall)


class Engine:
    """Creates, runs, cancels and forgets predictions."""

    def __init__(self, root: Path, render_concurrency: int) -> None:
        if render_concurrency < 1:
            raise ValueError("render_concurrency must be at least 1")
        self.root = root
        self._slots = threading.BoundedSemaphore(render_concurrency)
        self._lock = threading.Lock()
        self._predictions: dict[str, Prediction] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._closed = False

    # ----------------------------------------------------------------------------------- public API

    def create(
        self, spec: ModelSpec, raw_input: dict[str, Any], clean_input: dict[str, Any], plan: FaultPlan
    ) -> Prediction:
        with self._lock:
            if self._closed:
                raise RuntimeError("emulator is shutting down")
            prediction = Prediction(spec, raw_input, clean_input, self.root, plan)
            prediction.workdir.mkdir(parents=True)
            thread = threading.Thread(
                target=self._run, args=(prediction,), name=f"replicate-emulator-{prediction.id}", daemon=True
            )
            self._predictions[prediction.id] = prediction
            # Finished workers are pruned here rather than by themselves, so that _join() always
            # sees every thread that might still be alive.
            self._threads = {pid: t for pid, t in self._threads.items() if t.ident is None or t.is_alive()}
            self._threads[prediction.id] = thread
        thread.start()
        return prediction

    def get(self, prediction_id: str) -> Prediction | None:
        with self._lock:
            return self._predictions.get(prediction_id)

    def all(self) -> list[Prediction]:
        with self._lock:
            return list(self._predictions.values())

    def output_file(self, prediction_id: str, filename: str) -> Path | None:
        prediction = self.get(prediction_id)
        if prediction is None:
            return None
        with prediction.lock:
            if filename not in prediction.output_files:
                return None
        path = prediction.workdir / filename
        return path if path.is_file() else None

    def running_pids(self) -> list[int]:
        return [pid for p in self.all() for pid in p.running_pids()]

    def forget_all(self, join_timeout_s: float = 10.0) -> None:
        """Cancel everything still running, wait for the workers, delete predictions and files."""
        predictions = self.all()
        for prediction in predictions:
            prediction.cancel()
        self._join(join_timeout_s)
        with self._lock:
            for prediction in predictions:
                self._predictions.pop(prediction.id, None)
        for prediction in predictions:
            shutil.rmtree(prediction.workdir, ignore_errors=True)

    def close(self, join_timeout_s: float = 10.0) -> None:
        with self._lock:
            self._closed = True
        self.forget_all(join_timeout_s)

    # ----------------------------------------------------------------------------------- lifecycle

    def _join(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads.items())
        for prediction_id, thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if not thread.is_alive():
                with self._lock:
                    self._threads.pop(prediction_id, None)
            else:
                log.warning("prediction worker %s did not stop in time", prediction_id)

    def _run(self, prediction: Prediction) -> None:
        plan = prediction.plan
        try:
            self._sleep(prediction, plan.start_delay_s)
            if plan.abort:
                prediction.finish("aborted", error=ABORTED_ERROR)
            elif plan.fail is not None:
                self._fail(prediction, plan.fail)
            elif plan.never_finish:
                # A stalled render burns no CPU, so it does not hold a render slot either.
                self._process(prediction)
            else:
                with self._render_slot(prediction):
                    self._process(prediction)
        except PredictionCanceled:
            pass
        except Exception as exc:  # a bug in a renderer must still end the prediction
            log.exception("prediction %s crashed", prediction.id)
            prediction.log(f"Emulator error: {exc!r}")
            prediction.finish("failed", error=f"Emulator internal error: {exc}")

    def _process(self, prediction: Prediction) -> None:
        prediction.mark_processing()
        started = time.monotonic()
        context = _Context(prediction)
        try:
            output = prediction.spec.render(context, prediction.input)
        except PredictionError as exc:
            if prediction.plan.never_finish:
                self._hang(prediction)
            prediction.log(f"Error: {exc}")
            prediction.finish("failed", error=str(exc))
            return
        if prediction.plan.never_finish:
            self._hang(prediction)
        self._sleep(prediction, prediction.plan.min_processing_s - (time.monotonic() - started))
        if not context.progress_complete:
            total = context.progress_total or 100
            prediction.log(render.tqdm_line(total, total, time.monotonic() - started))
        prediction.finish("succeeded", output=output)

    def _fail(self, prediction: Prediction, error: str) -> None:
        """Injected failure: start, log some progress, then fail with the configured text."""
        prediction.mark_processing()
        prediction.log("Loading model weights")
        steps = 4
        pause = max(prediction.plan.min_processing_s, 0.2) / steps
        for step in range(steps):
            prediction.log(render.tqdm_line(step * 10, 100, (step + 1) * pause))
            self._sleep(prediction, pause)
        prediction.log(f"Error: {error}")
        prediction.finish("failed", error=error)

    @staticmethod
    def _sleep(prediction: Prediction, seconds: float) -> None:
        if seconds > 0 and prediction.canceled.wait(seconds):
            raise PredictionCanceled()
        if prediction.canceled.is_set():
            raise PredictionCanceled()

    @staticmethod
    def _hang(prediction: Prediction) -> None:
        prediction.canceled.wait()
        raise PredictionCanceled()

    @contextlib.contextmanager
    def _render_slot(self, prediction: Prediction) -> Iterator[None]:
        while not self._slots.acquire(timeout=0.05):
            if prediction.canceled.is_set():
                raise PredictionCanceled()
        try:
            yield
        finally:
            self._slots.release()
