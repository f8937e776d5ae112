"""Replicate's webhooks under the real ASL (moto) with the emulator's webhooks: the wait ends when
Replicate calls back; polling still finishes every task whatever happens to the webhooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from replicate_emulator import ReplicateEmulator
from service.catalog import WorkflowTiming
from tests.support import Stack
from tests.workflow.test_workflow import finish, state_names, submit_transition

pytestmark = pytest.mark.workflow


def wait_outcomes(stack: Stack, arn: str) -> list[str]:
    """How each WaitBeforePoll ended: TaskSucceeded (woken by a webhook), TaskTimedOut (the poll
    interval ran out), TaskFailed (PollNow: a webhook came while no wait was stored)."""
    outcomes, inside = [], False
    for event in stack.history(arn):
        kind = event["type"]
        if kind == "TaskStateEntered":
            inside = event["stateEnteredEventDetails"]["name"] == "WaitBeforePoll"
        elif inside and kind in ("TaskSucceeded", "TaskTimedOut", "TaskFailed"):
            outcomes.append(kind)
            inside = False
    return outcomes


def test_a_completed_webhook_ends_the_wait_and_the_task_succeeds(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    # Given a poll interval far longer than the model runs: only a webhook can end the first wait
    stack = live(WorkflowTiming(poll_interval_s=30, max_polls=10), webhooks=True)
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    execution, body = finish(stack, token, arn, timeout=60)
    assert execution["status"] == "SUCCEEDED", stack.history(arn)[-5:]
    assert body["state"] == "SUCCESS"
    outcomes = wait_outcomes(stack, arn)
    assert "TaskTimedOut" not in outcomes and outcomes, outcomes
    print(outcomes, state_names(stack, arn), emulator.webhook_deliveries())
