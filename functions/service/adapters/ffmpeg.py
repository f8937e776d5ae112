"""ffmpeg for the workflow (the static binary shipped by imageio-ffmpeg; there is no ffprobe)."""

from __future__ import annotations

import re
import subprocess
from functools import cache

from service.domain.errors import OutputUnavailable

_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")


@cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # imported here: only the functions that run ffmpeg pay for it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def probe(path: str) -> str:
    """ffmpeg's description of a media file (``ffmpeg -i`` prints it on stderr)."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", path], capture_output=True, text=True, timeout=60
    )
    return result.stderr


def video_seconds(path: str) -> float:
    """Duration of a video, or OutputUnavailable if ffmpeg does not see a video stream in it."""
    info = probe(path)
    match = _DURATION.search(info)
    if match is None or "Video:" not in info:
        raise OutputUnavailable("The model's output is not a readable video")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def thumbnail(video_path: str, jpeg_path: str, at_seconds: float) -> None:
    """One JPEG frame at ``at_seconds`` (scaled to 640 px wide at most)."""
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-ss", f"{at_seconds:.3f}", "-i", video_path,
        "-frames:v", "1", "-vf", "scale='min(640,iw)':-2", "-q:v", "3", jpeg_path,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise OutputUnavailable(f"Could not make a thumbnail of the video: {result.stderr.strip()[-300:]}")
