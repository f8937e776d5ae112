"""Every class of bad input is refused with a clear, specific 4xx, and nothing is written or started:
control characters, coerced numbers, non-object bodies, blank text, wrong content types, deep or
huge JSON. Never a 5xx for something a client sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.adapters import aws
from service.handlers.http import MAX_BODY_BYTES, MAX_JSON_DEPTH
from tests.support import NAMES, Reply, Stack, transition_body

CREATE = "/api/transitions/create-and-generate/"
UPLOADS = "/api/uploads/"
#: The issue's subtitle: carriage returns that libass reads as line breaks, smuggling in ASS sections.
ASS_INJECTION = (
    "a\r[V4+ Styles]\rStyle: X,Arial,150\r[Events]\rDialogue: 0,0:00:00.00,0:00:06.00,X,,0,0,0,,PWNED"
)


@pytest.fixture
def token(stack: Stack) -> str:
    return stack.token("alice")


def records() -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName=NAMES.table("tasks"))["Items"]
    return [i for i in items if i["task_id"]["S"] != "#counter"]


def raw(stack: Stack, token: str, path: str, body: str | bytes, content_type: str | None) -> Reply:
    headers = {"Content-Type": content_type} if content_type else {}
    data = body.encode() if isinstance(body, str) else body
    return stack.call("POST", path, token=token, raw_body=data, headers=headers)


def assert_422(reply: Reply, loc: list[Any], kind: str, says: str = "") -> None:
    assert reply.status == 422, reply.body
    [item] = reply.body["detail"]
    assert (item["loc"], item["type"]) == (loc, kind), item
    assert says in item["msg"] and len(item["msg"]) > 10, item


def assert_nothing_happened(stack: Stack) -> None:
    assert records() == [] and stack.executions() == []


# -- control characters ---------------------------------------------------------------------------
def cue(text: str) -> list[dict[str, Any]]:
    return [{"startTime": 0, "endTime": 1, "text": text}]


CONTROL_CASES: list[tuple[str, dict[str, Any], list[Any], str]] = [
    ("subtitle carriage returns (ASS injection)", {"subtitles": cue(ASS_INJECTION)},
     ["body", "subtitles", 0, "text"], "a carriage return (U+000D) at position 1"),
    ("prompt vertical tab", {"prompt": "a\x0bb"}, ["body", "prompt"], "a vertical tab (U+000B)"),
    ("voiceover form feed", {"enable_voiceover": True, "voiceover_text": "hi\x0cthere"},
     ["body", "voiceover_text"], "a form feed (U+000C)"),
    ("prompt NUL", {"prompt": "nul\x00"}, ["body", "prompt"], "a NUL character (U+0000)"),
    ("subtitle line separator", {"subtitles": cue("a\u2028b")}, ["body", "subtitles", 0, "text"],
     "a line separator (U+2028)"),
    ("prompt paragraph separator", {"prompt": "a\u2029b"}, ["body", "prompt"], "a paragraph separator (U+2029)"),
    ("prompt escape", {"prompt": "\x1b[31mred"}, ["body", "prompt"], "an escape character (U+001B)"),
    ("prompt C1 control", {"prompt": "a\x85b"}, ["body", "prompt"], "a next-line character (U+0085)"),
    ("prompt tab", {"prompt": "a\tb"}, ["body", "prompt"], "a tab (U+0009)"),
    ("trailing carriage return", {"prompt": "line\r"}, ["body", "prompt"], "a carriage return"),
    ("image URL line feed", {"front_image": "https://example.com/a\n.jpg"}, ["body", "front_image"],
     "a line feed (U+000A)"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "fields", "loc", "says"), CONTROL_CASES, ids=[c[0] for c in CONTROL_CASES])
def test_control_characters_are_refused_in_every_text_field(
    stack: Stack, token: str, case: str, fields: dict[str, Any], loc: list[Any], says: str
) -> None:
    reply = stack.call("POST", CREATE, token=token, json_body=transition_body(**fields))
    assert_422(reply, loc, "control_character", says)
    assert_nothing_happened(stack)


def test_a_lone_surrogate_is_refused_not_a_500(stack: Stack, token: str) -> None:
    body = json.dumps(transition_body()).replace('"Dynamic video transition"', '"bad \\ud800 text"')
    reply = raw(stack, token, CREATE, body, "application/json")
    assert_422(reply, ["body", "prompt"], "control_character", "lone surrogate (U+D800)")
    assert_nothing_happened(stack)


def test_line_breaks_are_allowed_where_text_has_lines(stack: Stack, token: str) -> None:
    body = transition_body(
        prompt="first line\nsecond line",
        subtitles=cue("two\nlines"),
        enable_voiceover=True,
        voiceover_text="Hello.\nGoodbye.",
    )
    assert stack.call("POST", CREATE, token=token, json_body=body).status == 202
    stack.stop_all()


@pytest.mark.parametrize(
    ("dream", "says"),
    [("a%0Ab", "a line feed"), ("a%0Db", "a carriage return"), ("a%E2%80%A8b", "a line separator"),
     ("a%00b", "a NUL character")],
    ids=["line feed", "carriage return", "line separator", "NUL"],
)  # fmt: skip
def test_a_dream_is_one_line_of_plain_text(stack: Stack, token: str, dream: str, says: str) -> None:
    reply = stack.call("POST", f"/generate-video?dream={dream}&style=Animated", token=token)
    assert_422(reply, ["query", "dream"], "control_character", says)
    assert_nothing_happened(stack)


def test_an_upload_filename_with_control_characters_is_refused(stack: Stack, token: str) -> None:
    body = {"content_type": "image/png", "content_length": 10, "filename": "a\x1b]0;pwned\x07.png"}
    assert_422(
        stack.call("POST", UPLOADS, token=token, json_body=body), ["body", "filename"], "control_character"
    )


# -- numbers: no coercion -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "kind"),
    [("100000000000", "int_type"), (1e12, "int_type"), (100.0, "int_type"), (True, "int_type"),
     (-5, "content_length_out_of_range"), (None, "int_type")],
    ids=["string", "exponent float", "integral float", "boolean", "negative", "null"],
)  # fmt: skip
def test_upload_sizes_are_strict_integers(stack: Stack, token: str, value: Any, kind: str) -> None:
    reply = stack.call(
        "POST", UPLOADS, token=token, json_body={"content_type": "image/png", "content_length": value}
    )
    assert_422(reply, ["body", "content_length"], kind)


@pytest.mark.parametrize("value", ["5", 5.0, True], ids=["string", "float", "boolean"])
def test_duration_is_a_strict_integer(stack: Stack, token: str, value: Any) -> None:
    assert_422(
        stack.call("POST", CREATE, token=token, json_body=transition_body(duration=value)),
        ["body", "duration"],
        "int_type",
    )
    assert_nothing_happened(stack)


@pytest.mark.parametrize(
    ("start", "kind"),
    [("0.5", "float_type"), (True, "float_type"), ("NaN", "finite_number"), ("Infinity", "finite_number")],
    ids=["string", "boolean", "NaN", "Infinity"],
)
def test_subtitle_times_are_finite_json_numbers(stack: Stack, token: str, start: Any, kind: str) -> None:
    body = json.dumps(transition_body(subtitles=[{"startTime": "START", "endTime": 2, "text": "x"}]))
    literal = start if start in ("NaN", "Infinity") else json.dumps(start)
    reply = raw(stack, token, CREATE, body.replace('"START"', literal), "application/json")
    assert_422(reply, ["body", "subtitles", 0, "startTime"], kind)
    assert_nothing_happened(stack)


def test_subtitle_times_accept_json_integers(stack: Stack, token: str) -> None:
    body = transition_body(subtitles=[{"startTime": 0, "endTime": 2, "text": "x"}])
    assert stack.call("POST", CREATE, token=token, json_body=body).status == 202
    stack.stop_all()


@pytest.mark.parametrize("flag", ["true", 1], ids=["string", "integer"])
def test_switches_are_json_booleans(stack: Stack, token: str, flag: Any) -> None:
    reply = stack.call("POST", CREATE, token=token, json_body=transition_body(enable_music=flag))
    assert_422(reply, ["body", "enable_music"], "bool_type")


# -- the body itself ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [json.dumps([transition_body()]), "null", "42", '"a string"', "true"],
    ids=["array of a valid request", "null", "number", "string", "boolean"],
)
def test_a_body_that_is_not_a_json_object_is_refused(stack: Stack, token: str, body: str) -> None:
    reply = raw(stack, token, CREATE, body, "application/json")
    assert_422(reply, ["body"], "model_attributes_type", "must be a JSON object")
    assert_nothing_happened(stack)


@pytest.mark.parametrize(
    ("content_type", "says"),
    [("text/plain", "'text/plain'"), ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
     (None, "none"), ("application/jsonx", "'application/jsonx'")],
    ids=["text", "form", "missing", "lookalike"],
)  # fmt: skip
def test_a_body_labelled_as_anything_but_json_is_415(
    stack: Stack, token: str, content_type: str | None, says: str
) -> None:
    reply = raw(stack, token, CREATE, json.dumps(transition_body()), content_type)
    assert reply.status == 415, reply.body
    assert reply.body == {"detail": f"Content-Type must be application/json (got {says})"}
    assert_nothing_happened(stack)
    upload = raw(stack, token, UPLOADS, '{"content_type": "image/png", "content_length": 1}', content_type)
    assert upload.status == 415


def test_json_with_parameters_is_json(stack: Stack, token: str) -> None:
    reply = raw(stack, token, CREATE, json.dumps(transition_body()), "Application/JSON; charset=utf-8")
    assert reply.status == 202, reply.body
    stack.stop_all()


def test_deeply_nested_json_is_a_4xx_not_a_crash(stack: Stack, token: str) -> None:
    # The body: 100,000 nested brackets (a 500 before: RecursionError). Too large, first.
    assert raw(stack, token, CREATE, "[" * 100_000 + "]" * 100_000, "application/json").status == 413
    deep = '{"prompt": ' + "[" * 5_000 + "]" * 5_000 + "}"  # deep enough to crash a parser, small
    assert_422(
        raw(stack, token, CREATE, deep, "application/json"),
        ["body"],
        "json_too_deep",
        f"at most {MAX_JSON_DEPTH} levels",
    )
    nested = {"prompt": "x", "front_image": {"a": [[[[[]]]]]}}  # a little nesting is a normal 422
    assert stack.call("POST", CREATE, token=token, json_body=transition_body(**nested)).status == 422
    assert_nothing_happened(stack)


def test_brackets_inside_strings_are_not_nesting(stack: Stack, token: str) -> None:
    reply = stack.call("POST", CREATE, token=token, json_body=transition_body(prompt="[" * 100 + '"\\{'))
    assert reply.status == 202, reply.body
    stack.stop_all()


def test_an_oversized_body_is_413(stack: Stack, token: str) -> None:
    body = json.dumps(transition_body(prompt="x" * MAX_BODY_BYTES))
    reply = raw(stack, token, CREATE, body, "application/json")
    assert reply.status == 413 and reply.body == {"detail": "Request body too large: at most 64 KB"}
    assert_nothing_happened(stack)


def test_an_integer_too_long_to_read_is_a_422(stack: Stack, token: str) -> None:
    body = json.dumps(transition_body()).replace('"duration": 5', '"duration": ' + "9" * 5000)
    assert_422(raw(stack, token, CREATE, body, "application/json"), ["body"], "json_invalid")


# -- blank text -----------------------------------------------------------------------------------------
def test_a_whitespace_only_dream_is_refused(stack: Stack, token: str) -> None:
    reply = stack.call("POST", "/generate-video?dream=%20%20%20&style=Animated", token=token)
    assert_422(reply, ["query", "dream"], "blank_text", "dream must not be blank")
    assert_nothing_happened(stack)


def test_a_whitespace_only_prompt_is_refused_but_an_empty_one_means_none(stack: Stack, token: str) -> None:
    reply = stack.call("POST", CREATE, token=token, json_body=transition_body(prompt="   "))
    assert_422(reply, ["body", "prompt"], "blank_text", 'send text, or "" for no prompt')
    assert_nothing_happened(stack)
    assert stack.call("POST", CREATE, token=token, json_body=transition_body(prompt="")).status == 202
    stack.stop_all()
