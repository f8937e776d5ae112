"""The four routes through the API Gateway emulator: authorizer first, then REST proxy events
into the real handlers, against moto (Step Functions execution on)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from service.adapters import aws
from service.adapters.executions import Executions
from service.adapters.tasks_table import TasksTable
from service.adapters.tokens_table import TokensTable
from service.domain.auth import hash_token
from service.models.domain import Progress, TaskResult
from service.settings import StatusSettings
from tests.support import NAMES, Reply, Stack, transition_body

CREATE = "/api/transitions/create-and-generate/"


def task_status(task_id: str) -> str:
    return f"/api/transitions/task-status/{task_id}/"


@pytest.fixture
def token(stack: Stack) -> str:
    return stack.token("alice")


def submit(stack: Stack, token: str, **overrides: Any) -> Reply:
    return stack.call("POST", CREATE, token=token, json_body=transition_body(**overrides))


def records() -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName=NAMES.table("tasks"))["Items"]
    return [i for i in items if i["task_id"]["S"] != "#counter"]


@pytest.fixture
def describe_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every DescribeExecution the status path makes."""
    calls: list[str] = []
    original = Executions.describe

    def describe(self: Executions, arn: str) -> Any:
        calls.append(arn)
        return original(self, arn)

    monkeypatch.setattr(Executions, "describe", describe)
    yield calls


# -- submit ---------------------------------------------------------------------------------------
def test_transition_submit_returns_202_with_the_execution_arn_and_records_the_task(
    stack: Stack, token: str
) -> None:
    reply = submit(stack, token)
    assert reply.status == 202
    assert set(reply.body) == {"task_id", "status", "message"}
    assert reply.body["status"] == "pending"
    assert reply.body["message"] == "Transition creation and video generation started"
    arn = reply.body["task_id"]
    execution = stack.sfn.describe_execution(executionArn=arn)
    assert execution["stateMachineArn"] == stack.deployment.state_machine_arn
    # The execution carries references only; the job (models, prompt, image URLs) is in the record.
    assert json.loads(execution["input"]) == {"task_id": execution["name"], "kind": "transition"}
    uuid.UUID(execution["name"], version=4)
    [record] = records()
    assert record["execution_arn"]["S"] == arn and record["owner"]["S"] == "alice"
    task = TasksTable(NAMES.table("tasks")).get(execution["name"])
    assert task is not None and task.job is not None
    assert task.job.predictions[0].input["start_image"] == "https://example.com/front.jpg"


@pytest.mark.parametrize("spelling", ["ENERGETIC", "energetic"])
def test_transition_type_spellings_of_both_spec_clients_are_accepted(
    stack: Stack, token: str, spelling: str
) -> None:
    assert submit(stack, token, transition_type=spelling).status == 202


def test_dream_submit_returns_202_with_task_id_and_pending(stack: Stack, token: str) -> None:
    reply = stack.call("POST", "/generate-video?dream=a%20whale%20in%20the%20sky&style=Cursed", token=token)
    assert (
        reply.status == 202 and set(reply.body) == {"task_id", "status"} and reply.body["status"] == "pending"
    )
    status = stack.call("GET", f"/video-status/{reply.body['task_id']}", token=token)
    assert status.body["dream"] == "a whale in the sky" and status.body["style"] == "Cursed"


def test_ids_are_unique_increasing_integers(stack: Stack, token: str) -> None:
    first, second = (submit(stack, token).body["task_id"] for _ in range(2))
    table = TasksTable(NAMES.table("tasks"))
    a, b = (table.get(arn.rsplit(":", 1)[1]) for arn in (first, second))
    assert a is not None and b is not None
    ids = [a.transition_id, a.generated_transition_id, b.transition_id, b.generated_transition_id]
    assert ids == sorted(set(ids)) and all(isinstance(i, int) for i in ids)


