"""The Lambda assets, built on the synthesizing machine as Lambda will run them: no Docker.

**Layers.** Each layer is a directory asset whose content ``pip install --require-hashes --no-deps``
produces from the layer's lock (``infra/layers/<layer>.lock``, ``make lock``) with
``--platform manylinux2014_<arch> --platform manylinux_2_28_<arch> --only-binary=:all:`` for
CPython 3.12, so the Lambda platform's wheels are installed whatever the build machine is. Both
platform tags are needed: pip does not widen ``manylinux_2_28`` to older tags, and imageio-ffmpeg
ships only ``manylinux_2_28`` wheels.

**Code.** ``functions/`` as it is, without caches.

**Both** ship bytecode compiled by the runtime's Python (``infra.bytecode``): every ``.py`` gets
its ``.pyc`` (unchecked-hash), or the build fails.

Bundling needs PyPI and a Python 3.12, so the tests and ``make synth`` skip it with the context
``aws:cdk:bundling-stacks = []`` (CDK then stages the source folders under a stand-in hash);
``make package`` and ``cdk deploy`` bundle for real.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.bytecode import CODE_ROOT, LAYER_ROOT, PYTHON_VERSION, find_runtime_python
from infra.layer_specs import (
    API_LAYER,
    FFMPEG_LAYER,
    LOCK_DIR,
    REPO_ROOT,
    RUNTIME_SDK,
    WORKFLOW_LAYER,
    LayerSpec,
    lock_path,
    project_requirements,
)

__all__ = [
    "API_LAYER",
    "FFMPEG_LAYER",
    "RUNTIME",
    "RUNTIME_SDK",
    "WORKFLOW_LAYER",
    "LayerSpec",
    "bundle_layer",
    "code_asset",
    "layer_code",
    "pip_command",
    "project_requirements",
]

RUNTIME = lambda_.Runtime.PYTHON_3_12
if RUNTIME.name != f"python{PYTHON_VERSION}":  # the bytecode must be the runtime's
    raise RuntimeError(f"{RUNTIME.name} != python{PYTHON_VERSION} (infra/bytecode.py)")
CODE_SOURCE = REPO_ROOT / "functions"
#: Never packaged: caches of the machine that builds, and their stale bytecode.
CODE_EXCLUDES = ("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache")

#: The architecture names pip's platform tags use.
ARCH_TAGS = {lambda_.Architecture.ARM_64.name: "aarch64", lambda_.Architecture.X86_64.name: "x86_64"}


def pip_command(spec: LayerSpec, target: Path, architecture: lambda_.Architecture | str) -> list[str]:
    """Install exactly the layer's lock (every file checked against its hash) for the runtime's platform."""
    name = architecture if isinstance(architecture, str) else architecture.name
    arch = ARCH_TAGS.get(name, name)
    return [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile",
        "--require-hashes", "--no-deps",
        "--target", str(target),
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--platform", f"manylinux2014_{arch}",
        "--platform", f"manylinux_2_28_{arch}",
        "--requirement", str(lock_path(spec)),
    ]  # fmt: skip


def bundle_layer(spec: LayerSpec, architecture: lambda_.Architecture | str, output_dir: Path) -> Path:
    """The layer's content under ``output_dir/python`` (where Lambda looks in a layer), with bytecode."""
    if not lock_path(spec).is_file():
        raise FileNotFoundError(f"No lock for the {spec.name} layer: run `make lock` ({lock_path(spec)})")
    target = output_dir / "python"
    subprocess.run(pip_command(spec, target, architecture), check=True)
    _drop_console_scripts(target)
    find_runtime_python().compile_tree(target, LAYER_ROOT)
    _make_lambda_readable(target)
    return target


def bundle_code(source: Path, output_dir: Path) -> None:
    """The code asset: ``source`` without caches, with bytecode."""
    shutil.copytree(source, output_dir, ignore=shutil.ignore_patterns(*CODE_EXCLUDES), dirs_exist_ok=True)
    find_runtime_python().compile_tree(output_dir, CODE_ROOT)
    _make_lambda_readable(output_dir)


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """``ILocalBundling``: CDK calls ``try_bundle`` before it would ever start Docker."""

    def __init__(self, spec: LayerSpec, architecture: lambda_.Architecture) -> None:
        self.spec = spec
        self.architecture = architecture

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        bundle_layer(self.spec, self.architecture, Path(output_dir))
        return True


@jsii.implements(ILocalBundling)
class CodeBundling:
    def __init__(self, source: Path) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, *_options: Any, **_kwargs: Any) -> bool:
        bundle_code(self.source, Path(output_dir))
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


def _compile_step(runtime_root: str) -> list[str]:
    """The bytecode step as a (never run) Docker command: part of CDK's bundling cache key."""
    return [
        f"python{PYTHON_VERSION}",
        "-m",
        "compileall",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        runtime_root,
    ]


def layer_code(spec: LayerSpec, architecture: lambda_.Architecture) -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(LOCK_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,  # never pulled: local bundling always succeeds or raises
            local=PipLayerBundling(spec, architecture),
            # Never run (no Docker), but CDK keys its bundling cache on these options and not on
            # ``local``: without a per-layer command, all layers would share the first one's output.
            command=[
                *pip_command(spec, Path("/asset-output/python"), architecture)[1:],
                "&&",
                *_compile_step(LAYER_ROOT),
            ],
        ),
    )


def code_asset() -> lambda_.Code:
    """One asset for all functions (handlers are ``service.handlers.<name>.handler``)."""
    return lambda_.Code.from_asset(
        str(CODE_SOURCE),
        exclude=[f"**/{pattern}" for pattern in CODE_EXCLUDES],
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            local=CodeBundling(CODE_SOURCE),
            command=["cp", "-r", "/asset-input/.", "/asset-output", "&&", *_compile_step(CODE_ROOT)],
        ),
    )
