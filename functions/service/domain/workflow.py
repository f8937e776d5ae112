"""The workflow's steps, one function per ASL Task state.

Each takes the state input (validated), does one thing, updates the task record and returns the
next state. Cancellations and record writes are idempotent so a retried step is harmless.

Whatever a model or the provider says reaches the owner in the API's terms (``recipes.API_FIELDS``,
``errors.public_text``); the provider's own words are logged with the task id.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.adapters import compose, ffmpeg
from service.adapters.media import MediaStore
from service.adapters.replicate_gateway import TERMINAL, ReplicateGateway, output_url
from service.adapters.tasks_table import TasksTable
from service.catalog import SUBTITLE_PREFIX, THUMBNAIL_PREFIX, VIDEO_PREFIX
from service.domain.errors import (
    USER_SAFE_ERRORS,
    OutputExpired,
    OutputUnavailable,
    ReplicateRejected,
    UpstreamError,
    public_text,
)
from service.domain.progress import PredictionProgress, combine
from service.domain.recipes import API_FIELDS, ROLE_NAMES
from service.model_catalog import catalog
from service.models.domain import PredictionRef, TaskKind, TaskResult, utcnow
from service.models.workflow import ExecutionInput, FailTaskInput, PredictionsState
from service.observability import logger


@dataclass(frozen=True)
class Finished:
    task_id: str
    generation_seconds: float | None


INTERNAL_ERROR = "Video generation failed because of an internal error"
FAILED_STATUSES = {"failed": "failed", "canceled": "was canceled", "aborted": "was aborted before it started"}
#: Outputs live an hour at the provider (catalog sources); a copy that comes later finds nothing.
EXPIRED = (
    "The generated {role} expired before it could be saved (model outputs are kept for one hour); "
    "please try again"
)


def _role(role: str) -> str:
    return ROLE_NAMES.get(role, role)


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
        model_time_scale: float = 1.0,
    ) -> None:
        self._gateway = gateway
        self.tasks = tasks
        self._media = media
        self.download_timeout = download_timeout
        self.max_video_bytes = max_video_bytes
        self.model_time_scale = model_time_scale

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

    # -- StartPredictions -----------------------------------------------------------------------
    def start_predictions(self, state: ExecutionInput) -> PredictionsState:
        """Create every prediction of the job. If one cannot be created, those already made are
        cancelled (nothing is left running, whatever the ASL does next) and the error is reworded
        for the owner, the provider's answer logged."""
        predictions: list[PredictionRef] = []
        try:
            for call in state.job.predictions:
                predictions.append(self.replicate.create(call))
        except UpstreamError as error:
            self._cancel_all(predictions)
            logger.warning(
                "The model provider refused a prediction",
                extra={"task_id": state.task_id, "upstream": error.upstream, "status": error.status},
            )
            raise error.reworded(self._refusal(error, state.job.kind)) from error
        progress = combine([PredictionProgress(p.status, None, p.role) for p in predictions])
        self.tasks.mark_processing(state.task_id, predictions, progress)
        logger.info(
            "Predictions started",
            extra={"task_id": state.task_id, "predictions": [p.id for p in predictions]},
        )
        return PredictionsState(
            task_id=state.task_id,
            kind=state.job.kind,
            duration=state.job.duration,
            predictions=predictions,
            compose=state.job.compose,
            own_urls=[
                value
                for call in state.job.predictions
                for name, value in call.input.items()
                if name in API_FIELDS.get((state.job.kind, call.role), {})
                and isinstance(value, str)
                and value.startswith(("http://", "https://"))
            ],
        )

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

    # -- PollPredictions ------------------------------------------------------------------------
    def poll_predictions(self, state: PredictionsState) -> PredictionsState:
        snapshots = {p.id: self.replicate.get(p.id) for p in state.predictions}
        predictions = [p.model_copy(update={"status": snapshots[p.id].status}) for p in state.predictions]
        now = utcnow()
        progress = combine(
            [
                PredictionProgress(
                    snapshots[p.id].status,
                    snapshots[p.id].fraction,
                    p.role,
                    running_s=(now - started).total_seconds()
                    if (started := snapshots[p.id].started_at)
                    else None,
                    typical_s=_typical_seconds(p.model, self.model_time_scale),
                )
                for p in predictions
            ]
        )
        next_state = state.model_copy(update={"predictions": predictions, "polls": state.polls + 1})

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
                own_urls=state.own_urls,
                model_refs=[p.model for p in predictions],
            )
            next_state.outcome = "failed"
            next_state.error = f"The {_role(first.role)} model failed: {reason}"
        elif all(p.status == "succeeded" for p in predictions):
            outputs = {p.role: output_url(snapshots[p.id].output) for p in predictions}
            missing = [role for role, url in outputs.items() if not url]
            if missing:
                # A succeeded prediction without output: its data was removed (an hour after it
                # ended), or the model returned nothing. Either way there is nothing to save.
                logger.warning(
                    "A succeeded prediction has no output", extra={"task_id": state.task_id, "roles": missing}
                )
                next_state.outcome = "failed"
                next_state.error = EXPIRED.format(role=_role(missing[0]))
            else:
                next_state.outcome, next_state.outputs = "succeeded", {k: v for k, v in outputs.items() if v}
        self.tasks.mark_processing(state.task_id, predictions, progress)
        logger.debug(
            "Predictions polled",
            extra={"statuses": [p.status for p in predictions], "outcome": next_state.outcome},
        )
        return next_state

    # -- Finalize -------------------------------------------------------------------------------
    def finalize(self, state: PredictionsState) -> Finished:
        """Copy the media into our bucket (Replicate deletes outputs after ~1 h): the video, composed
        with subtitles, music and voice when asked; its thumbnail; the subtitles as WebVTT. SUCCESS."""
        video_key = f"{VIDEO_PREFIX}{state.task_id}.mp4"
        thumbnail_key = f"{THUMBNAIL_PREFIX}{state.task_id}.jpg"
        subtitles_key = f"{SUBTITLE_PREFIX}{state.task_id}.vtt" if state.compose.subtitles else None
        with tempfile.TemporaryDirectory(prefix="videogen-") as folder:
            workdir = Path(folder)
            downloaded = {
                role: self._download(state.task_id, role, url, workdir / f"{role}.media")
                for role, url in state.outputs.items()
            }
            video = downloaded["video"]
            ffmpeg.video_seconds(str(video))  # a readable video, or OutputUnavailable
            if state.compose.subtitles or "music" in downloaded or "voice" in downloaded:
                composed = workdir / "composed.mp4"
                compose.compose(
                    video,
                    composed,
                    duration=state.duration,
                    spec=state.compose,
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
                vtt.write_text(compose.webvtt(state.compose.subtitles), encoding="utf-8")
                self.media.upload(str(vtt), subtitles_key, "text/vtt")
        result = TaskResult(
            video_key=video_key,
            thumbnail_key=thumbnail_key,
            duration=state.duration,
            video_seconds=seconds,
            subtitles_key=subtitles_key,
        )
        if self.tasks.mark_success(state.task_id, result):
            logger.info("Task finalized", extra={"video_seconds": seconds, "outputs": sorted(state.outputs)})
        else:
            logger.warning("Task was already terminal at Finalize", extra={"task_id": state.task_id})
        task = self.tasks.get(state.task_id)
        elapsed = (utcnow() - task.created_at).total_seconds() if task else None
        return Finished(state.task_id, elapsed)

    def _download(self, task_id: str, role: str, url: str, target: Path) -> Path:
        """Copy one output. Gone (404/410: removed an hour after the prediction ended) is final;
        anything else may pass (the ASL retries OutputUnavailable)."""
        try:
            with httpx.stream("GET", url, timeout=self.download_timeout, follow_redirects=True) as response:
                if response.status_code in (404, 410):
                    logger.warning(
                        "A model output is gone",
                        extra={"task_id": task_id, "url": url, "status": response.status_code},
                    )
                    raise OutputExpired(EXPIRED.format(role=_role(role)))
                response.raise_for_status()
                size = 0
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(1024 * 1024):
                        size += len(chunk)
                        if size > self.max_video_bytes:
                            raise OutputUnavailable(f"The generated {_role(role)} is too large to be saved")
                        out.write(chunk)
        except httpx.HTTPError as error:
            logger.warning(
                "Could not download a model output",
                extra={"task_id": task_id, "url": url, "error": str(error)},
            )
            raise OutputUnavailable(f"The generated {_role(role)} could not be downloaded") from error
        return target

    # -- MarkFailed / MarkTimedOut --------------------------------------------------------------
    def fail_task(self, state: FailTaskInput) -> dict[str, str]:
        """Cancel whatever still runs, then record FAILURE with a message safe for the owner."""
        error = self.failure_message(state)
        self._cancel_all(state.predictions)
        self.tasks.mark_failure(state.task_id, error)
        logger.info("Task failed", extra={"task_id": state.task_id, "error": error, "reason": state.reason})
        return {"task_id": state.task_id, "state": "FAILURE", "error": error}

    def _cancel_all(self, predictions: list[PredictionRef]) -> None:
        for prediction in predictions:
            if prediction.status not in TERMINAL:
                try:
                    self.replicate.cancel(prediction.id)
                except Exception:  # recording the failure matters more than a cancel that did not go through
                    logger.exception("Could not cancel a prediction", extra={"prediction_id": prediction.id})

    @staticmethod
    def failure_message(state: FailTaskInput) -> str:
        if state.reason == "timed_out":
            limit = f" after {state.deadline_seconds} seconds" if state.deadline_seconds else ""
            return f"Video generation timed out{limit}"
        if state.error:
            return state.error
        if state.failure is not None:
            if state.failure.Error in USER_SAFE_ERRORS:
                try:
                    return str(json.loads(state.failure.Cause).get("errorMessage")) or INTERNAL_ERROR
                except (ValueError, AttributeError):
                    return INTERNAL_ERROR
            logger.error(
                "Workflow step failed", extra={"error": state.failure.Error, "cause": state.failure.Cause}
            )
        return INTERNAL_ERROR
