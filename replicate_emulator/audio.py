"""Audio models: ``meta/musicgen`` (synthesized music) and ``jaaari/kokoro-82m`` (text to speech).

Both render real audio with ffmpeg through ``ctx.run_ffmpeg`` (progress, pacing, cancellation and
the engine's render slot work exactly as for the video models) and answer ONE file URL.

* musicgen: a mood picked from prompt keywords (ambient, upbeat, cinematic, dramatic, calm) drives a
  lavfi graph of ``sine``/``aevalsrc``/``anoisesrc`` sources and filters; the output is exactly
  ``duration`` seconds of 44.1 kHz stereo WAV (or MP3 when this ffmpeg has ``libmp3lame``).
* kokoro: the text is really spoken by eSpeak NG (the ``espeakng-loader`` wheel ships the library and
  its voices: ``speech.py``). Where that wheel cannot load, a "tone track" of the speech's estimated
  length stands in: a voiced buzz (female ~190 Hz, male ~115 Hz, with harmonics) gated per
  syllable, with silences between words and longer pauses at punctuation. 24 kHz mono WAV.

What each prints follows the real model (the catalog's ``progress.logs``): MusicGen prints its seed,
its model loading and audiocraft's token counter; Kokoro prints nothing.
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from . import render, speech
from .errors import PredictionError
from .models import RenderContext, register_model
from .render import FfmpegJob

# --------------------------------------------------------------------------------------------- musicgen

MUSIC_SAMPLE_RATE = 44_100
MUSIC_STYLES = ("ambient", "upbeat", "cinematic", "dramatic", "calm")
DEFAULT_MUSIC_STYLE = "ambient"
# Keyword -> style; the keyword appearing earliest in the prompt wins (like Kling's transitions).
MUSIC_KEYWORDS: dict[str, str] = {
    "ambient": "ambient",
    "atmospheric": "ambient",
    "upbeat": "upbeat",
    "energetic": "upbeat",
    "cinematic": "cinematic",
    "epic": "cinematic",
    "orchestral": "cinematic",
    "dramatic": "dramatic",
    "tense": "dramatic",
    "suspense": "dramatic",
    "calm": "calm",
    "peaceful": "calm",
    "gentle": "calm",
}
# Key changes picked by the seed, in semitones, so different prompts are not all in the same key.
_TRANSPOSE = (0, 2, 3, 5, -2, -4, -5)
_MP3_ENCODER = "libmp3lame"


def choose_music_style(prompt: str) -> str:
    lowered = prompt.lower()
    hits = [(lowered.find(k), style) for k, style in MUSIC_KEYWORDS.items() if k in lowered]
    return min(hits)[1] if hits else DEFAULT_MUSIC_STYLE


def mp3_supported() -> bool:
    return render.ffmpeg_has_encoder(_MP3_ENCODER)


def _mp3_unsupported_message() -> str:
    return f"output_format mp3 is not supported: this ffmpeg has no {_MP3_ENCODER} encoder (use wav)"


def render_musicgen(ctx: RenderContext, inp: dict[str, Any]) -> Path:
    """Prints what replicate/cog-musicgen's predict() prints: its seed, the model loading, then
    audiocraft's token counter while generating."""
    prompt: str = inp.get("prompt") or ""
    duration: int = inp["duration"]
    if duration < 1:
        raise PredictionError(f"duration must be at least 1 second, got {duration}")
    fmt: render.AudioFormat = inp["output_format"]
    if fmt == "mp3" and not mp3_supported():
        raise PredictionError(_mp3_unsupported_message())
    seed_input = inp.get("seed")
    seed: int = seed_input if seed_input is not None and seed_input >= 0 else render.prompt_seed(prompt)
    style = choose_music_style(prompt)
    model_version = inp["model_version"]
    ctx.log(f"Loading model {model_version}...")
    ctx.log(f"Model {model_version} loaded successfully.")
    ctx.log(f"Using seed {seed}")
    ctx.note("music_style", style)
    ctx.note("normalization_strategy", inp["normalization_strategy"])
    job = music_job(style, duration, seed, inp["normalization_strategy"], fmt)
    return ctx.run_ffmpeg(job, ctx.workdir / f"output.{fmt}")


