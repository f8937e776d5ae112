"""The audio models (meta/musicgen, jaaari/kokoro-82m: community models, so run by version) through
the official client against the emulator."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from array import array
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from replicate_emulator import ReplicateEmulator, audio, render
from replicate_emulator.render import ffmpeg_exe, probe_audio
from service.adapters.replicate_gateway import log_fraction

from .helpers import TOKEN, create, ffmpeg_children, version_of, wait_for, wait_until_done

MUSICGEN = "meta/musicgen"
KOKORO = "jaaari/kokoro-82m"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def download_audio(url: object, dest: Path) -> Path:
    assert isinstance(url, str), url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("audio/")
    dest.write_bytes(response.content)
    return dest


def decode_mono(path: Path) -> tuple[array[int], int]:
    """(16-bit mono samples, sample rate) of an audio file, decoded with ffmpeg."""
    rate = probe_audio(path).sample_rate
    assert rate is not None
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-ac", "1", "-f", "s16le", "-"]
    samples = array("h")
    samples.frombytes(subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout)
    if sys.byteorder != "little":
        samples.byteswap()
    return samples, rate


def window_rms(samples: array[int], rate: int, start_s: float, end_s: float) -> list[float]:
    """RMS (full scale = 1) of consecutive 100 ms windows between ``start_s`` and ``end_s``."""
    width = rate // 10
    first, last = int(start_s * rate), int(end_s * rate)
    return [
        math.sqrt(sum(x * x for x in samples[i : i + width]) / width) / 32768
        for i in range(first, last - width + 1, width)
    ]


def envelope_flux(rms: list[float]) -> float:
    """Mean change between neighbouring windows relative to the mean level: rhythm makes it big."""
    mean = sum(rms) / len(rms)
    return sum(abs(b - a) for a, b in itertools.pairwise(rms)) / (len(rms) - 1) / mean


def zero_crossings_per_s(samples: array[int], rate: int) -> float:
    return sum((a < 0) != (b < 0) for a, b in itertools.pairwise(samples)) * rate / len(samples)


def run_model(client: replicate.Client, model: str, inp: dict[str, Any]) -> Any:
    prediction = wait_until_done(client, create(client, model, inp))
    assert prediction.status == "succeeded", (prediction.error, prediction.logs)
    return prediction


def notes(emulator: ReplicateEmulator, prediction: Any) -> dict[str, Any]:
    """What the emulator's renderer chose (never in the logs: real models do not print it)."""
    return dict(emulator.get_prediction(prediction.id)["_emulator"]["notes"])


def assert_422(
    client: replicate.Client,
    emulator: ReplicateEmulator,
    model: str,
    bad: dict[str, Any],
    field: str,
    description: str,
) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        create(client, model, bad)
    assert excinfo.value.status == 422
    assert f"- {field}: {description}\n" in (excinfo.value.detail or "")
    raw = httpx.post(
        f"{emulator.base_url}/v1/predictions",
        json={"version": version_of(model), "input": bad},
        headers=AUTH,
    )
    assert raw.status_code == 422
    assert raw.json()["title"] == "Input validation failed"
    assert [(f["field"], f["description"]) for f in raw.json()["invalid_fields"]] == [(field, description)]
    assert emulator.predictions() == []


# --------------------------------------------------------------------------------------------- musicgen


