"""The task controls through the API (gateway emulator, authorizer, the handlers on moto): cancel,
list, delete, the webhook secret; and idempotent submits and webhook URLs on both submit routes."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import pytest

from service.adapters import aws
from service.adapters.executions import Executions
from service.adapters.owners_table import OwnersTable
from service.adapters.tasks_table import TasksTable
from service.domain.errors import PredictionsStillRunning, ReplicateUnavailable
from service.domain.workflow import Workflow
from service.models.domain import PredictionRef, Progress, TaskResult
from service.models.storage import deserialize
from tests.support import NAMES, Reply, Stack, transition_body

CREATE = "/api/transitions/create-and-generate/"
TASKS = "/api/tasks/"


@pytest.fixture
def token(stack: Stack) -> str:
    return stack.token("alice")


def submit(stack: Stack, token: str, headers: dict[str, str] | None = None, **overrides: Any) -> Reply:
    return stack.call("POST", CREATE, token=token, json_body=transition_body(**overrides), headers=headers)


def dream(stack: Stack, token: str, query: str = "dream=a%20fox&style=Animated", **kwargs: Any) -> Reply:
    return stack.call("POST", f"/generate-video?{query}", token=token, **kwargs)


def status(stack: Stack, token: str, task_id: str) -> Reply:
    return stack.call("GET", f"/api/transitions/task-status/{task_id}/", token=token)


def in_flight(owner: str = "alice") -> int:
    return OwnersTable(NAMES.table("owners")).usage(owner).in_flight


def name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[1]


def finish(arn: str, video: bool = True) -> None:
    """Make a task SUCCESS as Finalize would (its media in the bucket)."""
    name = name_of(arn)
    table = TasksTable(NAMES.table("tasks"), owners=OwnersTable(NAMES.table("owners")))
    s3 = aws.client("s3")
    keys = (f"videos/{name}.mp4", f"thumbnails/{name}.jpg", f"subtitles/{name}.vtt")
    for key in keys:
        s3.put_object(Bucket=NAMES.media_bucket, Key=key, Body=b"media")
    task = table.get(name)
    assert task is not None
    result = TaskResult(video_key=keys[0], thumbnail_key=keys[1], duration=5, subtitles_key=keys[2])
    assert table.mark_success(task, result)


def started(arn: str, **statuses: str) -> list[PredictionRef]:
    """Record predictions on a task as StartPredictions and the polls would (role -> status)."""
    refs = [
        PredictionRef(role=role, model=f"test/{role}", id=f"{role}-{name_of(arn)[:8]}", status=state)
        for role, state in statuses.items()
    ]
    progress = Progress(current=10, status="processing")
    assert TasksTable(NAMES.table("tasks")).mark_processing(name_of(arn), refs, progress)
    return refs


def stored(arn: str) -> dict[str, Any] | None:
    """The tasks table's item for a task, as it is (a record, a tombstone, or nothing)."""
    item = aws.client("dynamodb").get_item(
        TableName=NAMES.table("tasks"), Key={"task_id": {"S": name_of(arn)}}, ConsistentRead=True
    )
    return deserialize(item["Item"]) if "Item" in item else None


def objects() -> set[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=NAMES.media_bucket)
    return {item["Key"] for item in listed.get("Contents", [])}


# -- cancel -------------------------------------------------------------------------------------------
def test_cancel_ends_the_task_stops_its_execution_and_frees_the_slot(stack: Stack, token: str) -> None:
    # Given a running task (its slot taken)
    arn = submit(stack, token).body["task_id"]
    assert in_flight() == 1
    # When its owner cancels it
    reply = stack.call("POST", f"{TASKS}{arn}/cancel/", token=token)
    # Then 202 with its state: FAILURE, ready, "Task was canceled"; the execution stopped; the slot free
    assert reply.status == 202, reply.body
    assert reply.body == {"task_id": arn, "state": "FAILURE", "ready": True, "error": "Task was canceled"}
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert in_flight() == 0
    assert status(stack, token, arn).body["error"] == "Task was canceled"
    dream_view = stack.call("GET", f"/video-status/{arn}", token=token)
    assert dream_view.status == 404  # a transition; a dream reads "failed" (below)
    # And cancelling again is harmless: the same answer, the slot not freed twice
    again = stack.call("POST", f"{TASKS}{name_of(arn)}/cancel/", token=token)
    assert (again.status, again.body) == (202, reply.body)
    assert in_flight() == 0