def music_job(
    style: str, duration_s: int, seed: int, normalization: str, fmt: render.AudioFormat
) -> FfmpegJob:
    """A lavfi-only job (no inputs) rendering exactly ``duration_s`` of 44.1 kHz stereo music."""
    ratio = 2 ** (_TRANSPOSE[seed % len(_TRANSPOSE)] / 12)
    body, fade_in, fade_out = _MUSIC_GRAPHS[style](float(duration_s), ratio, seed % 2**31)
    fade_in = min(fade_in, duration_s * 0.45)
    fade_out = min(fade_out, duration_s * 0.45)
    samples = duration_s * MUSIC_SAMPLE_RATE
    tail = (
        f"[mix]afade=t=in:d={fade_in:.4f}:curve=qsin,"
        f"afade=t=out:st={duration_s - fade_out:.4f}:d={fade_out:.4f}:curve=qsin,"
        f"{_NORMALIZATION[normalization]},"
        f"aformat=sample_rates={MUSIC_SAMPLE_RATE}:channel_layouts=stereo,"
        f"{render.exact_samples_filter(samples)}[out]"
    )
    return FfmpegJob(
        inputs=[],
        filtergraph=f"{body};{tail}",
        output_args=render.audio_output_args(fmt, MUSIC_SAMPLE_RATE, 2),
        duration_s=duration_s,
        media="audio",
    )


# Every style peaks below ~0.9; "clip" clamps to full scale like musicgen's clip strategy, the
# others run a transparent look-ahead limiter at -1 dBFS (no auto-levelling, so envelopes survive).
_NORMALIZATION: dict[str, str] = {
    "loudness": "alimiter=limit=0.89:level=false:latency=true",
    "rms": "alimiter=limit=0.89:level=false:latency=true",
    "peak": "volume=1.05,alimiter=limit=0.95:level=false:latency=true",
    "clip": "asoftclip=type=hard",
}


def _sine(freq: float, duration_s: float, amplitude: float) -> str:
    """A sine of peak ``amplitude`` (the ``sine`` source itself always plays at 1/8 full scale)."""
    return f"sine=f={freq:.3f}:r={MUSIC_SAMPLE_RATE}:d={duration_s:.4f},volume={amplitude * 8:.4f}"


def _aeval(expr: str, duration_s: float, layout: str = "mono") -> str:
    return f"aevalsrc=exprs='{expr}':s={MUSIC_SAMPLE_RATE}:c={layout}:d={duration_s:.4f}"


def _noise(color: str, duration_s: float, seed: int, amplitude: float) -> str:
    return f"anoisesrc=c={color}:r={MUSIC_SAMPLE_RATE}:a={amplitude}:d={duration_s:.4f}:seed={seed}"


def _ambient(d: float, ratio: float, seed: int) -> tuple[str, float, float]:
    """Slow, evolving low pads: three sines (root, fifth, slightly detuned octave) each with its own
    slow tremolo, so the chord breathes; plus soft low-passed pink noise; slow auto-pan."""
    root = 110.0 * ratio
    graph = (
        f"{_sine(root, d, 0.30)},tremolo=f=0.13:d=0.6[p0];"
        f"{_sine(root * 1.4983, d, 0.22)},tremolo=f=0.21:d=0.7[p1];"
        f"{_sine(root * 2.006, d, 0.14)},tremolo=f=0.34:d=0.8[p2];"
        f"{_noise('pink', d, seed, 0.5)},lowpass=f=700,lowpass=f=700,volume=0.25[p3];"
        "[p0][p1][p2][p3]amix=inputs=4:duration=longest:normalize=0,"
        "aformat=channel_layouts=stereo,apulsator=hz=0.07:amount=0.4[mix]"
    )
    return graph, 1.5, 1.5