@pytest.mark.parametrize(
    ("duration", "prompt", "style"),
    [(5, "Ambient pads for a slow zoom", "ambient"), (10, "An UPBEAT, energetic summer track", "upbeat")],
)
def test_musicgen_renders_wav_of_requested_duration(
    client: replicate.Client,
    emulator: ReplicateEmulator,
    tmp_path: Path,
    duration: int,
    prompt: str,
    style: str,
) -> None:
    prediction = run_model(client, MUSICGEN, {"prompt": prompt, "duration": duration, "top_k": 250})

    assert notes(emulator, prediction)["music_style"] == style
    assert str(prediction.output).startswith(f"{emulator.base_url}/files/{prediction.id}/")
    assert str(prediction.output).endswith(".wav")
    # What cog-musicgen prints: the model loading, the seed, then audiocraft's token counter
    # (50 tokens a second, each line ended by a carriage return), which no tqdm parser reads.
    logs = prediction.logs or ""
    assert logs.startswith("Loading model stereo-melody-large...\nModel stereo-melody-large loaded")
    assert logs.endswith(f"{50 * duration: 6d} / {50 * duration: 6d}\r")
    assert prediction.progress is None and log_fraction(prediction) == 1.0
    wav = download_audio(prediction.output, tmp_path / "music.wav")
    info = probe_audio(wav)
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s16le", 44_100, 2)
    assert info.duration_s is not None and abs(info.duration_s - duration) <= 0.05
    samples, rate = decode_mono(wav)
    assert len(samples) == duration * rate  # exactly, not just within the probe's 10 ms resolution
    assert max(abs(min(samples)), max(samples)) > 0.05 * 32768  # audible, not silence


def test_musicgen_styles_are_measurably_different(
    client: replicate.Client, emulator: ReplicateEmulator, tmp_path: Path
) -> None:
    prompts = {
        "ambient": "ambient drone for the intro",
        "upbeat": "upbeat pop groove",
        "calm": "a calm morning",
        "cinematic": "Cinematic swell into the reveal",
    }
    created = {
        style: create(client, MUSICGEN, {"prompt": prompt, "duration": 6})
        for style, prompt in prompts.items()
    }
    decoded: dict[str, tuple[array[int], int]] = {}
    for style, prediction in created.items():
        done = wait_until_done(client, prediction)
        assert done.status == "succeeded", done.error
        assert notes(emulator, done)["music_style"] == style
        decoded[style] = decode_mono(download_audio(done.output, tmp_path / f"{style}.wav"))

    # Over the sustained middle (after fade-in, before fade-out): plucks + kicks vs. slow pads
    flux = {style: envelope_flux(window_rms(*decoded[style], 1.5, 4.5)) for style in ("ambient", "upbeat")}
    assert flux["upbeat"] > 5 * flux["ambient"], flux
    # Spectral content: a high sine crosses zero far more often than low pads
    zcr = {style: zero_crossings_per_s(*decoded[style]) for style in ("ambient", "calm")}
    assert zcr["calm"] > 2.5 * zcr["ambient"], zcr
    # The cinematic chord swells in: the last seconds are much louder than the first ones
    rms = window_rms(*decoded["cinematic"], 0.0, 6.0)
    assert sum(rms[35:50]) > 2 * sum(rms[0:15]), rms


def test_musicgen_mp3_output(client: replicate.Client, emulator: ReplicateEmulator, tmp_path: Path) -> None:
    if not audio.mp3_supported():
        pytest.skip("this ffmpeg has no libmp3lame")
    prediction = run_model(
        client, MUSICGEN, {"prompt": "dramatic", "duration": 3, "output_format": "mp3", "seed": 7}
    )

    assert "Using seed 7\n" in (prediction.logs or "")
    assert notes(emulator, prediction)["music_style"] == "dramatic"
    info = probe_audio(download_audio(prediction.output, tmp_path / "music.mp3"))
    assert (info.codec, info.sample_rate, info.channels) == ("mp3", 44_100, 2)
    assert info.duration_s is not None and abs(info.duration_s - 3) <= 0.05


