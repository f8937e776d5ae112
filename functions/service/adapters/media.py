"""S3: the finished media, uploaded inputs, and the presigned URLs minted for clients."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from service.adapters import aws

#: Presigned PUTs are signed with SigV4, which signs the Content-Type and Content-Length headers
#: (SigV2 would leave the length unsigned): S3 refuses an upload of any other type or size.
_SIGV4 = Config(signature_version="s3v4")


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
        """An S3 client that presigns with SigV4 (presigning makes no request)."""
        if self._signer is None:
            self._signer = boto3.session.Session().client("s3", config=_SIGV4)
        return self._signer

    def upload(self, path: str, key: str, content_type: str) -> None:
        self.client.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def presigned_get(self, key: str, expires_seconds: int) -> str:
        return str(
            self.client.generate_presigned_url(
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
