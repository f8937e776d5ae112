"""The page without a browser: its unit tests (Vitest: the store, the spec's example verbatim),
the built bundle's size budget, the page's subtitle checks against the API's, the verbatim copy of
the spec's example, and how the twin serves the built files."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.models.api import TransitionRequest
from tests.web.conftest import ROOT, WEB
from twin import web

#: The issue's budget for the page's JavaScript, gzipped.
JS_BUDGET_KB = 150
SPEC = ROOT.parent / "shared/spec/transitions-api-flow.md"
MARKER = "// ---- verbatim from spec/transitions-api-flow.md below ----\n"


def bundle_sizes(dist: Path = WEB / "dist") -> dict[str, float]:
    def kb(paths: list[Path], packed: bool) -> float:
        total = sum(len(gzip.compress(p.read_bytes(), 9)) if packed else p.stat().st_size for p in paths)
        return round(total / 1024, 1)

    scripts = sorted((dist / "assets").glob("*.js"))
    styles = sorted((dist / "assets").glob("*.css"))
    return {
        "js_kb": kb(scripts, False),
        "js_gzip_kb": kb(scripts, True),
        "css_gzip_kb": kb(styles, True),
        "files": len(scripts) + len(styles),
    }


def test_store_and_page_units_under_vitest(web_tooling: str) -> None:
    done = subprocess.run(
        [web_tooling, "node_modules/vitest/vitest.mjs", "run", "--reporter=verbose"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "CI": "1"},
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-10000:]
    summary = re.search(r"Tests\s+(\d+) passed \((\d+)\)", output)
    assert summary and summary[1] == summary[2] and int(summary[1]) > 0, output[-4000:]
    assert "the example sends the spec request" in output, "the spec's example ran"


def test_the_page_javascript_stays_within_its_budget(built_page: Path) -> None:
    sizes = bundle_sizes(built_page)
    assert sizes["files"] >= 2, sizes
    assert sizes["js_gzip_kb"] <= JS_BUDGET_KB, sizes


def test_the_built_page_reads_its_api_address_from_config_json(built_page: Path) -> None:
    assert json.loads((built_page / "config.json").read_text()) == {"apiUrl": ""}
    index = (built_page / "index.html").read_text()
    assert 'src="./assets/' in index, "relative asset URLs: the page works under any path"


def test_the_spec_example_is_the_specs_own(web_tooling: str) -> None:
    copy = (WEB / "tests/unit/spec-example.js").read_text().split(MARKER, 1)[1]
    if not SPEC.is_file():
        pytest.skip(f"the spec is not beside the repository ({SPEC}): the copy cannot be compared")
    section = SPEC.read_text().split("## Code Example Matching This Flow", 1)[1]
    block = re.search(r"```javascript\n(.*?)```", section, re.S)
    assert block is not None
    assert copy == block[1]


# -- the page's checks are the API's ------------------------------------------------------------------------
def _request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "front_image": "https://example.com/front.jpg",
        "tail_image": "https://example.com/tail.jpg",
        "prompt": "p",
        "duration": 5,
        "enable_subtitles": True,
        "subtitles": [{"startTime": 0, "endTime": 2.5, "text": "First"}],
        "enable_voiceover": False,
    }
    body.update(overrides)
    return body


def _cue(start: Any, end: Any, text: str = "cue") -> dict[str, Any]:
    return {"startTime": start, "endTime": end, "text": text}


PARITY_CASES: dict[str, dict[str, Any]] = {
    "valid": _request(),
    "end exactly at the duration": _request(subtitles=[_cue(4, 5)]),
    "end past the duration": _request(subtitles=[_cue(4, 7)]),
    "past the end, subtitles off": _request(enable_subtitles=False, subtitles=[_cue(4, 7)]),
    "two past the end: the first is named": _request(subtitles=[_cue(0, 1), _cue(4, 6), _cue(5, 8)]),
    "fits a 10 s video": _request(duration=10, subtitles=[_cue(6, 9.5)]),
    "duration not allowed": _request(duration=7, subtitles=[_cue(4, 6)]),
    "start after end": _request(subtitles=[_cue(3, 2)]),
    "start equals end": _request(subtitles=[_cue(2, 2)]),
    "negative start": _request(subtitles=[_cue(-1, 2)]),
    "zero end": _request(subtitles=[_cue(0, 0)]),
    "blank text": _request(subtitles=[_cue(0, 1, "   ")]),
    "text too long": _request(subtitles=[_cue(0, 1, "x" * 201)]),
    "no end time": _request(subtitles=[_cue(0, None)]),
    "too many cues": _request(subtitles=[_cue(0, 0.1)] * 51),
    "prompt too long": _request(prompt="x" * 2001),
    "voiceover with nothing to say": _request(enable_voiceover=True, enable_subtitles=False),
    "voiceover speaks the subtitles": _request(enable_voiceover=True),
    "voiceover, subtitles past the end": _request(enable_voiceover=True, subtitles=[_cue(4, 9)]),
    "voiceover text too long": _request(enable_voiceover=True, voiceover_text="x" * 1001),
    "voiceover with its text": _request(enable_voiceover=True, enable_subtitles=False, voiceover_text="Hi"),
}
#: The fields the page checks itself (images and enumerations are left to the API).
CHECKED = ("prompt", "duration", "subtitles", "voiceover_text")


def _api_errors(body: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    try:
        TransitionRequest.model_validate(body)
    except ValidationError as error:
        return sorted(
            (("body", *e["loc"]), e["type"]) for e in error.errors() if e["loc"] and e["loc"][0] in CHECKED
        )
    return []


def test_the_page_checks_subtitles_duration_and_voiceover_as_the_api_does(web_tooling: str) -> None:
    script = (
        "import { readFileSync } from 'node:fs';"
        "import { checkTransition } from './src/lib/validation.js';"
        "const cases = JSON.parse(readFileSync(0, 'utf8'));"
        "const out = Object.fromEntries(Object.entries(cases).map(([name, body]) => "
        "[name, checkTransition(body).map((e) => [e.loc, e.type])]));"
        "process.stdout.write(JSON.stringify(out));"
    )
    done = subprocess.run(
        [web_tooling, "--input-type=module", "-e", script],
        cwd=WEB,
        input=json.dumps(PARITY_CASES),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    page = {
        name: sorted((tuple(loc), kind) for loc, kind in found)
        for name, found in json.loads(done.stdout).items()
    }
    api = {name: _api_errors(body) for name, body in PARITY_CASES.items()}
    assert page == api
    # The table is not trivially empty on both sides.
    assert sum(1 for found in api.values() if found) >= 14


# -- the twin serves the built page ------------------------------------------------------------------------
def test_the_twin_maps_paths_to_the_built_page_and_nothing_else(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>page</title>")
    (dist / "config.json").write_text('{"apiUrl": ""}')
    (dist / "assets/index-abc.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not the page's")

    index = web.page_file("/", dist)
    assert index is not None and index.body.startswith(b"<!doctype html>")
    assert (index.content_type, index.cache_control) == ("text/html; charset=utf-8", "no-cache")
    script = web.page_file("/assets/index-abc.js", dist)
    assert script is not None
    assert (script.content_type, script.cache_control) == (
        "text/javascript",
        "public, max-age=31536000, immutable",
    )
    config = web.page_file("/config.json", dist)
    assert config is not None and (config.content_type, config.cache_control) == (
        "application/json",
        "no-cache",
    )
    for not_the_page in (
        "/api/transitions/create-and-generate/",
        "/assets/",
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/generate-video",
    ):
        assert web.page_file(not_the_page, dist) is None, not_the_page


def test_the_twin_sends_the_deployed_security_headers_with_plain_http_allowed_on_loopback() -> None:
    deployed = json.loads((WEB / "headers.json").read_text())
    page = web.page_file("/", WEB / "dist")
    assert page is not None
    sent = dict(page.headers)
    assert sent["X-Content-Type-Options"] == deployed["X-Content-Type-Options"] == "nosniff"
    assert sent["Referrer-Policy"] == deployed["Referrer-Policy"]
    policy = sent["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "object-src 'none'" in policy
    assert policy.replace(" https: http:", " https:") == deployed["Content-Security-Policy"]


def test_the_twin_says_how_to_build_a_page_it_does_not_have(tmp_path: Path) -> None:
    page = web.page_file("/", tmp_path / "never-built")
    assert page is not None and b"make serve" in page.body
    assert web.page_file("/assets/index.js", tmp_path / "never-built") is None
