"""The model catalog: every Replicate model the service may call, read from ``model_catalog.json``.

One declarative place (data, not code paths): addressing (official models run by ``owner/name``,
community models only by ``owner/name:version``), the input schema exactly as Replicate publishes
it (Cog's OpenAPI components), the output shape, what each model prints to its logs, and the
public source of every fact. The functions read it at cold start (settings refuse a model the
catalog does not describe for that role, or a community model without its version); recipes,
progress and error messages use it; the Replicate emulator serves and enforces the same data.

Standard library only: the API functions import it at cold start.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

CATALOG_FILE = Path(__file__).resolve().with_name("model_catalog.json")

Role = Literal["transition", "dream", "music", "speech"]
ROLES: tuple[Role, ...] = ("transition", "dream", "music", "speech")
LogFormat = Literal["none", "tqdm", "audiocraft"]

#: ``owner/name`` or ``owner/name:<64 hex>``: how Replicate names models and versions.
_REF = re.compile(r"^(?P<id>[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*)(?::(?P<version>[0-9a-f]{64}))?$")


class CatalogError(ValueError):
    """A model reference the catalog cannot vouch for (unknown, wrong role, community without version)."""


@dataclass(frozen=True)
class Source:
    url: str
    what: str


@dataclass(frozen=True)
class ProgressHint:
    """What the model prints while it runs, and how long a run typically takes."""

    logs: LogFormat
    typical_seconds: float


@dataclass(frozen=True)
class ModelEntry:
    id: str
    official: bool
    version: str
    roles: tuple[Role, ...]
    description: str
    progress: ProgressHint
    schemas: dict[str, Any]
    sources: tuple[Source, ...]
    notes: str = ""

    @property
    def owner(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]

    @property
    def ref(self) -> str:
        """How to address it: by name if official, else pinned to the catalog's version."""
        return self.id if self.official else f"{self.id}:{self.version}"

    @property
    def input_schema(self) -> dict[str, Any]:
        return dict(self.schemas["Input"])

    @property
    def output_schema(self) -> dict[str, Any]:
        return dict(self.schemas["Output"])

    @property
    def input_names(self) -> tuple[str, ...]:
        properties: dict[str, Any] = self.schemas["Input"]["properties"]
        return tuple(sorted(properties, key=lambda name: properties[name].get("x-order", 0)))

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.schemas["Input"].get("required", ()))

    def field(self, name: str) -> dict[str, Any]:
        """One input's schema with Cog's ``allOf: [{$ref}]`` enum indirection resolved."""
        schema = dict(self.schemas["Input"]["properties"][name])
        for part in schema.pop("allOf", []):
            schema = {**self.resolve(part), **schema}
        return schema

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        reference = schema.get("$ref")
        if reference is None:
            return schema
        prefix = "#/components/schemas/"
        if not str(reference).startswith(prefix):
            raise CatalogError(f"{self.id}: unsupported reference {reference!r}")
        return dict(self.schemas[str(reference)[len(prefix) :]])


@dataclass(frozen=True)
class ModelRef:
    id: str
    version: str | None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        match = _REF.match(text.strip())
        if match is None:
            raise CatalogError(
                f"{text!r} is not a model reference: expected 'owner/name' or 'owner/name:<64-hex version id>'"
            )
        return cls(match["id"], match["version"])

    def __str__(self) -> str:
        return f"{self.id}:{self.version}" if self.version else self.id


@dataclass(frozen=True)
class ModelCatalog:
    models: dict[str, ModelEntry]
    defaults: dict[Role, str]
    checked: str

    def get(self, model_id: str) -> ModelEntry | None:
        return self.models.get(model_id)

    def by_version(self, version: str) -> ModelEntry | None:
        return next((m for m in self.models.values() if m.version == version), None)

    def entry_for(self, ref: str) -> ModelEntry | None:
        """The entry a reference names (``owner/name`` or ``owner/name:version``), if any."""
        try:
            return self.get(ModelRef.parse(ref).id)
        except CatalogError:
            return None

    def default(self, role: Role) -> str:
        return self.defaults[role]

    def check(self, ref: str, role: Role) -> str:
        """``ref`` if the service may call it for ``role``; otherwise CatalogError saying why and what
        would work. Community models must be pinned to the catalog's version: Replicate answers 404
        to a community model addressed by name, and another version may take other inputs."""
        parsed = ModelRef.parse(ref)
        entry = self.get(parsed.id)
        if entry is None:
            fitting = ", ".join(m.ref for m in self.models.values() if role in m.roles)
            raise CatalogError(
                f"{parsed.id} is not in the model catalog ({CATALOG_FILE.name}); for the {role} "
                f"role it describes: {fitting}"
            )
        if role not in entry.roles:
            raise CatalogError(
                f"{entry.id} cannot be the {role} model: the catalog lists it for {', '.join(entry.roles)}"
            )
        if parsed.version is None and not entry.official:
            raise CatalogError(
                f"{entry.id} is a community model: Replicate runs it only by version, "
                f"so name it as '{entry.id}:{entry.version}'"
            )
        if parsed.version is not None and parsed.version != entry.version:
            raise CatalogError(
                f"{entry.id}:{parsed.version} is not the version the catalog describes ({entry.version}); "
                f"add that version's schema to {CATALOG_FILE.name} first"
            )
        return str(parsed)


def _entry(raw: dict[str, Any]) -> ModelEntry:
    roles = tuple(raw["roles"])
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise CatalogError(f"{raw['id']}: unknown role(s) {unknown}")
    progress = raw["progress"]
    return ModelEntry(
        id=raw["id"],
        official=bool(raw["official"]),
        version=raw["version"],
        roles=roles,
        description=raw["description"],
        progress=ProgressHint(progress["logs"], float(progress["typical_seconds"])),
        schemas=raw["schemas"],
        sources=tuple(Source(s["url"], s["what"]) for s in raw["sources"]),
        notes=raw.get("notes", ""),
    )


def load(path: Path = CATALOG_FILE) -> ModelCatalog:
    data = json.loads(path.read_text(encoding="utf-8"))
    models = {entry.id: entry for entry in map(_entry, data["models"])}
    loaded = ModelCatalog(models=models, defaults=dict(data["defaults"]), checked=data["checked"])
    for role, ref in loaded.defaults.items():
        loaded.check(ref, role)  # a catalog whose own defaults do not pass is broken
    return loaded


@cache
def catalog() -> ModelCatalog:
    """The catalog of this code asset, read once per process."""
    return load()
