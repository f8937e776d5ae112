"""Prediction state and lifecycle: starting -> processing -> succeeded/failed/canceled/aborted.

Each prediction runs on its own daemon thread. Renders take one of ``render_concurrency`` slots
(a semaphore), so extra predictions wait in ``starting`` like a queue. Faults are snapshotted at
create time (``FaultPlan``) so later fault changes do not rewrite predictions already in flight.

A prediction's logs are what the real model prints (the catalog says which progress lines, if any:
tqdm bars, audiocraft's token counter, or nothing). Like Replicate, a finished prediction keeps its
input, output, logs and files for ``data_retention_s`` (an hour by default); then they are removed
(``data_removed: true``, ``output: null``) and its file URLs answer 404.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import render
from .errors import PredictionCanceled, PredictionError
from .faults import Faults
from .fetch import fetch_input
from .models import ModelSpec
from .validation import CheckedInput

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
    """The faults (and the run time) that apply to one prediction, fixed when it is created."""

    start_delay_s: float = 0.0
    min_processing_s: float = 0.0
    abort: bool = False
    fail: str | None = None
    never_finish: bool = False
    remove_data_on_download: bool = False

    @classmethod
    def for_model(cls, faults: Faults, spec: ModelSpec, model_time_scale: float = 0.0) -> FaultPlan:
        model = spec.full_name
        run_s = spec.entry.progress.typical_seconds * model_time_scale
        return cls(
            start_delay_s=faults.start_delay_s,
            min_processing_s=max(faults.min_processing_s, run_s),
            abort=faults.aborts(model),
            fail=faults.failure_for(model),
            never_finish=faults.never_finishes(model),
            remove_data_on_download=faults.removes_data_on_download(model),
        )


class Prediction:
    """One prediction's mutable state. All fields are guarded by ``self.lock``."""

    def __init__(
        self,
        spec: ModelSpec,
        raw_input: dict[str, Any],
        checked: CheckedInput,
        root: Path,
        plan: FaultPlan,
    ) -> None:
        self.id = new_prediction_id()
        self.spec = spec
        self.raw_input = raw_input
        self.input = checked.values
        self.ignored_input = checked.ignored
        self.notes: dict[str, Any] = {}
        self.data_removed = False
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
        #: Told of every change a webhook reports (``logs``, ``output``, ``completed``), outside the lock.
        self.listener: Callable[[str], None] | None = None

    def _tell(self, *events: str) -> None:
        listener = self.listener
        if listener is not None:
            for event in events:
                listener(event)

    # ----------------------------------------------------------------------------------- transitions

    def log(self, message: str, end: str = "\n") -> None:
        """Append to the logs as ``print(message, end=end)`` would write to stdout."""
        with self.lock:
            self._logs.append(message + end)
        self._tell("logs")

    def note(self, key: str, value: Any) -> None:
        with self.lock:
            self.notes[key] = value

    def remove_data(self) -> bool:
        """Replicate's clean-up: input, output, logs and files go; the rest of the record stays."""
        with self.lock:
            if self.data_removed:
                return False
            self.data_removed = True
            self.raw_input = {}
            self.output = None
            self.output_files = set()
            self._logs = []
        shutil.rmtree(self.workdir, ignore_errors=True)
        return True

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
        self._tell(*(("output", "completed") if output is not None else ("completed",)))
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
        self._tell("completed")

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

    def to_json(self, base_url: str, internal: bool = False) -> dict[str, Any]:
        """The prediction as Replicate's API returns it; output files become URLs under ``base_url``.
        ``internal`` adds an ``_emulator`` section (dropped input keys, render notes) for tests."""
        base = base_url.rstrip("/")
        with self.lock:
            body = {
                "id": self.id,
                "model": self.spec.full_name,
                "version": self.spec.version,
                "input": self.raw_input,
                "logs": "".join(self._logs),
                "output": _encode_output(self.output, f"{base}/files/{self.id}"),
                "error": self.error,
                "status": self.status,
                "source": "api",
                "data_removed": self.data_removed,
                "created_at": _iso(self.created_at),
                "started_at": _iso(self.started_at),
                "completed_at": _iso(self.completed_at),
                "urls": {
                    "get": f"{base}/v1/predictions/{self.id}",
                    "cancel": f"{base}/v1/predictions/{self.id}/cancel",
                },
                "metrics": self._metrics(),
            }
            if internal:
                body["_emulator"] = {"ignored_input": list(self.ignored_input), "notes": dict(self.notes)}
            return body

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
    """Render progress as the progress lines the real model prints, one per whole percent at most:
    a tqdm bar, audiocraft's ``generated / total`` token counter (50 tokens per second of audio,
    each line ended by a carriage return), or nothing (the catalog's ``progress.logs``)."""

    AUDIOCRAFT_TOKENS_PER_S = 50

    def __init__(self, prediction: Prediction, media_seconds: float = 1.0) -> None:
        self._prediction = prediction
        self._format = prediction.spec.entry.progress.logs
        self._tokens = max(1, round(media_seconds * self.AUDIOCRAFT_TOKENS_PER_S))
        self._started = time.monotonic()
        self._last_percent = -1
        self.total: int | None = None

    @property
    def complete(self) -> bool:
        return self._last_percent >= 100

    def update(self, current: int, total: int) -> None:
        self.total = total
        percent = 100 * current // max(total, 1)
        if percent == self._last_percent:
            return
        self._last_percent = percent
        if self._format == "tqdm":
            self._prediction.log(render.tqdm_line(current, total, time.monotonic() - self._started))
        elif self._format == "audiocraft":
            tokens = self._tokens * current // max(total, 1)
            self._prediction.log(f"{tokens: 6d} / {self._tokens: 6d}", end="\r")

    def finish(self) -> None:
        """The last line at 100% if the render's own progress stopped short of it."""
        if not self.complete:
            total = self.total or 100
            self.update(total, total)


