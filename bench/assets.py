"""What each Lambda unpacks at cold start: the code asset and its layers, in MB.

The code asset is ``functions/`` as CDK packages it (caches excluded). Each layer's size is the
sum of the installed distributions ``infra/bundling.py`` puts in it (its packages and, unless
``no_deps``, their dependency closure), measured from this venv's ``RECORD`` files without
bytecode (the layers are built with ``--no-compile``) and without console scripts (dropped by
the bundling). Wheels for Lambda's arm64 differ slightly from this machine's; the figures are
close, not exact. boto3 and botocore are provided by the runtime and are not in any layer.

Run alone: ``python -m bench.assets --out assets.json`` (imports the CDK: a few seconds).
"""

from __future__ import annotations

import argparse
import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
#: Lambda's limit on a function's unzipped code plus layers.
UNZIPPED_LIMIT_MB = 250
_SKIPPED_PARTS = ("__pycache__", ".mypy_cache", ".pytest_cache")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def tree_bytes(root: Path) -> int:
    """Bytes under ``root``, without caches or bytecode (as the code asset is packaged)."""
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith(".pyc") and not set(path.parts) & set(_SKIPPED_PARTS):
            total += path.stat().st_size
    return total


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    """Names of ``dist``'s unconditional requirements (extras excluded, markers evaluated)."""
    from packaging.requirements import Requirement

    names = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        names.append(requirement.name)
    return names


def closure(packages: tuple[str, ...], *, with_deps: bool = True) -> list[str]:
    """The installed distributions ``pip install packages`` would put in a layer."""
    seen: dict[str, metadata.Distribution] = {}
    pending = list(packages)
    while pending:
        name = _normalise(pending.pop())
        if name in seen or name in ("boto3", "botocore"):
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        if with_deps:
            pending.extend(_requirement_names(dist))
    return sorted(seen)


def distribution_bytes(name: str) -> int:
    """Installed size of one distribution (its files, minus bytecode and console scripts)."""
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        text = str(file)
        if text.endswith(".pyc") or "__pycache__" in text or text.startswith(("../", "..\\")):
            continue
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def layer_size(packages: tuple[str, ...], *, with_deps: bool = True) -> dict[str, Any]:
    names = closure(packages, with_deps=with_deps)
    sizes = {name: distribution_bytes(name) for name in names}
    return {
        "mb": round(sum(sizes.values()) / MB, 1),
        "distributions": {name: round(size / MB, 2) for name, size in sorted(sizes.items())},
    }


def measure() -> dict[str, Any]:
    from infra.bundling import API_LAYER, FFMPEG_LAYER, WORKFLOW_LAYER
    from infra.functions import layers_for
    from service.catalog import FUNCTIONS

    code_mb = round(tree_bytes(ROOT / "functions") / MB, 2)
    layers = {
        spec.name: {"packages": list(spec.packages), **layer_size(spec.packages, with_deps=not spec.no_deps)}
        for spec in (API_LAYER, WORKFLOW_LAYER, FFMPEG_LAYER)
    }
    per_function = {}
    for function in FUNCTIONS:
        names = [layer.name for layer in layers_for(function)]
        total = code_mb + sum(layers[name]["mb"] for name in names)
        per_function[function.name] = {"layers": names, "unzipped_mb": round(total, 1)}
    return {
        "code_mb": code_mb,
        "layers": layers,
        "functions": per_function,
        "unzipped_limit_mb": UNZIPPED_LIMIT_MB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(measure(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
