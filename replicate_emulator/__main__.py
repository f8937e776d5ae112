"""``python -m replicate_emulator --host 127.0.0.1 --port 8001``: serve until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from types import FrameType

from .faults import FaultsError, coerce_fault_updates
from .server import ReplicateEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m replicate_emulator",
        description="Replicate-compatible predictions API emulator rendering real videos with ffmpeg.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8001, help="port to bind, 0 for any free port (default 8001)"
    )
    parser.add_argument(
        "--api-token", default=None, help="require this bearer token (default: any non-empty)"
    )
    parser.add_argument(
        "--render-concurrency", type=int, default=2, help="parallel ffmpeg renders (default 2)"
    )
    parser.add_argument("--faults", default=None, help="initial faults as JSON, e.g. '{\"latency_s\": 0.2}'")
    parser.add_argument(
        "--log-level", default="INFO", help="logging level; INFO also logs every HTTP request (default INFO)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    emulator = ReplicateEmulator(api_token=args.api_token, render_concurrency=args.render_concurrency)
    if args.faults:
        try:
            emulator.fault_state.update(coerce_fault_updates(json.loads(args.faults)))
        except (json.JSONDecodeError, FaultsError) as exc:
            print(f"--faults: {exc}", file=sys.stderr)
            return 2

    # The handler only records the signal: a handler that sets a threading.Event the main thread
    # is waiting on can deadlock on the Event's own lock (the signal lands inside wait()).
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    base_url = emulator.start(args.host, args.port)
    print(f"Replicate emulator listening on {base_url} (Ctrl-C to stop)", flush=True)
    try:
        while not received:
            time.sleep(0.2)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
