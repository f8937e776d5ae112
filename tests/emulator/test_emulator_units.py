"""Unit tests for the emulator's pure parts: escaping, probing, progress lines, faults, registry, fetching."""

from __future__ import annotations

import base64
import importlib.resources
import subprocess
from pathlib import Path

import pytest
from replicate.prediction import Prediction

from replicate_emulator import models, render, video
from replicate_emulator.config import ConfigError, coerce_config_updates
from replicate_emulator.errors import InputValidationError, PredictionError
from replicate_emulator.faults import Faults, FaultsError, FaultState, coerce_fault_updates
from replicate_emulator.fetch import fetch_input
from replicate_emulator.limits import RateLimiter, retry_after_seconds, throttled_detail
from service.model_catalog import catalog

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


def test_subtitles_filter_survives_special_characters_in_paths(tmp_path: Path) -> None:
    from service.adapters.fonts import FONTS_DIR, fontconfig_env

    folder = tmp_path / "we'ird:dir,[x];y\\z"
    folder.mkdir()
    ass = folder / "cap'tion:[1].ass"
    fmt = render.ASPECT_RATIOS["16:9"]
    ass.write_text(video.caption_ass("it's 100% {x} %{pts} \\ [a]; b,c", fmt), encoding="utf-8")
    out = tmp_path / "card.mp4"
    job = render.FfmpegJob(
        inputs=["-f", "lavfi", "-i", f"color=c=black:s={fmt.size}:r=24:d=0.25"],
        filtergraph=f"[0:v]{render.subtitles_filter(ass, FONTS_DIR)}[out]",
        output_args=render.h264_output_args(fmt, 6),
        duration_s=0.25,
        total_frames=6,
        env=fontconfig_env(),
    )
    proc = subprocess.run(
        render.build_command(job, out, render.Pacing()), capture_output=True, text=True, env=job.env
    )
    assert proc.returncode == 0, proc.stderr
    assert render.probe(out).video_codec == "h264"


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        (
            "Animated cartoon of a dream: \u201ca whale over Paris\u201d. Bright colours.",
            "a whale over Paris",
        ),
        ("Dream: \u201cshe said \u201chi\u201d twice\u201d. Eerie.", "she said \u201chi\u201d twice"),
        ("no quotes at all", "no quotes at all"),
        ("only \u201copening", "only \u201copening"),
    ],
)
def test_the_dream_card_shows_the_words_between_the_outer_quotes(prompt: str, words: str) -> None:
    assert video.user_words(prompt) == words


def test_caption_size_fits_long_dreams_and_caps_short_ones() -> None:
    fmt = render.ASPECT_RATIOS["16:9"]
    assert video.caption_size("a cat", fmt) == int(fmt.height / 11)
    long = video.caption_size("word " * 200, fmt)
    assert 10 <= long < video.caption_size("word " * 20, fmt)
    assert video.caption_size("\u65e5" * 300, fmt) < video.caption_size("a" * 300, fmt)  # CJK glyphs are wide


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


def test_the_emulator_serves_every_catalog_model_with_the_catalogs_versions() -> None:
    assert models.unserved_models() == []
    for entry in catalog().models.values():
        assert models.MODELS[entry.id].version == entry.version and len(entry.version) == 64


def test_versions_resolve_as_replicate_resolves_them() -> None:
    pro = models.MODELS["kwaivgi/kling-v1.6-pro"]
    musicgen = models.MODELS["meta/musicgen"]
    assert models.resolve_version(pro.version) is pro
    assert models.resolve_version("kwaivgi/kling-v1.6-pro") is pro  # official: by name
    assert models.resolve_version(f"kwaivgi/kling-v1.6-pro:{pro.version}") is pro
    assert models.resolve_version(musicgen.version) is musicgen
    assert models.resolve_version(f"meta/musicgen:{musicgen.version}") is musicgen
    assert models.resolve_version("meta/musicgen") is None  # community: never by name
    assert models.resolve_version("kwaivgi/kling-v1.6-pro:" + "0" * 64) is None
    assert models.resolve_version("f" * 64) is None
    assert models.resolve_version("acme/nope") is None


def test_validation_is_a_json_schema_check_without_coercion() -> None:
    spec = models.MODELS["kwaivgi/kling-v1.6-standard"]
    checked = spec.validate({"prompt": "p", "duration": 10.0, "extra": "dropped", "end_image": "x"})
    assert checked.values["duration"] == 10 and isinstance(checked.values["duration"], int)
    assert checked.values["aspect_ratio"] == "16:9" and "start_image" not in checked.values
    assert checked.ignored == ("extra", "end_image")  # Standard has no end_image: Replicate drops it
    with pytest.raises(InputValidationError) as excinfo:
        spec.validate({"duration": "10", "cfg_scale": 3, "start_image": None, "aspect_ratio": True})
    assert [(f.field, f.type, f.description) for f in excinfo.value.invalid_fields] == [
        ("input", "required", "prompt is required"),
        ("input.start_image", "invalid_type", "Invalid type. Expected: string, given: null"),
        ("input.cfg_scale", "number_lte", "Must be less than or equal to 1"),
        ("input.aspect_ratio", "invalid_type", "Invalid type. Expected: string, given: boolean"),
        ("input.duration", "invalid_type", "Invalid type. Expected: integer, given: string"),
    ]
    assert excinfo.value.detail.startswith("- input: prompt is required\n- input.start_image: ")


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://example.com/a.jpg", True),
        ("data:image/png;base64,AAAA", True),
        ("https://example.com/a%20b.jpg", True),
        ("https://example.com/a%zz.jpg", False),  # Go's url.Parse: invalid URL escape
        ("https://example.com/a\x07.jpg", False),
        ("not a url", False),
        ("/relative/path.jpg", False),
        ("https://example.com\\a.jpg", False),
    ],
)
def test_uri_format_is_gojsonschemas(url: str, valid: bool) -> None:
    spec = models.MODELS["kwaivgi/kling-v1.6-pro"]
    if valid:
        spec.validate({"prompt": "p", "start_image": url})
    else:
        with pytest.raises(InputValidationError, match="Does not match format 'uri'"):
            spec.validate({"prompt": "p", "start_image": url})