def test_a_canceled_dream_reads_failed_with_the_error_in_the_dream_schema(stack: Stack, token: str) -> None:
    arn = dream(stack, token).body["task_id"]
    assert stack.call("POST", f"{TASKS}{arn}/cancel/", token=token).status == 202
    body = stack.call("GET", f"/video-status/{arn}", token=token).body
    assert (body["status"], body["error"]) == ("failed", "Task was canceled")


def test_cancelling_a_finished_task_is_409_with_its_state(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    finish(arn)
    reply = stack.call("POST", f"{TASKS}{arn}/cancel/", token=token)
    assert reply.status == 409
    assert "already finished" in reply.body["detail"]
    assert reply.body["task"]["state"] == "SUCCESS" and reply.body["task"]["result"]["video_url"]
    assert status(stack, token, arn).body["state"] == "SUCCESS"  # untouched


@pytest.mark.parametrize("task_id", ["unknown", "mallory"])
def test_cancelling_another_owners_or_an_unknown_task_is_404(stack: Stack, token: str, task_id: str) -> None:
    arn = submit(stack, token).body["task_id"]
    target, caller = (str(uuid.uuid4()), token) if task_id == "unknown" else (arn, stack.token("mallory"))
    reply = stack.call("POST", f"{TASKS}{target}/cancel/", token=caller)
    assert (reply.status, reply.body) == (404, {"detail": "Task not found"})
    assert status(stack, token, arn).body["state"] == "PENDING" and in_flight() == 1


def test_a_cancel_whose_stop_fails_still_ends_the_task(
    stack: Stack, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # StopExecution refused: the record is terminal anyway (the workflow's next step stops itself)
    def refuse(self: Executions, arn: str, **kwargs: Any) -> bool:
        raise RuntimeError("ThrottlingException")

    arn = submit(stack, token).body["task_id"]
    monkeypatch.setattr(Executions, "stop", refuse)
    reply = stack.call("POST", f"{TASKS}{arn}/cancel/", token=token)
    assert reply.status == 202 and reply.body["error"] == "Task was canceled" and in_flight() == 0


# -- list ---------------------------------------------------------------------------------------------
def test_the_list_is_the_owners_tasks_newest_first_in_cursor_pages(stack: Stack, token: str) -> None:
    arns = [submit(stack, token).body["task_id"] for _ in range(3)]
    arns.append(dream(stack, token).body["task_id"])
    submit(stack, stack.token("mallory"))  # not alice's
    finish(arns[0])
    first = stack.call("GET", f"{TASKS}?limit=3", token=token)
    assert first.status == 200
    assert [item["task_id"] for item in first.body["items"]] == arns[::-1][:3]
    newest = first.body["items"][0]
    assert newest["kind"] == "dream" and newest["state"] == "PENDING" and newest["info"] is None
    assert newest["created_at"].endswith("Z") and newest["ready"] is False
    second = stack.call("GET", f"{TASKS}?limit=3&cursor={first.body['next_cursor']}", token=token)
    assert [item["task_id"] for item in second.body["items"]] == [arns[0]]
    assert second.body["next_cursor"] is None
    done = second.body["items"][0]
    assert done["state"] == "SUCCESS" and done["kind"] == "transition"
    assert "Signature" in done["result"]["video_url"] and done["result"]["subtitles_url"]
    # The default page holds them all (20)
    everything = stack.call("GET", TASKS, token=token).body
    assert len(everything["items"]) == 4 and everything["next_cursor"] is None


def test_filters_fill_the_page_across_queries(stack: Stack, token: str) -> None:
    # Given 7 transitions and 3 dreams, interleaved, one of them finished
    kinds = []
    for index in range(10):
        if index % 3 == 1:
            kinds.append(("dream", dream(stack, token).body["task_id"]))
        else:
            kinds.append(("transition", submit(stack, token).body["task_id"]))
    finish(kinds[0][1])
    dreams = [arn for kind, arn in reversed(kinds) if kind == "dream"]
    # When filtered with a page smaller than what matches
    page = stack.call("GET", f"{TASKS}?kind=dream&limit=2", token=token).body
    rest = stack.call("GET", f"{TASKS}?kind=dream&limit=2&cursor={page['next_cursor']}", token=token).body
    # Then full pages of matches only, newest first, and the cursor goes on
    assert [i["task_id"] for i in page["items"] + rest["items"]] == dreams
    assert {i["kind"] for i in page["items"] + rest["items"]} == {"dream"}
    assert rest["next_cursor"] is None
    success = stack.call("GET", f"{TASKS}?state=success", token=token).body
    assert [i["task_id"] for i in success["items"]] == [kinds[0][1]]
    both = stack.call("GET", f"{TASKS}?state=PENDING&kind=transition&limit=100", token=token).body
    assert len(both["items"]) == 6


def test_the_list_queries_the_owner_index_and_never_scans(
    stack: Stack, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    client = aws.client("dynamodb")
    original_query = client.query

    def query(**kwargs: Any) -> Any:
        calls.append(kwargs.get("IndexName", ""))
        return original_query(**kwargs)

    def scan(**kwargs: Any) -> Any:
        raise AssertionError("a Scan")

    monkeypatch.setattr(client, "query", query)
    monkeypatch.setattr(client, "scan", scan)
    submit(stack, token)
    assert stack.call("GET", f"{TASKS}?state=FAILURE", token=token).status == 200
    assert calls and set(calls) == {"by-owner"}


@pytest.mark.parametrize(
    ("query", "loc", "kind"),
    [
        ("limit=0", ["query", "limit"], "greater_than_equal"),
        ("limit=101", ["query", "limit"], "less_than_equal"),
        ("limit=ten", ["query", "limit"], "int_parsing"),
        ("state=DONE", ["query", "state"], "enum"),
        ("kind=movie", ["query", "kind"], "enum"),
    ],
)
def test_bad_list_parameters_are_422(stack: Stack, token: str, query: str, loc: list[str], kind: str) -> None:
    reply = stack.call("GET", f"{TASKS}?{query}", token=token)
    assert reply.status == 422
    [item] = reply.body["detail"]
    assert item["loc"] == loc and item["type"] == kind and item["msg"]


def test_a_tampered_or_foreign_cursor_is_422(stack: Stack, token: str) -> None:
    for _ in range(2):
        submit(stack, token)
    cursor = stack.call("GET", f"{TASKS}?limit=1", token=token).body["next_cursor"]
    payload, mac = cursor.split(".")
    tampered = ("A" if payload[0] != "A" else "B") + payload[1:] + "." + mac
    for bad, who, extra in [
        (tampered, token, ""),
        ("garbage", token, ""),
        (cursor, stack.token("mallory"), ""),  # another owner's listing
        (cursor, token, "&kind=dream"),  # other filters
    ]:
        reply = stack.call("GET", f"{TASKS}?limit=1&cursor={bad}{extra}", token=who)
        assert reply.status == 422, (bad, reply.body)
        assert reply.body["detail"][0]["loc"] == ["query", "cursor"]
        assert reply.body["detail"][0]["type"] == "cursor_invalid"
    assert stack.call("GET", f"{TASKS}?limit=1&cursor={cursor}", token=token).status == 200


# -- delete -------------------------------------------------------------------------------------------
def test_delete_erases_the_record_and_the_media_then_reads_are_404(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    other = submit(stack, token).body["task_id"]
    finish(arn)
    finish(other)
    name = name_of(arn)
    assert {f"videos/{name}.mp4", f"thumbnails/{name}.jpg", f"subtitles/{name}.vtt"} <= objects()
    reply = stack.call("DELETE", f"{TASKS}{arn}/", token=token)
    assert reply.status == 204 and reply.body is None
    assert not any(name in key for key in objects())
    assert any(name_of(other) in key for key in objects())  # only that task's media
    assert status(stack, token, arn).status == 404
    assert stack.call("DELETE", f"{TASKS}{arn}/", token=token).status == 404
    assert [i["task_id"] for i in stack.call("GET", TASKS, token=token).body["items"]] == [other]
    assert stored(arn) is None  # nothing left: no prediction of it can still run


def test_deleting_a_running_task_cancels_it_first(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    assert stack.call("DELETE", f"{TASKS}{arn}/", token=token).status == 204
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert in_flight() == 0 and TasksTable(NAMES.table("tasks")).get(name_of(arn)) is None
    assert stored(arn) is None  # no prediction recorded: nothing for the clean-up, no tombstone


def test_a_task_whose_predictions_all_ended_is_erased_without_a_tombstone(stack: Stack, token: str) -> None:
    # A FAILURE whose predictions MarkFailed cancelled (their statuses recorded): nothing can still run
    arn = submit(stack, token).body["task_id"]
    started(arn, video="canceled", music="failed")
    assert stack.call("POST", f"{TASKS}{arn}/cancel/", token=token).status == 202
    assert stack.call("DELETE", f"{TASKS}{arn}/", token=token).status == 204
    assert stored(arn) is None and in_flight() == 0


@pytest.mark.parametrize("route", ["transition", "dream"])
def test_deleting_a_task_whose_predictions_may_run_leaves_a_tombstone_that_no_owner_read_finds(
    stack: Stack, token: str, route: str, resolver: dict[str, list[str]]
) -> None:
    # Given a running task with a webhook, one prediction running and one done, beside another task
    resolver["hooks.example.com"] = ["93.184.216.34"]
    hook = "https://hooks.example.com/videogen"
    if route == "transition":
        arn = submit(stack, token, webhook_url=hook).body["task_id"]
        read = f"/api/transitions/task-status/{arn}/"
    else:
        query = "dream=a%20fox&style=Animated&webhook_url=https%3A%2F%2Fhooks.example.com%2Fvideogen"
        arn = dream(stack, token, query=query).body["task_id"]
        read = f"/video-status/{arn}"
    other = submit(stack, token).body["task_id"]
    video, _ = started(arn, video="processing", music="succeeded")
    record = TasksTable(NAMES.table("tasks")).get(name_of(arn))
    assert record is not None and in_flight() == 2
    secret = stack.call("GET", "/api/webhooks/secret/", token=token).body
    # When its owner deletes it
    assert stack.call("DELETE", f"{TASKS}{arn}/", token=token).status == 204
    # Then it was cancelled (the execution stopped, its slot freed once) and all that is left is a
    # tombstone: the prediction the clean-up must cancel, when, and the TTL; nothing of the owner's
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert in_flight() == 1
    tombstone = stored(arn)
    assert tombstone is not None
    assert set(tombstone) == {"task_id", "state", "cancel_predictions", "deleted_at", "expires_at"}
    assert tombstone["cancel_predictions"] == [video.id] and tombstone["state"] == "FAILURE"
    assert 14 * 86400 - 60 < tombstone["expires_at"] - time.time() <= 14 * 86400
    # And every owner-facing read answers as for a task that never was
    reply = stack.call("GET", read, token=token)
    assert reply.status == 404, reply.body
    assert status(stack, token, arn).status == 404
    assert [i["task_id"] for i in stack.call("GET", TASKS, token=token).body["items"]] == [other]
    assert stack.call("GET", f"{TASKS}?state=FAILURE", token=token).body["items"] == []
    assert stack.call("POST", f"{TASKS}{arn}/cancel/", token=token).status == 404
    assert stack.call("DELETE", f"{TASKS}{arn}/", token=token).status == 404
    assert stored(arn) == tombstone  # a second delete leaves it for the clean-up
    assert stack.call("GET", "/api/webhooks/secret/", token=token).body == secret
    # And no terminal write can end it again: the slot is never freed twice
    tasks = TasksTable(NAMES.table("tasks"), owners=OwnersTable(NAMES.table("owners")))
    assert tasks.mark_failure(record, "Video generation was stopped before it finished") is False
    assert (
        tasks.mark_processing(record.task_id, record.predictions, Progress(current=50, status="x")) is False
    )
    assert tasks.get(record.task_id) is None and in_flight() == 1 and stored(arn) == tombstone


def test_a_task_cancelled_before_and_deleted_before_its_clean_up_leaves_a_tombstone(
    stack: Stack, token: str
) -> None:
    # A cancel ends the record at once; its predictions end when the clean-up gets the ABORTED event,
    # which may come after the owner's delete
    arn = submit(stack, token).body["task_id"]
    video, music = started(arn, video="processing", music="starting")
    assert stack.call("POST", f"{TASKS}{arn}/cancel/", token=token).status == 202
    assert stack.call("DELETE", f"{TASKS}{arn}/", token=token).status == 204
    tombstone = stored(arn)
    assert tombstone is not None and tombstone["cancel_predictions"] == [video.id, music.id]
    assert status(stack, token, arn).status == 404 and in_flight() == 0


class FakeReplicate:
    """The clean-up's gateway: records the cancels; unreachable while ``down``."""

    def __init__(self) -> None:
        self.canceled: list[str] = []
        self.down = False

    def cancel(self, prediction_id: str) -> str:
        if self.down:
            raise ReplicateUnavailable("Replicate could not be reached (test)")
        self.canceled.append(prediction_id)
        return "canceled"


def test_the_clean_up_cancels_a_tombstones_predictions_then_deletes_it(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    video, music = started(arn, video="processing", music="starting")
    assert stack.call("DELETE", f"{TASKS}{arn}/", token=token).status == 204
    replicate = FakeReplicate()
    tasks = TasksTable(NAMES.table("tasks"), owners=OwnersTable(NAMES.table("owners")))
    cleanup = Workflow(tasks, gateway=lambda: replicate)  # type: ignore[arg-type, return-value]
    # Replicate unreachable: the clean-up raises (EventBridge retries it) and keeps the tombstone
    replicate.down = True
    with pytest.raises(PredictionsStillRunning):
        cleanup.execution_ended(name_of(arn), "ABORTED")
    assert stored(arn) is not None and in_flight() == 0
    # Then it goes through: both cancelled, the tombstone deleted, the slot not freed again
    replicate.down = False
    assert cleanup.execution_ended(name_of(arn), "ABORTED") is False
    assert replicate.canceled == [video.id, music.id]
    assert stored(arn) is None and in_flight() == 0
    # A duplicate of the event finds nothing and cancels nothing more
    assert cleanup.execution_ended(name_of(arn), "ABORTED") is False
    assert replicate.canceled == [video.id, music.id]


def test_deleting_another_owners_task_is_404_and_keeps_it(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    reply = stack.call("DELETE", f"{TASKS}{arn}/", token=stack.token("mallory"))
    assert (reply.status, reply.body) == (404, {"detail": "Task not found"})
    assert status(stack, token, arn).status == 200


# -- idempotent submits -------------------------------------------------------------------------------
def test_the_same_key_and_request_answer_the_first_202_and_start_nothing_more(
    stack: Stack, token: str
) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = submit(stack, token, headers=key)
    again = submit(stack, token, headers=key)
    assert first.status == again.status == 202
    assert again.body == first.body and again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(stack.executions()) == 1 and in_flight() == 1
    # the dream route too, and its key is its own
    dream_first = dream(stack, token, headers={"Idempotency-Key": "dream-1"})
    dream_again = dream(stack, token, headers={"Idempotency-Key": "dream-1"})
    assert dream_again.body == dream_first.body and len(stack.executions()) == 2
    # without a key every submit is a new task
    assert submit(stack, token).body != submit(stack, token).body


def test_the_same_key_with_another_request_is_422_and_starts_nothing(stack: Stack, token: str) -> None:
    key = {"Idempotency-Key": "k-1"}
    assert submit(stack, token, headers=key).status == 202
    for reply in (
        submit(stack, token, headers=key, duration=10),
        dream(stack, token, headers=key),  # another route is another request
    ):
        assert reply.status == 422, reply.body
        [item] = reply.body["detail"]
        assert item["loc"] == ["header", "idempotency-key"] and item["type"] == "idempotency_key_reused"
        assert "different request" in item["msg"]
    assert len(stack.executions()) == 1


def test_keys_are_scoped_per_owner(stack: Stack, token: str) -> None:
    key = {"Idempotency-Key": "shared"}
    mine = submit(stack, token, headers=key).body["task_id"]
    theirs = submit(stack, stack.token("mallory"), headers=key).body["task_id"]
    assert mine != theirs and len(stack.executions()) == 2


def test_the_same_key_while_the_first_is_being_accepted_is_409(
    stack: Stack, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second execution environment (Lambda runs concurrent requests in separate ones; the tests'
    # runtime runs one at a time, so this gateway calls the handlers directly)
    from service.settings import function_environment
    from twin.gateway import ApiGateway
    from twin.lambda_runner import call_handler, context_for, resolve

    def direct(spec: Any, event: dict[str, Any]) -> tuple[Any, bool]:
        with function_environment({**os.environ, **stack.deployment.function_environment(spec)}):
            payload, errored = call_handler(resolve(spec.handler), event, context_for(spec, spec.name, "arn"))
        return json.loads(payload), errored

    other_environment = ApiGateway(direct, authorizer_cache_s=0)
    key = {"Idempotency-Key": "twice-at-once"}
    seen: list[Reply] = []
    original = Executions.start

    def start_while_a_retry_arrives(self: Executions, name: str, payload: dict[str, Any]) -> str:
        # Given the first submit half way (its idempotency record says "in progress")
        records = aws.client("dynamodb").scan(TableName=NAMES.table("idempotency"))["Items"]
        assert [r["status"]["S"] for r in records] == ["INPROGRESS"]
        # When the same key arrives in another execution environment
        seen.append(
            Reply.of(
                other_environment.request(
                    "POST", CREATE, token=token, json_body=transition_body(), headers=key
                )
            )
        )
        return original(self, name, payload)

    monkeypatch.setattr(Executions, "start", start_while_a_retry_arrives)
    first = submit(stack, token, headers=key)
    # Then it is told to retry (409) and starts nothing; the first goes through, once
    [second] = seen
    assert second.status == 409 and second.headers["retry-after"] == "1", second.body
    assert "still being" in second.body["detail"]
    assert first.status == 202 and len(stack.executions()) == 1
    monkeypatch.setattr(Executions, "start", original)
    assert submit(stack, token, headers=key).body == first.body


def test_a_retried_submit_over_the_limit_takes_no_second_slot(deploy: Any) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", max_in_flight="1")
    token = stack.token("alice")
    key = {"Idempotency-Key": "only-once"}
    first = submit(stack, token, headers=key)
    assert first.status == 202 and in_flight() == 1
    # At the limit, the retry of the accepted submit still answers its 202 (no second slot)...
    again = submit(stack, token, headers=key)
    assert (again.status, again.body) == (202, first.body) and in_flight() == 1
    # ...while a new request is refused, and a refused submit leaves its key free for a later retry
    refused = submit(stack, token, headers={"Idempotency-Key": "second"}, duration=10)
    assert refused.status == 429
    assert stack.call("POST", f"{TASKS}{first.body['task_id']}/cancel/", token=token).status == 202
    later = submit(stack, token, headers={"Idempotency-Key": "second"}, duration=10)
    assert later.status == 202 and later.body["task_id"] != first.body["task_id"]
    stack.stop_all()


@pytest.mark.parametrize("value", ["", "x" * 256, "with space", "tab\there"])
def test_a_malformed_idempotency_key_is_422(stack: Stack, token: str, value: str) -> None:
    reply = submit(stack, token, headers={"Idempotency-Key": value})
    assert reply.status == 422
    assert reply.body["detail"][0]["loc"] == ["header", "idempotency-key"]
    assert stack.executions() == []


# -- webhook URLs -------------------------------------------------------------------------------------
@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host names resolve to what the test says (no network here)."""
    import socket

    names: dict[str, list[str]] = {}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in names:
            raise socket.gaierror("Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, port)) for a in names[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


REFUSED_URLS = [
    ("http://hooks.example.com/x", "https"),
    ("https://user:pw@hooks.example.com/x", "user name"),
    ("https://127.0.0.1/x", "loopback"),
    ("https://[::1]/x", "loopback"),
    ("https://10.0.0.8/x", "private"),
    ("https://192.168.1.1/x", "private"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://100.64.0.1/", "carrier-grade NAT"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[::ffff:10.0.0.1]/", "private"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://private.example.com/", "private"),  # resolves to 10.1.2.3
    ("https://mixed.example.com/", "private"),  # one public, one private address
    ("https://nowhere.example.com/", "does not resolve"),
    ("ftp://hooks.example.com/", "https"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS, ids=[u for u, _ in REFUSED_URLS])
def test_webhook_urls_that_are_not_public_https_are_422_on_both_routes(
    stack: Stack, token: str, resolver: dict[str, list[str]], url: str, why: str
) -> None:
    resolver |= {
        "hooks.example.com": ["93.184.216.34"],
        "private.example.com": ["10.1.2.3"],
        "mixed.example.com": ["93.184.216.34", "10.1.2.3"],
    }
    reply = submit(stack, token, webhook_url=url)
    assert reply.status == 422, reply.body
    [item] = reply.body["detail"]
    assert item["loc"] == ["body", "webhook_url"] and why in item["msg"], item
    from urllib.parse import quote

    reply = dream(stack, token, query=f"dream=x&style=Cursed&webhook_url={quote(url, safe='')}")
    assert reply.status == 422 and reply.body["detail"][0]["loc"] == ["query", "webhook_url"]
    assert stack.executions() == [] and in_flight() == 0


def test_a_public_https_webhook_is_recorded_and_shown_on_the_status(
    stack: Stack, token: str, resolver: dict[str, list[str]]
) -> None:
    resolver["hooks.example.com"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    arn = submit(stack, token, webhook_url="https://hooks.example.com/videogen").body["task_id"]
    body = status(stack, token, arn).body
    assert body["webhook"]["url"] == "https://hooks.example.com/videogen"
    assert body["webhook"]["state"] == "pending" and body["webhook"]["attempts"] == 0
    assert body["webhook"]["event_id"] == "msg_" + name_of(arn).replace("-", "")
    # the owner got a signing secret with the submit, the same one GET answers
    secret = stack.call("GET", "/api/webhooks/secret/", token=token).body["secret"]
    assert secret.startswith("whsec_")
    assert OwnersTable(NAMES.table("owners")).webhook_secrets("alice")["webhook_secret"] == secret
    # tasks without a webhook keep the spec's shape
    assert "webhook" not in status(stack, token, submit(stack, token).body["task_id"]).body


def test_loopback_http_webhooks_only_where_the_deployment_allows_them(deploy: Any) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", webhook_allow_loopback="true")
    token = stack.token("alice")
    assert submit(stack, token, webhook_url="http://127.0.0.1:9999/hook").status == 202
    refused = submit(stack, token, webhook_url="http://10.0.0.1/hook")
    assert refused.status == 422 and "private" in refused.body["detail"][0]["msg"]
    stack.stop_all()


# -- the webhook secret -------------------------------------------------------------------------------
def test_the_secret_is_created_at_the_first_read_and_rotation_keeps_the_previous_a_day(
    stack: Stack, token: str
) -> None:
    first = stack.call("GET", "/api/webhooks/secret/", token=token)
    assert first.status == 200 and first.body["secret"].startswith("whsec_")
    assert first.body["previous_secret_valid_until"] is None
    assert stack.call("GET", "/api/webhooks/secret/", token=token).body == first.body  # stable
    rotated = stack.call("POST", "/api/webhooks/secret/", token=token)
    assert rotated.status == 200 and rotated.body["secret"] != first.body["secret"]
    assert rotated.body["previous_secret_valid_until"].endswith("Z")
    stored = OwnersTable(NAMES.table("owners")).webhook_secrets("alice")
    assert stored["webhook_secret_previous"] == first.body["secret"]
    # each owner has its own
    theirs = stack.call("GET", "/api/webhooks/secret/", token=stack.token("mallory")).body["secret"]
    assert theirs not in (first.body["secret"], rotated.body["secret"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", TASKS),
        ("POST", f"{TASKS}x/cancel/"),
        ("DELETE", f"{TASKS}x/"),
        ("GET", "/api/webhooks/secret/"),
    ],
)
def test_the_controls_need_a_token(stack: Stack, method: str, path: str) -> None:
    assert stack.call(method, path).status == 401
