"""The JavaScript client (clients/js) under ``node --test``, against a scripted server written in
node: the spec's FAILURE, timeout, HTTP 500 and network messages, the dream pair, resuming."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_js_client_against_a_scripted_server() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed on this machine: the JS client is not tested")
    result = subprocess.run(
        [node, "--test", str(ROOT / "tests/clients/js/scripted.test.mjs")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout


def test_the_module_exports_what_the_spec_clients_import() -> None:
    source = (ROOT / "clients/js/videoGenerationApi.js").read_text()
    types = (ROOT / "clients/js/videoGenerationApi.d.ts").read_text()
    for name in (
        "configure",
        "createAndGenerateVideo",
        "checkTaskStatus",
        "pollTaskStatus",
        "generateDreamVideo",
        "checkVideoStatus",
        "resumePendingTask",
        "uploadImage",
        "listTasks",
    ):
        assert (
            f"export function {name}" in source
            or f"export const {name}" in source
            or (f"export async function {name}" in source)
        ), name
        assert f"export function {name}(" in types, name
    assert not [line for line in source.splitlines() if line.startswith("import ")], "no dependencies"
