"""The Lambda layers: what each carries, and where its lock lives (no CDK import: ``make lock``, the
package step, the tests and the bench read these too).

Versions come from ``pyproject.toml`` (``[project] dependencies``), the one list of runtime
dependencies: a layer names its packages, ``make lock`` resolves them within those ranges into
``infra/layers/<layer>.lock`` (``infra/lock.py``), and the bundling installs exactly that lock.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_DIR = REPO_ROOT / "infra" / "layers"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(names: tuple[str, ...], pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The requirement specifiers (with their version ranges) for ``names`` from pyproject."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    by_name = {}
    for requirement in dependencies:
        match = _NAME.match(requirement)
        if match:
            by_name[_normalise(match.group(1))] = requirement
    missing = [name for name in names if _normalise(name) not in by_name]
    if missing:
        raise KeyError(f"Not in pyproject.toml [project] dependencies: {', '.join(missing)}")
    return [by_name[_normalise(name)] for name in names]


@dataclass(frozen=True)
class LayerSpec:
    """One layer: the packages it carries (the runtime already provides boto3)."""

    name: str
    description: str
    packages: tuple[str, ...]
    #: Install only these packages, not their dependencies (another layer provides those).
    no_deps: bool = False


def lock_path(spec: LayerSpec) -> Path:
    return LOCK_DIR / f"{spec.name}.lock"


#: API functions (authorizer, submit, status, uploads): never replicate, never ffmpeg.
API_LAYER = LayerSpec(
    "api", "powertools, pydantic, standardwebhooks", ("aws-lambda-powertools", "pydantic", "standardwebhooks")
)
#: Workflow functions: the API set plus the Replicate client; self-contained (used instead of API_LAYER).
WORKFLOW_LAYER = LayerSpec(
    "workflow",
    "powertools, pydantic, standardwebhooks, replicate, httpx",
    (*API_LAYER.packages, "replicate", "httpx"),
)
#: Only for functions whose catalog entry says ``ffmpeg=True``: the static ffmpeg (~170 MB unpacked).
FFMPEG_LAYER = LayerSpec(
    "ffmpeg", "imageio-ffmpeg with its static ffmpeg binary", ("imageio-ffmpeg",), no_deps=True
)
#: Never deployed: boto3 as the Lambda runtime provides it, for the import checks and the bench,
#: which run the packaged functions off Lambda. Locked like the layers (the tests run this version).
RUNTIME_SDK = LayerSpec("runtime-sdk", "boto3 (the runtime's own; import checks only)", ("boto3",))

DEPLOYED_LAYERS = (API_LAYER, WORKFLOW_LAYER, FFMPEG_LAYER)
ALL_LAYERS = (*DEPLOYED_LAYERS, RUNTIME_SDK)
