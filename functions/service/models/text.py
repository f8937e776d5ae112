"""Text that clients send: what a text field accepts, checked before anything else touches it.

Control characters do harm far from where they were typed: libass reads a carriage return in a
subtitle as a line break (and then an ASS header injected after it), WebVTT ends a cue at a blank
line, logs and terminals obey escapes, a NUL truncates in C code. So no text field accepts C0
controls, DEL, C1 controls or the Unicode line and paragraph separators (U+2028, U+2029), nor
lone surrogates (not Unicode at all: they cannot even be encoded as UTF-8). Fields meant to hold
several lines (a prompt, a subtitle, a voiceover text) accept a line feed, ``\\n``, and only that.

The check runs before pydantic strips surrounding whitespace, so a trailing ``\\r`` is refused
too rather than silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMES = {
    "\x00": "a NUL character",
    "\t": "a tab",
    "\n": "a line feed",
    "\x0b": "a vertical tab",
    "\x0c": "a form feed",
    "\r": "a carriage return",
    "\x1b": "an escape character",
    "\x7f": "a delete character",
    "\x85": "a next-line character",
    "\u2028": "a line separator",
    "\u2029": "a paragraph separator",
}


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if "\ud800" <= char <= "\udfff":
        return f"a lone surrogate ({code}), which is not valid Unicode"
    return f"{_NAMES.get(char, 'a control character')} ({code})"


def check_text(value: Any, *, multiline: bool = False) -> Any:
    """Raise a 422-ready error for the first forbidden character of ``value`` (other types pass:
    the field's own type check answers them)."""
    if not isinstance(value, str):
        return value
    for match in _FORBIDDEN.finditer(value):
        char = match.group()
        if multiline and char == "\n":
            continue
        allowed = " (line breaks are written \\n)" if multiline else ""
        raise PydanticCustomError(
            "control_character",
            "text must not contain control characters: found {found} at position {position}" + allowed,
            {"found": _describe(char), "position": match.start()},
        )
    return value


def plain_text() -> BeforeValidator:
    """One line of text: no control character at all."""
    return BeforeValidator(lambda value: check_text(value, multiline=False))


def multiline_text() -> BeforeValidator:
    """Lines of text: line feeds allowed, no other control character."""
    return BeforeValidator(lambda value: check_text(value, multiline=True))


def not_blank(field: str, *, empty_allowed: bool = False) -> BeforeValidator:
    """Refuse text made only of whitespace (``"   "``): it says nothing, and stripped it would
    silently become something else. ``empty_allowed``: ``""`` means "none" for an optional field."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and not value.strip() and (value or not empty_allowed):
            hint = f': send text, or "" for no {field}' if empty_allowed else ""
            raise PydanticCustomError("blank_text", "{field} must not be blank" + hint, {"field": field})
        return value

    return BeforeValidator(check)