def test_musicgen_mp3_fails_the_prediction_without_libmp3lame(
    client: replicate.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schema allows mp3, so Replicate accepts the create: only the run can fail."""
    monkeypatch.setattr(render, "ffmpeg_has_encoder", lambda name: False)

    failed = wait_until_done(client, create(client, MUSICGEN, {"prompt": "x", "output_format": "mp3"}))

    assert failed.status == "failed" and "libmp3lame" in (failed.error or "")


def test_musicgen_takes_what_its_schema_allows(client: replicate.Client) -> None:
    """No maximum duration and no required prompt in the published signature: both accepted."""
    unconditional = run_model(client, MUSICGEN, {"duration": 2})
    assert str(unconditional.output).endswith(".wav")
    assert create(client, MUSICGEN, {"prompt": "long", "duration": 31}).status == "starting"


@pytest.mark.parametrize(
    ("bad_input", "field", "description"),
    [
        (
            {"prompt": "x", "duration": "5"},
            "input.duration",
            "Invalid type. Expected: integer, given: string",
        ),
        (
            {"prompt": "x", "duration": 5.5},
            "input.duration",
            "Invalid type. Expected: integer, given: number",
        ),
        ({"prompt": None}, "input.prompt", "Invalid type. Expected: string, given: null"),
        (
            {"prompt": "x", "continuation_start": -1},
            "input.continuation_start",
            "Must be greater than or equal to 0",
        ),
        (
            {"prompt": "x", "model_version": "small"},
            "input.model_version",
            'model_version must be one of the following: "stereo-melody-large", "stereo-large", "melody-large", "large"',
        ),
        (
            {"prompt": "x", "output_format": "flac"},
            "input.output_format",
            'output_format must be one of the following: "wav", "mp3"',
        ),
        (
            {"prompt": "x", "normalization_strategy": "none"},
            "input.normalization_strategy",
            'normalization_strategy must be one of the following: "loudness", "clip", "peak", "rms"',
        ),
    ],
)
def test_musicgen_invalid_input_is_422(
    client: replicate.Client,
    emulator: ReplicateEmulator,
    bad_input: dict[str, Any],
    field: str,
    description: str,
) -> None:
    assert_422(client, emulator, MUSICGEN, bad_input, field, description)


def test_audio_models_are_community_models_run_by_version(client: replicate.Client) -> None:
    for model in (MUSICGEN, KOKORO):
        with pytest.raises(ReplicateError) as by_name:
            client.predictions.create(model=model, input={"prompt": "x", "text": "x"})
        assert by_name.value.status == 404
    model = client.models.get(MUSICGEN)
    version = model.latest_version
    assert version is not None and version.id == version_of(MUSICGEN)
    schemas = version.openapi_schema["components"]["schemas"]
    assert schemas["Input"]["properties"]["duration"] == {
        "type": "integer",
        "title": "Duration",
        "default": 8,
        "x-order": 3,
        "description": "Duration of the generated audio in seconds.",
    }
    assert schemas["Input"]["properties"]["normalization_strategy"]["allOf"] == [
        {"$ref": "#/components/schemas/normalization_strategy"}
    ]
    assert schemas["normalization_strategy"]["enum"] == ["loudness", "clip", "peak", "rms"]
    kokoro = client.models.get(KOKORO).latest_version
    assert kokoro is not None
    kokoro_schemas = kokoro.openapi_schema["components"]["schemas"]
    assert kokoro_schemas["Input"]["required"] == ["text"]
    assert {"af_bella", "af_sarah", "af_nicole", "am_adam", "am_michael", "bf_emma", "bm_george"} <= set(
        kokoro_schemas["voice"]["enum"]
    )

    output = client.run(f"{KOKORO}:{kokoro.id}", input={"text": "Hi."})
    assert isinstance(output, str) and output.endswith(".wav")


# --------------------------------------------------------------------------------------------- kokoro


def speak(client: replicate.Client, tmp_path: Path, text: str, **extra: Any) -> tuple[Any, Path]:
    prediction = run_model(client, KOKORO, {"text": text, **extra})
    name = f"speech-{prediction.id}.wav"
    return prediction, download_audio(prediction.output, tmp_path / name)


def test_kokoro_speaks_24khz_mono_wav(
    client: replicate.Client, emulator: ReplicateEmulator, tmp_path: Path
) -> None:
    prediction, wav = speak(client, tmp_path, "Welcome to the show. Tonight: transitions!", voice="bm_george")

    assert notes(emulator, prediction)["tts_engine"] == "espeak-ng"  # the wheel ships it: always here
    assert notes(emulator, prediction)["voice"] == "bm_george (male, en-gb)"
    assert prediction.logs == ""  # the real model prints nothing
    info = probe_audio(wav)
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s16le", 24_000, 1)
    assert info.duration_s is not None and 1.0 < info.duration_s < 10.0


def test_kokoro_speaks_words_not_tone_bursts(client: replicate.Client, tmp_path: Path) -> None:
    """Speech has consonants: hissed words cross zero several times as often as humming ones, and
    the same number of syllables in other words sounds different. A tone track (one buzz per
    syllable) would give both the same."""
    _, hiss = speak(client, tmp_path, "sixty six sassy sisters says so", voice="af_sarah")
    _, hum = speak(client, tmp_path, "many moody women mourn a moon", voice="af_sarah")
    rates = {name: zero_crossings_per_s(*decode_mono(wav)) for name, wav in (("hiss", hiss), ("hum", hum))}
    assert rates["hiss"] > 2 * rates["hum"], rates


def test_kokoro_duration_grows_with_text_and_shrinks_with_speed(
    client: replicate.Client, tmp_path: Path
) -> None:
    short = "A short line."
    long = "This is a much longer sentence, spoken slowly; it keeps going for quite a while. The end!"
    durations = {}
    for key, text, speed in (("short", short, 1.0), ("long", long, 1.0), ("fast", long, 2.0)):
        _, wav = speak(client, tmp_path, text, speed=speed)
        durations[key] = probe_audio(wav).duration_s or 0.0

    assert durations["long"] > 2 * durations["short"], durations
    assert 0.5 * 0.75 <= durations["fast"] / durations["long"] <= 0.5 * 1.25, durations


def test_kokoro_tone_track_follows_the_text(
    client: replicate.Client, emulator: ReplicateEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio, "find_tts_engine", lambda: None)  # where the espeak-ng wheel cannot load
    text = "Hello there, this is a test."
    prediction, wav = speak(client, tmp_path, text, voice="af_sarah")

    assert notes(emulator, prediction)["tts_engine"] == "none (tone track)"
    # 28 characters * 0.065 s + 0.2 s (comma) + 0.45 s (full stop)
    samples, rate = decode_mono(wav)
    assert len(samples) == round((28 * 0.065 + 0.2 + 0.45) * rate)
    # Words are voiced, the pauses between them silent: the level keeps dropping to ~0 and back
    rms = window_rms(samples, rate, 0.0, len(samples) / rate)
    loud = [level > 0.05 for level in rms]
    assert sum(loud) >= len(rms) // 3 and loud.count(False) >= 3
    assert sum(1 for a, b in itertools.pairwise(loud) if a and not b) >= 3, rms


@pytest.mark.parametrize(
    ("bad_input", "field", "description"),
    [
        ({"voice": "af_bella"}, "input", "text is required"),
        ({"text": "hi", "voice": "xx_nobody"}, "input.voice", "voice must be one of the following: "),
        ({"text": "hi", "speed": 5.5}, "input.speed", "Must be less than or equal to 5"),
        ({"text": "hi", "speed": 0.05}, "input.speed", "Must be greater than or equal to 0.1"),
        ({"text": 42}, "input.text", "Invalid type. Expected: string, given: integer"),
    ],
)
def test_kokoro_invalid_input_is_422(
    client: replicate.Client,
    emulator: ReplicateEmulator,
    bad_input: dict[str, Any],
    field: str,
    description: str,
) -> None:
    if description.endswith(": "):  # the enum lists every voice
        description += ", ".join(f'"{v}"' for v in audio_voices())
    assert_422(client, emulator, KOKORO, bad_input, field, description)


def audio_voices() -> list[str]:
    from service.model_catalog import catalog

    entry = catalog().get(KOKORO)
    assert entry is not None
    return list(entry.field("voice")["enum"])


def test_kokoro_empty_text_fails_the_run_not_the_create(client: replicate.Client) -> None:
    failed = wait_until_done(client, create(client, KOKORO, {"text": "   "}))
    assert failed.status == "failed" and "empty" in (failed.error or "")


# --------------------------------------------------------------------------------------------- faults


def test_fail_fault_applies_to_audio_models(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    emulator.faults.fail = {MUSICGEN: "boom"}
    failed = wait_until_done(client, create(client, MUSICGEN, {"prompt": "x"}))

    assert (failed.status, failed.error, failed.output) == ("failed", "boom", None)
    assert failed.started_at is not None
    assert run_model(client, KOKORO, {"text": "still fine"}).output


def test_never_finish_audio_render_is_killed_by_cancel(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.never_finish = {MUSICGEN}
    prediction = create(client, MUSICGEN, {"prompt": "stuck", "duration": 10})
    pids = wait_for(emulator.running_ffmpeg_pids)
    assert set(pids) <= set(ffmpeg_children())
    wait_for(lambda: (log_fraction(client.predictions.get(prediction.id)) or 0) > 0)
    stuck = client.predictions.get(prediction.id)
    assert stuck.status == "processing"
    assert 0 < (log_fraction(stuck) or 0) < 1.0

    assert client.predictions.cancel(prediction.id).status == "canceled"
    assert emulator.running_ffmpeg_pids() == []
    assert not set(pids) & set(ffmpeg_children())


# --------------------------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("prompt", "style"),
    [
        ("Ambient textures", "ambient"),
        ("UPBEAT!", "upbeat"),
        ("cinematic and dramatic", "cinematic"),  # earliest keyword wins
        ("a dramatic, calm ending", "dramatic"),
        ("so calm", "calm"),
        ("no keywords at all", "ambient"),
        ("", "ambient"),
    ],
)
def test_choose_music_style(prompt: str, style: str) -> None:
    assert audio.choose_music_style(prompt) == style


def test_the_services_music_prompts_pick_their_own_style() -> None:
    from service.domain.options import MUSIC_PROMPTS

    assert {audio.choose_music_style(prompt) for prompt in MUSIC_PROMPTS.values()} == set(audio.MUSIC_STYLES)
    for music_type, prompt in MUSIC_PROMPTS.items():
        assert audio.choose_music_style(prompt) == music_type.value


def test_speech_timeline_scales_with_text_and_speed() -> None:
    syllables, duration = audio.speech_timeline("Hi, you.", 1.0)
    assert duration == pytest.approx(8 * 0.065 + 0.2 + 0.45)
    assert len(syllables) == 2 and all(0 <= a < b <= duration for a, b, _ in syllables)
    fast_syllables, fast = audio.speech_timeline("Hi, you.", 2.0)
    assert fast == pytest.approx(duration / 2) and len(fast_syllables) == 2
    assert audio.speech_timeline("  many   spaces  ", 1.0)[1] == pytest.approx(len("many spaces") * 0.065)


def test_voice_mapping() -> None:
    assert audio.Voice.parse("af_bella").espeak_voice == "en-us+f3"
    assert audio.Voice.parse("am_adam").espeak_voice == "en-us+m3"
    assert audio.Voice.parse("bm_george").espeak_voice == "en+m3"  # eSpeak NG's British English
    assert audio.Voice.parse("bf_emma").espeak_voice == "en+f3"
    assert audio.Voice.parse("am_michael").pitch_hz < 130 < audio.Voice.parse("af_nicole").pitch_hz


def test_parse_audio_probe_output() -> None:
    stderr = (
        "Input #0, wav, from 'x.wav':\n  Duration: 00:00:05.00, bitrate: 1411 kb/s\n"
        "  Stream #0:0: Audio: pcm_s16le ([1][0][0][0] / 0x0001), 44100 Hz, stereo, s16, 1411 kb/s\n"
    )
    assert render.parse_audio_probe_output(stderr) == render.AudioInfo(5.0, "pcm_s16le", 44_100, 2)
    assert render.parse_audio_probe_output(stderr.replace("stereo", "mono")).channels == 1
