"""The fonts shipped in the code asset, and the fontconfig set-up that lets libass fall back to them.

Lambda has no system fonts (and no ``/etc/fonts``). libass draws a character missing from the
style's font with a *fallback* font, and it finds that font through fontconfig, not through the
``fontsdir`` it was given: without a fontconfig that knows our fonts, every Japanese, Korean or
emoji character would come out as an empty box. So each ffmpeg that renders text gets
``FONTCONFIG_FILE`` pointing at a two-line configuration naming only our fonts folder (the same
on a developer machine, where system fonts would otherwise mask a missing font), with its cache
in the writable temporary folder.

``assets/fonts/README.md`` lists each font, its source and its licence.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

FONTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"

#: The family every style names first; the others are reached by fallback.
PRIMARY_FAMILY = "DejaVu Sans"


@cache
def fontconfig_file() -> Path:
    """A fontconfig configuration listing only our fonts, written once per process to /tmp."""
    folder = Path(tempfile.gettempdir()) / f"videogen-fontconfig-{os.getuid()}"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{escape(str(FONTS_DIR))}</dir>\n"
        f"  <cachedir>{escape(str(folder / 'cache'))}</cachedir>\n"
        "</fontconfig>\n",
        encoding="utf-8",
    )
    return config


def fontconfig_env() -> dict[str, str]:
    """The environment for an ffmpeg that draws text with our fonts."""
    return {**os.environ, "FONTCONFIG_FILE": str(fontconfig_file())}


def font_files() -> list[Path]:
    return sorted(p for p in FONTS_DIR.iterdir() if p.suffix.lower() in (".ttf", ".otf"))