def _upbeat(d: float, ratio: float, seed: int) -> tuple[str, float, float]:
    """120 bpm: plucked arpeggio eighth notes (sharp attack, fast exponential decay), a pitch-swept
    kick on every beat, hi-hat noise pulsing on the eighths, auto-pan locked to the tempo."""
    root = 261.63 * ratio
    notes = [root * 2 ** (s / 12) for s in (0, 4, 7, 12, 7, 4, 9, 7)]
    freq = f"{notes[-1]:.3f}"
    for index in range(len(notes) - 2, -1, -1):
        freq = f"if(eq(ld(1),{index}),{notes[index]:.3f},{freq})"
    pluck = (
        "st(0,mod(t,0.25));st(1,mod(floor(t*4),8));"
        f"st(2,{freq});"
        "st(3,mod(t,0.5));"
        "0.42*(sin(2*PI*ld(2)*ld(0))+0.35*sin(4*PI*ld(2)*ld(0)))*exp(-11*ld(0))"
        "+0.55*sin(2*PI*(45*ld(3)+3*(1-exp(-30*ld(3)))))*exp(-10*ld(3))"
    )
    graph = (
        f"{_aeval(pluck, d)}[u0];"
        f"{_noise('white', d, seed, 0.4)},highpass=f=7000,tremolo=f=4:d=1,volume=0.35[u1];"
        "[u0][u1]amix=inputs=2:duration=longest:normalize=0,"
        "aformat=channel_layouts=stereo,apulsator=timing=bpm:bpm=120:amount=0.35[mix]"
    )
    return graph, 0.05, 0.5


def _cinematic(d: float, ratio: float, seed: int) -> tuple[str, float, float]:
    """A wide minor chord of six sines (right channel detuned for width) swelling in over most of
    the clip."""
    root = 130.81 * ratio
    partials = ((0, 0.22), (7, 0.18), (12, 0.15), (15, 0.12), (19, 0.10), (24, 0.07))

    def chord(detune: float) -> str:
        return "+".join(f"{a}*sin(2*PI*{root * 2 ** (s / 12) * detune:.3f}*t)" for s, a in partials)

    graph = f"{_aeval(f'{chord(1.0)}|{chord(1.003)}', d, 'stereo')},tremolo=f=0.2:d=0.15[mix]"
    return graph, d * 0.7, 0.6


def _dramatic(d: float, ratio: float, seed: int) -> tuple[str, float, float]:
    """A dark low drone (55 Hz with harmonics, low-passed, slowly swelling) under booming hits that
    pulse at 80 bpm."""
    base = 55.0 * ratio
    drone = "+".join(f"{a}*sin(2*PI*{base * k:.3f}*t)" for k, a in ((1, 0.3), (2, 0.15), (3, 0.1), (4, 0.07)))
    hits = "st(0,mod(t,0.75));0.75*sin(2*PI*(38*ld(0)+2*(1-exp(-25*ld(0)))))*exp(-7*ld(0))"
    graph = (
        f"{_aeval(drone, d)},lowpass=f=500,tremolo=f=0.25:d=0.3[d0];"
        f"{_aeval(hits, d)}[d1];"
        f"{_noise('brown', d, seed, 0.5)},lowpass=f=200,volume=0.2[d2];"
        "[d0][d1][d2]amix=inputs=3:duration=longest:normalize=0,aformat=channel_layouts=stereo[mix]"
    )
    return graph, 0.3, 0.8


def _calm(d: float, ratio: float, seed: int) -> tuple[str, float, float]:
    """A soft, high sine pair (E5 + B5) with a gentle vibrato, fading slowly in and out."""
    root = 659.25 * ratio
    graph = (
        f"{_sine(root, d, 0.16)},vibrato=f=4.5:d=0.03[c0];"
        f"{_sine(root * 1.4983, d, 0.05)}[c1];"
        "[c0][c1]amix=inputs=2:duration=longest:normalize=0,"
        "aformat=channel_layouts=stereo,apulsator=hz=0.1:amount=0.3[mix]"
    )
    return graph, d * 0.35, d * 0.4


_MUSIC_GRAPHS: dict[str, Callable[[float, float, int], tuple[str, float, float]]] = {
    "ambient": _ambient,
    "upbeat": _upbeat,
    "cinematic": _cinematic,
    "dramatic": _dramatic,
    "calm": _calm,
}


# --------------------------------------------------------------------------------------------- kokoro

SPEECH_SAMPLE_RATE = 24_000
CHAR_S = 0.065
"""Seconds of speech per character (spaces included) at speed 1.0 (tone track)."""
PUNCTUATION_PAUSE_S: dict[str, float] = {
    ",": 0.2, ";": 0.25, ":": 0.25, "-": 0.1, "—": 0.2, "\u2013": 0.2,
    ".": 0.45, "!": 0.45, "?": 0.45, "…": 0.45,
}  # fmt: skip
ESPEAK_WPM = 175
ENVELOPE_RATE = 400
"""Samples per second of the tone track's syllable envelope (upsampled by ffmpeg)."""
_SPEECH_TIMEOUT_S = 60


