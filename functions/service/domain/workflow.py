"""The workflow's steps, one function per ASL Task state, and the clean-up of executions that
ended without the workflow's help.

Each takes the state input (validated: ids and counters only), reads what it needs from the task
record, does one thing, updates the record and returns the next state. The record is the truth:
the job, the predictions (each recorded before the next is created), the outputs, the errors.
Creations are recorded, cancellations and record writes are idempotent, so a retried step is
harmless; every way a task can fail cancels every prediction the record lists as still running.

Whatever a model or the provider says reaches the owner in the API's terms (``recipes.API_FIELDS``,
``errors.public_text``); the provider's own words are logged with the task id.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from service.adapters import compose, ffmpeg
from service.adapters.media import MediaStore
from service.adapters.replicate_gateway import ReplicateGateway
from service.adapters.tasks_table import TasksTable
from service.catalog import SUBTITLE_PREFIX, THUMBNAIL_PREFIX, VIDEO_PREFIX
from service.domain.errors import (
    USER_SAFE_ERRORS,
    OutputExpired,
    OutputRefused,
    OutputUnavailable,
    PollNow,
    PredictionsStillRunning,
    ReplicateRejected,
    TaskAlreadyEnded,
    UpstreamError,
    public_text,
)
from service.domain.origins import REPLICATE_DELIVERY, AllowedOrigins
from service.domain.predictions import TERMINAL, PredictionSnapshot, output_url
from service.domain.progress import PredictionProgress, combine
from service.domain.recipes import API_FIELDS, ROLE_NAMES
from service.domain.tasks import EXECUTION_END_ERRORS
from service.model_catalog import catalog
from service.models.domain import (
    PredictionHook,
    PredictionRef,
    StepError,
    Task,
    TaskKind,
    TaskResult,
    Tombstone,
    utcnow,
)
from service.models.workflow import ExecutionInput, FailTaskInput, PredictionsState
from service.observability import logger


@dataclass(frozen=True)
class Finished:
    task_id: str
    generation_seconds: float | None


INTERNAL_ERROR = "Video generation failed because of an internal error"
#: Redirects Finalize follows (each to an allowed origin) before it gives up on an output.
MAX_REDIRECTS = 3
FAILED_STATUSES = {"failed": "failed", "canceled": "was canceled", "aborted": "was aborted before it started"}
#: Outputs live an hour at the provider (catalog sources); a copy that comes later finds nothing.
EXPIRED = (
    "The generated {role} expired before it could be saved (model outputs are kept for one hour); "
    "please try again"
)


def _role(role: str) -> str:
    return ROLE_NAMES.get(role, role)


_RANK = {"starting": 0, "processing": 1}


def _later(status: str, other: str | None) -> str:
    """The further along of two statuses of one prediction (an end is further than a run)."""
    if other is None:
        return status
    rank = {s: _RANK.get(s, 2) for s in (status, other)}
    return other if rank[other] > rank[status] else status


def _from_hook(ref: PredictionRef, hook: PredictionHook | None) -> PredictionSnapshot:
    """A prediction as its recorded webhook (or the last GET, whichever is further along) tells it."""
    if hook is None or _later(ref.status, hook.status) != hook.status:
        return PredictionSnapshot(
            ref.id, ref.status, hook.fraction if hook else None, None, None, ref.started_at
        )
    return PredictionSnapshot(
        ref.id,
        hook.status,
        hook.fraction,
        hook.output,
        hook.error,
        started_at=hook.started_at or ref.started_at,
    )


def _typical_seconds(model: str, scale: float) -> float | None:
    entry = catalog().entry_for(model)
    return entry.progress.typical_seconds * scale if entry is not None else None


class Workflow:
    """The steps. Each function gets what its steps use: the Replicate steps a gateway (built lazily:
    the token comes from Secrets Manager), Finalize the media store."""

    def __init__(
        self,
        tasks: TasksTable,
        *,
        gateway: Callable[[], ReplicateGateway] | None = None,
        media: MediaStore | None = None,
        download_timeout: float = 120.0,
        max_video_bytes: int = 500 * 1024 * 1024,
        output_origins: AllowedOrigins | None = None,
        model_time_scale: float = 1.0,
        webhook_url: str | None = None,
        reconcile_after_s: float = 60.0,
    ) -> None:
        self._gateway = gateway
        self.tasks = tasks
        self._media = media
        self.download_timeout = download_timeout
        self.max_video_bytes = max_video_bytes
        self.output_origins = output_origins or AllowedOrigins(REPLICATE_DELIVERY)
        self.model_time_scale = model_time_scale
        #: Where Replicate sends a task's webhooks (``…/api/replicate-webhooks/``; the task id is
        #: appended), or None: no webhooks, the workflow polls Replicate on every cycle (as before).
        self.webhook_url = webhook_url
        #: With webhooks, a prediction they said nothing about for this long is read from Replicate
        #: (the safety net for a lost ``completed``).
        self.reconcile_after_s = reconcile_after_s

    @property
    def replicate(self) -> ReplicateGateway:
        if self._gateway is None:
            raise RuntimeError("This function has no Replicate gateway")
        return self._gateway()

    @property
    def media(self) -> MediaStore:
        if self._media is None:
            raise RuntimeError("This function has no media store")
        return self._media

    def _task(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise TaskAlreadyEnded(f"Task {task_id} has no record")
        return task

    # -- StartPredictions -----------------------------------------------------------------------
    def start_predictions(self, state: ExecutionInput) -> PredictionsState:
        """Create the job's predictions, each recorded before the next is created, so that a retried
        step reuses what it already made instead of creating it twice. If the task ended meanwhile
        (cancelled, or its execution stopped), what was just created is cancelled and the step stops.

        The window left: a crash between Replicate's create and our write (the Lambda killed in
        between) leaves one prediction nobody knows of; the retry creates another."""
        task = self._task(state.task_id)
        if task.state.terminal:
            raise TaskAlreadyEnded(f"Task {task.task_id} ended before its predictions started")
        if task.job is None:
            raise RuntimeError(f"Task {task.task_id} has no job")
        predictions = list(task.predictions)
        recorded = {p.role for p in predictions}
        for call in task.job.predictions:
            if call.role in recorded:
                continue
            try:
                predictions.append(self.replicate.create(call, webhook=self._webhook_for(task.task_id)))
            except UpstreamError as error:  # those already made are recorded: MarkFailed cancels them
                logger.warning(
                    "The model provider refused a prediction",
                    extra={"task_id": task.task_id, "upstream": error.upstream, "status": error.status},
                )
                raise error.reworded(self._refusal(error, task.kind)) from error
            progress = combine([PredictionProgress(p.status, None, p.role) for p in predictions])
            if not self.tasks.mark_processing(task.task_id, predictions, progress):
                self._cancel_running(predictions)
                raise TaskAlreadyEnded(f"Task {task.task_id} ended while its predictions started")
        if not recorded.isdisjoint({call.role for call in task.job.predictions}):
            logger.info("Reused predictions of an earlier attempt", extra={"task_id": task.task_id})
        logger.info(
            "Predictions started",
            extra={"task_id": state.task_id, "predictions": [p.id for p in predictions]},
        )
        return PredictionsState(task_id=state.task_id, kind=task.kind, predictions=predictions)

    def _webhook_for(self, task_id: str) -> str | None:
        return f"{self.webhook_url.rstrip('/')}/{task_id}" if self.webhook_url else None

    def _refusal(self, error: UpstreamError, kind: TaskKind) -> str:
        """What the owner reads when the provider refuses to start a prediction."""
        if not isinstance(error, ReplicateRejected):
            return str(error)  # busy / unavailable: already in the owner's terms
        role = error.role or "video"
        fields = API_FIELDS.get((kind, role), {})
        named = []
        for invalid in error.invalid_fields:
            name, description = invalid["field"].removeprefix("input."), invalid["description"]
            if name == "input" or description.startswith(f"{name} "):
                named.append(public_text(description, fields=fields))  # it names the field itself
            elif name in fields:
                named.append(public_text(f"{name}: {description}", fields=fields))
        if named:
            return f"The {_role(role)} model rejected the request: {'; '.join(named)}"
        return f"The {_role(role)} model refused the request (HTTP {error.status})"

    # -- WaitBeforePoll -------------------------------------------------------------------------
    def await_wake(self, state: PredictionsState, token: str) -> None:
        """The start of the workflow's wait: keep its task token in the record, so that a
        ``completed`` webhook can end the wait early (SendTaskSuccess). Raises ``PollNow`` when
        there is nothing to wait for: a webhook already told of an end the state does not know
        yet (it came while no wait was stored), or the task ended. Without webhooks it stores
        nothing: the wait simply lasts its TimeoutSeconds, the poll interval, as a Wait state did."""
        if not self.webhook_url or not any(p.hooked for p in state.predictions):
            return
        task = self.tasks.store_wake_token(state.task_id, token)
        if task is None:
            raise PollNow("PollNow: the task ended")
        for prediction in state.predictions:
            hook = task.hooks.get(prediction.id)
            if hook is not None and hook.status in TERMINAL and prediction.status not in TERMINAL:
                raise PollNow("PollNow: a webhook told of a prediction's end")

    # -- PollPredictions ------------------------------------------------------------------------
    def poll_predictions(
        self, state: PredictionsState, seen: dict[str, str] | None = None
    ) -> PredictionsState:
        """Read every prediction once; record progress, and the outputs or the failure in the
        record (the state says only ``outcome``).

        With webhooks, what they recorded stands in for a GET: a prediction they said ended is
        read from the record; one they keep reporting on (or that Replicate was asked about lately)
        is read from the record too, until it has been silent for ``reconcile_after_s``, when
        Replicate is asked (a lost webhook costs latency, never the outcome). A prediction not yet
        known to run (``starting``) is asked about on every poll, to learn when it started.
        ``seen``: filled with prediction id -> ``webhook`` or ``poll`` for each prediction whose end
        this poll learnt, and how."""
        hooks: dict[str, PredictionHook] = {}
        floor = None
        webhooks = bool(self.webhook_url) and any(p.hooked for p in state.predictions)
        if webhooks:
            record = self.tasks.get(state.task_id)
            if record is not None:
                hooks, floor = record.hooks, record.progress
        now = utcnow()
        snapshots: dict[str, PredictionSnapshot] = {}
        learnt: dict[str, str] = {}
        refreshed: list[PredictionRef] = []
        for ref in state.predictions:
            hook = hooks.get(ref.id) if ref.hooked else None
            if hook is not None and hook.status in TERMINAL:
                snapshots[ref.id] = _from_hook(ref, hook)
                learnt[ref.id] = "webhook"
            elif (
                webhooks
                and ref.hooked
                and ref.status not in TERMINAL
                and not self._reconcile_due(ref, hook, now)
            ):
                # (An end a GET learnt, while its completed webhook has not come, is asked again:
                # the state keeps statuses, not outputs, and Finalize needs the output.)
                snapshots[ref.id] = _from_hook(ref, hook)
            else:
                snapshots[ref.id] = self.replicate.get(ref.id)
                ref = ref.model_copy(update={"checked_at": now})
                learnt[ref.id] = "poll"
            started = snapshots[ref.id].started_at or ref.started_at
            refreshed.append(ref.model_copy(update={"started_at": started}))
        predictions = [p.model_copy(update={"status": snapshots[p.id].status}) for p in refreshed]
        if seen is not None:
            before = {p.id: p.status for p in state.predictions}
            seen.update(
                {
                    p.id: learnt[p.id]
                    for p in predictions
                    if p.status in TERMINAL and before.get(p.id) not in TERMINAL and p.id in learnt
                }
            )
        progress = combine(
            [
                PredictionProgress(
                    snapshots[p.id].status,
                    snapshots[p.id].fraction,
                    p.role,
                    running_s=(now - started).total_seconds()
                    if (started := snapshots[p.id].started_at or p.started_at)
                    else None,
                    typical_s=_typical_seconds(p.model, self.model_time_scale),
                )
                for p in predictions
            ]
        )
        if floor is not None and floor.current > progress.current:  # what the webhooks showed stays
            progress = progress.model_copy(update={"current": floor.current})
        next_state = state.model_copy(update={"predictions": predictions, "polls": state.polls + 1})

        outputs: dict[str, str] = {}
        step_error: StepError | None = None
        failed = [p for p in predictions if p.status in FAILED_STATUSES]
        if failed:
            first = failed[0]
            upstream = snapshots[first.id].error or f"the prediction {FAILED_STATUSES[first.status]}"
            logger.warning(
                "A prediction failed",
                extra={"task_id": state.task_id, "prediction_id": first.id, "upstream": upstream},
            )
            reason = public_text(
                upstream,
                fields=API_FIELDS.get((state.kind, first.role), {}),
                own_urls=self._request_urls(state.task_id),
                model_refs=[p.model for p in predictions],
            )
            next_state.outcome = "failed"
            step_error = StepError(
                type="PredictionFailed", message=f"The {_role(first.role)} model failed: {reason}"
            )
        elif all(p.status == "succeeded" for p in predictions):
            found = {p.role: output_url(snapshots[p.id].output) for p in predictions}
            missing = [role for role, url in found.items() if not url]
            if missing:
                # A succeeded prediction without output: its data was removed (an hour after it
                # ended), or the model returned nothing. Either way there is nothing to save.
                logger.warning(
                    "A succeeded prediction has no output", extra={"task_id": state.task_id, "roles": missing}
                )
                next_state.outcome = "failed"
                step_error = StepError(
                    type="PredictionFailed", message=EXPIRED.format(role=_role(missing[0]))
                )
            else:
                next_state.outcome = "succeeded"
                outputs = {role: url for role, url in found.items() if url}
        live = self.tasks.mark_processing(
            state.task_id, predictions, progress, outputs=outputs, step_error=step_error, monotonic=webhooks
        )
        if not live:  # ended meanwhile (cancelled): stop polling; MarkFailed cancels what still runs
            logger.info("Task ended while its predictions ran", extra={"task_id": state.task_id})
            next_state.outcome = "failed"
        logger.debug(
            "Predictions polled",
            extra={
                "statuses": [p.status for p in predictions],
                "outcome": next_state.outcome,
                "asked_replicate": sorted(pid for pid, how in learnt.items() if how == "poll"),
            },
        )
        return next_state

    def _reconcile_due(self, ref: PredictionRef, hook: PredictionHook | None, now: datetime) -> bool:
        """Whether to ask Replicate about a prediction created with our webhook: while it is not known
        to run yet (to learn when it started), then once it has been silent ``reconcile_after_s``."""
        status = _later(ref.status, hook.status if hook is not None else None)
        started = ref.started_at or (hook.started_at if hook is not None else None)
        if status == "starting" or started is None:
            return True
        heard = [moment for moment in (ref.checked_at, hook.received_at if hook else None) if moment]
        return not heard or (now - max(heard)).total_seconds() >= self.reconcile_after_s

    def _request_urls(self, task_id: str) -> list[str]:
        """The URLs the owner sent (a model's error may show them back: the owner knows them). Read
        from the record when a prediction failed, never carried in the state (the history)."""
        task = self.tasks.get(task_id)
        if task is None or task.job is None:
            return []
        return [
            value
            for call in task.job.predictions
            for name, value in call.input.items()
            if name in API_FIELDS.get((task.kind, call.role), {})
            and isinstance(value, str)
            and value.startswith(("http://", "https://"))
        ]

    # -- Finalize -------------------------------------------------------------------------------
    def finalize(self, state: PredictionsState) -> Finished:
        """Copy the media into our bucket (Replicate deletes outputs after ~1 h): the video, composed
        with subtitles, music and voice when asked; its thumbnail; the subtitles as WebVTT. SUCCESS.
        The outputs and what to compose come from the record."""
        task = self._task(state.task_id)
        if task.state.terminal or task.job is None:
            logger.warning("Task was already terminal at Finalize", extra={"task_id": state.task_id})
            return Finished(state.task_id, None)
        job = task.job
        video_key = f"{VIDEO_PREFIX}{task.task_id}.mp4"
        thumbnail_key = f"{THUMBNAIL_PREFIX}{task.task_id}.jpg"
        subtitles_key = f"{SUBTITLE_PREFIX}{task.task_id}.vtt" if job.compose.subtitles else None
        with tempfile.TemporaryDirectory(prefix="videogen-") as folder:
            workdir = Path(folder)
            downloaded = {
                role: self._download(task.task_id, role, url, workdir / f"{role}.media")
                for role, url in task.outputs.items()
            }
            if "video" not in downloaded:
                raise OutputUnavailable("The model returned no video")
            video = downloaded["video"]
            ffmpeg.video_seconds(str(video))  # a readable video, or OutputUnavailable
            if job.compose.subtitles or "music" in downloaded or "voice" in downloaded:
                composed = workdir / "composed.mp4"
                compose.compose(
                    video,
                    composed,
                    duration=job.duration,
                    spec=job.compose,
                    music=downloaded.get("music"),
                    voice=downloaded.get("voice"),
                    workdir=workdir,
                )
                video = composed
            seconds = ffmpeg.video_seconds(str(video))
            jpeg = workdir / "thumbnail.jpg"
            ffmpeg.thumbnail(str(video), str(jpeg), at_seconds=min(1.0, seconds / 2))
            self.media.upload(str(video), video_key, "video/mp4")
            self.media.upload(str(jpeg), thumbnail_key, "image/jpeg")
            if subtitles_key:
                vtt = workdir / "subtitles.vtt"
                vtt.write_text(compose.webvtt(job.compose.subtitles), encoding="utf-8")
                self.media.upload(str(vtt), subtitles_key, "text/vtt")
        result = TaskResult(
            video_key=video_key,
            thumbnail_key=thumbnail_key,
            duration=job.duration,
            video_seconds=seconds,
            subtitles_key=subtitles_key,
        )
        if self.tasks.mark_success(task, result):
            logger.info("Task finalized", extra={"video_seconds": seconds, "outputs": sorted(task.outputs)})
        else:
            # Cancelled (or erased) while we composed: what we stored belongs to no task any more.
            stored = [video_key, thumbnail_key, *([subtitles_key] if subtitles_key else [])]
            self.media.delete(stored)
            logger.warning(
                "Task ended while Finalize ran: its media removed", extra={"task_id": state.task_id}
            )
        elapsed = (utcnow() - task.created_at).total_seconds()
        return Finished(state.task_id, elapsed)

    def _download(self, task_id: str, role: str, url: str, target: Path) -> Path:
        """Stream one output to ``target``: only from the allowed origins, redirects included (each
        hop is checked before it is requested), at most ``max_video_bytes``. Gone (404/410: removed
        an hour after the prediction ended) is final; anything else may pass (the ASL retries
        OutputUnavailable). The owner's errors name neither the URL nor the host."""
        what = _role(role)
        try:
            with httpx.Client(timeout=self.download_timeout, follow_redirects=False) as client:
                request: httpx.Request | None = client.build_request("GET", url)
                for _ in range(MAX_REDIRECTS + 1):
                    assert request is not None
                    if not self.output_origins.allows(str(request.url)):
                        logger.warning(
                            "Refused to download an output from a host outside the allowed origins",
                            extra={"task_id": task_id, "role": role},
                        )
                        raise OutputRefused(
                            f"The generated {what} is at an address this service does not use"
                        )
                    response = client.send(request, stream=True)
                    try:
                        if response.is_redirect:
                            request = response.next_request
                            continue
                        if response.status_code in (404, 410):
                            logger.warning(
                                "A model output is gone",
                                extra={"task_id": task_id, "url": url, "status": response.status_code},
                            )
                            raise OutputExpired(EXPIRED.format(role=what))
                        response.raise_for_status()
                        self._save(response, target, what)
                        return target
                    finally:
                        response.close()
                raise OutputUnavailable(f"The generated {what} could not be downloaded (too many redirects)")
        except httpx.HTTPError as error:
            logger.warning(
                "Could not download a model output",
                extra={"task_id": task_id, "url": url, "error": str(error)},
            )
            raise OutputUnavailable(f"The generated {what} could not be downloaded") from error

    def _save(self, response: httpx.Response, target: Path, what: str) -> None:
        size = 0
        with target.open("wb") as out:
            for chunk in response.iter_bytes(1024 * 1024):
                size += len(chunk)
                if size > self.max_video_bytes:
                    raise OutputUnavailable(f"The generated {what} is too large to be saved")
                out.write(chunk)

    # -- MarkFailed / MarkTimedOut --------------------------------------------------------------
    def fail_task(self, state: FailTaskInput) -> dict[str, str]:
        """Cancel every prediction the record lists as still running, then record FAILURE with a
        message safe for the owner (the record's, for the errors our steps recorded)."""
        task = self.tasks.get(state.task_id)
        if task is None:
            logger.error("MarkFailed found no task record", extra={"task_id": state.task_id})
            return {"task_id": state.task_id, "state": "FAILURE", "error": INTERNAL_ERROR}
        error = self.failure_message(state, task)
        predictions = self._cancel_running(task.predictions)
        if not self.tasks.mark_failure(task, error, predictions):
            logger.info("Task was already terminal at MarkFailed", extra={"task_id": state.task_id})
        logger.info("Task failed", extra={"task_id": state.task_id, "error": error, "reason": state.reason})
        self._check_cancelled(task.task_id, predictions)
        return {"task_id": state.task_id, "state": "FAILURE"}

    @staticmethod
    def failure_message(state: FailTaskInput, task: Task) -> str:
        if state.reason == "timed_out":
            limit = f" after {state.deadline_seconds} seconds" if state.deadline_seconds else ""
            return f"Video generation timed out{limit}"
        recorded = task.step_error
        if state.failure is None:  # PredictionsDone? sent us here: the poll recorded why
            return recorded.message if recorded else INTERNAL_ERROR
        if state.failure.Error in USER_SAFE_ERRORS:
            if recorded is not None and recorded.type == state.failure.Error:
                return recorded.message
            return INTERNAL_ERROR
        logger.error(
            "Workflow step failed",
            extra={"task_id": state.task_id, "error": state.failure.Error, "cause": state.failure.Cause},
        )
        return INTERNAL_ERROR

    @staticmethod
    def _check_cancelled(task_id: str, predictions: list[PredictionRef]) -> None:
        running = [p.id for p in predictions if p.status not in TERMINAL]
        if running:
            raise PredictionsStillRunning(f"Task {task_id}: could not cancel {', '.join(running)}")

    def _cancel_running(self, predictions: list[PredictionRef]) -> list[PredictionRef]:
        """Cancel each prediction not known to be terminal; the statuses Replicate answers."""
        after = []
        for prediction in predictions:
            if prediction.status not in TERMINAL:
                try:
                    status = self.replicate.cancel(prediction.id)
                    prediction = prediction.model_copy(update={"status": status})
                except Exception:  # recording the failure matters more than a cancel that did not go through
                    logger.exception("Could not cancel a prediction", extra={"prediction_id": prediction.id})
            after.append(prediction)
        return after

    # -- executions that ended without the workflow's help ----------------------------------------
    def execution_ended(self, task_id: str, status: str) -> bool:
        """An execution ended FAILED, TIMED_OUT or ABORTED (EventBridge): cancel what its record
        lists as still running and, if the record is not terminal yet, record FAILURE (which frees
        the owner's slot). True if this call ended the task.

        A task its owner deleted meanwhile left a tombstone (``Tombstone``) if it had predictions
        to cancel: they are cancelled, then the tombstone is deleted (the owner's slot was freed by
        the cancel's terminal write). If one could not be cancelled, the tombstone stays and this
        raises, so the event is retried (then dead-lettered, and may be handed back)."""
        task = self.tasks.read(task_id)
        if task is None:
            logger.warning("No task record for an ended execution", extra={"task_id": task_id})
            return False
        if isinstance(task, Tombstone):
            self._clean_tombstone(task)
            return False
        predictions = self._cancel_running(task.predictions)
        ended = False
        if not task.state.terminal:
            error = EXECUTION_END_ERRORS.get(status, EXECUTION_END_ERRORS["FAILED"])
            ended = self.tasks.mark_failure(task, error, predictions)
            if ended:
                logger.warning(
                    "Execution ended without the workflow's help",
                    extra={"task_id": task_id, "status": status},
                )
        self._check_cancelled(task_id, predictions)
        return ended

    def _clean_tombstone(self, tombstone: Tombstone) -> None:
        running = []
        for prediction_id in tombstone.cancel_predictions:
            try:
                if self.replicate.cancel(prediction_id) not in TERMINAL:
                    running.append(prediction_id)
            except Exception:
                logger.exception("Could not cancel a prediction", extra={"prediction_id": prediction_id})
                running.append(prediction_id)
        if running:
            raise PredictionsStillRunning(
                f"Task {tombstone.task_id} (deleted): could not cancel {', '.join(running)}"
            )
        self.tasks.delete_tombstone(tombstone.task_id)
        logger.info(
            "Cancelled the predictions of a task its owner deleted",
            extra={"task_id": tombstone.task_id, "predictions": tombstone.cancel_predictions},
        )