# -- 422: one case per kind of bad field, and nothing written --------------------------------------
BAD_BODIES: list[tuple[str, dict[str, Any], list[str | int], str]] = [
    ("non-http image", {"front_image": "ftp://x.example/a.jpg"}, ["body", "front_image"], "url_scheme"),
    ("not a url", {"tail_image": "not a url"}, ["body", "tail_image"], "url_parsing"),
    # pydantic keeps it, the provider's URI check (Go's url.Parse) would refuse the task later
    ("bad escape", {"front_image": "https://x.example/a%zz.jpg"}, ["body", "front_image"], "url_escape"),
    ("missing image", {"front_image": None}, ["body", "front_image"], "missing"),
    ("duration", {"duration": 7}, ["body", "duration"], "duration_not_allowed"),
    ("duration type", {"duration": "five"}, ["body", "duration"], "int_type"),
    ("transition type", {"transition_type": "SIDEWAYS"}, ["body", "transition_type"], "enum"),
    ("subtitle style", {"subtitle_style": "comic"}, ["body", "subtitle_style"], "enum"),
    ("subtitle position", {"subtitle_position": "left"}, ["body", "subtitle_position"], "enum"),
    ("music type", {"music_type": "polka"}, ["body", "music_type"], "enum"),
    ("subtitle order", {"subtitles": [{"startTime": 2, "endTime": 1, "text": "x"}]}, ["body", "subtitles", 0],
     "subtitle_order"),
    ("subtitle range", {"subtitles": [{"startTime": 1, "endTime": 9, "text": "x"}]}, ["body", "subtitles"],
     "subtitle_out_of_range"),
    ("subtitle text", {"subtitles": [{"startTime": 0, "endTime": 1, "text": ""}]},
     ["body", "subtitles", 0, "text"], "string_too_short"),
    ("boolean", {"enable_music": "perhaps"}, ["body", "enable_music"], "bool_type"),
    ("unknown field", {"colour": "red"}, ["body", "colour"], "extra_forbidden"),
    ("voiceover without text", {"enable_voiceover": True, "enable_subtitles": False}, ["body", "voiceover_text"],
     "voiceover_text_missing"),
    ("voice", {"enable_voiceover": True, "voice": "robot"}, ["body", "voice"], "enum"),
    ("voiceover too long", {"enable_voiceover": True, "voiceover_text": "x" * 1001}, ["body", "voiceover_text"],
     "string_too_long"),
    ("too many subtitles", {"subtitles": [{"startTime": 0, "endTime": 1, "text": "x"}] * 51}, ["body", "subtitles"],
     "too_long"),
    ("subtitle too long", {"subtitles": [{"startTime": 0, "endTime": 1, "text": "x" * 201}]},
     ["body", "subtitles", 0, "text"], "string_too_long"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "overrides", "loc", "kind"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_field_gives_422_with_loc_msg_type_and_writes_nothing(
    stack: Stack, token: str, case: str, overrides: dict[str, Any], loc: list[str | int], kind: str
) -> None:
    body = transition_body(**overrides)
    body = {k: v for k, v in body.items() if v is not None}
    reply = stack.call("POST", CREATE, token=token, json_body=body)
    assert reply.status == 422, reply.body
    [item] = reply.body["detail"]
    assert item["loc"] == loc and item["type"] == kind
    assert isinstance(item["msg"], str) and len(item["msg"]) > 5
    assert records() == [] and stack.executions() == []


def test_422_messages_list_the_allowed_values(stack: Stack, token: str) -> None:
    reply = submit(stack, token, transition_type="SIDEWAYS", duration=7)
    messages = {tuple(i["loc"]): i["msg"] for i in reply.body["detail"]}
    assert "'ENERGETIC'" in messages[("body", "transition_type")]
    assert "5 or 10" in messages[("body", "duration")]


@pytest.mark.parametrize(
    ("raw", "content_type", "expected_type"),
    [
        (b'{"front_image": ', "application/json", "json_invalid"),
        (b"", "application/json", "missing"),
        (None, None, "missing"),
        (b"[1, 2]", "application/json", "model_attributes_type"),
    ],
    ids=["malformed", "empty", "absent", "array"],
)
def test_malformed_or_empty_body_is_a_clear_422_never_5xx(
    stack: Stack, token: str, raw: bytes | None, content_type: str | None, expected_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reply = stack.call("POST", CREATE, token=token, raw_body=raw, headers=headers)
    assert reply.status == 422
    [item] = reply.body["detail"]
    assert item["type"] == expected_type and item["loc"][0] == "body" and "body" in item["msg"].lower()


@pytest.mark.parametrize(
    ("query", "locs"),
    [
        ("style=Realistic", [["query", "dream"]]),
        ("dream=x", [["query", "style"]]),
        ("dream=x&style=Gothic", [["query", "style"]]),
        ("dream=&style=Animated", [["query", "dream"]]),
        ("dream=" + "x" * 1001 + "&style=Animated", [["query", "dream"]]),
    ],
    ids=["no dream", "no style", "bad style", "empty dream", "long dream"],
)
def test_dream_query_errors_are_422(stack: Stack, token: str, query: str, locs: list[list[str]]) -> None:
    reply = stack.call("POST", f"/generate-video?{query}", token=token)
    assert reply.status == 422
    assert [i["loc"] for i in reply.body["detail"]] == locs
    assert all(i["msg"] for i in reply.body["detail"])
    assert stack.executions() == []


# -- 401 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Token not-a-real-token"},
        {"Authorization": "Bearer x"},
        {"Authorization": "Token"},
    ],
    ids=["missing", "unknown", "wrong scheme", "empty"],
)
def test_missing_or_unknown_token_is_401_on_every_route(stack: Stack, headers: dict[str, str]) -> None:
    arn = submit(stack, stack.token()).body["task_id"]
    for method, path in [("POST", CREATE), ("POST", "/generate-video?dream=x&style=Cursed"),
                         ("GET", task_status(arn)), ("GET", f"/video-status/{arn}")]:  # fmt: skip
        reply = stack.call(
            method, path, headers=headers, json_body=transition_body() if method == "POST" else None
        )
        assert reply.status == 401, (method, path)
        assert "Token" in reply.body["detail"]


def test_a_revoked_token_stops_working(stack: Stack, token: str) -> None:
    assert submit(stack, token).status == 202
    TokensTable(NAMES.table("tokens")).delete(hash_token(token))
    assert submit(stack, token).status == 401


# -- 404 and ownership ----------------------------------------------------------------------------
def test_the_arn_and_the_bare_uuid_both_resolve_on_both_status_routes(stack: Stack, token: str) -> None:
    arn = stack.call("POST", "/generate-video?dream=x&style=Animated", token=token).body["task_id"]
    bare = arn.rsplit(":", 1)[1]
    for task_id in (arn, bare, bare.upper()):
        transitions = stack.call("GET", task_status(task_id), token=token)
        dream = stack.call("GET", f"/video-status/{task_id}", token=token)
        assert transitions.status == dream.status == 200
        assert transitions.body["task_id"] == dream.body["task_id"] == arn


@pytest.mark.parametrize(
    "task_id",
    [
        str(uuid.uuid4()),
        "not-a-task",
        "%23counter",
        "arn:aws:states:us-east-1:123456789012:execution:someone-elses-machine:" + str(uuid.uuid4()),
    ],
    ids=["unknown uuid", "garbage", "counter key", "foreign arn"],
)
def test_unknown_task_is_404_task_not_found(stack: Stack, token: str, task_id: str) -> None:
    for path in (task_status(task_id), f"/video-status/{task_id}"):
        reply = stack.call("GET", path, token=token)
        assert (reply.status, reply.body) == (404, {"detail": "Task not found"})


def test_another_owners_task_is_404(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    mallory = stack.token("mallory")
    reply = stack.call("GET", task_status(arn), token=mallory)
    assert (reply.status, reply.body) == (404, {"detail": "Task not found"})
    assert stack.call("GET", task_status(arn), token=token).status == 200


def test_video_status_serves_dream_tasks_only(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    assert stack.call("GET", f"/video-status/{arn}", token=token).status == 404


def test_unknown_route_is_a_json_404(stack: Stack, token: str) -> None:
    reply = stack.call("GET", "/api/nothing-here/", token=token)
    assert reply.status == 404 and reply.body == {"detail": "Not Found"}


# -- status shapes and polling hints --------------------------------------------------------------
def test_status_follows_the_record_through_every_state(stack: Stack, token: str) -> None:
    arn = submit(stack, token).body["task_id"]
    name = arn.rsplit(":", 1)[1]
    table = TasksTable(NAMES.table("tasks"))

    pending = stack.call("GET", task_status(arn), token=token)
    assert pending.body == {"task_id": arn, "state": "PENDING", "ready": False, "info": None}
    assert pending.headers["retry-after"] == str(StatusSettings.fields()["retry_after_seconds"].default)

    table.mark_processing(name, [], Progress(current=1, status="Processing frames..."))
    processing = stack.call("GET", task_status(arn), token=token)
    assert processing.body["info"] == {"current": 1, "total": 100, "status": "Processing frames..."}
    assert "retry-after" in processing.headers

    aws.client("s3").put_object(Bucket=NAMES.media_bucket, Key=f"videos/{name}.mp4", Body=b"mp4")
    task = table.get(name)
    assert task is not None
    table.mark_success(task, TaskResult(video_key=f"videos/{name}.mp4", thumbnail_key="t.jpg", duration=5))
    success = stack.call("GET", task_status(arn), token=token)
    assert success.body["state"] == "SUCCESS" and success.body["ready"] is True
    assert "retry-after" not in success.headers
    result = success.body["result"]
    assert f"videos/{name}.mp4" in result["video_url"] and "Signature" in result["video_url"]
    assert result["status"] == "completed" and result["duration"] == 5
    # URLs are minted on every read
    again = stack.call("GET", task_status(arn), token=token).body["result"]
    assert again["video_url"].split("?")[0] == result["video_url"].split("?")[0]

    assert table.mark_failure(task, "late failure") is False  # terminal states are final


# -- the order of writes on submit ----------------------------------------------------------------
def test_the_record_exists_before_the_execution_starts(
    stack: Stack, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    original = Executions.start

    def start(self: Executions, name: str, payload: dict[str, Any]) -> str:
        seen.append(TasksTable(NAMES.table("tasks")).get(name) is not None)
        return original(self, name, payload)

    monkeypatch.setattr(Executions, "start", start)
    assert submit(stack, token).status == 202
    assert seen == [True]


def test_a_failed_start_leaves_no_record_and_answers_503(
    stack: Stack, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Executions, name: str, payload: dict[str, Any]) -> str:
        raise RuntimeError("ExecutionLimitExceeded")

    monkeypatch.setattr(Executions, "start", refuse)
    reply = submit(stack, token)
    assert reply.status == 503 and "retry" in reply.body["detail"] and reply.body["request_id"]
    assert reply.headers["retry-after"] == "1"
    assert records() == [] and stack.executions() == []


def test_death_between_the_two_writes_leaves_an_orphan_that_reads_as_failure(
    stack: Stack, token: str, monkeypatch: pytest.MonkeyPatch, describe_calls: list[str]
) -> None:
    class ProcessDied(BaseException):
        """Not an Exception: nothing in the handler can clean up, as when Lambda is killed."""

    def die(self: Executions, name: str, payload: dict[str, Any]) -> str:
        raise ProcessDied

    monkeypatch.setattr(Executions, "start", die)
    with pytest.raises(ProcessDied):
        submit(stack, token)
    [record] = records()
    assert stack.executions() == []  # no orphaned execution
    # The id was never returned; if anyone reads it once stale, it is a clear FAILURE.
    monkeypatch.setenv("VIDEOGEN_STALE_AFTER_SECONDS", "0")
    from tests.conftest import _reset_process_caches

    _reset_process_caches()
    reply = stack.call("GET", task_status(record["task_id"]["S"]), token=token)
    assert reply.body["state"] == "FAILURE" and reply.body["error"] == "Video generation never started"


def test_a_fresh_record_is_served_without_describe_execution(
    stack: Stack, token: str, describe_calls: list[str]
) -> None:
    arn = submit(stack, token).body["task_id"]
    for _ in range(5):
        assert stack.call("GET", task_status(arn), token=token).status == 200
    assert describe_calls == []


def test_a_stale_running_record_is_checked_once_per_stale_period(
    deploy: Callable[..., Stack], describe_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", stale_after_seconds="60")
    token = stack.token()
    arn = submit(stack, token).body["task_id"]
    # The status path's clock, moved by hand: what is measured is calls per stale period, not speed.
    from service.domain import tasks
    from service.models.domain import utcnow

    now = [utcnow() + timedelta(seconds=61)]
    monkeypatch.setattr(tasks, "utcnow", lambda: now[0])
    for _ in range(3):
        assert stack.call("GET", task_status(arn), token=token).body["state"] in {"PENDING", "PROCESSING"}
    assert len(describe_calls) == 1  # then checked_at makes the record fresh again
    now[0] += timedelta(seconds=59)
    stack.call("GET", task_status(arn), token=token)
    assert len(describe_calls) == 1  # within the stale period of the check
    now[0] += timedelta(seconds=2)
    stack.call("GET", task_status(arn), token=token)
    assert len(describe_calls) == 2
    stack.stop_all()


def test_a_caught_failure_answers_500_and_is_counted_for_the_error_alarm(
    deploy: Callable[..., Stack], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a status function whose table is gone (as an AccessDenied would fail it)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    stack = deploy(replicate_base_url="http://127.0.0.1:9", tasks_table="videogen-local-no-such-table")
    # When a client reads a task
    reply = stack.call("GET", task_status(str(uuid.uuid4())), token=stack.token())
    # Then it gets a plain 500, and the function emits InternalErrors (Lambda's Errors stays 0)
    assert reply.status == 500 and reply.body["detail"] == "Internal server error"
    assert "Traceback" not in json.dumps(reply.body)
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')
    ]
    assert [(m["function"], m["InternalErrors"]) for m in emitted if "InternalErrors" in m] == [
        ("status", [1.0])
    ]
