"""The audio models (meta/musicgen, jaaari/kokoro-82m) through the official client against the emulator."""

from __future__ import annotations

import itertools
import math
import os
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

from .helpers import TOKEN, ffmpeg_children, wait_for, wait_until_done

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
    prediction = wait_until_done(client, client.predictions.create(model=model, input=inp))
    assert prediction.status == "succeeded", (prediction.error, prediction.logs)
    return prediction


def assert_422(
    client: replicate.Client, emulator: ReplicateEmulator, model: str, bad: dict[str, Any], field: str
) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(model=model, input=bad)
    assert excinfo.value.status == 422
    assert field in (excinfo.value.detail or "")
    raw = httpx.post(f"{emulator.base_url}/v1/models/{model}/predictions", json={"input": bad}, headers=AUTH)
    assert raw.status_code == 422
    assert [f["field"] for f in raw.json()["invalid_fields"]] == [field]
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

    assert f"music style: {style}" in (prediction.logs or "")
    assert str(prediction.output).startswith(f"{emulator.base_url}/files/{prediction.id}/")
    assert str(prediction.output).endswith(".wav")
    assert prediction.progress is not None and prediction.progress.percentage == 1.0
    wav = download_audio(prediction.output, tmp_path / "music.wav")
    info = probe_audio(wav)
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s16le", 44_100, 2)
    assert info.duration_s is not None and abs(info.duration_s - duration) <= 0.05
    samples, rate = decode_mono(wav)
    assert len(samples) == duration * rate  # exactly, not just within the probe's 10 ms resolution
    assert max(abs(min(samples)), max(samples)) > 0.05 * 32768  # audible, not silence


def test_musicgen_styles_are_measurably_different(client: replicate.Client, tmp_path: Path) -> None:
    prompts = {
        "ambient": "ambient drone for the intro",
        "upbeat": "upbeat pop groove",
        "calm": "a calm morning",
        "cinematic": "Cinematic swell into the reveal",
    }
    created = {
        style: client.predictions.create(model=MUSICGEN, input={"prompt": prompt, "duration": 6})
        for style, prompt in prompts.items()
    }
    decoded: dict[str, tuple[array[int], int]] = {}
    for style, prediction in created.items():
        done = wait_until_done(client, prediction)
        assert done.status == "succeeded", done.error
        assert f"music style: {style}" in (done.logs or "")
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


def test_musicgen_mp3_output(client: replicate.Client, tmp_path: Path) -> None:
    if not audio.mp3_supported():
        pytest.skip("this ffmpeg has no libmp3lame")
    prediction = run_model(
        client, MUSICGEN, {"prompt": "dramatic", "duration": 3, "output_format": "mp3", "seed": 7}
    )

    assert "Using seed: 7" in (prediction.logs or "") and "music style: dramatic" in (prediction.logs or "")
    info = probe_audio(download_audio(prediction.output, tmp_path / "music.mp3"))
    assert (info.codec, info.sample_rate, info.channels) == ("mp3", 44_100, 2)
    assert info.duration_s is not None and abs(info.duration_s - 3) <= 0.05


def test_musicgen_mp3_is_422_without_libmp3lame(
    client: replicate.Client, emulator: ReplicateEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "ffmpeg_has_encoder", lambda name: False)

    bad = {"prompt": "x", "output_format": "mp3"}
    assert_422(client, emulator, MUSICGEN, bad, "input.output_format")
    with pytest.raises(ReplicateError, match="libmp3lame"):
        client.predictions.create(model=MUSICGEN, input=bad)


