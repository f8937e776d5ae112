"""Finalize's composition on real inputs, probed and measured with ffmpeg."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from service.adapters.compose import BANDS, compose, webvtt
from service.models.domain import ComposeSpec, Cue

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
W, H = 640, 360


def make(args: list[str], out: Path) -> Path:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args, str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    gray = ["-f", "lavfi", "-i", f"color=c=gray:s={W}x{H}:r=24"]
    h264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    return {
        "video5": make([*gray, "-t", "5", *h264], folder / "video5.mp4"),
        "video10": make([*gray, "-t", "10", *h264], folder / "video10.mp4"),
        "video4": make([*gray, "-t", "4", *h264], folder / "video4.mp4"),  # a model clip a bit short
        "music": make(["-f", "lavfi", "-i", "sine=f=220:d=12", "-ac", "2"], folder / "music.wav"),
        "voice": make(["-f", "lavfi", "-i", "sine=f=440:d=2"], folder / "voice.wav"),
    }


def info(path: Path) -> str:
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def seconds(path: Path) -> float:
    match = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info(path))
    assert match
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def frame(path: Path, at: float) -> bytes:
    """One frame as 8-bit gray pixels, row by row."""
    return subprocess.run(
        [FFMPEG, "-loglevel", "error", "-ss", str(at), "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def band_difference(a: bytes, b: bytes, band: tuple[float, float]) -> int:
    """How many pixels of a horizontal band clearly differ between two frames (text, not noise)."""
    top, bottom = int(band[0] * H) * W, int(band[1] * H) * W
    return sum(abs(x - y) > 40 for x, y in zip(a[top:bottom], b[top:bottom], strict=True))


def run(tmp_path: Path, source: Path, name: str, duration: int = 5, **kwargs: object) -> Path:
    out = tmp_path / f"{name}.mp4"
    spec = kwargs.pop("spec", ComposeSpec())
    compose(source, out, duration=duration, spec=spec, workdir=tmp_path, **kwargs)  # type: ignore[arg-type]
    return out


CUES = [Cue(start=1.0, end=2.5, text="Hello subtitles")]


@pytest.mark.parametrize(("source", "duration"), [("video5", 5), ("video10", 10), ("video4", 5)])
def test_output_is_exactly_the_requested_length_h264_faststart(
    tmp_path: Path, media: dict[str, Path], source: str, duration: int
) -> None:
    out = run(tmp_path, media[source], "out", duration, music=media["music"])
    assert abs(seconds(out) - duration) <= 0.1
    description = info(out)
    assert "h264" in description and "yuv420p" in description and "aac" in description
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(
    ("music", "voice", "has_audio"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_an_audio_stream_exactly_when_music_or_voice_was_asked(
    tmp_path: Path, media: dict[str, Path], music: bool, voice: bool, has_audio: bool
) -> None:
    out = run(
        tmp_path,
        media["video5"],
        "out",
        spec=ComposeSpec(subtitles=CUES),
        music=media["music"] if music else None,
        voice=media["voice"] if voice else None,
    )
    assert ("Audio:" in info(out)) is has_audio
    assert abs(seconds(out) - 5) <= 0.1


def test_subtitles_are_burned_in_their_band_only_inside_their_time_window(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    plain = run(tmp_path, media["video5"], "plain", music=media["music"])
    for position in ("bottom", "top"):
        subtitled = run(
            tmp_path, media["video5"], position, spec=ComposeSpec(subtitles=CUES, subtitle_position=position)
        )
        inside, outside = frame(subtitled, 1.8), frame(subtitled, 4.0)
        other = "top" if position == "bottom" else "bottom"
        assert band_difference(inside, frame(plain, 1.8), BANDS[position]) > 1000, position
        assert band_difference(inside, frame(plain, 1.8), BANDS[other]) == 0, position
        assert band_difference(outside, frame(plain, 4.0), BANDS[position]) == 0, position


def test_styles_look_different(tmp_path: Path, media: dict[str, Path]) -> None:
    frames = {
        style: frame(
            run(tmp_path, media["video5"], style, spec=ComposeSpec(subtitles=CUES, subtitle_style=style)), 1.8
        )
        for style in ("default", "bold", "minimal")
    }
    assert band_difference(frames["default"], frames["bold"], BANDS["bottom"]) > 500
    assert band_difference(frames["default"], frames["minimal"], BANDS["bottom"]) > 500


def test_text_that_looks_like_markup_is_shown_not_interpreted(tmp_path: Path, media: dict[str, Path]) -> None:
    cues = [Cue(start=0.5, end=3, text=r"{\b1}braces \N and: 'quotes'")]
    out = run(tmp_path, media["video5"], "markup", spec=ComposeSpec(subtitles=cues))
    assert abs(seconds(out) - 5) <= 0.1


def test_webvtt_matches_the_request() -> None:
    cues = [Cue(start=2.5, end=4.0, text="Second"), Cue(start=0, end=2.5, text="First subtitle")]
    assert webvtt(cues) == (
        "WEBVTT\n\n"
        "1\n00:00:00.000 --> 00:00:02.500\nFirst subtitle\n\n"
        "2\n00:00:02.500 --> 00:00:04.000\nSecond\n"
    )


def test_music_is_ducked_under_the_voice(tmp_path: Path, media: dict[str, Path]) -> None:
    """With a voice from 0 to 2 s, the 220 Hz music is quieter there than after the voice ends."""
    out = run(tmp_path, media["video5"], "ducked", music=media["music"], voice=media["voice"])
    music_only = tmp_path / "music_band.raw"
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-i", str(out), "-af", "bandpass=f=220:width_type=q:w=8",
         "-f", "s16le", "-ac", "1", "-ar", "8000", str(music_only)],
        check=True,
    )  # fmt: skip
    samples = memoryview(music_only.read_bytes()).cast("h")

    def rms(start: float, end: float) -> float:
        window = samples[int(start * 8000) : int(end * 8000)]
        return (sum(s * s for s in window) / len(window)) ** 0.5

    assert rms(0.8, 1.8) < 0.6 * rms(3.0, 3.8)
