"""The one typed settings object, read from the environment at cold start.

Every Lambda (and the local twin) builds it once through :func:`get_settings`; the domain
receives plain values from it and never reads ``os.environ`` itself.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of every function; CDK and the twin set these from the function catalog."""

    model_config = SettingsConfigDict(env_prefix="VIDEOGEN_", extra="ignore", frozen=True)

    # Resources
    tasks_table: str = "videogen-tasks"
    tokens_table: str = "videogen-tokens"
    media_bucket: str = "videogen-media"
    state_machine_arn: str = ""
    replicate_secret_name: str = "videogen/replicate-api-token"

    # Replicate
    replicate_base_url: str | None = Field(
        default=None, description="Overrides api.replicate.com (twin, tests)"
    )
    transition_model: str = "kwaivgi/kling-v1.6-pro"
    dream_model: str = "kwaivgi/kling-v1.6-standard"
    # Community models: pin a version for production ("owner/name:version").
    music_model: str = "meta/musicgen"
    tts_model: str = "jaaari/kokoro-82m"
    secret_max_age_seconds: int = 300

    # Behaviour
    presign_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    stale_after_seconds: float = Field(
        default=60.0,
        ge=0,
        description="A non-terminal record older than this is checked with DescribeExecution",
    )
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After hint on non-terminal status")
    task_ttl_days: int = Field(default=30, ge=1)
    download_timeout_seconds: float = 120.0
    max_video_bytes: int = 500 * 1024 * 1024


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, validated once (cold start)."""
    return Settings()
