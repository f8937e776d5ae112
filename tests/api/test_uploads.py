"""``POST /api/uploads/`` through the gateway emulator and the authorizer, against moto."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from service.domain.uploads import MAX_UPLOAD_BYTES, UPLOAD_URL_SECONDS
from tests.support import NAMES, Stack

UPLOADS = "/api/uploads/"


@pytest.fixture
def token(stack: Stack) -> str:
    return stack.token("alice")


def ask(stack: Stack, token: str | None, **body: Any) -> Any:
    return stack.call("POST", UPLOADS, token=token, json_body=body)


@pytest.mark.parametrize(
    ("content_type", "ext"), [("image/jpeg", "jpg"), ("IMAGE/PNG", "png"), ("image/webp", "webp")]
)
def test_upload_answers_a_presigned_put_for_exactly_that_type_and_length_and_a_get_for_the_model(
    stack: Stack, token: str, content_type: str, ext: str
) -> None:
    # Given an allowed image type and size
    # When a client asks for an upload
    reply = ask(stack, token, content_type=content_type, content_length=1234, filename="me.jpg")
    # Then it gets a PUT signed over Content-Type and Content-Length, and a GET of the same key
    assert reply.status == 200, reply.body
    assert set(reply.body) == {"upload_url", "method", "headers", "file_url", "expires_in"}
    assert reply.body["method"] == "PUT"
    assert reply.body["headers"] == {"Content-Type": content_type.lower()}
    assert reply.body["expires_in"] == UPLOAD_URL_SECONDS
    put, get = urlsplit(reply.body["upload_url"]), urlsplit(reply.body["file_url"])
    bucket = NAMES.media_bucket
    assert re.fullmatch(rf"/?(?:{bucket}/)?uploads/alice/[0-9a-f-]{{36}}\.{ext}", put.path), put
    assert put.path == get.path
    signed = parse_qs(put.query)
    assert signed["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert signed["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert signed["X-Amz-Expires"] == [str(UPLOAD_URL_SECONDS)]


def test_each_upload_gets_its_own_key(stack: Stack, token: str) -> None:
    urls = {ask(stack, token, content_type="image/png", content_length=10).body["file_url"] for _ in range(3)}
    assert len({urlsplit(u).path for u in urls}) == 3


@pytest.mark.parametrize(
    ("body", "loc", "kind", "says"),
    [
        ({"content_type": "image/gif", "content_length": 10}, ["body", "content_type"], "content_type_not_allowed",
         "'image/jpeg', 'image/png' or 'image/webp'"),
        ({"content_type": "image/png", "content_length": MAX_UPLOAD_BYTES + 1}, ["body", "content_length"],
         "content_length_out_of_range", f"{MAX_UPLOAD_BYTES} bytes (20 MB)"),
        ({"content_type": "image/png", "content_length": 0}, ["body", "content_length"],
         "content_length_out_of_range", "between 1 and"),
        ({"content_type": "image/png"}, ["body", "content_length"], "missing", ""),
        ({"content_type": "image/png", "content_length": 1, "bucket": "x"}, ["body", "bucket"], "extra_forbidden", ""),
    ],
    ids=["type", "too large", "empty", "missing length", "unknown field"],
)  # fmt: skip
def test_bad_uploads_get_422_in_the_service_shape(
    stack: Stack, token: str, body: dict[str, Any], loc: list[str], kind: str, says: str
) -> None:
    reply = ask(stack, token, **body)
    assert reply.status == 422, reply.body
    [item] = reply.body["detail"]
    assert item["loc"] == loc and item["type"] == kind and says in item["msg"]


def test_the_largest_allowed_upload_is_accepted(stack: Stack, token: str) -> None:
    assert ask(stack, token, content_type="image/jpeg", content_length=MAX_UPLOAD_BYTES).status == 200


def test_uploads_need_a_token(stack: Stack) -> None:
    assert ask(stack, None, content_type="image/png", content_length=10).status == 401
    assert ask(stack, "vg_unknown", content_type="image/png", content_length=10).status == 401


def test_owner_is_made_safe_for_the_key() -> None:
    import uuid

    from service.domain.uploads import upload_key

    fixed = uuid.UUID(int=1)
    assert upload_key("team/a b", "image/webp", lambda: fixed) == f"uploads/team_a_b/{fixed}.webp"
