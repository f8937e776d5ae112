"""API payloads of ``POST /api/uploads/``: the upload request and the presigned URLs answered."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError

from service.domain.uploads import MAX_UPLOAD_BYTES, UPLOAD_TYPES, UploadTicket
from service.models.base import Model
from service.models.text import plain_text

_MB = 1024 * 1024
_QUOTED = [f"'{t}'" for t in UPLOAD_TYPES]
_ALLOWED = f"{', '.join(_QUOTED[:-1])} or {_QUOTED[-1]}"


def _content_type(value: Any) -> Any:
    """Any spelling of an allowed type (``IMAGE/PNG``); anything else names the allowed ones."""
    if not isinstance(value, str):
        return value
    folded = value.strip().casefold()
    if folded not in UPLOAD_TYPES:
        raise PydanticCustomError(
            "content_type_not_allowed",
            "content_type must be {allowed}",
            {"allowed": _ALLOWED},
        )
    return folded


def _content_length(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not 0 < value <= MAX_UPLOAD_BYTES:
        raise PydanticCustomError(
            "content_length_out_of_range",
            "content_length must be between 1 and {max} bytes ({mb} MB)",
            {"max": MAX_UPLOAD_BYTES, "mb": MAX_UPLOAD_BYTES // _MB},
        )
    return value


class UploadRequest(Model):
    """Body of ``POST /api/uploads/``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    content_type: Annotated[str, BeforeValidator(_content_type)] = Field(
        description=f"One of: {', '.join(UPLOAD_TYPES)}"
    )
    #: Strict: "100000000000", 1e12 and true are refused, not coerced into a size to sign.
    content_length: Annotated[StrictInt, BeforeValidator(_content_length)] = Field(
        description=f"Size of the file in bytes, at most {MAX_UPLOAD_BYTES} ({MAX_UPLOAD_BYTES // _MB} MB)"
    )
    filename: Annotated[str, plain_text()] | None = Field(
        default=None, max_length=255, description="The file's name on the client (for logs only)"
    )


class UploadResponse(Model):
    """PUT the file to ``upload_url`` with ``headers``, then send ``file_url`` as an image URL."""

    upload_url: str = Field(description="Presigned S3 PUT for exactly this content type and length")
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="Headers the PUT must carry")
    file_url: str = Field(description="Presigned GET of the uploaded file: use as front_image/tail_image")
    expires_in: int = Field(description="Seconds both URLs stay valid")

    @classmethod
    def of(cls, ticket: UploadTicket) -> UploadResponse:
        return cls(
            upload_url=ticket.upload_url,
            headers={"Content-Type": ticket.content_type},
            file_url=ticket.file_url,
            expires_in=ticket.expires_in,
        )
