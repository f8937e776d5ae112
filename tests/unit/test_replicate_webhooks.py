"""The pure parts of Replicate's webhooks: progress read from logs as the official client reads it,
the order of a prediction's states, and when the poll asks Replicate instead of the webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from replicate.prediction import Prediction

from service.domain.predictions import PredictionSnapshot
from service.domain.progress import log_fraction
from service.domain.replicate_webhooks import ordering_key
from service.domain.workflow import Workflow
from service.models.domain import PredictionHook, PredictionRef, TaskKind
from service.models.workflow import PredictionsState

TQDM_LOGS = [
    "",
    "Generating...\n",
    " 10%|█         | 5/50 [00:01<00:09,  4.92it/s]\n",
    " 10%|█         | 5/50 [00:01<00:09]\n 42%|████▏     | 21/50 [00:04<00:05,  5.0it/s]\nsaving\n",
    "100%|██████████| 50/50 [00:10<00:00,  5.00it/s]",
    "42% | not a bar",
]


@pytest.mark.parametrize("logs", TQDM_LOGS)
def test_tqdm_progress_is_read_exactly_as_the_official_client_reads_it(logs: str) -> None:
    theirs = Prediction.Progress.parse(logs)
    assert log_fraction(logs, "tqdm") == (theirs.percentage if theirs else None)


def test_audiocraft_and_silent_models() -> None:
    assert log_fraction("seed: 42\n    50 /    250\r   150 /    250\r", "audiocraft") == 0.6
    assert log_fraction("Generating video...\n", "none") is None
    assert log_fraction(None, "tqdm") is None


def test_a_predictions_states_are_ordered_by_status_then_by_what_it_printed() -> None:
    starting = {"status": "starting", "logs": None, "output": None}
    early = {"status": "processing", "logs": "a\n", "output": None}
    later = {"status": "processing", "logs": "a\nb\n", "output": None}
    done = {"status": "succeeded", "logs": "a\n", "output": "https://x/video.mp4"}
    keys = [ordering_key(body) for body in (starting, early, later, done)]
    assert keys == sorted(keys) and len(set(keys)) == 4
    assert ordering_key(later) == ordering_key(dict(later))  # a duplicate is not newer
    # an end is newer than any run, however long its logs were
    assert ordering_key({"status": "failed", "logs": "", "output": None}) > ordering_key(
        {"status": "processing", "logs": "x" * 100_000, "output": None}
    )


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def hook(status: str, received_s_ago: float, started: bool = True) -> PredictionHook:
    return PredictionHook(
        status=status,
        key=1,
        webhook_id="msg_1",
        received_at=NOW - timedelta(seconds=received_s_ago),
        started_at=NOW - timedelta(seconds=30) if started else None,
    )


@pytest.mark.parametrize(
    ("ref_status", "checked_s_ago", "known", "due"),
    [
        ("starting", 1, None, True),  # not known to run yet: ask (to learn when it started)
        ("starting", 10, hook("starting", 1, started=False), True),
        ("processing", 10, hook("starting", 1, started=False), False),  # a GET said it runs: no need
        ("processing", 10, hook("processing", 5), False),  # the webhooks speak of it
        ("processing", 10, None, False),  # asked 10 s ago
        ("processing", 61, None, True),  # silent for a minute: the safety net asks
        ("processing", 61, hook("processing", 70), True),
        ("processing", 61, hook("processing", 59), False),
    ],
)
def test_the_poll_asks_replicate_only_when_the_webhooks_fell_silent(
    ref_status: str, checked_s_ago: float, known: PredictionHook | None, due: bool
) -> None:
    workflow = Workflow(tasks=None, webhook_url="https://api/x/", reconcile_after_s=60)  # type: ignore[arg-type]
    ref = PredictionRef(
        role="video",
        model="m",
        id="p",
        status=ref_status,
        hooked=True,
        checked_at=NOW - timedelta(seconds=checked_s_ago),
        started_at=NOW - timedelta(seconds=20) if ref_status != "starting" else None,
    )
    assert workflow._reconcile_due(ref, known, NOW) is due


class _Record:
    def __init__(self, hooks: dict[str, PredictionHook]) -> None:
        self.hooks, self.progress = hooks, None


class _Tasks:
    def __init__(self, hooks: dict[str, PredictionHook]) -> None:
        self.record = _Record(hooks)
        self.written: list[dict[str, Any]] = []

    def get(self, task_id: str) -> _Record:
        return self.record

    def mark_processing(self, task_id: str, predictions: Any, progress: Any, **kwargs: Any) -> bool:
        self.written.append(kwargs)
        return True


class _Replicate:
    def __init__(self, snapshots: dict[str, PredictionSnapshot]) -> None:
        self.snapshots = snapshots
        self.asked: list[str] = []

    def get(self, prediction_id: str) -> PredictionSnapshot:
        self.asked.append(prediction_id)
        return self.snapshots[prediction_id]


def test_an_end_a_get_learnt_before_its_webhook_is_read_again_for_its_output() -> None:
    """Two predictions: a GET learnt the video succeeded while the music ran (its completed webhook
    had not come: the record holds a stale ``processing``); now the music's completed webhook came.
    The video's output is not in the state: it must be read again, not taken as missing (the task
    failed with "expired" under load in the twin before)."""
    now = datetime.now(UTC)
    hooks = {
        "v": PredictionHook(status="processing", key=1, webhook_id="msg_v", received_at=now, started_at=now),
        "m": PredictionHook(
            status="succeeded",
            key=2,
            webhook_id="msg_m",
            received_at=now,
            started_at=now,
            output="https://o/m.wav",
        ),
    }
    replicate = _Replicate({"v": PredictionSnapshot("v", "succeeded", 1.0, "https://o/v.mp4", None, now)})
    tasks = _Tasks(hooks)
    workflow = Workflow(
        tasks=tasks,  # type: ignore[arg-type]
        gateway=lambda: replicate,  # type: ignore[arg-type,return-value]
        webhook_url="https://api/x/",
        reconcile_after_s=60,
    )
    refs = [
        PredictionRef(
            role="video", model="m1", id="v", status="succeeded", hooked=True, checked_at=now, started_at=now
        ),
        PredictionRef(
            role="music", model="m2", id="m", status="processing", hooked=True, checked_at=now, started_at=now
        ),
    ]
    state = PredictionsState(task_id="t", kind=TaskKind.TRANSITION, predictions=refs)
    after = workflow.poll_predictions(state)
    assert after.outcome == "succeeded"
    assert tasks.written[-1]["outputs"] == {"video": "https://o/v.mp4", "music": "https://o/m.wav"}
    assert replicate.asked == ["v"]  # the music's end came by webhook: not asked
