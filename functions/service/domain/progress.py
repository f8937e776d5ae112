"""Progress of a task, combined from the progress of each of its predictions.

The per-prediction percentage comes from the model's own tqdm-style log line (parsed by the
official replicate client in the workflow adapter); this module only combines and words it.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.models.domain import Progress

TOTAL = 100


@dataclass(frozen=True)
class PredictionProgress:
    status: str  # Replicate's status: starting, processing, succeeded, failed, canceled, aborted
    fraction: float | None  # 0..1 from the logs, None when the model printed none


def _fraction(p: PredictionProgress) -> float:
    if p.status == "succeeded":
        return 1.0
    if p.status == "starting" or p.fraction is None:
        return 0.0
    return min(max(p.fraction, 0.0), 1.0)


def combine(predictions: list[PredictionProgress]) -> Progress:
    """One ``{current, total, status}`` for the task. Capped at 99 until the video is saved."""
    if not predictions:
        return Progress(current=0, total=TOTAL, status="Waiting for the model to start...")
    mean = sum(_fraction(p) for p in predictions) / len(predictions)
    current = min(int(mean * TOTAL), TOTAL - 1)
    if all(p.status == "starting" for p in predictions):
        text = "Waiting for the model to start..."
    elif all(p.status == "succeeded" for p in predictions):
        text = "Saving video..."
    else:
        text = "Processing frames..."
    return Progress(current=current, total=TOTAL, status=text)
