"""Business metrics in EMF: Replicate errors counted by type, silent when metrics are disabled."""

from __future__ import annotations

import json

import pytest

from service.domain.errors import ReplicateRateLimited, TaskNotFoundError
from service.observability import replicate_errors_counted


def emitted(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_replicate_errors_are_counted_by_type_and_re_raised(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    with pytest.raises(ReplicateRateLimited), replicate_errors_counted():
        raise ReplicateRateLimited("429")
    [metric] = emitted(capsys.readouterr().out)
    assert metric["error_type"] == "ReplicateRateLimited" and metric["ReplicateErrors"] == [1.0]


def test_other_errors_and_disabled_metrics_emit_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    with pytest.raises(TaskNotFoundError), replicate_errors_counted():
        raise TaskNotFoundError("x")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with pytest.raises(ReplicateRateLimited), replicate_errors_counted():
        raise ReplicateRateLimited("429")
    assert emitted(capsys.readouterr().out) == []
