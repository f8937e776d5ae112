"""Burned-in subtitles in every script a user may type, proven on pixels.

A character no shipped font has is drawn as the primary font's "missing glyph" box (tofu): every
such character looks the same. So a script renders when each of its characters draws a shape of
its own, none of them the box; right-to-left text when "שלום!" looks exactly like its visual
order forced left-to-right; Arabic joining when a word looks different from its letters kept
apart. Each ffmpeg runs as Finalize runs it (``compose.subtitles_filter`` with ``fontconfig_env``:
only our fonts, as on Lambda), and a control run with DejaVu alone shows the check catching tofu.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from service.adapters.compose import ass_document, subtitles_filter
from service.adapters.fonts import FONTS_DIR, font_files, fontconfig_env
from service.models.domain import Cue

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
W, H = 640, 360
TOFU_PROBE = "\ue000"  # private use: no font draws it
LRO, PDF = "\u202d", "\u202c"  # left-to-right override ... pop

SCRIPTS = {
    "Japanese": "こんにちは世界",
    "Chinese": "你好中国",
    "Korean": "안녕하세요",
    "Arabic": "سلامع",
    "Hebrew": "שלוםע",
    "emoji": "😀🎉🚀🐋",
}


def render(text: str, folder: Path, env: dict[str, str] | None = None, style: str = "default") -> bytes:
    """One frame of ``text`` burned in, white on black, as 8-bit gray pixels row by row."""
    ass = folder / f"{hashlib.sha256(f'{text}|{style}'.encode()).hexdigest()[:16]}.ass"
    ass.write_text(ass_document([Cue(start=0, end=5, text=text)], style, "middle", W, H), encoding="utf-8")
    command = [
        FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", f"color=c=black:s={W}x{H}:r=24",
        "-vf", subtitles_filter(ass), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, check=True, env=env or fontconfig_env()).stdout


def ink(frame: bytes) -> tuple[int, int, bytes]:
    """The drawn shape: width, height and thresholded pixels of the box around the white ink."""
    rows = [frame[y * W : (y + 1) * W] for y in range(H)]
    lit = [(x, y) for y, row in enumerate(rows) for x, value in enumerate(row) if value > 128]
    assert lit, "nothing was drawn at all"
    left, right = min(x for x, _ in lit), max(x for x, _ in lit)
    top, bottom = min(y for _, y in lit), max(y for _, y in lit)
    shape = bytes(
        1 if rows[y][x] > 128 else 0 for y in range(top, bottom + 1) for x in range(left, right + 1)
    )
    return right - left + 1, bottom - top + 1, shape


def differing(a: bytes, b: bytes) -> int:
    return sum(abs(x - y) > 40 for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scripts")


@pytest.fixture(scope="module")
def dejavu_only(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a Lambda that shipped DejaVu alone (what we had before)."""
    fonts = tmp_path_factory.mktemp("dejavu-only")
    shutil.copy(FONTS_DIR / "DejaVuSans.ttf", fonts)
    config = fonts / "fonts.conf"
    config.write_text(
        f'<?xml version="1.0"?>\n<fontconfig><dir>{fonts}</dir><cachedir>{fonts / "cache"}</cachedir></fontconfig>\n'
    )
    return {**os.environ, "FONTCONFIG_FILE": str(config)}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_every_character_draws_a_shape_of_its_own_not_the_missing_glyph_box(
    script: str, folder: Path
) -> None:
    tofu = ink(render(TOFU_PROBE, folder))
    shapes = {ch: ink(render(ch, folder)) for ch in SCRIPTS[script]}
    assert tofu not in shapes.values(), [ch for ch, shape in shapes.items() if shape == tofu]
    assert len(set(shapes.values())) == len(shapes), "two characters drew the same shape"


def test_the_check_catches_tofu_when_the_fonts_are_missing(folder: Path, dejavu_only: dict[str, str]) -> None:
    tofu = ink(render(TOFU_PROBE, folder, dejavu_only))
    assert {ink(render(ch, folder, dejavu_only)) for ch in "こん안녕🎉🚀"} == {
        tofu
    }  # Japanese, Korean, emoji


def test_hebrew_reads_right_to_left_with_its_punctuation_on_the_left(folder: Path) -> None:
    logical = render("שלום עולם!", folder)
    visual = render(f"{LRO}!םלוע םולש{PDF}", folder)  # the same glyphs, forced into the visual order
    left_to_right = render(f"{LRO}שלום עולם!{PDF}", folder)  # what a renderer without bidi would show
    drawn = sum(value > 128 for value in logical)
    assert differing(logical, visual) < 0.05 * drawn
    assert differing(logical, left_to_right) > 0.3 * drawn


def test_arabic_letters_join(folder: Path) -> None:
    joined = render("سلام عليكم", folder)
    apart = render("\u200c".join("سلام") + " " + "\u200c".join("عليكم"), folder)  # zero-width non-joiners
    assert differing(joined, apart) > 0.2 * sum(value > 128 for value in joined)


def test_mixed_scripts_in_one_line_and_every_style(folder: Path) -> None:
    line = "Hello こんにちは 안녕 مرحبا שלום 🎉"
    for style in ("default", "bold", "minimal"):
        width, height, _ = ink(render(line, folder, style=style))
        assert width > W // 3 and height > 10


def test_the_shipped_fonts_fit_the_code_asset_budget() -> None:
    """Every font has its licence beside it; together they stay small (measured: 12.1 MiB)."""
    sizes = {path.name: path.stat().st_size for path in font_files()}
    assert sum(sizes.values()) < 15 * 1024 * 1024, sizes
    licences = {p.name for p in FONTS_DIR.glob("LICENSE-*")}
    assert licences == {
        "LICENSE-Apache-2.0.txt",
        "LICENSE-DejaVu.txt",
        "LICENSE-Nanum-OFL.txt",
        "LICENSE-Noto-OFL.txt",
    }
    readme = (FONTS_DIR / "README.md").read_text()
    assert all(name in readme for name in sizes), "every font is listed with its source and licence"
