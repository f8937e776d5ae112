"""Bytecode for the Lambda runtime: every ``.py`` we upload ships with the ``.pyc`` that the
runtime's own Python (3.12) would write, so a cold start never compiles an import.

``/var/task`` and ``/opt`` are read-only on Lambda: without shipped bytecode the interpreter compiles
every module it imports from source on every cold start and cannot keep the result (``make bench``
measured 2-5x slower imports that way). ``.pyc`` files are specific to a Python version, so they must
come from a 3.12 interpreter, whatever Python runs CDK. They are written with
``--invalidation-mode unchecked-hash``: the loader uses them without looking at the source's
timestamp (zip and copy steps change timestamps; the tree cannot change on Lambda anyway).

Where the 3.12 comes from, in order: ``VIDEOGEN_RUNTIME_PYTHON`` (a path), ``python3.12`` on PATH,
a pyenv 3.12 (``$PYENV_ROOT`` or ``~/.pyenv``), the SAM build image when Docker runs. None of them:
packaging stops with :class:`RuntimePythonNotFound` rather than ship source only.

No CDK import here: the package step, the tests and the bench use it too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: The Lambda runtime's Python (the stack's ``python3.12``).
PYTHON_VERSION = "3.12"
#: ``cpython-312``: the tag in the names of the ``.pyc`` files that version reads.
CACHE_TAG = "cpython-" + PYTHON_VERSION.replace(".", "")
#: The SAM build image of the runtime (used only when no local 3.12 exists and Docker runs).
SAM_BUILD_IMAGE = f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"
#: Where Lambda puts the code asset and the layers' Python packages: tracebacks name these paths.
CODE_ROOT = "/var/task"
LAYER_ROOT = "/opt/python"


class RuntimePythonNotFound(RuntimeError):
    """No way to compile bytecode for the runtime: packaging must stop."""


class BytecodeError(RuntimeError):
    """Compilation failed, or left a source file without its bytecode."""


@dataclass(frozen=True)
class RuntimePython:
    """A way to run the runtime's Python: a local interpreter, or the SAM build image."""

    #: The interpreter's path (local), or ``docker:<image>``.
    location: str
    version: str

    @property
    def local(self) -> bool:
        return not self.location.startswith("docker:")

    def compile_tree(self, root: Path, runtime_root: str) -> None:
        """Write ``__pycache__/<name>.cpython-312.pyc`` for every ``.py`` under ``root``; tracebacks
        will name the files as they lie on Lambda (``runtime_root`` + the path below ``root``)."""
        arguments = ["-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
        if self.local:
            command = [self.location, *arguments, "-d", runtime_root, str(root)]
        else:
            command = [
                "docker", "run", "--rm", "-v", f"{root.resolve()}:/asset", "--entrypoint", f"python{PYTHON_VERSION}",
                self.location.removeprefix("docker:"), *arguments, "-d", runtime_root, "/asset",
            ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BytecodeError(f"compileall failed in {root}:\n{(done.stdout + done.stderr)[-3000:]}")
        missing = sources_without_bytecode(root)
        if missing:
            raise BytecodeError(
                f"{len(missing)} source file(s) without bytecode under {root}: {missing[:10]}"
            )


def cached_path(source: Path) -> Path:
    """``pkg/mod.py`` → ``pkg/__pycache__/mod.cpython-312.pyc`` (the runtime's ``__cached__``)."""
    return source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"


def sources_without_bytecode(root: Path) -> list[str]:
    """Every ``.py`` under ``root`` whose runtime ``.pyc`` is missing (relative paths)."""
    return sorted(
        str(source.relative_to(root)) for source in root.rglob("*.py") if not cached_path(source).is_file()
    )


def _version_of(python: str) -> str | None:
    """``3.12.1`` if ``python`` runs (pyenv shims of an unselected version do not), else None."""
    try:
        done = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\S*", version) else None


def _pyenv_candidates() -> list[Path]:
    roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    roots.append(Path.home() / ".pyenv")
    found: list[Path] = []
    for root in roots:
        for interpreter in (root / "versions").glob(f"{PYTHON_VERSION}.*/bin/python{PYTHON_VERSION}"):
            found.append(interpreter)

    def patch(path: Path) -> tuple[int, ...]:
        digits = re.findall(r"\d+", path.parts[-3].removeprefix(PYTHON_VERSION + "."))
        return tuple(int(d) for d in digits)

    return sorted(found, key=patch, reverse=True)  # the newest patch release first


def _docker_runs() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return (
            subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


@cache
def find_runtime_python() -> RuntimePython:
    """The first working interpreter of the runtime's version; see the module's docstring."""
    tried: list[str] = []
    explicit = os.environ.get("VIDEOGEN_RUNTIME_PYTHON")
    candidates: list[str] = [explicit] if explicit else []
    on_path = shutil.which(f"python{PYTHON_VERSION}")
    if on_path:
        candidates.append(on_path)
    candidates += [str(path) for path in _pyenv_candidates()]
    for candidate in candidates:
        version = _version_of(candidate)
        if version is not None and version.startswith(PYTHON_VERSION + "."):
            return RuntimePython(candidate, version)
        tried.append(f"{candidate} ({version or 'does not run'})")
    if _docker_runs():
        return RuntimePython(f"docker:{SAM_BUILD_IMAGE}", PYTHON_VERSION)
    raise RuntimePythonNotFound(
        f"Packaging compiles bytecode for the Lambda runtime (python{PYTHON_VERSION}) and needs a "
        f"CPython {PYTHON_VERSION} to do it; none was found"
        + (f" (tried: {', '.join(tried)})" if tried else "")
        + f", and Docker is not running for {SAM_BUILD_IMAGE}. Install one (for example "
        f"`pyenv install {PYTHON_VERSION}`) or set VIDEOGEN_RUNTIME_PYTHON to its path. Shipping "
        "source only is refused: every cold start would compile every import."
    )
