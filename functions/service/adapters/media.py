"""S3: the finished media, uploaded inputs, and the presigned URLs minted for clients."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from service.adapters import aws


def signing_config(environ: Mapping[str, str] = os.environ) -> Config:
    """How every presigned URL is signed: SigV4 (``X-Amz-Algorithm=AWS4-HMAC-SHA256``), which signs
    a PUT's Content-Type and Content-Length (S3 then refuses any other file) and is the only
    signature newer regions accept, on the bucket's regional endpoint
    (``<bucket>.s3.<region>.amazonaws.com``, us-east-1 included). boto3's defaults sign GETs with
    SigV2 and put them on the global endpoint, where a SigV4 URL for a bucket outside us-east-1 is
    redirected to a host its signature does not cover.

    A custom endpoint (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``: the twin, whose one address
    proxies ``/<bucket>/...`` to moto) keeps path-style URLs: a bucket cannot be a subdomain of an
    IP address or of ``localhost``."""
    custom = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if custom else "virtual", "us_east_1_regional_endpoint": "regional"},
    )


class MediaStore:
    def __init__(self, bucket: str, client: Any = None, signer: Any = None) -> None:
        self.bucket = bucket
        self._client = client
        self._signer = signer

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("s3")
        return self._client

    @property
    def signer(self) -> Any:
        """The S3 client that presigns (presigning makes no request): see :func:`signing_config`."""
        if self._signer is None:
            self._signer = boto3.session.Session().client("s3", config=signing_config())
        return self._signer

    def upload(self, path: str, key: str, content_type: str) -> None:
        self.client.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def delete(self, keys: list[str]) -> None:
        """Remove objects (absent ones are no error). One DeleteObjects call per 1,000 keys."""
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            answer = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            if answer.get("Errors"):
                raise RuntimeError(
                    f"S3 refused to delete {len(answer['Errors'])} object(s): {answer['Errors'][0]}"
                )

    def presigned_get(self, key: str, expires_seconds: int) -> str:
        return str(
            self.signer.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        )

    def presigned_put(self, key: str, content_type: str, content_length: int, expires_seconds: int) -> str:
        """A PUT URL valid only with ``Content-Type: content_type`` and exactly ``content_length`` bytes."""
        return str(
            self.signer.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentType": content_type,
                    "ContentLength": content_length,
                },
                ExpiresIn=expires_seconds,
            )
        )
