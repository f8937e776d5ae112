"""``make lock``: each Lambda layer's lock, resolved from ``pyproject.toml``'s ranges for the runtime.

A lock (``infra/layers/<layer>.lock``) pins every distribution its layer installs, each with the
sha256 of every file of that release; the bundling installs it with ``pip install --require-hashes
--no-deps``, so a deploy installs exactly these files whatever PyPI serves later. The resolution is
made for the Lambda target (CPython 3.12 on the stack's architecture, manylinux_2_28) by uv, which
resolves for another platform than its own; pip cannot.

The same pins constrain the development environment (the Makefile passes them to pip as constraints),
so the tests run the versions a deploy ships. The first line of each lock records the requirements it
was resolved from; ``tests/package/test_lock.py`` fails when ``pyproject.toml`` changed without a new
lock, when a pin leaves its range, or when the environment the tests run in differs from the lock.

``python -m infra.lock`` (``make lock``) rewrites every lock.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.bytecode import PYTHON_VERSION
from infra.layer_specs import ALL_LAYERS, LOCK_DIR, LayerSpec, lock_path, project_requirements

#: The first line of a lock: the requirements (from pyproject.toml) it was resolved from.
INPUT_PREFIX = "# resolved from pyproject.toml: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """``name → version`` of every pinned distribution in a lock."""
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def recorded_input(text: str) -> list[str]:
    first = text.splitlines()[0] if text else ""
    if not first.startswith(INPUT_PREFIX):
        return []
    return [part.strip() for part in first.removeprefix(INPUT_PREFIX).split(";") if part.strip()]


def target_platform(architecture: str = "aarch64") -> str:
    """uv's name of the Lambda platform (Amazon Linux 2023: glibc 2.34, manylinux_2_28 wheels)."""
    return f"{architecture}-manylinux_2_28"


def compile_lock(spec: LayerSpec, constraints: dict[str, str] | None = None) -> str:
    """The lock text for ``spec`` (uv pip compile, with hashes), resolved for the runtime."""
    from uv import find_uv_bin

    requirements = project_requirements(spec.packages)
    with tempfile.TemporaryDirectory(prefix="videogen-lock-") as folder:
        source = Path(folder) / f"{spec.name}-layer.in"
        source.write_text("\n".join(requirements) + "\n")
        command = [
            find_uv_bin(), "pip", "compile", source.name, "--quiet", "--generate-hashes",
            "--python-version", PYTHON_VERSION, "--python-platform", target_platform(),
            "--only-binary", ":all:", "--custom-compile-command", "make lock",
        ]  # fmt: skip
        if spec.no_deps:
            command.append("--no-deps")
        if constraints:
            pinned = Path(folder) / "constraints.txt"
            pinned.write_text(
                "".join(f"{name}=={version}\n" for name, version in sorted(constraints.items()))
            )
            command += ["--constraint", pinned.name]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"uv pip compile failed for the {spec.name} layer:\n{done.stderr}")
    return f"{INPUT_PREFIX}{'; '.join(requirements)}\n{done.stdout}"


def main() -> int:
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    shared: dict[str, str] = {}
    # Largest first, so the smaller layers pin the same versions of what they share.
    for spec in sorted(ALL_LAYERS, key=lambda s: len(s.packages), reverse=True):
        text = compile_lock(spec, shared or None)
        shared |= pins(text)
        lock_path(spec).write_text(text)
        print(
            f"{lock_path(spec).relative_to(LOCK_DIR.parent.parent)}: {len(pins(text))} pinned",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
