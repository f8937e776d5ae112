"""Loads the one ASL file with its ``${Placeholder}`` substitutions, as CDK's Fn::Sub does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from service.catalog import STATE_MACHINE_DEFINITION

ROOT = Path(__file__).resolve().parent.parent
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def asl_path() -> Path:
    return ROOT / STATE_MACHINE_DEFINITION


def placeholders(text: str | None = None) -> set[str]:
    return set(_PLACEHOLDER.findall(text if text is not None else asl_path().read_text()))


def render(substitutions: dict[str, str]) -> str:
    """The definition with every placeholder replaced; unknown or missing ones are an error."""
    text = asl_path().read_text()
    missing = placeholders(text) - substitutions.keys()
    if missing:
        raise KeyError(f"No value for ASL placeholder(s): {', '.join(sorted(missing))}")
    rendered = _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)
    json.loads(rendered)  # fail here, not in Step Functions, if a substitution broke the JSON
    return rendered


def load(substitutions: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(render(substitutions)))
