"""Point 2: where the runtime's Python comes from, and what happens when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import bytecode


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No python3.12 on PATH, an empty pyenv, no Docker."""
    bytecode.find_runtime_python.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    monkeypatch.delenv("VIDEOGEN_RUNTIME_PYTHON", raising=False)
    monkeypatch.setattr(bytecode, "_docker_runs", lambda: False)
    yield tmp_path
    bytecode.find_runtime_python.cache_clear()


def test_without_any_python_312_packaging_stops_with_a_clear_message(nowhere: Path) -> None:
    # A pyenv 3.12 that does not run (a broken install) is tried and skipped, not used
    broken = nowhere / ".pyenv/versions/3.12.9/bin/python3.12"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(bytecode.RuntimePythonNotFound) as raised:
        bytecode.find_runtime_python()
    message = str(raised.value)
    assert (
        "python3.12" in message and "VIDEOGEN_RUNTIME_PYTHON" in message and "pyenv install 3.12" in message
    )
    assert str(broken) in message


def test_a_pyenv_312_is_found_and_used(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.package.conftest import MANIFEST

    real = json.loads(MANIFEST.read_text())["runtime_python"]["path"] if MANIFEST.exists() else None
    if real is None:
        pytest.fail("run `make package`")
    monkeypatch.setenv("PYENV_ROOT", str(Path(real).parents[3]))
    found = bytecode.find_runtime_python()
    assert found.local and found.version.startswith("3.12.") and found.location.endswith("python3.12")


def test_the_sam_build_image_when_only_docker_runs(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bytecode, "_docker_runs", lambda: True)
    found = bytecode.find_runtime_python()
    assert not found.local and found.location == "docker:public.ecr.aws/sam/build-python3.12"


def test_a_tree_left_without_bytecode_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/ok.py").write_text("x = 1\n")
    (tmp_path / "pkg/__pycache__").mkdir()
    (tmp_path / "pkg/__pycache__/ok.cpython-312.pyc").write_bytes(b"")
    (tmp_path / "pkg/missing.py").write_text("y = 2\n")
    assert bytecode.sources_without_bytecode(tmp_path) == ["pkg/missing.py"]
