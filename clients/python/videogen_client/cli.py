"""``videogen generate|status|wait``: the API from the command line, through the Python SDK only.

This module talks HTTP through ``videogen_client`` and imports nothing else of the project: it
works against the twin (``videogen serve``) and a deployed stack alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from videogen_client import (
    AuthenticationError,
    Client,
    ConflictError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    Subtitle,
    TaskFailedError,
    TaskStatus,
    TaskTimeoutError,
    TransitionRequest,
    ValidationError,
    VideogenError,
    WebhookVerificationError,
    options,
    verify_webhook,
)

COMMANDS = ("generate", "status", "wait", "cancel", "list", "delete", "webhooks")

EXIT_OK = 0
EXIT_ERROR = 1  # any other failure: an unexpected HTTP status, a file that cannot be written
EXIT_USAGE = 2  # bad command line, missing URL/token, an image file that does not exist
EXIT_VALIDATION = 3  # the service refused the request (422)
EXIT_AUTH = 4  # 401/403: missing, unknown or revoked token
EXIT_NOT_FOUND = 5  # 404: no such task
EXIT_TASK_FAILED = 6  # the task ended in FAILURE
EXIT_TIMEOUT = 7  # not ready within --timeout (the task may still finish: `videogen wait`)
EXIT_NETWORK = 8  # no answer from the service
EXIT_CONFLICT = 9  # 409: cancel of a finished task; an Idempotency-Key still being accepted
EXIT_INTERRUPTED = 130  # Ctrl-C (the task goes on: `videogen wait`)

EPILOG = f"""\
The API's address and token come from --url/--token or VIDEOGEN_URL/VIDEOGEN_TOKEN.
Local image files are uploaded first (POST /api/uploads/); http(s) URLs are sent as they are.

exit codes:
  {EXIT_OK}    the video is saved (status: the answer is printed)
  {EXIT_ERROR}    other errors (unexpected HTTP status, cannot write the file)
  {EXIT_USAGE}    bad command line, no URL or token, image file not found
  {EXIT_VALIDATION}    request refused by the service (422): the message says which field
  {EXIT_AUTH}    authentication failed (401/403)
  {EXIT_NOT_FOUND}    task not found (404)
  {EXIT_TASK_FAILED}    the task failed: the message is the task's error
  {EXIT_TIMEOUT}    not ready within --timeout (resume with: videogen wait TASK_ID --out FILE)
  {EXIT_NETWORK}    network error: the service did not answer
  {EXIT_CONFLICT}    conflict (409): the task had already finished (cancel), or the Idempotency-Key
       is still being accepted (retry)
  {EXIT_INTERRUPTED}  interrupted (resume with: videogen wait TASK_ID --out FILE)
