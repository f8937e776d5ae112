"""Point 2 of issue 11: every ``.py`` of the code asset and of every layer ships with the ``.pyc``
the runtime's Python writes, valid without looking at the source (unchecked hash), naming the
file where it lies on Lambda; native code is built for the stack's architecture."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.package.conftest import Package

#: Run by the runtime's Python over one tree: every source's cached .pyc, checked the way the
#: import system reads it (PEP 552 header), its source hash recomputed by that interpreter.
_CHECK = r"""
import importlib.util, json, marshal, sys
from pathlib import Path
root, prefix = Path(sys.argv[1]), sys.argv[2]
problems, checked = [], 0
for source in sorted(root.rglob("*.py")):
    relative = source.relative_to(root)
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.is_file():
        problems.append(f"{relative}: no {cached.name}")
        continue
    data = cached.read_bytes()
    flags = int.from_bytes(data[4:8], "little")
    if data[:4] != importlib.util.MAGIC_NUMBER:
        problems.append(f"{relative}: another Python's bytecode")
    elif flags != 0b01:  # hash-based, check_source off: PEP 552 "unchecked"
        problems.append(f"{relative}: flags {flags:#b}, not unchecked-hash")
    elif data[8:16] != importlib.util.source_hash(source.read_bytes()):
        problems.append(f"{relative}: compiled from another source")
    elif marshal.loads(data[16:]).co_filename != f"{prefix}/{relative}":
        problems.append(f"{relative}: names {marshal.loads(data[16:]).co_filename}")
    checked += 1
print(json.dumps({"checked": checked, "problems": problems}))
"""

#: ELF e_machine of each Lambda architecture.
ELF_MACHINES = {"arm64": 183, "x86_64": 62}


def check_tree(package: Package, root: Path, prefix: str) -> dict[str, object]:
    done = subprocess.run(
        [package.python, "-B", "-S", "-c", _CHECK, str(root), prefix],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


def test_the_runtimes_python_compiled_the_package(package: Package) -> None:
    manifest = package.manifest
    assert manifest["runtime_python"]["version"].startswith("3.12.")
    assert {f["runtime"] for f in manifest["functions"].values()} == {"python3.12"}
    assert package.magic_number == bytes.fromhex("cb0d0d0a"), "3.12's bytecode (magic 3531)"


def test_every_source_of_the_code_asset_has_its_bytecode(package: Package) -> None:
    result = check_tree(package, package.code, "/var/task")
    assert result["problems"] == []
    assert result["checked"] == len(list(package.code.rglob("*.py"))) > 30


@pytest.mark.parametrize("layer", ["api", "workflow", "ffmpeg"])
def test_every_source_of_every_layer_has_its_bytecode(package: Package, layer: str) -> None:
    root = package.deployed_layer(layer)
    result = check_tree(package, root, "/opt/python")
    assert result["problems"] == []
    assert result["checked"] == len(list(root.rglob("*.py"))) > 0


def test_native_code_is_built_for_the_stacks_architecture_and_python(package: Package) -> None:
    machine = ELF_MACHINES[package.manifest["architecture"]]
    extensions = [path for name in ("api", "workflow") for path in package.deployed_layer(name).rglob("*.so")]
    assert extensions, "pydantic-core is a native extension"
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", extension.name
        assert int.from_bytes(header[18:20], "little") == machine, f"{extension.name}: not {machine}"
        assert ".cpython-312-" in extension.name, extension.name
    ffmpeg = list(package.deployed_layer("ffmpeg").glob("imageio_ffmpeg/binaries/ffmpeg-*"))
    assert len(ffmpeg) == 1 and int.from_bytes(ffmpeg[0].read_bytes()[18:20], "little") == machine
    assert ffmpeg[0].stat().st_mode & 0o111, "executable from the read-only /opt"
