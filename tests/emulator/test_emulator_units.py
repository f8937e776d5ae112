"""Unit tests for the emulator's pure parts: escaping, probing, progress lines, faults, registry, fetching."""

from __future__ import annotations

import base64
import importlib.resources
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from replicate.prediction import Prediction

from replicate_emulator import models, render
from replicate_emulator.errors import InputValidationError, PredictionError
from replicate_emulator.faults import Faults, FaultsError, FaultState, coerce_fault_updates
from replicate_emulator.fetch import fetch_input

from .helpers import make_image

# --------------------------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("prompt", "effect"),
    [
        ("A Smooth glide", "fade"),
        ("energetic!", "slideleft"),
        ("DRAMATIC reveal", "fadeblack"),
        ("dreamy haze", "dissolve"),
        ("zoom in on the cat", "zoomin"),
        ("a glitch in time", "pixelize"),
        ("nothing special", "fade"),
        ("zoom, then energetic", "zoomin"),  # earliest keyword wins
    ],
)
def test_choose_transition(prompt: str, effect: str) -> None:
    assert render.choose_transition(prompt) == effect


@pytest.mark.parametrize(
    ("prompt", "style"),
    [
        ("Photorealistic mountains", "realistic"),
        ("a realistic cat", "realistic"),
        ("animated otters", "animated"),
        ("Cartoon dog", "animated"),
        ("cursed photorealistic doll", "cursed"),
        ("something unsettling", "cursed"),
        ("a quiet lake", "dreamy"),
    ],
)
def test_choose_dream_style(prompt: str, style: str) -> None:
    assert render.choose_dream_style(prompt) == style


def test_escape_filter_value_survives_both_unescaping_levels() -> None:
    assert render.escape_filter_value("a'b:c") == "a\\\\\\'b\\\\:c"
    assert render.escape_filter_value("x,y;[z]") == "x\\,y\\;\\[z\\]"
    assert render.escape_filter_value("plain/path.ttf") == "plain/path.ttf"


@pytest.fixture
def nasty_font(tmp_path: Path) -> Iterator[Path]:
    font = render.find_font()
    if font is None:
        pytest.skip("no TTF font on this machine")
    folder = tmp_path / "we'ird:dir,[x];y\\z"
    folder.mkdir()
    copy = folder / "Fo'nt:1.ttf"
    shutil.copy(font, copy)
    yield copy


def test_drawtext_with_special_characters_in_paths_and_text(nasty_font: Path, tmp_path: Path) -> None:
    fmt = render.ASPECT_RATIOS["16:9"]
    text_file = nasty_font.parent / "cap'tion:[1].txt"
    text_file.write_text("it's 100% {x} %{pts} \\ [a]; b,c", encoding="utf-8")
    out = tmp_path / "card.mp4"
    graph = f"[0:v]{render.drawtext_filter(nasty_font, text_file, fmt)}[out]"
    job = render.FfmpegJob(
        inputs=["-f", "lavfi", "-i", f"color=c=black:s={fmt.size}:r=24:d=0.25"],
        filtergraph=graph,
        output_args=render.h264_output_args(fmt, 6),
        duration_s=0.25,
        total_frames=6,
    )
    proc = subprocess.run(render.build_command(job, out, render.Pacing()), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert render.probe(out).video_codec == "h264"


def test_caption_text_is_truncated_wrapped_and_printable() -> None:
    caption = render.caption_text("word " * 30 + "\x00\x07tail", max_chars=60, width_chars=30)
    assert caption.endswith("…") and len(caption.replace("\n", " ")) <= 60
    assert all(len(line) <= 30 for line in caption.splitlines())
    assert render.caption_text("a\tb\nc") == "a b c"


def test_parse_probe_output() -> None:
    stderr = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'out.mp4':\n"
        "  Duration: 00:00:05.04, start: 0.000000, bitrate: 92 kb/s\n"
        "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), "
        "640x360 [SAR 1:1 DAR 16:9], 89 kb/s, 24 fps, 24 tbr, 12288 tbn (default)\n"
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 2 kb/s\n"
    )
    info = render.parse_probe_output(stderr)
    assert info == render.MediaInfo(5.04, "h264", "yuv420p", 640, 360, 24.0, True, "aac")
    assert render.parse_probe_output("garbage").duration_s is None


@pytest.mark.parametrize(("current", "total"), [(0, 120), (48, 120), (119, 120), (120, 120), (7, 9)])
def test_tqdm_line_is_parsed_by_the_replicate_client(current: int, total: int) -> None:
    line = render.tqdm_line(current, total, elapsed_s=2.0)
    progress = Prediction.Progress.parse(f"some log\n{line}\n")
    assert progress is not None
    assert (progress.current, progress.total) == (current, total)
    assert progress.percentage == int(100 * current / total) / 100


def test_transition_job_lasts_exactly_the_duration() -> None:
    for duration in (5, 10):
        job = render.transition_job(
            Path("a.png"), Path("b.png"), render.ASPECT_RATIOS["1:1"], duration, "fade"
        )
        assert job.total_frames == duration * 24
        assert job.output_args[:2] == ["-frames:v", str(duration * 24)]


def test_pacing_filter() -> None:
    assert render.Pacing().filter_suffix("video") == ""
    assert render.Pacing(speed=2.5).filter_suffix("video").startswith("realtime=speed=2.500000")
    stall = render.Pacing(stall_at_s=2).filter_suffix("audio")
    assert stall.startswith("asendcmd=c='2.000 arealtime speed") and "arealtime=speed=" in stall


