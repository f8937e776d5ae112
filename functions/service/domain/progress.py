"""Progress of a task, combined from the progress of each of its predictions.

A prediction's progress is what its model's logs say when the model prints progress (a tqdm
bar, audiocraft's token counter: the workflow adapter reads them as the catalog says). Most
models print none: Kling's provider reports only "processing". Then the progress is estimated
from how long the model has been running against how long it typically runs (the catalog's
``progress.typical_seconds``): it climbs steadily to 90% at the typical time, then creeps towards
95%, so a client sees it move on every poll and never sees it promise the end.

The task's progress is the predictions' progress weighted by role: the video is what the user
waits for and takes longest, so it counts four times as much as music or a voiceover. It is
capped at 99 until the video is saved.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from service.models.domain import Progress

TOTAL = 100
#: How much each prediction role weighs in the task's progress (others weigh 1).
ROLE_WEIGHTS: dict[str, float] = {"video": 4.0}
#: Where the time-based estimate stands at the model's typical run time, and where it tends to.
AT_TYPICAL, CEILING = 0.9, 0.95


@dataclass(frozen=True)
class PredictionProgress:
    status: str  # Replicate's status: starting, processing, succeeded, failed, canceled, aborted
    fraction: float | None  # 0..1 from the model's logs, None when it printed none
    role: str = "video"
    running_s: float | None = None  # since the model started (started_at), if it has
    typical_s: float | None = None  # the model's typical run time (catalog)


#: How a model prints its progress (the model catalog's ``progress.logs``).
LogStyle = Literal["tqdm", "audiocraft", "none"]
#: A tqdm bar, as the official client reads it (``replicate.prediction.Prediction.Progress``):
#: ``" 42%|████      | 42/100 [00:01<00:02, 30.0it/s]"``.
_TQDM = re.compile(r"^\s*(?P<percentage>\d+)%\s*\|.+?\|\s*(?P<current>\d+)\/(?P<total>\d+)")
#: audiocraft's progress: ``   150 /    250`` (each ended by a carriage return).
_AUDIOCRAFT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def log_fraction(logs: str | None, style: LogStyle | str) -> float | None:
    """A prediction's progress (0..1) from its logs, read the way its model writes it, or None.

    Pure text: the workflow reads it from a polled prediction, the Replicate webhook route from a
    webhook's body (API functions never import the Replicate client, hence no use of its parser;
    the tqdm rule is the client's own, line for line, so both read a bar alike)."""
    text = logs or ""
    if style == "tqdm":
        for line in reversed(text.split("\n")):
            found = _TQDM.findall(line.strip())
            if len(found) == 1:
                return int(found[0][0]) / 100.0
        return None
    if style == "audiocraft":
        for line in reversed(re.split(r"[\r\n]+", text)):
            match = _AUDIOCRAFT.match(line)
            if match and int(match.group(2)) > 0:
                return min(1.0, int(match.group(1)) / int(match.group(2)))
    return None


def estimate(running_s: float, typical_s: float) -> float:
    """Time-based progress: linear to 90% at the typical time, then slowly towards 95%."""
    if typical_s <= 0:
        return 0.0
    ratio = max(running_s, 0.0) / typical_s
    if ratio <= 1:
        return AT_TYPICAL * ratio
    return AT_TYPICAL + (CEILING - AT_TYPICAL) * (1 - math.exp(-(ratio - 1)))


def fraction_of(p: PredictionProgress) -> float:
    if p.status == "succeeded":
        return 1.0
    if p.status == "starting":
        return 0.0
    if p.fraction is not None:
        return min(max(p.fraction, 0.0), 1.0)
    if p.running_s is not None and p.typical_s is not None:
        return estimate(p.running_s, p.typical_s)
    return 0.0


def combine(predictions: list[PredictionProgress]) -> Progress:
    """One ``{current, total, status}`` for the task. Capped at 99 until the video is saved."""
    if not predictions:
        return Progress(current=0, total=TOTAL, status="Waiting for the model to start...")
    weights = [ROLE_WEIGHTS.get(p.role, 1.0) for p in predictions]
    mean = sum(w * fraction_of(p) for w, p in zip(weights, predictions, strict=True)) / sum(weights)
    current = min(int(mean * TOTAL), TOTAL - 1)
    if all(p.status == "starting" for p in predictions):
        text = "Waiting for the model to start..."
    elif all(p.status == "succeeded" for p in predictions):
        text = "Saving video..."
    else:
        text = "Processing frames..."
    return Progress(current=current, total=TOTAL, status=text)
