"""ffmpeg rendering primitives: probing, image decoding, filtergraphs and a progress-reporting runner.

Everything here is model-agnostic; ``models.py`` decides *what* to render and calls these helpers.
The ffmpeg binary is the one bundled with ``imageio-ffmpeg`` (there is no ffprobe, so probing
parses ``ffmpeg -i`` stderr).
"""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import imageio_ffmpeg

from .errors import PredictionCanceled, PredictionError

FPS = 24
ENCODER_THREADS = 2
# Inputs must never make ffmpeg open URLs or nested playlists on its own.
INPUT_PROTOCOLS = ["-protocol_whitelist", "file"]
_REALTIME_LIMIT_S = 1_000_000  # a pause longer than realtime's `limit` is skipped; we want real stalls
_STALL_SPEED = 1e-6  # a never-finishing render: ~1.1 hours of wall clock per output frame


@functools.cache
def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


# --------------------------------------------------------------------------------------------- formats


@dataclass(frozen=True)
class VideoFormat:
    width: int
    height: int
    fps: int = FPS

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def frames(self, duration_s: float) -> int:
        return round(duration_s * self.fps)


ASPECT_RATIOS: dict[str, VideoFormat] = {
    "16:9": VideoFormat(640, 360),
    "9:16": VideoFormat(360, 640),
    "1:1": VideoFormat(480, 480),
}


