"""Point 6 of issue 11: every presigned URL is SigV4 on the bucket's regional endpoint; on a custom
endpoint (the twin's one address) it stays path-style."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from service.adapters.media import MediaStore

BUCKET = "videogen-prod-media"


def urls(store: MediaStore) -> dict[str, str]:
    return {
        "get": store.presigned_get("videos/task.mp4", 3600),
        "put": store.presigned_put("uploads/alice/x.png", "image/png", 4, 3600),
    }


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_presigned_urls_are_sigv4_on_the_regional_endpoint(
    region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    for method, url in urls(MediaStore(BUCKET)).items():
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        assert parts.scheme == "https" and parts.netloc == f"{BUCKET}.s3.{region}.amazonaws.com", (
            method,
            url,
        )
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"], method
        assert query["X-Amz-Credential"][0].endswith(f"/{region}/s3/aws4_request"), method
        assert "AWSAccessKeyId" not in query and "Signature" not in query, f"SigV2: {url}"
    put = parse_qs(urlsplit(urls(MediaStore(BUCKET))["put"]).query)
    assert put["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
def test_a_custom_endpoint_keeps_path_style_urls(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:8000")
    for url in urls(MediaStore(BUCKET)).values():
        assert url.startswith(f"http://127.0.0.1:8000/{BUCKET}/"), url
        assert parse_qs(urlsplit(url).query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
