"""The README's walk-through, run verbatim against the twin (only the address and token it printed
are put in, as a reader would): every command works offline, as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import RunningTwin
from twin.server import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str, until: str) -> str:
    start = README.index(title)
    return README[start : README.index(until, start)]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def as_the_reader_would(script: str, twin: RunningTwin) -> str:
    """The two values a reader copies from the banner; and, on this shared machine, a free port for
    the webhook listener instead of 9000 (another run may hold it). Nothing else is changed."""
    script = script.replace("http://127.0.0.1:8000", twin.base_url)
    script = script.replace("9000", str(free_port()))
    return script.replace("vg_…", twin.token)


def json_documents(text: str) -> list[dict[str, object]]:
    """curl prints each answer without a newline: the documents follow each other."""
    decoder, found, position = json.JSONDecoder(), [], 0
    while position < len(text.rstrip()):
        document, position = decoder.raw_decode(text, position)
        found.append(document)
    return found


def run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=environment,
    )


def test_the_curl_walk_through_runs_as_written(twin: RunningTwin, tmp_path: Path) -> None:
    blocks = shell_blocks(section("## Try it on the twin", "Errors are JSON"))
    assert len(blocks) == 5, "the walk-through: submit, poll, dream, list and cancel, a webhook"
    script = as_the_reader_would("\n".join(blocks), twin)
    script += '\necho\necho "TASK=$TASK_ID"\necho "DREAM=$DREAM_ID"\n'
    result = run(script, tmp_path)
    assert result.returncode == 0, result.stderr
    task = re.search(r"^TASK=(arn:aws:states:\S+)$", result.stdout, re.MULTILINE)
    dream = re.search(r"^DREAM=(arn:aws:states:\S+)$", result.stdout, re.MULTILINE)
    assert task and dream and task[1] != dream[1], result.stdout  # the dream has its own id
    answers = json_documents(result.stdout.split("\nTASK=")[0])
    poll, dream_status, listed, canceled, accepted, event = answers
    assert [poll["task_id"], dream_status["task_id"]] == [task[1], dream[1]]  # the poll, the dream's status
    assert poll["state"] in ("PENDING", "PROCESSING", "SUCCESS") and dream_status["status"]
    assert [item["task_id"] for item in listed["items"]][:2] == [dream[1], task[1]]  # newest first
    # The cancel: canceled, or (the dream had already finished) 409 with its state
    assert canceled.get("error") == "Task was canceled" or canceled["task"]["state"] == "SUCCESS"
    # The webhook: the listener verified the signature of the dream's end and printed the event
    assert event["type"] == "task.succeeded" and event["data"]["task_id"] == accepted["task_id"]
    assert event["id"].startswith("msg_") and event["data"]["kind"] == "dream"


def test_the_command_line_example_runs_as_written_with_the_shipped_images(
    twin: RunningTwin, tmp_path: Path
) -> None:
    (block,) = shell_blocks(section("**Command line**", "Local files are uploaded"))
    with_an_id = ("videogen status", "videogen wait", "videogen cancel", "videogen delete")  # TASK_ID
    lines = [line for line in block.splitlines() if not line.startswith(with_an_id)]
    script = as_the_reader_would("\n".join(lines), twin)
    result = run(f"cd {ROOT}\n" + script.replace("--out video.mp4", f"--out {tmp_path}/video.mp4")
                 .replace("--out dream.mp4", f"--out {tmp_path}/dream.mp4"), tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "video.mp4").stat().st_size > 10_000 and (
        tmp_path / "dream.mp4"
    ).stat().st_size > 10_000
