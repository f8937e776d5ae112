"""Create-time input validation, as Replicate does it: the model's published JSON schema, checked
before any prediction exists, answered with a 422 whose ``invalid_fields`` name each problem.

Replicate validates with a JSON Schema validator (gojsonschema: its messages and error types are
what the API returns, e.g. ``- input.seed: Invalid type. Expected: integer, given: null``), so:

* no coercion: ``"5"`` is not an integer, ``null`` is not a value for an optional field;
  ``10.0`` is an integer (JSON numbers have no separate integer type);
* enums (Cog's ``allOf: [{$ref}]``), minimum/maximum, ``format: uri`` and required fields;
* unknown keys are ignored, not refused (Replicate has always dropped them; Cog's own strict
  check was reverted for that reason, replicate/cog#2943): the caller learns which were dropped.

A dozen JSON Schema keywords cover every schema in the catalog; a general validator
(jsonschema) would produce other messages than Replicate's, which is the point of this module.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from service.model_catalog import ModelEntry

from .errors import InputValidationError, InvalidField


@dataclass(frozen=True)
class CheckedInput:
    """The input the model receives (defaults filled in) and the keys Replicate dropped."""

    values: dict[str, Any]
    ignored: tuple[str, ...]


def json_type(value: Any) -> str:
    """The JSON Schema type name gojsonschema reports as ``given``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _matches_type(value: Any, expected: str) -> bool:
    given = json_type(value)
    if expected == "number":
        return given in ("integer", "number")
    return given == expected


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def check_input(entry: ModelEntry, raw: Any) -> CheckedInput:
    """Validate ``raw`` (the request's ``input``) against the model's Input schema."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        given = json_type(raw)
        raise InputValidationError(
            [InvalidField("input", "invalid_type", f"Invalid type. Expected: object, given: {given}")]
        )
    problems: list[InvalidField] = []
    values: dict[str, Any] = {}
    for name in entry.required:
        if name not in raw:
            problems.append(InvalidField("input", "required", f"{name} is required"))
    for name in entry.input_names:
        schema = entry.field(name)
        if name not in raw:
            if "default" in schema:
                values[name] = schema["default"]
            continue
        found = _check_value(entry, name, f"input.{name}", raw[name], schema)
        if found:
            problems.extend(found)
        else:
            values[name] = _normalise(raw[name], schema)
    if problems:
        raise InputValidationError(problems)
    ignored = tuple(key for key in raw if key not in entry.input_names)
    return CheckedInput(values, ignored)


def _normalise(value: Any, schema: dict[str, Any]) -> Any:
    if schema.get("type") == "integer" and isinstance(value, float):
        return int(value)
    return value


def _check_value(
    entry: ModelEntry, name: str, field: str, value: Any, schema: dict[str, Any]
) -> list[InvalidField]:
    expected = schema.get("type")
    if expected is not None and not _matches_type(value, expected):
        return [
            InvalidField(
                field, "invalid_type", f"Invalid type. Expected: {expected}, given: {json_type(value)}"
            )
        ]
    problems: list[InvalidField] = []
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(_literal(option) for option in schema["enum"])
        problems.append(InvalidField(field, "enum", f"{name} must be one of the following: {allowed}"))
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        problems.append(
            InvalidField(
                field, "number_gte", f"Must be greater than or equal to {_number(schema['minimum'])}"
            )
        )
    if "maximum" in schema and isinstance(value, int | float) and value > schema["maximum"]:
        problems.append(
            InvalidField(field, "number_lte", f"Must be less than or equal to {_number(schema['maximum'])}")
        )
    if schema.get("format") == "uri" and isinstance(value, str) and not _is_uri(value):
        problems.append(InvalidField(field, "format", "Does not match format 'uri'"))
    if expected == "array" and isinstance(value, list):
        items = entry.resolve(schema.get("items", {}))
        for index, item in enumerate(value):
            problems.extend(_check_value(entry, name, f"{field}.{index}", item, items))
    return problems


def _is_uri(value: str) -> bool:
    """gojsonschema's ``uri`` format: Go's url.Parse accepts it (no bad ``%`` escape, no control
    character, no space in the host), it has a scheme, and no backslash."""
    if _BAD_ESCAPE.search(value) or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and " " not in parts.netloc and "\\" not in value


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