@dataclass(frozen=True)
class Voice:
    name: str
    female: bool
    accent: Literal["en-us", "en-gb"]

    @classmethod
    def parse(cls, name: str) -> Voice:
        return cls(name, female=name[1:2] == "f", accent="en-gb" if name.startswith("b") else "en-us")

    @property
    def pitch_hz(self) -> float:
        """Fundamental of the tone track: ~190 Hz female / ~115 Hz male, +-6% per voice name."""
        spread = int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:2], "big") / 65535 - 0.5
        return (190.0 if self.female else 115.0) * (1 + 0.12 * spread)

    @property
    def espeak_voice(self) -> str:
        """eSpeak NG's voice for it: the accent (``en`` is British English there) plus a female or
        male variant."""
        language = "en-us" if self.accent == "en-us" else "en"
        return f"{language}+{'f3' if self.female else 'm3'}"


@cache
def find_tts_engine() -> str | None:
    """``"espeak-ng"`` when the espeakng-loader wheel loads here, else None (tone track)."""
    return "espeak-ng" if speech.available() else None


def render_kokoro(ctx: RenderContext, inp: dict[str, Any]) -> Path:
    text: str = inp["text"]
    if not text.strip():
        raise PredictionError("No audio was generated: the text is empty")
    voice = Voice.parse(inp["voice"])
    speed: float = inp["speed"]
    engine = find_tts_engine()
    ctx.note("voice", f"{voice.name} ({'female' if voice.female else 'male'}, {voice.accent})")
    ctx.note("tts_engine", engine or "none (tone track)")
    output = ctx.workdir / "output.wav"
    if engine is not None:
        return ctx.run_ffmpeg(_espeak_job(ctx, text, voice, speed), output)
    syllables, duration = speech_timeline(text, speed)
    envelope = ctx.workdir / "envelope.f32"
    envelope.write_bytes(syllable_envelope(syllables, duration))
    return ctx.run_ffmpeg(tone_track_job(envelope, duration, voice.pitch_hz), output)


def _espeak_job(ctx: RenderContext, text: str, voice: Voice, speed: float) -> FfmpegJob:
    """Speak with eSpeak NG in a child process (``speech.py``), then resample to Kokoro's 24 kHz."""
    text_file = ctx.workdir / "text.txt"
    text_file.write_text(text, encoding="utf-8")
    raw = ctx.workdir / "espeak.wav"
    wpm = max(80, min(450, round(ESPEAK_WPM * speed)))
    cmd = [sys.executable, "-m", "replicate_emulator.speech", "--voice", voice.espeak_voice,
           "--wpm", str(wpm), "--text-file", str(text_file), "--out", str(raw)]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=_SPEECH_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PredictionError(f"speech synthesis failed: {exc}") from exc
    ctx.check_canceled()
    info = render.probe_audio(raw) if raw.is_file() else None
    if proc.returncode != 0 or info is None or not info.duration_s:
        detail = (proc.stderr or "").strip().splitlines()[-1:] or ["no audio produced"]
        raise PredictionError(f"speech synthesis failed: {detail[0]}")
    ctx.note("speech_seconds", round(info.duration_s, 3))
    ctx.note("words_per_minute", wpm)
    return FfmpegJob(
        inputs=[*render.INPUT_PROTOCOLS, "-i", str(raw)],
        filtergraph=(
            f"[0:a]aresample={SPEECH_SAMPLE_RATE},"
            f"aformat=sample_fmts=s16:sample_rates={SPEECH_SAMPLE_RATE}:channel_layouts=mono[out]"
        ),
        output_args=render.audio_output_args("wav", SPEECH_SAMPLE_RATE, 1),
        duration_s=info.duration_s,
        media="audio",
    )


_WORD_CORE_RE = re.compile(r"[aeiouy]+|\d", re.IGNORECASE)
_CLOSERS = "\"')]}»”\u2019"


