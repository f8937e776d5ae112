"""The dashboard page (web/): its node tooling, the built page, and a browser to drive it.

``make test`` installs what these need before pytest starts: ``npm ci`` and the build in web/,
and Debian's ``chromium`` when it is missing and the make runs as root. A missing Node.js or
Chromium makes the tests that need it report themselves skipped with the reason; a missing
``npm ci`` or build, where node exists, is a failure (``make test`` does both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
RESULTS = WEB / "test-results"
#: Where Debian's package puts it; VIDEOGEN_CHROMIUM names another.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed on this machine: the dashboard page is not tested")
    return path


@pytest.fixture(scope="session")
def web_tooling(node: str) -> str:
    """web/node_modules, installed by ``make test`` (npm ci)."""
    if not (WEB / "node_modules/.package-lock.json").is_file():
        pytest.fail("web/node_modules is missing: `make test` runs `npm ci` in web/ before pytest")
    return node


@pytest.fixture(scope="session")
def built_page(web_tooling: str) -> Path:
    """web/dist, built by ``make test`` (and ``make serve``) when missing or stale."""
    index = WEB / "dist/index.html"
    if not index.is_file():
        pytest.fail("web/dist is missing: `make test` builds the page (npm run build) before pytest")
    return index.parent


def find_chromium() -> str | None:
    chosen = os.environ.get("VIDEOGEN_CHROMIUM")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "Chromium is not installed: `make test` installs Debian's chromium with apt-get when it "
            "runs as root; install it (or set VIDEOGEN_CHROMIUM) to run the browser tests"
        )
    return path


#: What ``node --test`` says of tests left out by ``--test-name-pattern`` (not a skip of ours).
FILTERED_OUT = "test name does not match pattern"


@dataclass
class NodeTestRun:
    """The outcome of ``node --test`` on one file, read from its TAP output."""

    returncode: int
    output: str
    passed: int = 0
    failed: int = 0
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, returncode: int, output: str) -> NodeTestRun:
        run = cls(returncode, output)
        for line in output.splitlines():
            text = line.strip()
            if text.startswith("# pass "):
                run.passed = int(text.removeprefix("# pass "))
            elif text.startswith("# fail "):
                run.failed = int(text.removeprefix("# fail "))
            elif text.startswith("ok ") and " # SKIP" in text:
                reason = text.split(" # SKIP", 1)[1].strip() or text
                if reason != FILTERED_OUT:
                    run.skipped.append(reason)
        return run

    def check(self) -> None:
        """Fail on any failure; skip (with the reasons) when every test skipped; never pass on nothing."""
        assert self.returncode == 0 and self.failed == 0, self.output[-12000:]
        if self.passed == 0 and self.skipped:
            pytest.skip("; ".join(self.skipped))
        assert self.passed > 0, f"node ran no test:\n{self.output[-4000:]}"


def run_node_tests(
    node: str, path: Path, env: dict[str, str], timeout: float, *, name_pattern: str | None = None
) -> NodeTestRun:
    pattern = ["--test-name-pattern", name_pattern] if name_pattern else []
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", *pattern, str(path)],
        cwd=WEB,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return NodeTestRun.parse(done.returncode, done.stdout + done.stderr)