"""


class UsageError(Exception):
    """A problem with the command line found after parsing (exit code 2)."""


# -- parser ---------------------------------------------------------------------------------------------
def add_commands(root: argparse.ArgumentParser, commands: Any) -> None:
    """Add ``generate``, ``status`` and ``wait`` to the ``videogen`` parser."""
    root.formatter_class = argparse.RawDescriptionHelpFormatter
    root.epilog = (
        "Client commands (generate, status, wait, cancel, list, delete, webhooks): see their --help "
        "for exit codes."
    )
    raw = argparse.RawDescriptionHelpFormatter

    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument("--url", help="API base URL (default: $VIDEOGEN_URL)")
    group.add_argument("--token", help="API token (default: $VIDEOGEN_TOKEN)")

    waiting = argparse.ArgumentParser(add_help=False)
    group = waiting.add_argument_group("waiting")
    group.add_argument("--out", "-o", required=True, type=Path, metavar="FILE", help="Where to save the MP4")
    group.add_argument(
        "--timeout", type=float, default=900.0, metavar="SECONDS", help="Give up after SECONDS (default 900)"
    )
    group.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="First poll interval in seconds (default 2; backs off)",
    )
    group.add_argument("--quiet", "-q", action="store_true", help="No progress bar")

    submitting = argparse.ArgumentParser(add_help=False)
    group = submitting.add_argument_group("submitting")
    group.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="Makes the submit safe to retry: the same KEY and request within 24 h give the same task",
    )
    group.add_argument(
        "--webhook-url", metavar="URL", help="An https URL the service POSTs the task's end to (signed)"
    )

    generate = commands.add_parser(
        "generate", help="Generate a video and save it (client)", epilog=EPILOG, formatter_class=raw
    )
    kinds = generate.add_subparsers(dest="kind", required=True)
    transition = kinds.add_parser(
        "transition",
        parents=[connection, waiting, submitting],
        help="A transition between two images",
        epilog=EPILOG,
        formatter_class=raw,
    )
    transition.add_argument("--front", required=True, metavar="PATH_OR_URL", help="First frame")
    transition.add_argument("--tail", required=True, metavar="PATH_OR_URL", help="Last frame")
    transition.add_argument("--prompt", help="What happens between them")
    transition.add_argument("--duration", type=int, choices=options.DURATIONS, help="Seconds: 5 or 10")
    transition.add_argument(
        "--type",
        dest="transition_type",
        type=_one_of(options.TRANSITION_TYPES),
        metavar="TYPE",
        help=f"Transition type: {', '.join(options.TRANSITION_TYPES)}",
    )
    transition.add_argument(
        "--subtitle",
        action="append",
        default=[],
        metavar="START:END:TEXT",
        help="A subtitle cue in seconds (repeatable); turns subtitles on",
    )
    transition.add_argument(
        "--subtitle-style",
        type=_one_of(options.SUBTITLE_STYLES),
        metavar="STYLE",
        help="default, bold or minimal",
    )
    transition.add_argument(
        "--subtitle-position",
        type=_one_of(options.SUBTITLE_POSITIONS),
        metavar="POSITION",
        help="bottom, middle or top",
    )
    transition.add_argument(
        "--music",
        type=_one_of(options.MUSIC_TYPES),
        metavar="TYPE",
        help=f"Add music of this type: {', '.join(options.MUSIC_TYPES)}",
    )
    transition.add_argument("--voiceover", metavar="TEXT", help="Add a voice-over speaking TEXT")

    dream = kinds.add_parser(
        "dream",
        parents=[connection, waiting, submitting],
        help="A video of a dream",
        epilog=EPILOG,
        formatter_class=raw,
    )
    dream.add_argument("--dream", required=True, help="The dream, in words")
    dream.add_argument(
        "--style", required=True, type=_one_of(options.DREAM_STYLES), help="Realistic, Animated or Cursed"
    )

    status = commands.add_parser(
        "status",
        parents=[connection],
        help="Print a task's status as JSON (client)",
        epilog=EPILOG,
        formatter_class=raw,
    )
    status.add_argument("task_id", metavar="TASK_ID")

    wait = commands.add_parser(
        "wait",
        parents=[connection, waiting],
        help="Wait for a task (e.g. after an interruption) and save its video (client)",
        epilog=EPILOG,
        formatter_class=raw,
    )
    wait.add_argument("task_id", metavar="TASK_ID")

    cancel = commands.add_parser(
        "cancel", parents=[connection], help="Cancel a task (client)", epilog=EPILOG, formatter_class=raw
    )
    cancel.add_argument("task_id", metavar="TASK_ID")
    delete = commands.add_parser(
        "delete",
        parents=[connection],
        help="Delete a task: cancel it if it runs, erase it and its video (client)",
        epilog=EPILOG,
        formatter_class=raw,
    )
    delete.add_argument("task_id", metavar="TASK_ID")
    listing = commands.add_parser(
        "list",
        parents=[connection],
        help="Your tasks, newest first, one JSON object per line (client)",
        epilog=EPILOG,
        formatter_class=raw,
    )
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="At most N tasks (default 20)")
    listing.add_argument("--all", action="store_true", help="Every task (follows the pages)")
    listing.add_argument(
        "--state", type=_one_of(("PENDING", "PROCESSING", "SUCCESS", "FAILURE")), metavar="STATE"
    )
    listing.add_argument("--kind", type=_one_of(("transition", "dream")), metavar="KIND")
    listing.add_argument("--cursor", metavar="CURSOR", help="Start after this cursor (printed on stderr)")

    hooks = commands.add_parser("webhooks", help="Webhooks: your secret, a local receiver (client)")
    actions = hooks.add_subparsers(dest="action", required=True)
    secret = actions.add_parser("secret", parents=[connection], help="Print your webhook signing secret")
    secret.add_argument(
        "--rotate", action="store_true", help="A new secret (the previous one signs for a day)"
    )
    listen = actions.add_parser(
        "listen",
        help="Receive webhooks on 127.0.0.1:PORT, verify each signature, print each event as a JSON line",
    )
    listen.add_argument("--port", type=int, default=9000, help="Port on 127.0.0.1 (default 9000)")
    listen.add_argument("--secret", required=True, help="Your whsec_ secret (videogen webhooks secret)")
    listen.add_argument("--count", type=int, metavar="N", help="Stop after N verified events")


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """An argparse type: one of ``allowed``, any case (as the API accepts them), refused before
    anything is uploaded."""
    by_fold = {value.casefold(): value for value in allowed}

    def parse(text: str) -> str:
        try:
            return by_fold[text.strip().casefold()]
        except KeyError:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(allowed)}") from None

    return parse


# -- progress -------------------------------------------------------------------------------------------
class ProgressBar:
    """``[#######-------]  42%  0:12 Processing frames...`` on stderr: redrawn in place on a terminal
    (cut to its width, so a redraw never leaves a wrapped line behind), one line per change
    otherwise (logs, CI)."""

    WIDTH = 30

    def __init__(
        self,
        stream: IO[str] | None = None,
        enabled: bool = True,
        *,
        columns: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._columns = columns or (lambda: shutil.get_terminal_size((80, 24)).columns)
        self._clock = clock
        self._started = clock()
        self._last = ""
        self._drawn = False

    def _draw(self, fraction: float, label: str) -> None:
        if not self.enabled:
            return
        elapsed = int(self._clock() - self._started)
        clock = f"{elapsed // 60}:{elapsed % 60:02d}"
        percent = f"{round(fraction * 100):3d}%"
        columns = self._columns() - 1  # writing the last column makes some terminals wrap
        bar_width = max(5, min(self.WIDTH, columns - len(percent) - len(clock) - 6))
        filled = round(fraction * bar_width)
        line = f"[{'#' * filled}{'-' * (bar_width - filled)}] {percent} {clock:>5} {label}"
        if self.tty:
            line = line[:columns]
        if line == self._last:
            return
        self._last = line
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def status(self, status: TaskStatus) -> None:
        if status.state == "PROCESSING" and status.info is not None:
            self._draw(status.info.fraction, status.info.status or "Processing")
        elif status.state == "SUCCESS":
            self._draw(1.0, "Done")
        elif status.state == "PENDING":
            self._draw(0.0, "Waiting to start")

    def download(self, done: int, total: int | None) -> None:
        if total:
            self._draw(done / total, f"Downloading {done / 1e6:.1f}/{total / 1e6:.1f} MB")

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


# -- commands -------------------------------------------------------------------------------------------
class OutputError(Exception):
    """The video could not be written (exit code 1)."""


@dataclass
class Context:
    client: Client
    say: Callable[[str], None]
    #: Known once the task exists: errors after which it goes on say how to resume.
    task_id: str | None = None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _connect(args: argparse.Namespace) -> Client:
    url = args.url or os.environ.get("VIDEOGEN_URL")
    token = args.token or os.environ.get("VIDEOGEN_TOKEN")
    if not url:
        raise UsageError("no API URL: pass --url or set VIDEOGEN_URL")
    if not token:
        raise UsageError("no API token: pass --token or set VIDEOGEN_TOKEN")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url must start with http:// or https://, got {url!r}")
    return Client(url, token)


def _image(ctx: Context, value: str, option: str) -> str:
    """A URL as it is; a local file uploaded first (its presigned file_url is sent)."""
    if value.startswith(("http://", "https://")):
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise UsageError(f"{option}: no such file: {value}")
    ticket = ctx.client.upload(path)
    ctx.say(f"Uploaded {path.name}")
    return ticket.file_url


def _subtitle(spec: str) -> Subtitle:
    start, sep, rest = spec.partition(":")
    end, sep2, text = rest.partition(":")
    try:
        if not (sep and sep2 and text):
            raise ValueError
        return Subtitle(startTime=float(start), endTime=float(end), text=text)
    except ValueError:
        raise UsageError(f"--subtitle must be START:END:TEXT (seconds), got {spec!r}") from None


def _transition_request(ctx: Context, args: argparse.Namespace) -> TransitionRequest:
    # Everything the service would refuse is refused before any upload (the choices in the
    # parser, the cues here): an invalid request must not cost the user an upload.
    subtitles = [_subtitle(spec) for spec in args.subtitle]
    duration = args.duration or options.DURATIONS[0]
    for cue in subtitles:
        if cue.endTime > duration:
            raise UsageError(
                f"--subtitle {cue.startTime:g}:{cue.endTime:g}: ends after the video ({duration} s)"
            )
        if cue.startTime >= cue.endTime:
            raise UsageError(f"--subtitle {cue.startTime:g}:{cue.endTime:g}: START must be before END")
    request = TransitionRequest(
        webhook_url=args.webhook_url,
        front_image=_image(ctx, args.front, "--front"),
        tail_image=_image(ctx, args.tail, "--tail"),
        prompt=args.prompt,
        duration=args.duration,
        transition_type=args.transition_type,
        subtitle_style=args.subtitle_style,
        subtitle_position=args.subtitle_position,
    )
    if subtitles:
        request.enable_subtitles = True
        request.subtitles = subtitles
    if args.music:
        request.enable_music = True
        request.music_type = args.music
    if args.voiceover is not None:  # voiceover_text is sent only when asked for
        request.enable_voiceover = True
        request.voiceover_text = args.voiceover
    return request


def _wait_and_save(ctx: Context, args: argparse.Namespace, task_id: str) -> int:
    ctx.task_id = task_id
    bar = ProgressBar(enabled=not args.quiet)
    try:
        result = ctx.client.wait(task_id, on_status=bar.status, interval=args.interval, timeout=args.timeout)
        try:
            path = ctx.client.download(result.video_url, args.out, on_progress=bar.download)
        except OSError as error:
            raise OutputError(f"cannot write {args.out}: {error.strerror or error}") from error
    finally:
        bar.close()
    print(path)
    return EXIT_OK


def _generate(ctx: Context, args: argparse.Namespace) -> int:
    key = args.idempotency_key
    if args.kind == "transition":
        accepted = ctx.client.create_transition(_transition_request(ctx, args), idempotency_key=key)
    else:
        accepted = ctx.client.generate_dream(
            args.dream, args.style, webhook_url=args.webhook_url, idempotency_key=key
        )
    ctx.say(
        f"Task {accepted.task_id}"
        + (" (the same as before: same Idempotency-Key)" if accepted.replayed else "")
    )
    return _wait_and_save(ctx, args, accepted.task_id)


def _status(ctx: Context, args: argparse.Namespace) -> int:
    print(ctx.client.task_status(args.task_id).model_dump_json(indent=2, exclude_none=True))
    return EXIT_OK


def _cancel(ctx: Context, args: argparse.Namespace) -> int:
    print(ctx.client.cancel(args.task_id).model_dump_json(indent=2, exclude_none=True))
    return EXIT_OK


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    ctx.client.delete(args.task_id)
    ctx.say(f"Deleted {args.task_id}")
    return EXIT_OK


def _list(ctx: Context, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    cursor, shown = args.cursor, 0
    while True:
        page = ctx.client.list_tasks(
            limit=min(100, args.limit - shown) if not args.all else 100,
            cursor=cursor,
            state=args.state,
            kind=args.kind,
        )
        for item in page.items:
            print(item.model_dump_json(exclude_none=True))
        shown += len(page.items)
        cursor = page.next_cursor
        if cursor is None or (not args.all and shown >= args.limit):
            break
    if cursor is not None:
        ctx.say(f"More: videogen list --cursor {cursor}")
    return EXIT_OK


def _webhooks(ctx: Context, args: argparse.Namespace) -> int:
    secret = ctx.client.rotate_webhook_secret() if args.rotate else ctx.client.webhook_secret()
    print(secret.secret)
    return EXIT_OK


def listen(port: int, secret: str, count: int | None, out: IO[str] | None = None) -> int:
    """A local webhook receiver: each POST's signature is verified (401 if it fails), each event
    printed as one JSON line; stops after ``count`` verified events."""
    import http.server

    stream = out or sys.stdout
    seen: list[str] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = verify_webhook(body, dict(self.headers.items()), secret)
            except WebhookVerificationError as error:
                _say(f"refused a webhook: {error}")
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()
            if event.id not in seen:  # retries carry the same id
                seen.append(event.id)
                print(event.model_dump_json(exclude_none=True), file=stream, flush=True)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Receiver)
    _say(f"Listening on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        while count is None or len(seen) < count:
            server.handle_request()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        server.server_close()
    return EXIT_OK


def _failure(error: BaseException) -> tuple[int, str]:
    """Exit code and message for an error (most specific type first)."""
    if isinstance(error, UsageError):
        return EXIT_USAGE, str(error)
    if isinstance(error, ValidationError):
        return EXIT_VALIDATION, f"invalid request: {error.detail}"
    if isinstance(error, AuthenticationError | PermissionDeniedError):
        return EXIT_AUTH, f"not authorized: {error.detail or error}"
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND, f"not found: {error.detail or error}"
    if isinstance(error, ConflictError):
        task = error.task
        state = f" (it is {task.state}{': ' + task.error if task and task.error else ''})" if task else ""
        return EXIT_CONFLICT, f"conflict: {error.detail}{state}"
    if isinstance(error, TaskFailedError):
        return EXIT_TASK_FAILED, f"task failed: {error}"
    if isinstance(error, TaskTimeoutError):
        return EXIT_TIMEOUT, f"timed out: {error}"
    if isinstance(error, NetworkError):
        return EXIT_NETWORK, str(error)
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(error, VideogenError | OutputError):
        return EXIT_ERROR, str(error)
    if isinstance(error, OSError):
        return EXIT_ERROR, f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    raise error


def run(args: argparse.Namespace) -> int:
    """Run a parsed client command; one line on stderr and a distinct exit code on failure."""
    ctx: Context | None = None
    try:
        if args.command == "webhooks" and args.action == "listen":
            return listen(args.port, args.secret, args.count)
        with _connect(args) as client:
            ctx = Context(client=client, say=_say)
            if args.command == "generate":
                return _generate(ctx, args)
            if args.command == "wait":
                return _wait_and_save(ctx, args, args.task_id)
            commands = {"cancel": _cancel, "delete": _delete, "list": _list, "webhooks": _webhooks}
            return commands.get(args.command, _status)(ctx, args)
    except (Exception, KeyboardInterrupt) as error:
        code, message = _failure(error)
    if ctx is not None and ctx.task_id and code in (EXIT_TIMEOUT, EXIT_NETWORK, EXIT_INTERRUPTED):
        message += f"; the task goes on: resume with: videogen wait {ctx.task_id} --out {args.out}"
    print(f"videogen: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return code
