"""Per-owner limits: tasks in flight, submits per minute and per day, held atomically in DynamoDB.

Over a limit: 429 with ``Retry-After`` and a message naming the limit and its value, nothing
written, nothing started. Concurrent submits (threads against moto, made as atomic as DynamoDB by
``twin.strict_moto``) never exceed a limit. A task's slot is freed exactly once on every path that
ends it (the workflow's own paths are proven in ``tests/workflow/test_no_orphans.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from service.adapters import aws
from service.adapters.executions import Executions
from service.adapters.owners_table import OwnersTable
from service.adapters.tasks_table import TasksTable
from service.domain.errors import LimitExceeded
from service.domain.limits import Limits
from service.domain.tasks import TaskService
from service.models.domain import GenerationJob, PredictionCall, Task, TaskKind
from tests.support import NAMES, Reply, Stack, transition_body

CREATE = "/api/transitions/create-and-generate/"
#: 2026-03-01 00:00:30 UTC: half a minute into a minute, far from a day's end.
NOON = 1_772_323_200 + 12 * 3600 + 30


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The limits' clock, fixed (a test moves it by assigning ``clock[0]``)."""
    now = [float(NOON)]
    monkeypatch.setattr(TaskService, "clock", staticmethod(lambda: now[0]))
    yield now


def submit(stack: Stack, token: str) -> Reply:
    return stack.call("POST", CREATE, token=token, json_body=transition_body())


def records() -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName=NAMES.table("tasks"))["Items"]
    return [i for i in items if i["task_id"]["S"] != "#counter"]


def owners() -> OwnersTable:
    return OwnersTable(NAMES.table("owners"))


def assert_refused(reply: Reply, message: str) -> None:
    assert reply.status == 429, reply.body
    assert reply.body == {"detail": message}
    assert int(reply.headers["retry-after"]) >= 1


# -- each limit ---------------------------------------------------------------------------------------
def test_tasks_in_flight_are_limited_per_owner(deploy: Callable[..., Stack], clock: list[float]) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", max_in_flight="2")
    alice, bob = stack.token("alice"), stack.token("bob")
    assert [submit(stack, alice).status for _ in range(2)] == [202, 202]
    before = owners().usage("alice")

    refused = submit(stack, alice)

    assert_refused(refused, "At most 2 tasks in flight for this owner: wait for one to finish")
    assert refused.headers["retry-after"] == "10"
    assert len(records()) == 2 and len(stack.executions()) == 2  # nothing written, nothing started
    assert owners().usage("alice") == before
    assert submit(stack, bob).status == 202  # another owner has slots of its own
    stack.stop_all()


def test_submits_per_minute_are_limited_and_the_window_rolls_over(
    deploy: Callable[..., Stack], clock: list[float]
) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", submits_per_minute="3")
    token = stack.token()
    assert [submit(stack, token).status for _ in range(3)] == [202, 202, 202]
    refused = submit(stack, token)
    assert_refused(refused, "At most 3 submits per minute for this owner: retry in 30 s")
    assert refused.headers["retry-after"] == "30"
    clock[0] += 30  # the next minute
    assert submit(stack, token).status == 202
    assert len(records()) == 4
    stack.stop_all()


def test_submits_per_day_are_limited(deploy: Callable[..., Stack], clock: list[float]) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", submits_per_day="2")
    token = stack.token()
    assert [submit(stack, token).status for _ in range(2)] == [202, 202]
    clock[0] += 3600  # another minute, the same day
    refused = submit(stack, token)
    assert_refused(
        refused, "At most 2 submits per day (UTC) for this owner: retry after midnight UTC, in 10 h 59 min"
    )
    assert refused.headers["retry-after"] == str(24 * 3600 - 13 * 3600 - 30)
    clock[0] += 11 * 3600  # the next day
    assert submit(stack, token).status == 202
    stack.stop_all()


def test_an_owners_overrides_beat_the_deployments_defaults(stack: Stack, clock: list[float]) -> None:
    token = stack.token("carol")
    owners().set_limits("carol", {"max_in_flight": 1})
    assert submit(stack, token).status == 202
    assert_refused(submit(stack, token), "At most 1 task in flight for this owner: wait for one to finish")
    owners().set_limits("carol", {"max_in_flight": None})  # back to the default (20)
    assert submit(stack, token).status == 202
    stack.stop_all()


def test_dream_submits_count_against_the_same_limits(
    deploy: Callable[..., Stack], clock: list[float]
) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", max_in_flight="1")
    token = stack.token()
    assert stack.call("POST", "/generate-video?dream=a%20whale&style=Cursed", token=token).status == 202
    assert_refused(
        stack.call("POST", "/generate-video?dream=a%20whale&style=Cursed", token=token),
        "At most 1 task in flight for this owner: wait for one to finish",
    )
    stack.stop_all()