def speech_timeline(text: str, speed: float) -> tuple[list[tuple[float, float, float]], float]:
    """Voiced syllables ``(start_s, end_s, loudness)`` and the total length of ``text`` spoken.

    The length is ``(characters * CHAR_S + punctuation pauses) / speed`` with whitespace runs counted
    as one character: each word takes its characters' time, split evenly into syllables (vowel
    groups) with a short gap after each; spaces are silence; punctuation adds a pause after the word.
    """
    words = text.split()
    syllables: list[tuple[float, float, float]] = []
    t = 0.0
    for index, word in enumerate(words):
        span = len(word) * CHAR_S
        count = len(_WORD_CORE_RE.findall(word)) or (1 if any(c.isalnum() for c in word) else 0)
        slot = span / count if count else 0.0
        for k in range(count):
            start = t + k * slot
            syllables.append((start + 0.05 * slot, start + 0.85 * slot, 1.0 if k == 0 else 0.8))
        t += span
        bare = word.rstrip(_CLOSERS)
        trailing = bare[len(bare.rstrip("".join(PUNCTUATION_PAUSE_S))) :]
        t += max((PUNCTUATION_PAUSE_S[c] for c in trailing), default=0.0)
        if index < len(words) - 1:
            t += CHAR_S
    return [(a / speed, b / speed, level) for a, b, level in syllables], t / speed


def syllable_envelope(syllables: list[tuple[float, float, float]], duration_s: float) -> bytes:
    """The amplitude envelope at ``ENVELOPE_RATE`` as little-endian float32: a smooth bump per syllable."""
    envelope = array("f", bytes(4 * (math.ceil(duration_s * ENVELOPE_RATE) + 1)))
    for start, end, level in syllables:
        first, last = round(start * ENVELOPE_RATE), round(end * ENVELOPE_RATE)
        width = max(1, last - first)
        for i in range(first, min(last + 1, len(envelope))):
            envelope[i] = level * max(0.0, math.sin(math.pi * (i - first) / width)) ** 0.6
    if sys.byteorder != "little":
        envelope.byteswap()
    return envelope.tobytes()


def tone_track_job(envelope: Path, duration_s: float, pitch_hz: float) -> FfmpegJob:
    """A voiced buzz with gentle intonation, multiplied by the syllable envelope; 24 kHz mono WAV."""
    swing = 0.05 / (2 * math.pi * 0.8)  # +-5% pitch drift at 0.8 Hz, integrated into the phase
    buzz = (
        f"st(0,2*PI*{pitch_hz:.3f}*(t-{swing:.5f}*cos(2*PI*0.8*t)));"
        "0.5*sin(ld(0))+0.3*sin(2*ld(0))+0.2*sin(3*ld(0))+0.12*sin(4*ld(0))+0.08*sin(5*ld(0))"
        "+0.05*sin(6*ld(0))"
    )
    samples = max(1, round(duration_s * SPEECH_SAMPLE_RATE))
    mono = f"aformat=sample_fmts=flt:sample_rates={SPEECH_SAMPLE_RATE}:channel_layouts=mono"
    graph = (
        f"aevalsrc=exprs='{buzz}':s={SPEECH_SAMPLE_RATE}:c=mono:d={duration_s + 0.1:.4f},"
        f"highpass=f=70,lowpass=f=3400,{mono}[voice];"
        f"[0:a]aresample={SPEECH_SAMPLE_RATE},{mono}[env];"
        f"[voice][env]amultiply,volume=0.6,"
        f"aformat=sample_fmts=s16:sample_rates={SPEECH_SAMPLE_RATE}:channel_layouts=mono,"
        f"{render.exact_samples_filter(samples)}[out]"
    )
    raw = ["-f", "f32le", "-ar", str(ENVELOPE_RATE), "-ch_layout", "mono"]
    return FfmpegJob(
        inputs=[*render.INPUT_PROTOCOLS, *raw, "-i", str(envelope)],
        filtergraph=graph,
        output_args=render.audio_output_args("wav", SPEECH_SAMPLE_RATE, 1),
        duration_s=duration_s,
        media="audio",
    )


# --------------------------------------------------------------------------------------------- registry

register_model("meta/musicgen", render_musicgen)
register_model("jaaari/kokoro-82m", render_kokoro)