class _Context:
    """The ``RenderContext`` handed to model renderers."""

    def __init__(self, prediction: Prediction) -> None:
        self._prediction = prediction
        self.prediction_id = prediction.id
        self.model_id = prediction.spec.full_name
        self.workdir = prediction.workdir
        self._started = time.monotonic()
        self.last_progress: _ProgressLog | None = None

    def log(self, message: str, end: str = "\n") -> None:
        self._prediction.log(message, end)

    def note(self, key: str, value: Any) -> None:
        self._prediction.note(key, value)

    def check_canceled(self) -> None:
        if self._prediction.canceled.is_set():
            raise PredictionCanceled()

    def fetch(self, field: str, url: str) -> Path:
        path = fetch_input(url, self.workdir / f"{field}.input", field, canceled=self._prediction.canceled)
        self.note(f"{field}_bytes", path.stat().st_size)
        return path

    def run_ffmpeg(self, job: render.FfmpegJob, output: Path) -> Path:
        self.check_canceled()
        progress = _ProgressLog(self._prediction, job.duration_s)
        self.last_progress = progress
        run = render.FfmpegRun(
            on_start=self._prediction.attach_process,
            on_exit=self._prediction.detach_process,
            on_progress=progress.update,
            canceled=self._prediction.canceled,
            pacing=self._pacing(job),
        )
        render.run_ffmpeg(job, output, run, self.workdir / f"{output.stem}.ffmpeg.log")
        if not output.is_file():
            raise PredictionError(f"ffmpeg produced no {output.name}")
        return output

    def _pacing(self, job: render.FfmpegJob) -> render.Pacing:
        """Stretch the render over what is left of the run time if the model prints its progress
        (so the lines come as the real ones would); stall it for never_finish."""
        plan = self._prediction.plan
        remaining = plan.min_processing_s - (time.monotonic() - self._started)
        prints_progress = self._prediction.spec.entry.progress.logs != "none"
        speed = job.duration_s / remaining if remaining > 0.2 and prints_progress else None
        stall = job.duration_s * _STALL_FRACTION if plan.never_finish else None
        return render.Pacing(speed=speed, stall_at_s=stall)


