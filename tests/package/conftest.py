"""The packaged bundle (``make package``: ``cdk.out/`` and its ``videogen-package.json``), read as
built. ``make test`` builds it first whenever its inputs changed; these tests never build it
themselves (that needs PyPI), and they fail, not skip, when it is missing or stale."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSEMBLY = ROOT / "cdk.out"
MANIFEST = ASSEMBLY / "videogen-package.json"
EXCLUDED_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


@dataclass(frozen=True)
class Package:
    manifest: dict[str, Any]

    def path(self, relative: str) -> Path:
        return ASSEMBLY / relative

    @property
    def python(self) -> str:
        return str(self.manifest["runtime_python"]["path"])

    @property
    def code(self) -> Path:
        (code,) = {f["code"] for f in self.manifest["functions"].values()}  # one asset for all
        return self.path(code)

    def deployed_layer(self, name: str) -> Path:
        return self.path(self.manifest["layers"][name]["asset"]) / "python"

    def import_check_layer(self, name: str) -> Path:
        return self.path(self.manifest["layers"][name]["import_check"]) / "python"

    @property
    def runtime_sdk(self) -> Path:
        return self.path(self.manifest["runtime_sdk"]) / "python"

    def sys_path(self, function: str) -> list[str]:
        """As Lambda orders it: the code (/var/task), the layers (/opt/python), the runtime's boto3."""
        layers = [
            str(self.import_check_layer(name)) for name in self.manifest["functions"][function]["layers"]
        ]
        return [str(self.code), *layers, str(self.runtime_sdk)]

    @cached_property
    def magic_number(self) -> bytes:
        done = subprocess.run(
            [
                self.python,
                "-c",
                "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return bytes.fromhex(done.stdout)


def _sources(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not EXCLUDED_PARTS & set(path.parts) and path.suffix != ".pyc"
    }


@pytest.fixture(scope="session")
def package() -> Package:
    if not MANIFEST.is_file():
        pytest.fail(f"No packaged bundle ({MANIFEST.relative_to(ROOT)}): run `make package` (make test does)")
    manifest = json.loads(MANIFEST.read_text())
    template = ASSEMBLY / manifest["template"]
    if hashlib.sha256(template.read_bytes()).hexdigest() != manifest["template_sha256"]:
        pytest.fail("cdk.out/ was synthesized again after `make package`: run `make package`")
    built = Package(manifest)
    # What is packaged is what the other tests test: the code asset is functions/ as it is now.
    if _sources(built.code) != _sources(ROOT / "functions"):
        pytest.fail("The packaged code asset differs from functions/: run `make package` (make test does)")
    return built