def test_find_font_honours_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    render.find_font.cache_clear()
    try:
        monkeypatch.setenv("VIDEOGEN_EMULATOR_FONT", "")
        assert render.find_font() is None
        render.find_font.cache_clear()
        font = tmp_path / "x.ttf"
        font.write_bytes(b"fake")
        monkeypatch.setenv("VIDEOGEN_EMULATOR_FONT", str(font))
        assert render.find_font() == font
    finally:
        render.find_font.cache_clear()


def test_decode_image_rejects_non_images(tmp_path: Path) -> None:
    canvas = render.VideoFormat(64, 36)
    good = render.decode_image(
        make_image(tmp_path / "in.png", "testsrc2=s=100x100"), tmp_path / "o.png", canvas, "x"
    )
    assert (render.probe(good).width, render.probe(good).height) == (64, 36)
    (tmp_path / "bad").write_bytes(b"\x00not an image" * 10)
    with pytest.raises(PredictionError, match=r"^Could not decode start_image as an image$"):
        render.decode_image(tmp_path / "bad", tmp_path / "o2.png", canvas, "start_image")


# --------------------------------------------------------------------------------------------- fetch


def test_fetch_data_uris(tmp_path: Path) -> None:
    payload = b"\x89PNG fake bytes"
    b64 = f"data:image/png;base64,{base64.b64encode(payload).decode()}"
    assert fetch_input(b64, tmp_path / "a", "start_image").read_bytes() == payload
    assert fetch_input("data:text/plain,hello%20world", tmp_path / "b", "x").read_bytes() == b"hello world"
    with pytest.raises(
        PredictionError, match=r"^Could not fetch start_image from data:image/png;base64,…: larger"
    ):
        fetch_input(b64, tmp_path / "c", "start_image", max_bytes=4)
    with pytest.raises(PredictionError, match="unsupported URL scheme 'ftp'"):
        fetch_input("ftp://example.com/x.png", tmp_path / "d", "end_image")


# --------------------------------------------------------------------------------------------- faults


def test_fault_updates_are_validated_and_coerced() -> None:
    updates = coerce_fault_updates(
        {"abort": ["a/b"], "never_finish": "*", "latency_s": 1, "throttle_gets": 2}
    )
    assert updates == {"abort": {"a/b"}, "never_finish": {"*"}, "latency_s": 1.0, "throttle_gets": 2}
    for bad in ({"throttle_creates": -1}, {"throttle_creates": 1.5}, {"fail": ["x"]}, {"nope": 1}, [1]):
        with pytest.raises(FaultsError):
            coerce_fault_updates(bad)


def test_fault_counters_decrement_atomically_and_reset_in_place() -> None:
    state = FaultState()
    faults = state.faults
    faults.throttle_creates = 2
    assert [state.take("throttle_creates") for _ in range(3)] == [True, True, False]
    faults.fail = {"*": "x"}
    state.reset()
    assert state.faults is faults and faults == Faults()


def test_fault_model_matching() -> None:
    faults = Faults(fail={"a/b": "boom", "*": "any"}, abort={"c/d"}, never_finish={"*"})
    assert faults.failure_for("a/b") == "boom" and faults.failure_for("x/y") == "any"
    assert faults.aborts("c/d") and not faults.aborts("a/b")
    assert faults.never_finishes("anything/else")


# --------------------------------------------------------------------------------------------- registry


def test_registry_resolves_versions() -> None:
    spec = models.MODELS["kwaivgi/kling-v1.6-pro"]
    assert models.resolve_version("kwaivgi/kling-v1.6-pro") is spec
    assert models.resolve_version(f"kwaivgi/kling-v1.6-pro:{spec.version}") is spec
    assert models.resolve_version(spec.version) is spec
    assert models.resolve_version("kwaivgi/kling-v1.6-pro:deadbeef") is None
    assert models.resolve_version("acme/nope") is None
    assert spec.version != models.MODELS["kwaivgi/kling-v1.6-standard"].version


def test_kling_input_defaults_and_coercion() -> None:
    spec = models.MODELS["kwaivgi/kling-v1.6-standard"]
    clean = spec.validate({"prompt": "p", "duration": 10.0, "extra": "ignored"})
    assert clean["duration"] == 10 and clean["aspect_ratio"] == "16:9" and clean["start_image"] is None
    assert "extra" not in clean
    with pytest.raises(InputValidationError) as excinfo:
        spec.validate({"prompt": None, "duration": True, "cfg_scale": 3})
    assert [f.field for f in excinfo.value.invalid_fields] == [
        "input.prompt",
        "input.duration",
        "input.cfg_scale",
    ]
    assert "input.cfg_scale: cfg_scale must be less than or equal to 1" in excinfo.value.detail


def test_openapi_schema_describes_inputs() -> None:
    schema = models.MODELS["kwaivgi/kling-v1.6-pro"].openapi_schema()
    props = schema["components"]["schemas"]["Input"]["properties"]
    assert props["duration"]["enum"] == [5, 10] and props["start_image"]["format"] == "uri"
    assert schema["components"]["schemas"]["Input"]["required"] == ["prompt"]


def test_shipped_example_assets_are_small_distinct_720p_jpegs() -> None:
    assets = Path(str(importlib.resources.files("twin") / "assets"))
    front, tail = assets / "front.jpg", assets / "tail.jpg"
    for image in (front, tail):
        info = render.probe(image)
        assert (info.video_codec, info.width, info.height) == ("mjpeg", 1280, 720)
        assert image.stat().st_size < 60 * 1024
    assert front.read_bytes() != tail.read_bytes()
