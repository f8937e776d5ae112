"""Lambda layers built with pip on the synthesizing machine: no Docker.

Each layer is a directory asset whose content ``pip install --target`` produces with
``--platform manylinux2014_<arch> --platform manylinux_2_28_<arch> --only-binary=:all:`` for
CPython 3.12, so wheels for the Lambda runtime are picked whatever the build machine is. Both
platform tags are needed: pip does not widen ``manylinux_2_28`` to older tags, and
imageio-ffmpeg ships only ``manylinux_2_28`` wheels (with ``manylinux2014`` alone pip would
silently fall back to an old release, or fail).

Versions come from ``pyproject.toml`` (``[project] dependencies``), the one list of runtime
dependencies; a layer names the packages it wants, the ranges are read from there.

Bundling needs PyPI, so tests and ``make synth`` skip it with the context
``aws:cdk:bundling-stacks = []`` (CDK then stages the layer's source folder under a stand-in
hash); ``cdk deploy`` bundles for real.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.config import REPO_ROOT

PYTHON_VERSION = "3.12"
RUNTIME = lambda_.Runtime.PYTHON_3_12
LAYER_SOURCE = Path(__file__).resolve().parent / "layers"
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


#: API functions (authorizer, submit, status): never replicate, never ffmpeg.
API_LAYER = LayerSpec("api", "powertools, pydantic", ("aws-lambda-powertools", "pydantic"))
#: Workflow functions: the API set plus the Replicate client; self-contained (used instead of API_LAYER).
WORKFLOW_LAYER = LayerSpec(
    "workflow",
    "powertools, pydantic, replicate, httpx",
    (*API_LAYER.packages, "replicate", "httpx"),
)
#: Only for functions whose catalog entry says ``ffmpeg=True``: the static ffmpeg (~170 MB unpacked).
FFMPEG_LAYER = LayerSpec(
    "ffmpeg", "imageio-ffmpeg with its static ffmpeg binary", ("imageio-ffmpeg",), no_deps=True
)


def pip_command(spec: LayerSpec, target: Path, architecture: lambda_.Architecture) -> list[str]:
    arch = "aarch64" if architecture.name == lambda_.Architecture.ARM_64.name else "x86_64"
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target),
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--platform", f"manylinux2014_{arch}",
        "--platform", f"manylinux_2_28_{arch}",
        *(["--no-deps"] if spec.no_deps else []),
        *project_requirements(spec.packages),
    ]  # fmt: skip


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """``ILocalBundling``: CDK calls ``try_bundle`` before it would ever start Docker."""

    def __init__(self, spec: LayerSpec, architecture: lambda_.Architecture) -> None:
        self.spec = spec
        self.architecture = architecture

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        target = Path(output_dir) / "python"  # layers put importable code under /opt/python
        subprocess.run(pip_command(self.spec, target, self.architecture), check=True)
        _drop_console_scripts(target)
        _make_lambda_readable(target)
        return True


def _drop_console_scripts(root: Path) -> None:
    """``bin/`` holds console scripts whose shebang is this machine's Python: useless on Lambda,
    and they would make the layer's hash (hence a new layer version) differ per build machine."""
    shutil.rmtree(root / "bin", ignore_errors=True)
    for record in root.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(line for line in lines if not line.startswith("../../bin/")))


def _make_lambda_readable(root: Path) -> None:
    """Lambda refuses layers with unreadable files, and /opt is read-only at run time: ffmpeg
    must be executable in the zip (CDK keeps file modes when it zips the asset)."""
    for path in root.rglob("*"):
        mode = path.stat().st_mode
        if path.is_dir() or mode & stat.S_IXUSR:
            path.chmod(mode | 0o555)
        else:
            path.chmod(mode | 0o444)
    for binary in root.glob("imageio_ffmpeg/binaries/ffmpeg-*"):
        binary.chmod(0o755)


def layer_code(spec: LayerSpec, architecture: lambda_.Architecture) -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(LAYER_SOURCE),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,  # never pulled: local bundling always succeeds or raises
            local=PipLayerBundling(spec, architecture),
            # Never run (no Docker), but CDK keys its bundling cache on these options and not on
            # ``local``: without a per-layer command, all layers would share the first one's output.
            command=pip_command(spec, Path("/asset-output/python"), architecture)[1:],
        ),
    )