class Engine:
    """Creates, runs, cancels and forgets predictions."""

    def __init__(
        self, root: Path, render_concurrency: int, data_retention_s: Callable[[], float] = lambda: 3600.0
    ) -> None:
        if render_concurrency < 1:
            raise ValueError("render_concurrency must be at least 1")
        self.root = root
        self._retention_s = data_retention_s
        self._slots = threading.BoundedSemaphore(render_concurrency)
        self._lock = threading.Lock()
        self._predictions: dict[str, Prediction] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._closed = False

    # ----------------------------------------------------------------------------------- public API

    def create(
        self,
        spec: ModelSpec,
        raw_input: dict[str, Any],
        checked: CheckedInput,
        plan: FaultPlan,
        before_start: Callable[[Prediction], None] | None = None,
    ) -> Prediction:
        """A new prediction, running. ``before_start`` sees it before its thread starts (its
        webhooks subscribe there, so that they miss nothing)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("emulator is shutting down")
            prediction = Prediction(spec, raw_input, checked, self.root, plan)
            prediction.workdir.mkdir(parents=True)
            thread = threading.Thread(
                target=self._run, args=(prediction,), name=f"replicate-emulator-{prediction.id}", daemon=True
            )
            self._predictions[prediction.id] = prediction
            # Finished workers are pruned here rather than by themselves, so that _join() always
            # sees every thread that might still be alive.
            self._threads = {pid: t for pid, t in self._threads.items() if t.ident is None or t.is_alive()}
            self._threads[prediction.id] = thread
        if before_start is not None:
            before_start(prediction)
        thread.start()
        return prediction

    def get(self, prediction_id: str) -> Prediction | None:
        with self._lock:
            prediction = self._predictions.get(prediction_id)
        if prediction is not None:
            self._expire([prediction])
        return prediction

    def all(self) -> list[Prediction]:
        with self._lock:
            predictions = list(self._predictions.values())
        self._expire(predictions)
        return predictions

    def output_file(self, prediction_id: str, filename: str) -> Path | None:
        prediction = self.get(prediction_id)
        if prediction is None:
            return None
        if prediction.plan.remove_data_on_download:  # fault: the download comes after the clean-up
            prediction.remove_data()
        with prediction.lock:
            if filename not in prediction.output_files:
                return None
        path = prediction.workdir / filename
        return path if path.is_file() else None

    def running_pids(self) -> list[int]:
        return [pid for p in self.all() for pid in p.running_pids()]

    def _expire(self, predictions: list[Prediction]) -> None:
        """Remove the data of predictions finished longer ago than the retention (checked on access,
        which is all a client can observe)."""
        retention = self._retention_s()
        now = _now()
        for prediction in predictions:
            completed = prediction.completed_at
            expired = completed is not None and (now - completed).total_seconds() >= retention
            if expired and not prediction.data_removed:
                prediction.remove_data()

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
                self._process(prediction, slotted=True)
        except PredictionCanceled:
            pass
        except Exception as exc:  # a bug in a renderer must still end the prediction
            log.exception("prediction %s crashed", prediction.id)
            prediction.note("crash", repr(exc))
            prediction.finish("failed", error=f"Emulator internal error: {exc}")

    def _process(self, prediction: Prediction, slotted: bool = False) -> None:
        """Render (in a render slot if ``slotted``: queued predictions stay ``starting``), then wait
        out the run time. A model that prints its progress is rendered at the pace of its run
        time, holding the slot; one that prints none renders at full speed and waits outside the
        slot, as predictions at Replicate run side by side."""
        with contextlib.ExitStack() as slot:
            if slotted:
                slot.enter_context(self._render_slot(prediction))
            prediction.mark_processing()
            started = time.monotonic()
            context = _Context(prediction)
            try:
                output = prediction.spec.render(context, prediction.input)
            except PredictionError as exc:
                failure: PredictionError | None = exc
            else:
                failure = None
        if failure is not None:
            if prediction.plan.never_finish:
                self._hang(prediction)
            prediction.log(f"Error: {failure}")
            prediction.finish("failed", error=str(failure))
            return
        if prediction.plan.never_finish:
            self._hang(prediction)
        self._sleep(prediction, prediction.plan.min_processing_s - (time.monotonic() - started))
        if context.last_progress is not None:
            context.last_progress.finish()
        prediction.finish("succeeded", output=output)

    def _fail(self, prediction: Prediction, error: str) -> None:
        """Injected failure: start, log some progress, then fail with the configured text."""
        prediction.mark_processing()
        progress = _ProgressLog(prediction)
        steps = 4
        pause = max(prediction.plan.min_processing_s, 0.2) / steps
        for step in range(steps):
            progress.update(step * 10, 100)
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