# -- slots freed ------------------------------------------------------------------------------------
def test_a_failed_start_frees_the_slot_it_took(
    deploy: Callable[..., Stack], clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", max_in_flight="1")
    token = stack.token()

    def refuse(self: Executions, name: str, payload: dict[str, Any]) -> str:
        raise RuntimeError("ExecutionLimitExceeded")

    with monkeypatch.context() as patched:
        patched.setattr(Executions, "start", refuse)
        assert submit(stack, token).status == 503
    assert records() == [] and owners().usage("alice").in_flight == 0
    assert submit(stack, token).status == 202
    stack.stop_all()


def test_a_task_reconciled_as_failed_frees_its_slot(deploy: Callable[..., Stack], clock: list[float]) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", stale_after_seconds="0", max_in_flight="1")
    token = stack.token()
    arn = submit(stack, token).body["task_id"]
    stack.deployment.stop_execution(arn)
    assert_refused(submit(stack, token), "At most 1 task in flight for this owner: wait for one to finish")
    body = stack.call("GET", f"/api/transitions/task-status/{arn}/", token=token).body
    assert body["state"] == "FAILURE"
    assert owners().usage("alice").in_flight == 0
    assert submit(stack, token).status == 202
    stack.stop_all()


# -- concurrency: threads against moto --------------------------------------------------------------
JOB = GenerationJob(
    kind=TaskKind.DREAM,
    duration=5,
    predictions=[PredictionCall(role="video", model="o/m", input={"prompt": "x"})],
)


def service(stack: Stack, limits: Limits) -> TaskService:
    table = owners()
    return TaskService(
        TasksTable(NAMES.table("tasks"), owners=table),
        Executions(stack.deployment.state_machine_arn),
        owners=table,
        limits=limits,
    )


def submit_at_once(tasks: TaskService, count: int) -> tuple[list[Task], list[LimitExceeded]]:
    start = threading.Barrier(count)

    def one(_: int) -> Task | LimitExceeded:
        start.wait()
        try:
            return tasks.submit("alice", TaskKind.DREAM, {"dream": "x", "style": "Cursed"}, JOB)
        except LimitExceeded as refused:
            return refused

    with ThreadPoolExecutor(max_workers=count) as pool:
        outcomes = list(pool.map(one, range(count)))
    return (
        [o for o in outcomes if isinstance(o, Task)],
        [o for o in outcomes if isinstance(o, LimitExceeded)],
    )


@pytest.mark.parametrize(
    ("limits", "kept", "limit"),
    [(Limits(5, 100, 100), 5, "max_in_flight"), (Limits(100, 4, 100), 4, "per_minute"),
     (Limits(100, 100, 3), 3, "per_day")],
    ids=["in flight", "per minute", "per day"],
)  # fmt: skip
def test_concurrent_submits_never_exceed_a_limit(
    stack: Stack, clock: list[float], limits: Limits, kept: int, limit: str
) -> None:
    accepted, refused = submit_at_once(service(stack, limits), 16)
    assert len(accepted) == kept
    assert len(refused) == 16 - kept and {r.limit for r in refused} == {limit}
    assert len(records()) == kept and len(stack.executions()) == kept
    usage = owners().usage("alice")
    assert (usage.in_flight, usage.minute_count, usage.day_count) == (kept, kept, kept)
    stack.stop_all()


def test_concurrent_submits_within_the_limits_all_go_through(stack: Stack, clock: list[float]) -> None:
    # The condition is the limits, not a version: concurrent submits do not make each other retry
    accepted, refused = submit_at_once(service(stack, Limits(100, 100, 100)), 16)
    assert (len(accepted), refused) == (16, [])
    assert owners().usage("alice").in_flight == 16
    stack.stop_all()


def test_a_submit_that_opens_a_new_minute_counts_from_one(stack: Stack, clock: list[float]) -> None:
    tasks = service(stack, Limits(100, 2, 100))
    for _ in range(2):
        tasks.submit("alice", TaskKind.DREAM, {"dream": "x", "style": "Cursed"}, JOB)
    clock[0] += 60
    accepted, refused = submit_at_once(tasks, 6)  # all opening the same new minute at once
    assert len(accepted) == 2 and {r.limit for r in refused} == {"per_minute"}
    usage = owners().usage("alice")
    assert (usage.minute_count, usage.day_count, usage.in_flight) == (2, 4, 4)
    stack.stop_all()


def test_a_slot_is_freed_exactly_once_however_many_paths_end_the_task(
    stack: Stack, clock: list[float]
) -> None:
    tasks = service(stack, Limits(5, 100, 100))
    task = tasks.submit("alice", TaskKind.DREAM, {"dream": "x", "style": "Cursed"}, JOB)
    other = tasks.submit("alice", TaskKind.DREAM, {"dream": "y", "style": "Cursed"}, JOB)
    assert owners().usage("alice").in_flight == 2
    table = TasksTable(NAMES.table("tasks"), owners=owners())
    start = threading.Barrier(8)

    def end(_: int) -> bool:
        start.wait()
        return table.mark_failure(task, "ended")

    with ThreadPoolExecutor(max_workers=8) as pool:
        ended = list(pool.map(end, range(8)))
    assert ended.count(True) == 1
    assert owners().usage("alice").in_flight == 1  # the other task still holds its slot
    assert table.get(other.task_id) is not None
    stack.stop_all()