def h264_output_args(fmt: VideoFormat, frames: int) -> list[str]:
    """Encoder settings shared by every video model: small, fast, universally playable MP4."""
    return [
        "-frames:v", str(frames),
        "-r", str(fmt.fps),
        "-c:v", "libx264",
        "-preset", "veryfast",
        "-crf", "23",
        "-pix_fmt", "yuv420p",
        "-threads", str(ENCODER_THREADS),
        "-movflags", "+faststart",
        "-an",
        "-f", "mp4",
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float | None
    video_codec: str | None = None
    pix_fmt: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_audio: bool = False
    audio_codec: str | None = None


_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO_RE = re.compile(
    r"Stream #\S+.*?: Video: (?P<codec>\w+)[^,]*, (?P<pix>\w+)(?:\([^)]*\))?, (?P<w>\d+)x(?P<h>\d+)"
)
_FPS_RE = re.compile(r"(\d+(?:\.\d+)?) fps")
_AUDIO_RE = re.compile(r"Stream #\S+.*?: Audio: (\w+)")


def ffmpeg_info(path: Path | str) -> str:
    """``ffmpeg -i`` stderr: the description of a media file (the bundled ffmpeg has no ffprobe)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=30,
        check=False,
    )
    return proc.stderr


def probe(path: Path | str) -> MediaInfo:
    """Describe a media file from ``ffmpeg -i`` stderr."""
    return parse_probe_output(ffmpeg_info(path))


def parse_probe_output(stderr: str) -> MediaInfo:
    duration = None
    if m := _DURATION_RE.search(stderr):
        hours, minutes, seconds = m.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    video = _VIDEO_RE.search(stderr)
    fps = _FPS_RE.search(video.string[video.start() :].splitlines()[0]) if video else None
    audio = _AUDIO_RE.search(stderr)
    return MediaInfo(
        duration_s=duration,
        video_codec=video["codec"] if video else None,
        pix_fmt=video["pix"] if video else None,
        width=int(video["w"]) if video else None,
        height=int(video["h"]) if video else None,
        fps=float(fps.group(1)) if fps else None,
        has_audio=audio is not None,
        audio_codec=audio.group(1) if audio else None,
    )


# --------------------------------------------------------------------------------------------- text


def escape_filter_value(value: str) -> str:
    """Escape a string for use as an option value inside an ``-filter_complex`` graph.

    ffmpeg unescapes twice: first the filtergraph parser (``\\ ' [ ] , ;``), then the filter's own
    option parser (``\\ ' :``). We escape for the option level first and the graph level second.
    The result must be used unquoted (inside ``'...'`` backslashes are literal).
    """
    option_level = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


def subtitles_filter(ass_file: Path, fonts_dir: Path) -> str:
    """libass over the frame: the caption file and the folder of fonts it may use."""
    return f"ass=filename={escape_filter_value(str(ass_file))}:fontsdir={escape_filter_value(str(fonts_dir))}"


# --------------------------------------------------------------------------------------------- looks

# Keyword -> xfade transition; the keyword appearing earliest in the prompt wins.
TRANSITION_KEYWORDS: dict[str, str] = {
    "smooth": "fade",
    "energetic": "slideleft",
    "dramatic": "fadeblack",
    "dreamy": "dissolve",
    "zoom": "zoomin",
    "glitch": "pixelize",
}
DEFAULT_TRANSITION = "fade"

DREAM_KEYWORDS: dict[str, str] = {
    "cursed": "cursed",
    "unsettling": "cursed",
    "animated": "animated",
    "cartoon": "animated",
    "photorealistic": "realistic",
    "realistic": "realistic",
}
DREAM_STYLE_PRIORITY = ("cursed", "animated", "realistic")


def choose_transition(prompt: str) -> str:
    lowered = prompt.lower()
    hits = [(lowered.find(k), effect) for k, effect in TRANSITION_KEYWORDS.items() if k in lowered]
    return min(hits)[1] if hits else DEFAULT_TRANSITION


def choose_dream_style(prompt: str) -> str:
    lowered = prompt.lower()
    styles = {style for keyword, style in DREAM_KEYWORDS.items() if keyword in lowered}
    return next((s for s in DREAM_STYLE_PRIORITY if s in styles), "dreamy")


def prompt_seed(prompt: str) -> int:
    """A stable seed per prompt, so the same prompt always renders the same video."""
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")


def _palette(seed: int, count: int) -> list[str]:
    digest = hashlib.sha256(str(seed).encode()).digest()
    return [f"0x{digest[i * 3]:02x}{digest[i * 3 + 1]:02x}{digest[i * 3 + 2]:02x}" for i in range(count)]


def _colors(colors: Sequence[str]) -> str:
    return ":".join(f"c{i}={c}" for i, c in enumerate(colors)) + f":n={len(colors)}"


def dream_background(style: str, fmt: VideoFormat, duration_s: float, seed: int) -> tuple[list[str], str]:
    """(ffmpeg input args, filter chain applied to input 0) for an abstract animated background."""
    base = f"s={fmt.size}:r={fmt.fps}"
    if style == "realistic":  # smooth, natural sky/earth gradients drifting slowly
        natural = ["0x1e3c72", "0x6fa8dc", "0xf6d7b0", "0x5a7d4f"]
        src = f"gradients={base}:d={duration_s}:{_colors(natural)}:speed=0.004:seed={seed}"
        chain = "vignette=PI/5"
    elif style == "animated":  # bright, flat colour bands spinning like a cartoon backdrop
        bright = ["0xff3b3b", "0xffd400", "0x33cc33", "0x1e90ff", "0xff66cc", "0xffffff"]
        src = f"gradients={base}:d={duration_s}:{_colors(bright)}:type=spiral:speed=0.03:seed={seed}"
        flat = "val-mod(val\\,64)+32"
        chain = f"lutrgb=r='{flat}':g='{flat}':b='{flat}'"
    elif style == "cursed":  # noisy, hue-cycling, channel-split fractal zoom
        src = f"mandelbrot={base}:maxiter=150:start_scale=2:end_scale=0.05:end_pts=200"
        chain = "hue=H=2*PI*t/2:s=1.6,noise=c0s=16:allf=t+u,rgbashift=rh=-6:bh=6:gv=3"
        return ["-f", "lavfi", "-t", str(duration_s), "-i", src], chain
    else:  # dreamy default: soft radial gradients in prompt-derived colours, slowly shifting hue
        src = (
            f"gradients={base}:d={duration_s}:{_colors(_palette(seed, 4))}:type=radial:speed=0.02:seed={seed}"
        )
        chain = "hue=H=0.4*t"
    return ["-f", "lavfi", "-i", src], chain


# --------------------------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class FfmpegJob:
    """One ffmpeg invocation: inputs plus a filtergraph whose final pad is labelled ``[out]``."""

    inputs: list[str]
    filtergraph: str
    output_args: list[str]
    duration_s: float
    total_frames: int | None = None
    """For video: progress is reported in output frames; otherwise in tenths of a second."""
    media: Literal["video", "audio"] = "video"
    env: dict[str, str] | None = None
    """The process environment (None: inherit); text renders point FONTCONFIG_FILE at our fonts."""


def transition_job(
    start_png: Path, end_png: Path, fmt: VideoFormat, duration_s: int, effect: str
) -> FfmpegJob:
    """Start still (panning right) -> ``xfade`` -> end still (panning left), exactly ``duration_s`` long.

    The stills must already be decoded to ``pan_canvas(fmt)`` size by ``decode_image``.
    """
    fade = min(1.5, duration_s * 0.2)
    clip = (duration_s + fade) / 2  # two clips overlap by `fade`: clip + clip - fade == duration
    offset = clip - fade
    pan_x = f"(iw-ow)*t/{clip:.4f}"
    graph = (
        f"[0:v]crop={fmt.width}:{fmt.height}:x='{pan_x}':y='(ih-oh)/2',setsar=1,format=yuv420p[a];"
        f"[1:v]crop={fmt.width}:{fmt.height}:x='(iw-ow)-{pan_x}':y='(ih-oh)/2',setsar=1,format=yuv420p[b];"
        f"[a][b]xfade=transition={effect}:duration={fade:.4f}:offset={offset:.4f},fps={fmt.fps}[out]"
    )
    still = ["-loop", "1", "-framerate", str(fmt.fps), "-t", f"{clip:.4f}"]
    frames = fmt.frames(duration_s)
    return FfmpegJob(
        inputs=[*INPUT_PROTOCOLS, *still, "-i", str(start_png), *still, "-i", str(end_png)],
        filtergraph=graph,
        output_args=h264_output_args(fmt, frames),
        duration_s=duration_s,
        total_frames=frames,
    )


def still_job(image_png: Path, fmt: VideoFormat, duration_s: int) -> FfmpegJob:
    """Image-to-video with only a start image: a slow diagonal pan over it with a fade-in."""
    pan = f"t/{duration_s}"
    graph = (
        f"[0:v]crop={fmt.width}:{fmt.height}:x='(iw-ow)*{pan}':y='(ih-oh)*{pan}',setsar=1,"
        f"fade=t=in:d=0.5,format=yuv420p,fps={fmt.fps}[out]"
    )
    frames = fmt.frames(duration_s)
    still = ["-loop", "1", "-framerate", str(fmt.fps), "-t", str(duration_s)]
    return FfmpegJob(
        inputs=[*INPUT_PROTOCOLS, *still, "-i", str(image_png)],
        filtergraph=graph,
        output_args=h264_output_args(fmt, frames),
        duration_s=duration_s,
        total_frames=frames,
    )


def dream_job(
    style: str,
    fmt: VideoFormat,
    duration_s: int,
    seed: int,
    caption: tuple[Path, Path] | None,
    env: dict[str, str] | None = None,
) -> FfmpegJob:
    """An abstract animated card; ``caption`` is ``(ass_file, fonts_dir)`` or None for no text."""
    inputs, chain = dream_background(style, fmt, duration_s, seed)
    text = f",{subtitles_filter(*caption)}" if caption else ""
    frames = fmt.frames(duration_s)
    return FfmpegJob(
        inputs=inputs,
        filtergraph=f"[0:v]{chain}{text},setsar=1,format=yuv420p,fps={fmt.fps}[out]",
        output_args=h264_output_args(fmt, frames),
        duration_s=duration_s,
        total_frames=frames,
        env=env,
    )


def pan_canvas(fmt: VideoFormat) -> VideoFormat:
    """Stills are decoded ~10% larger than the output so the crop window has room to pan."""
    return VideoFormat(_even(fmt.width * 1.1), _even(fmt.height * 1.1), fmt.fps)


def _even(value: float) -> int:
    return int(round(value / 2) * 2)


def decode_image(src: Path, dest: Path, canvas: VideoFormat, field: str) -> Path:
    """Decode any ffmpeg-readable image, scaled and centre-cropped to cover ``canvas``, into a PNG."""
    cover = (
        f"scale={canvas.width}:{canvas.height}:force_original_aspect_ratio=increase,"
        f"crop={canvas.width}:{canvas.height},setsar=1"
    )
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *INPUT_PROTOCOLS]
    cmd += ["-i", str(src), "-frames:v", "1", "-vf", cover, "-f", "image2", "-c:v", "png", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PredictionError(f"Could not decode {field} as an image") from exc
    if proc.returncode != 0 or not dest.is_file() or dest.stat().st_size == 0:
        raise PredictionError(f"Could not decode {field} as an image")
    return dest


# --------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Pacing:
    """Slow a render down so it fills wall-clock time (``realtime`` filter), or stall it for good.

    ``speed`` is media seconds per wall second (None: as fast as possible). ``stall_at_s``: from this
    media timestamp on, the render crawls at ~1 frame per hour, i.e. it never finishes but burns no CPU.
    """

    speed: float | None = None
    stall_at_s: float | None = None

    def filter_suffix(self, media: Literal["video", "audio"]) -> str:
        if self.speed is None and self.stall_at_s is None:
            return ""
        prefix = "a" if media == "audio" else ""
        speed = self.speed if self.speed is not None else 1e6
        stall = (
            f"{prefix}sendcmd=c='{self.stall_at_s:.3f} {prefix}realtime speed {_STALL_SPEED}',"
            if self.stall_at_s is not None
            else ""
        )
        return f"{stall}{prefix}realtime=speed={speed:.6f}:limit={_REALTIME_LIMIT_S}"


@dataclass
class FfmpegRun:
    """Callbacks binding a render to its prediction (process registry, progress log, cancellation)."""

    on_start: Callable[[subprocess.Popen[str]], None]
    on_exit: Callable[[subprocess.Popen[str]], None]
    on_progress: Callable[[int, int], None]
    canceled: threading.Event
    pacing: Pacing = field(default_factory=Pacing)


def build_command(job: FfmpegJob, output: Path, pacing: Pacing) -> list[str]:
    suffix = pacing.filter_suffix(job.media)
    graph = (
        f"{job.filtergraph};[out]{suffix}[final]" if suffix else job.filtergraph.replace("[out]", "[final]")
    )
    return [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        *job.inputs,
        "-filter_complex", graph, "-filter_complex_threads", "1",
        "-map", "[final]",
        *job.output_args,
        "-progress", "pipe:1", "-nostats", "-stats_period", "0.1",
        str(output),
    ]  # fmt: skip


def run_ffmpeg(job: FfmpegJob, output: Path, run: FfmpegRun, stderr_log: Path) -> None:
    """Run one render, streaming ``-progress`` into ``run.on_progress(current, total)``.

    Raises PredictionCanceled if ``run.canceled`` got set (the canceller kills the process) and
    PredictionError if ffmpeg fails for any other reason.
    """
    cmd = build_command(job, output, run.pacing)
    with stderr_log.open("w") as err:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True, env=job.env
        )
        run.on_start(proc)
        try:
            _pump_progress(proc.stdout, job, run.on_progress)
            returncode = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            run.on_exit(proc)
    if run.canceled.is_set():
        raise PredictionCanceled()
    if returncode != 0:
        tail = stderr_log.read_text(errors="replace").strip().splitlines()[-3:]
        raise PredictionError(f"ffmpeg exited with status {returncode}: {' | '.join(tail) or 'no output'}")


def _pump_progress(stream: IO[str] | None, job: FfmpegJob, on_progress: Callable[[int, int], None]) -> None:
    if stream is None:
        return
    total = job.total_frames or max(1, round(job.duration_s * 10))
    for line in stream:
        key, _, value = line.strip().partition("=")
        if job.total_frames and key == "frame" and value.isdigit():
            on_progress(min(int(value), total), total)
        elif not job.total_frames and key == "out_time_us" and value.lstrip("-").isdigit():
            on_progress(max(0, min(int(value) // 100_000, total)), total)


# --------------------------------------------------------------------------------------------- progress


def tqdm_line(current: int, total: int, elapsed_s: float) -> str:
    """A tqdm-style progress line, the format ``replicate.Prediction.progress`` parses."""
    fraction = 0.0 if total <= 0 else min(1.0, current / total)
    width = 10
    filled = fraction * width
    partials = " ▏▎▍▌▋▊▉"
    bar = "█" * int(filled)
    if len(bar) < width:
        bar += partials[int((filled - int(filled)) * len(partials))]
    bar = bar.ljust(width)
    rate = current / elapsed_s if elapsed_s > 0 else 0.0
    remaining = (total - current) / rate if rate > 0 else 0.0
    return (
        f"{int(fraction * 100):3d}%|{bar}| {current}/{total} "
        f"[{_clock(elapsed_s)}<{_clock(remaining)}, {rate:.2f}it/s]"
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


# --------------------------------------------------------------------------------------------- audio


@functools.cache
def ffmpeg_has_encoder(name: str) -> bool:
    """Whether the bundled ffmpeg was built with encoder ``name`` (e.g. ``libmp3lame``)."""
    try:
        proc = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-encoders"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    # Lines look like " A....D libmp3lame           libmp3lame MP3 (MPEG audio layer 3) (codec mp3)"
    return any(line.split()[1:2] == [name] for line in proc.stdout.splitlines() if line.startswith(" "))


AudioFormat = Literal["wav", "mp3"]


def audio_output_args(fmt: AudioFormat, sample_rate: int, channels: int) -> list[str]:
    """Encoder settings for audio models: 16-bit PCM WAV, or 192 kbit/s MP3 (needs ``libmp3lame``)."""
    codec = ["-c:a", "pcm_s16le", "-f", "wav"] if fmt == "wav" else ["-c:a", "libmp3lame", "-b:a", "192k"]
    if fmt == "mp3":
        codec += ["-f", "mp3"]
    return ["-vn", "-ar", str(sample_rate), "-ac", str(channels), "-map_metadata", "-1", *codec]


def exact_samples_filter(samples: int) -> str:
    """A filter chain forcing an audio stream to exactly ``samples`` samples (pad with silence/trim)."""
    return f"apad=whole_len={samples},atrim=end_sample={samples}"


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float | None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None


_AUDIO_DETAIL_RE = re.compile(
    r"Stream #\S+.*?: Audio: (?P<codec>\w+)[^,\n]*, (?P<rate>\d+) Hz, (?P<layout>[^,\n]+)"
)
_CHANNEL_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}


def probe_audio(path: Path | str) -> AudioInfo:
    """Duration, codec, sample rate and channel count of an audio file (from ``ffmpeg -i`` stderr)."""
    return parse_audio_probe_output(ffmpeg_info(path))


def parse_audio_probe_output(stderr: str) -> AudioInfo:
    duration = parse_probe_output(stderr).duration_s
    m = _AUDIO_DETAIL_RE.search(stderr)
    if m is None:
        return AudioInfo(duration_s=duration)
    layout = m["layout"].strip()
    counted = re.match(r"(\d+) channels", layout)
    channels = int(counted.group(1)) if counted else _CHANNEL_LAYOUTS.get(layout.split("(")[0])
    return AudioInfo(duration, m["codec"], int(m["rate"]), channels)
