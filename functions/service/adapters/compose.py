"""Compose the final MP4 with ffmpeg: burned-in subtitles, music ducked under the voiceover.

Workflow-only (Finalize). Subtitles are rendered by libass from an ASS file we write, with the
fonts shipped in ``service/assets/fonts`` (Lambda has no system fonts): DejaVu Sans first, then,
through fontconfig fallback, CJK, Korean, Arabic, Hebrew and emoji faces (``adapters.fonts``).
libass shapes with FriBidi and HarfBuzz, so right-to-left text and Arabic joining come out right.
Output: exactly ``duration`` seconds, H.264 yuv420p (+ AAC when there is any audio), faststart.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from service.adapters.ffmpeg import ffmpeg_exe, probe
from service.adapters.fonts import FONTS_DIR, PRIMARY_FAMILY, fontconfig_env
from service.domain.errors import OutputUnavailable
from service.models.domain import ComposeSpec, Cue

_SIZE = re.compile(r"Video: [^\n]*?, (\d{2,5})x(\d{2,5})")


class ComposeError(Exception):
    """Our own ffmpeg step failed: an internal error, not something to show the task's owner."""


@dataclass(frozen=True)
class SubtitleLook:
    """An ASS style, sized relative to the video height."""

    font: str
    size: float  # fraction of the video height
    bold: bool
    primary: str  # &HAABBGGRR
    outline_colour: str
    back_colour: str
    border_style: int  # 1 outline + shadow, 3 opaque box
    outline: float
    shadow: float


#: The subtitle styles of the API (``SubtitleStyle``), defined once.
SUBTITLE_LOOKS: dict[str, SubtitleLook] = {
    "default": SubtitleLook(
        PRIMARY_FAMILY, 0.060, False, "&H00FFFFFF", "&H00000000", "&H80000000", 1, 2.0, 1.0
    ),
    "bold": SubtitleLook(PRIMARY_FAMILY, 0.075, True, "&H0000FFFF", "&H00000000", "&H00000000", 1, 3.5, 1.5),
    "minimal": SubtitleLook(
        PRIMARY_FAMILY, 0.045, False, "&H00FFFFFF", "&H99000000", "&H99000000", 3, 1.0, 0.0
    ),
}

#: Not "Default": libass maps any style called "default" (any case) to its own built-in style.
STYLE_NAME = "VideoGen"

#: ``SubtitlePosition`` → ASS numpad alignment (2 bottom-centre, 5 middle-centre, 8 top-centre).
ALIGNMENT: dict[str, int] = {"bottom": 2, "middle": 5, "top": 8}

#: Band of the frame (as fractions of the height) where each position's text lands; tests use it.
BANDS: dict[str, tuple[float, float]] = {"top": (0.0, 0.3), "middle": (0.35, 0.65), "bottom": (0.7, 1.0)}


def video_size(path: str) -> tuple[int, int]:
    match = _SIZE.search(probe(path))
    if match is None:
        raise OutputUnavailable("The model's output is not a readable video")
    return int(match.group(1)), int(match.group(2))


def _ass_time(seconds: float) -> str:
    centis = round(seconds * 100)
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6_000)
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def ass_text(text: str) -> str:
    """ASS treats ``{…}`` as override tags and ``\\`` as escapes; show them as plain text."""
    return text.replace("\\", "/").replace("{", "(").replace("}", ")").replace("\n", "\\N")


def ass_document(cues: list[Cue], style: str, position: str, width: int, height: int) -> str:
    look = SUBTITLE_LOOKS[style]
    margin_v = round(height * 0.06)
    fields = [
        STYLE_NAME, look.font, str(round(height * look.size)), look.primary, "&H000000FF",
        look.outline_colour, look.back_colour, "-1" if look.bold else "0", "0", "0", "0", "100", "100",
        "0", "0", str(look.border_style), f"{look.outline:g}", f"{look.shadow:g}",
        str(ALIGNMENT[position]), "20", "20", str(margin_v), "-1",
    ]  # fmt: skip
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        "Style: " + ",".join(fields),
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    for cue in cues:
        lines.append(
            f"Dialogue: 0,{_ass_time(cue.start)},{_ass_time(cue.end)},{STYLE_NAME},,0,0,0,,{ass_text(cue.text)}"
        )
    return "\n".join(lines) + "\n"


def webvtt(cues: list[Cue]) -> str:
    """The subtitles as a WebVTT file (published beside the video)."""

    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        hours, rest = divmod(millis, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"

    blocks = ["WEBVTT", ""]
    for index, cue in enumerate(sorted(cues, key=lambda c: c.start), start=1):
        text = cue.text.replace("-->", "->")
        blocks += [str(index), f"{stamp(cue.start)} --> {stamp(cue.end)}", text, ""]
    return "\n".join(blocks)


def _filter_path(path: Path) -> str:
    """A path inside a filter argument: escaped for the filter parser, then for the graph."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def subtitles_filter(ass: Path) -> str:
    """libass over the video with our fonts; run the ffmpeg with ``fontconfig_env()`` so that the
    fallback for characters DejaVu lacks (CJK, emoji, ...) finds them."""
    return f"ass=filename='{_filter_path(ass)}':fontsdir='{_filter_path(FONTS_DIR)}'"


def compose(
    video: Path,
    out: Path,
    *,
    duration: int,
    spec: ComposeSpec,
    music: Path | None = None,
    voice: Path | None = None,
    workdir: Path,
) -> None:
    """Write the final MP4 to ``out``."""
    width, height = video_size(str(video))
    inputs = ["-i", str(video)]
    video_chain = "[0:v]"
    if spec.subtitles:
        ass = workdir / "subtitles.ass"
        ass.write_text(
            ass_document(spec.subtitles, spec.subtitle_style, spec.subtitle_position, width, height),
            encoding="utf-8",
        )
        video_chain += f"{subtitles_filter(ass)},"
    # Hold the last frame if the model's clip is short, then cut at exactly `duration`.
    video_chain += f"tpad=stop_mode=clone:stop_duration={duration},trim=0:{duration},setpts=PTS-STARTPTS,format=yuv420p[v]"
    graph = [video_chain]
    audio_labels = []
    for label, path in (("m", music), ("s", voice)):
        if path is not None:
            index = len(inputs) // 2
            inputs += ["-i", str(path)]
            gain = "volume=0.5," if label == "m" else ""
            fades = f"afade=t=in:d=0.3,afade=t=out:st={max(duration - 1, 0)}:d=1," if label == "m" else ""
            graph.append(
                f"[{index}:a]aresample=44100,aformat=channel_layouts=stereo,{gain}{fades}"
                f"apad,atrim=0:{duration},asetpts=PTS-STARTPTS[{label}]"
            )
            audio_labels.append(label)
    if audio_labels == ["m", "s"]:
        # Duck the music under the voice: the voice drives a compressor on the music.
        graph.append("[s]asplit=2[skey][smix]")
        graph.append("[m][skey]sidechaincompress=threshold=0.02:ratio=12:attack=15:release=400[duck]")
        graph.append("[duck][smix]amix=inputs=2:duration=first:normalize=0[a]")
    elif audio_labels:
        graph.append(f"[{audio_labels[0]}]anull[a]")
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs,
               "-filter_complex", ";".join(graph), "-map", "[v]"]  # fmt: skip
    if audio_labels:
        command += ["-map", "[a]", "-c:a", "aac", "-b:a", "128k", "-ar", "44100"]
    else:
        command += ["-an"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-t", str(duration), str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=fontconfig_env())
    if result.returncode != 0:
        raise ComposeError(f"ffmpeg failed composing the video: {result.stderr.strip()[-400:]}")
