"""Input images uploaded by clients: what may be uploaded, where it goes, and the two URLs.

A client asks for an upload, PUTs the file straight to S3 with the presigned URL (the signature
covers the content type and the exact length, so S3 refuses any other file), then sends the
presigned GET (``file_url``) as ``front_image``/``tail_image``. Nothing passes through Lambda.
Objects live under ``uploads/<owner>/`` and expire after a day (bucket lifecycle rule).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from service.adapters.media import MediaStore
from service.catalog import UPLOAD_PREFIX

#: Content type → file extension of the object key: the image formats the models read.
UPLOAD_TYPES: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Both URLs stay valid this long: enough to upload, submit, and for the model to fetch the image.
UPLOAD_URL_SECONDS = 3600

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]")


@dataclass(frozen=True)
class UploadTicket:
    upload_url: str
    content_type: str
    file_url: str
    expires_in: int


def upload_key(owner: str, content_type: str, new_id: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """``uploads/<owner>/<uuid>.<ext>``; the owner is reduced to characters safe in a key."""
    safe_owner = _UNSAFE_KEY_CHARS.sub("_", owner)[:128] or "_"
    return f"{UPLOAD_PREFIX}{safe_owner}/{new_id()}.{UPLOAD_TYPES[content_type]}"


def prepare_upload(
    media: MediaStore,
    owner: str,
    content_type: str,
    content_length: int,
    *,
    expires_in: int = UPLOAD_URL_SECONDS,
) -> UploadTicket:
    """A presigned PUT for exactly this type and length, and the GET the model will fetch."""
    key = upload_key(owner, content_type)
    return UploadTicket(
        upload_url=media.presigned_put(key, content_type, content_length, expires_in),
        content_type=content_type,
        file_url=media.presigned_get(key, expires_in),
        expires_in=expires_in,
    )
