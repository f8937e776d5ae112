"""``videogen generate|status|wait`` without a twin: the request it builds, its one-line errors and
exit codes (against a scripted loopback server), the progress bar, its help and its imports."""

from __future__ import annotations

import http.server
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from videogen import cli
from videogen_client import TaskStatus
from videogen_client import cli as client_cli

ROOT = Path(__file__).resolve().parents[2]

TASK = "f7c3e8d1-9a2b-4c5d-8e7f-1a2b3c4d5e6f"


class Scripted(http.server.ThreadingHTTPServer):
    """Answers every request with ``answer`` (status, JSON body); records the requests."""

    answer: tuple[int, Any] = (404, {"detail": "Not Found"})
    requests: list[tuple[str, str, Any]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Scripted

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((self.command, self.path, body))
        status, payload = self.server.answer
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def scripted() -> Iterator[Scripted]:
    running = Scripted(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


@pytest.fixture
def server(scripted: Scripted, monkeypatch: pytest.MonkeyPatch) -> Scripted:
    """The scripted server, reset, with the CLI's environment pointing at it."""
    scripted.answer, scripted.requests = (404, {"detail": "Not Found"}), []
    monkeypatch.setenv("VIDEOGEN_URL", f"http://127.0.0.1:{scripted.server_address[1]}")
    monkeypatch.setenv("VIDEOGEN_TOKEN", "vg_test")
    return scripted


TRANSITION = [
    "generate",
    "transition",
    "--front",
    "https://a.example/f.jpg",
    "--tail",
    "https://a.example/t.jpg",
]


def test_options_map_to_the_spec_fields_and_voiceover_text_only_when_asked(server: Scripted) -> None:
    server.answer = (422, {"detail": [{"loc": ["body", "x"], "msg": "stop here", "type": "t"}]})
    # Given every option
    cli.main([*TRANSITION, "--prompt", "p", "--duration", "10", "--type", "zoom", "--subtitle", "0:2.5:Hi: there",
              "--subtitle", "3:4:Bye", "--music", "calm", "--voiceover", "Hello", "--out", "x.mp4"])  # fmt: skip
    # And none
    cli.main([*TRANSITION, "--out", "x.mp4"])
    full, bare = (body for _, _, body in server.requests)
    assert full == {
        "front_image": "https://a.example/f.jpg",
        "tail_image": "https://a.example/t.jpg",
        "prompt": "p",
        "duration": 10,
        "transition_type": "ZOOM",
        "enable_subtitles": True,
        "subtitles": [{"startTime": 0.0, "endTime": 2.5, "text": "Hi: there"}, {"startTime": 3.0, "endTime": 4.0, "text": "Bye"}],
        "enable_music": True,
        "music_type": "calm",
        "enable_voiceover": True,
        "voiceover_text": "Hello",
    }  # fmt: skip
    assert bare == {"front_image": "https://a.example/f.jpg", "tail_image": "https://a.example/t.jpg"}


def test_a_422_for_voiceover_text_is_one_clean_line_and_exit_code_3(
    server: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    server.answer = (422, {"detail": [{"loc": ["body", "voiceover_text"], "msg": "Extra inputs are not permitted",
                                       "type": "extra_forbidden"}]})  # fmt: skip
    code = cli.main([*TRANSITION, "--voiceover", "Hello there", "--out", "x.mp4"])
    err = capsys.readouterr().err
    assert code == client_cli.EXIT_VALIDATION == 3
    assert err == "videogen: invalid request: body.voiceover_text: Extra inputs are not permitted\n"


@pytest.mark.parametrize(
    ("answer", "argv", "code", "line"),
    [
        ((401, {"detail": "Invalid or missing token: send 'Authorization: Token <your token>'"}), ["status", TASK],
         4, "videogen: not authorized: Invalid or missing token: send 'Authorization: Token <your token>'"),
        ((404, {"detail": "Task not found"}), ["status", TASK], 5, "videogen: not found: Task not found"),
        ((500, {"detail": "Internal server error", "request_id": "r"}), ["status", TASK], 1,
         "videogen: Request failed with status 500: Internal server error"),
        ((200, {"task_id": TASK, "state": "FAILURE", "ready": True, "error": "The model\nfailed"}),
         ["wait", TASK, "--out", "x.mp4"], 6, "videogen: task failed: The model failed"),
        ((200, {}), ["generate", "transition", "--front", "nope.jpg", "--tail", "https://a/t.jpg", "--out", "x.mp4"],
         2, "videogen: --front: no such file: nope.jpg"),
        ((200, {}), [*TRANSITION, "--subtitle", "soon:Hi", "--out", "x.mp4"], 2,
         "videogen: --subtitle must be START:END:TEXT (seconds), got 'soon:Hi'"),
    ],
    ids=["401", "404", "500", "task failed", "no such file", "bad subtitle"],
)  # fmt: skip
def test_errors_are_one_line_with_distinct_exit_codes(
    server: Scripted, capsys: pytest.CaptureFixture[str], answer: Any, argv: list[str], code: int, line: str
) -> None:
    server.answer = answer
    assert cli.main(argv) == code
    assert capsys.readouterr().err.splitlines()[-1] == line


def test_no_answer_is_a_network_error_and_no_url_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from twin.server import free_port

    monkeypatch.setenv("VIDEOGEN_TOKEN", "vg_test")
    assert cli.main(["status", TASK, "--url", f"http://127.0.0.1:{free_port()}"]) == client_cli.EXIT_NETWORK
    assert capsys.readouterr().err.startswith("videogen: Network Error: connection refused")
    monkeypatch.delenv("VIDEOGEN_URL", raising=False)
    assert cli.main(["status", TASK]) == client_cli.EXIT_USAGE
    assert capsys.readouterr().err == "videogen: no API URL: pass --url or set VIDEOGEN_URL\n"


def test_status_prints_the_answer_as_json(server: Scripted, capsys: pytest.CaptureFixture[str]) -> None:
    server.answer = (200, {"task_id": TASK, "state": "PENDING", "ready": False, "info": None})
    assert cli.main(["status", TASK, "--token", "vg_other"]) == 0
    assert json.loads(capsys.readouterr().out) == {"task_id": TASK, "state": "PENDING", "ready": False}
    assert server.requests[0][1] == f"/api/transitions/task-status/{TASK}/"


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["generate", "transition", "--help"], ["generate", "dream", "--help"], ["wait", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = capsys.readouterr().out
        assert "VIDEOGEN_URL" in text and "exit codes:" in text
        for code in (3, 4, 6, 7):
            assert f"\n  {code} " in text, (argv, code)


def test_progress_bar_draws_in_place_on_a_terminal_and_line_by_line_otherwise() -> None:
    statuses = [
        TaskStatus(task_id=TASK, state="PENDING", ready=False),
        TaskStatus.model_validate({"task_id": TASK, "state": "PROCESSING", "ready": False,
                                   "info": {"current": 42, "total": 100, "status": "Processing frames..."}}),
        TaskStatus.model_validate({"task_id": TASK, "state": "PROCESSING", "ready": False,
                                   "info": {"current": 42, "total": 100, "status": "Processing frames..."}}),
        TaskStatus(task_id=TASK, state="SUCCESS", ready=True),
    ]  # fmt: skip

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        now = [100.0]
        bar = client_cli.ProgressBar(stream, columns=lambda: 120, clock=lambda now=now: now[0])
        for status in statuses:
            bar.status(status)
            now[0] += 35
        bar.close()
    assert log.getvalue().splitlines() == [
        "[------------------------------]   0%  0:00 Waiting to start",
        "[#############-----------------]  42%  0:35 Processing frames...",
        "[#############-----------------]  42%  1:10 Processing frames...",
        "[##############################] 100%  1:45 Done",
    ]
    assert terminal.getvalue().count("\r") == 4 and terminal.getvalue().endswith("Done\n")


@pytest.mark.parametrize("columns", [60, 40, 20])
def test_progress_bar_never_exceeds_the_terminal_width(columns: int) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    bar = client_cli.ProgressBar(terminal, columns=lambda: columns)
    bar.status(TaskStatus.model_validate({"task_id": TASK, "state": "PROCESSING", "ready": False,
                                          "info": {"current": 7, "total": 100,
                                                   "status": "Waiting for the model to start... " * 3}}))  # fmt: skip
    drawn = terminal.getvalue().split("\r\x1b[2K")[-1]
    assert 0 < len(drawn) < columns  # a wrapped line would be left behind by the next redraw


def test_cli_choices_mirror_the_api_description() -> None:
    from videogen_client import options

    schemas = json.loads((ROOT / "docs" / "openapi.json").read_text())["components"]["schemas"]
    assert tuple(schemas["TransitionType"]["enum"]) == options.TRANSITION_TYPES
    assert tuple(schemas["SubtitleStyle"]["enum"]) == options.SUBTITLE_STYLES
    assert tuple(schemas["SubtitlePosition"]["enum"]) == options.SUBTITLE_POSITIONS
    assert tuple(schemas["MusicType"]["enum"]) == options.MUSIC_TYPES
    assert tuple(schemas["Voice"]["enum"]) == options.VOICES
    assert tuple(schemas["DreamStyle"]["enum"]) == options.DREAM_STYLES
    duration = schemas["TransitionRequest"]["properties"]["duration"]
    assert tuple(duration["enum"]) == options.DURATIONS


@pytest.mark.parametrize(
    "extra",
    [["--duration", "7"], ["--type", "sideways"], ["--music", "polka"], ["--subtitle", "1:6:late"]],
)
def test_an_invalid_request_is_refused_before_any_upload(
    server: Scripted, tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "front.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    argv = ["generate", "transition", "--front", str(image), "--tail", str(image), *extra, "--out", "x.mp4"]
    try:
        code = cli.main(argv)
    except SystemExit as exit:  # argparse refuses a value outside the choices
        code = int(exit.code or 0)
    assert code == client_cli.EXIT_USAGE
    assert server.requests == []  # nothing uploaded, nothing submitted
    assert capsys.readouterr().err.strip()


def test_the_client_commands_use_only_the_sdk() -> None:
    code = (
        "import sys, videogen_client.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'service', 'boto3', 'moto', 'infra'} "
        "or (m.startswith('videogen.') and m != 'videogen_client.cli')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
