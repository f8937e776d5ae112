"""The video models, ``kwaivgi/kling-v1.6-pro`` and ``kwaivgi/kling-v1.6-standard``: real H.264 MP4s.

* start and end image: a transition between the two stills (the effect follows prompt keywords);
* one image: a slow pan over it;
* no image (Standard only; Pro requires a start or end image, as its schema says): a *dream card*,
  an animated background in the style the prompt names, with the dream written on it.

The dream card shows the user's own words. The service's dream recipe puts them between
typographic quotes (“…”) inside its longer prompt, so the card shows what stands between the first
“ and the last ” (the whole prompt when there are none): whole, wrapped by libass, sized to fit,
in any script (the service's fonts, the same fallback as burned-in subtitles).

Like the real models (whose provider reports only a task status), they print no percentage:
a few status lines, nothing a client can read progress from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.adapters.compose import ass_text
from service.adapters.fonts import FONTS_DIR, PRIMARY_FAMILY, fontconfig_env

from . import render
from .errors import PredictionError
from .models import RenderContext, register_model
from .render import FfmpegJob

OPEN_QUOTE, CLOSE_QUOTE = "\u201c", "\u201d"


def render_kling(ctx: RenderContext, inp: dict[str, Any]) -> Path:
    fmt = render.ASPECT_RATIOS[inp["aspect_ratio"]]
    duration: int = inp["duration"]
    prompt: str = inp["prompt"]
    seed = render.prompt_seed(prompt)
    start, end = inp.get("start_image"), inp.get("end_image")
    ctx.log("Starting video generation")
    if start and end:
        job = _transition(ctx, prompt, start, end, fmt, duration)
    elif start or end:
        field, url = ("start_image", start) if start else ("end_image", end)
        job = render.still_job(_load_still(ctx, field, str(url), fmt), fmt, duration)
        ctx.note("mode", f"pan over {field}")
    elif ctx.model_id.endswith("-pro"):
        raise PredictionError("A start or end image is required")
    else:
        job = _dream_card(ctx, prompt, fmt, duration, seed)
    ctx.log("Generating video...")
    output = ctx.run_ffmpeg(job, ctx.workdir / "output.mp4")
    ctx.log("Video generated")
    return output


def _transition(
    ctx: RenderContext, prompt: str, start: str, end: str, fmt: render.VideoFormat, duration: int
) -> FfmpegJob:
    start_png = _load_still(ctx, "start_image", start, fmt)
    end_png = _load_still(ctx, "end_image", end, fmt)
    effect = render.choose_transition(prompt)
    ctx.note("transition_effect", effect)
    return render.transition_job(start_png, end_png, fmt, duration, effect)


def _load_still(ctx: RenderContext, field_name: str, url: str, fmt: render.VideoFormat) -> Path:
    raw = ctx.fetch(field_name, url)
    ctx.check_canceled()
    return render.decode_image(raw, ctx.workdir / f"{field_name}.png", render.pan_canvas(fmt), field_name)


def user_words(prompt: str) -> str:
    """The part of the prompt a person wrote: between the first “ and the last ”, else all of it."""
    first, last = prompt.find(OPEN_QUOTE), prompt.rfind(CLOSE_QUOTE)
    if 0 <= first < last:
        return prompt[first + 1 : last].strip()
    return prompt.strip()


def caption_size(text: str, fmt: render.VideoFormat) -> int:
    """A font size at which ``text`` fits, wrapped, in the lower 80% of the frame: a glyph takes about
    0.55 em across (a CJK one or an emoji twice that) and a line 1.3 em, in 85% of the width."""
    units = sum(2 if ord(ch) >= 0x1100 else 1 for ch in text) or 1
    fitting = (0.85 * fmt.width * 0.8 * fmt.height / (units * 0.55 * 1.3)) ** 0.5
    return int(max(10, min(fmt.height / 11, fitting)))


def caption_ass(text: str, fmt: render.VideoFormat) -> str:
    size = caption_size(text, fmt)
    margin = max(8, fmt.width // 14)
    style = ",".join(
        [
            "Card", PRIMARY_FAMILY, str(size), "&H00FFFFFF", "&H000000FF", "&H00000000", "&H73000000",
            "0", "0", "0", "0", "100", "100", "0", "0", "3", str(max(2, size // 3)), "0", "2",
            str(margin), str(margin), str(max(8, fmt.height // 12)), "-1",
        ]
    )  # fmt: skip
    return "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {fmt.width}",
            f"PlayResY: {fmt.height}",
            "WrapStyle: 0",
            "ScaledBorderAndShadow: yes",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
            "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
            "Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
            f"Style: {style}",
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
            f"Dialogue: 0,0:00:00.00,9:59:59.00,Card,,0,0,0,,{ass_text(text)}",
            "",
        ]
    )


def _dream_card(
    ctx: RenderContext, prompt: str, fmt: render.VideoFormat, duration: int, seed: int
) -> FfmpegJob:
    style = render.choose_dream_style(prompt)
    words = " ".join("".join(ch if ch.isprintable() else " " for ch in user_words(prompt)).split())
    ctx.note("dream_style", style)
    ctx.note("caption", words)
    caption: tuple[Path, Path] | None = None
    if words:
        ass_file = ctx.workdir / "caption.ass"
        ass_file.write_text(caption_ass(words, fmt), encoding="utf-8")
        caption = (ass_file, FONTS_DIR)
    return render.dream_job(style, fmt, duration, seed, caption, env=fontconfig_env())


for _model in ("kwaivgi/kling-v1.6-pro", "kwaivgi/kling-v1.6-standard"):
    register_model(_model, render_kling)