@pytest.mark.parametrize(
    ("bad_input", "field"),
    [
        ({"prompt": "x", "duration": 0}, "input.duration"),
        ({"prompt": "x", "duration": 31}, "input.duration"),
        ({"duration": 5}, "input.prompt"),
        ({"prompt": "x", "model_version": "small"}, "input.model_version"),
        ({"prompt": "x", "output_format": "flac"}, "input.output_format"),
        ({"prompt": "x", "normalization_strategy": "none"}, "input.normalization_strategy"),
    ],
)
def test_musicgen_invalid_input_is_422(
    client: replicate.Client, emulator: ReplicateEmulator, bad_input: dict[str, Any], field: str
) -> None:
    assert_422(client, emulator, MUSICGEN, bad_input, field)


def test_audio_models_resolve_by_version_and_publish_schemas(client: replicate.Client) -> None:
    model = client.models.get(MUSICGEN)
    version = model.latest_version
    assert version is not None and len(version.id) == 64
    properties = version.openapi_schema["components"]["schemas"]["Input"]["properties"]
    assert properties["duration"] == {
        "type": "integer",
        "title": "duration",
        "description": "Duration of the generated audio in seconds.",
        "default": 8,
        "minimum": 1,
        "maximum": 30,
    }
    assert properties["normalization_strategy"]["enum"] == ["loudness", "clip", "peak", "rms"]
    kokoro = client.models.get(KOKORO).latest_version
    assert kokoro is not None
    kokoro_inputs = kokoro.openapi_schema["components"]["schemas"]["Input"]
    assert kokoro_inputs["required"] == ["text"]
    assert {"af_bella", "af_sarah", "af_nicole", "am_adam", "am_michael", "bf_emma", "bm_george"} <= set(
        kokoro_inputs["properties"]["voice"]["enum"]
    )

    output = client.run(f"{KOKORO}:{kokoro.id}", input={"text": "Hi."})
    assert isinstance(output, str) and output.endswith(".wav")


# --------------------------------------------------------------------------------------------- kokoro


def speak(client: replicate.Client, tmp_path: Path, text: str, **extra: Any) -> tuple[Any, Path]:
    prediction = run_model(client, KOKORO, {"text": text, **extra})
    name = f"speech-{prediction.id}.wav"
    return prediction, download_audio(prediction.output, tmp_path / name)


def test_kokoro_speaks_24khz_mono_wav(client: replicate.Client, tmp_path: Path) -> None:
    engine = audio.find_tts_engine()
    prediction, wav = speak(client, tmp_path, "Welcome to the show. Tonight: transitions!", voice="bm_george")

    expected = f"tts engine: {engine[0]}" if engine else "tts engine: none (tone track)"
    assert expected in (prediction.logs or "")
    assert "voice: bm_george (male, en-gb)" in (prediction.logs or "")
    assert prediction.progress is not None and prediction.progress.percentage == 1.0
    info = probe_audio(wav)
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s16le", 24_000, 1)
    assert info.duration_s is not None and 1.0 < info.duration_s < 10.0


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
    client: replicate.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio, "find_tts_engine", lambda: None)  # as on a machine without espeak
    text = "Hello there, this is a test."
    prediction, wav = speak(client, tmp_path, text, voice="af_sarah")

    assert "tts engine: none (tone track)" in (prediction.logs or "")
    # 28 characters * 0.065 s + 0.2 s (comma) + 0.45 s (full stop)
    samples, rate = decode_mono(wav)
    assert len(samples) == round((28 * 0.065 + 0.2 + 0.45) * rate)
    # Words are voiced, the pauses between them silent: the level keeps dropping to ~0 and back
    rms = window_rms(samples, rate, 0.0, len(samples) / rate)
    loud = [level > 0.05 for level in rms]
    assert sum(loud) >= len(rms) // 3 and loud.count(False) >= 3
    assert sum(1 for a, b in itertools.pairwise(loud) if a and not b) >= 3, rms