def test_openapi_schema_is_the_catalogs_in_cogs_shape() -> None:
    schema = models.MODELS["kwaivgi/kling-v1.6-pro"].openapi_schema()
    components = schema["components"]["schemas"]
    assert components["Input"]["required"] == ["prompt"]
    assert components["Input"]["properties"]["duration"]["allOf"] == [
        {"$ref": "#/components/schemas/duration"}
    ]
    assert components["duration"]["enum"] == [5, 10]
    assert components["Input"]["properties"]["start_image"]["format"] == "uri"
    assert components["Output"] == {"type": "string", "title": "Output", "format": "uri"}
    assert components["Input"] == catalog().models["kwaivgi/kling-v1.6-pro"].schemas["Input"]


# --------------------------------------------------------------------------------------------- rules


def test_rate_limiter_counts_a_rolling_minute_per_account_and_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.acquire("a", "create", 2) for _ in range(2)] == [None, None]
    assert limiter.acquire("a", "create", 2) == pytest.approx(60.0)
    assert limiter.acquire("a", "other", 2) is None and limiter.acquire("b", "create", 2) is None
    now[0] = 45.0
    assert limiter.acquire("a", "create", 2) == pytest.approx(15.0)  # refused calls are not counted
    now[0] = 60.0
    assert limiter.acquire("a", "create", 2) is None
    assert retry_after_seconds(14.2) == 15 and retry_after_seconds(0.0) == 1
    assert throttled_detail(15) == "Request was throttled. Your rate limit resets in ~15s."


def test_config_updates_are_validated() -> None:
    assert coerce_config_updates({"data_retention_s": 2, "creates_per_minute": 3}) == {
        "data_retention_s": 2.0,
        "creates_per_minute": 3,
    }
    for bad in (
        {"data_retention_s": -1},
        {"creates_per_minute": 0.5},
        {"nope": 1},
        [1],
        {"model_time_scale": True},
    ):
        with pytest.raises(ConfigError):
            coerce_config_updates(bad)


def test_shipped_example_assets_are_small_distinct_720p_jpegs() -> None:
    assets = Path(str(importlib.resources.files("twin") / "assets"))
    front, tail = assets / "front.jpg", assets / "tail.jpg"
    for image in (front, tail):
        info = render.probe(image)
        assert (info.video_codec, info.width, info.height) == ("mjpeg", 1280, 720)
        assert image.stat().st_size < 60 * 1024
    assert front.read_bytes() != tail.read_bytes()


def test_a_long_dream_is_drawn_whole_on_several_lines(tmp_path: Path) -> None:
    """The card with and without its caption: the rows that differ span several line heights
    (wrapped, not cut to one line), and the text is drawn at the size that makes it fit."""
    from service.adapters.fonts import FONTS_DIR, fontconfig_env

    fmt = render.ASPECT_RATIOS["16:9"]
    words = "I was flying over a city of glass towers at night while whales sang below me " * 2

    def frame(caption: tuple[Path, Path] | None, name: str) -> bytes:
        job = render.dream_job("dreamy", fmt, 1, 7, caption, env=fontconfig_env())
        out = tmp_path / f"{name}.mp4"
        proc = subprocess.run(
            render.build_command(job, out, render.Pacing()), capture_output=True, env=job.env
        )
        assert proc.returncode == 0, proc.stderr
        return subprocess.run(
            [render.ffmpeg_exe(), "-loglevel", "error", "-i", str(out), "-frames:v", "1", "-f", "rawvideo",
             "-pix_fmt", "gray", "-"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip

    ass = tmp_path / "caption.ass"
    ass.write_text(video.caption_ass(words.strip(), fmt), encoding="utf-8")
    plain, captioned = frame(None, "plain"), frame((ass, FONTS_DIR), "captioned")
    rows = [
        y
        for y in range(fmt.height)
        if sum(
            abs(a - b) > 40
            for a, b in zip(
                plain[y * fmt.width : (y + 1) * fmt.width],
                captioned[y * fmt.width : (y + 1) * fmt.width],
                strict=True,
            )
        )
        > 20
    ]
    size = video.caption_size(words.strip(), fmt)
    assert rows and rows[-1] - rows[0] > 4 * size, (rows[:3], rows[-3:], size)


def test_a_model_that_prints_no_progress_waits_out_its_run_time_outside_the_render_slot(
    tmp_path: Path,
) -> None:
    """One render slot, two runs of a model that prints nothing (an instant render here): the
    second starts while the first still waits out its run time, as predictions at Replicate run
    side by side. A model that prints progress would hold the slot (its render is paced)."""
    from replicate_emulator.engine import Engine, FaultPlan

    def instant(ctx: object, inp: dict[str, object]) -> str:
        return "done"

    spec = models.ModelSpec(catalog().models["kwaivgi/kling-v1.6-standard"], instant)
    engine = Engine(tmp_path, render_concurrency=1)
    try:
        plan = FaultPlan(min_processing_s=1.0)
        first, second = (engine.create(spec, {}, spec.validate({"prompt": "x"}), plan) for _ in range(2))
        assert first.done.wait(10) and second.done.wait(10)
        assert (first.status, second.status) == ("succeeded", "succeeded")
        assert first.completed_at is not None and second.started_at is not None
        assert second.started_at < first.completed_at
    finally:
        engine.close()