def test_kokoro_uses_espeak_when_installed(
    client: replicate.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in ``espeak-ng`` on PATH (CI has none) proves the engine path and its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "espeak-calls.txt"
    fake = bin_dir / "espeak-ng"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys\n"
        "args = sys.argv[1:]\n"
        f"open({str(calls)!r}, 'a').write(' '.join(args) + '\\n')\n"
        "text = open(args[args.index('-f') + 1], encoding='utf-8').read()\n"
        "seconds = len(text) * 0.06 * 175 / int(args[args.index('-s') + 1])\n"
        f"subprocess.run([{ffmpeg_exe()!r}, '-v', 'error', '-y', '-f', 'lavfi', '-i',\n"
        "    f'sine=f=150:r=22050:d={seconds:.3f}', args[args.index('-w') + 1]], check=True)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    prediction, wav = speak(
        client, tmp_path, "-v looks like an option but is text", voice="bf_emma", speed=2.0
    )

    assert "tts engine: espeak-ng" in (prediction.logs or "")
    assert calls.read_text().split()[:4] == ["-v", "en-gb+f3", "-s", "350"]
    info = probe_audio(wav)
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s16le", 24_000, 1)
    assert info.duration_s is not None and abs(info.duration_s - 35 * 0.06 / 2) <= 0.05


@pytest.mark.parametrize(
    ("bad_input", "field"),
    [
        ({"text": ""}, "input.text"),
        ({"text": "  \n\t "}, "input.text"),
        ({"voice": "af_bella"}, "input.text"),
        ({"text": "hi", "voice": "xx_nobody"}, "input.voice"),
        ({"text": "hi", "speed": 2.5}, "input.speed"),
    ],
)
def test_kokoro_invalid_input_is_422(
    client: replicate.Client, emulator: ReplicateEmulator, bad_input: dict[str, Any], field: str
) -> None:
    assert_422(client, emulator, KOKORO, bad_input, field)


# --------------------------------------------------------------------------------------------- faults


def test_fail_fault_applies_to_audio_models(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    emulator.faults.fail = {MUSICGEN: "boom"}
    failed = wait_until_done(client, client.predictions.create(model=MUSICGEN, input={"prompt": "x"}))

    assert (failed.status, failed.error, failed.output) == ("failed", "boom", None)
    assert failed.started_at is not None
    assert run_model(client, KOKORO, {"text": "still fine"}).output


def test_never_finish_audio_render_is_killed_by_cancel(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.never_finish = {MUSICGEN}
    prediction = client.predictions.create(model=MUSICGEN, input={"prompt": "stuck", "duration": 10})
    pids = wait_for(emulator.running_ffmpeg_pids)
    assert set(pids) <= set(ffmpeg_children())
    wait_for(lambda: (p := client.predictions.get(prediction.id).progress) is not None and p.percentage > 0)
    stuck = client.predictions.get(prediction.id)
    assert stuck.status == "processing"
    assert stuck.progress is not None and stuck.progress.percentage < 1.0

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
    assert audio.Voice.parse("af_bella").espeak_voice("espeak-ng") == "en-us+f3"
    assert audio.Voice.parse("am_adam").espeak_voice("espeak") == "en-us+m3"
    assert audio.Voice.parse("bm_george").espeak_voice("espeak-ng") == "en-gb+m3"
    assert audio.Voice.parse("bf_emma").espeak_voice("espeak") == "en+f3"
    assert audio.Voice.parse("am_michael").pitch_hz < 130 < audio.Voice.parse("af_nicole").pitch_hz


def test_parse_audio_probe_output() -> None:
    stderr = (
        "Input #0, wav, from 'x.wav':\n  Duration: 00:00:05.00, bitrate: 1411 kb/s\n"
        "  Stream #0:0: Audio: pcm_s16le ([1][0][0][0] / 0x0001), 44100 Hz, stereo, s16, 1411 kb/s\n"
    )
    assert render.parse_audio_probe_output(stderr) == render.AudioInfo(5.0, "pcm_s16le", 44_100, 2)
    assert render.parse_audio_probe_output(stderr.replace("stereo", "mono")).channels == 1
