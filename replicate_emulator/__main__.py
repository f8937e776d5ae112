"""``videogen emulator --port 8001`` (or ``python -m replicate_emulator``): serve until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from types import FrameType

from .config import ConfigError, EmulatorConfig, coerce_config_updates
from .faults import FaultsError, coerce_fault_updates
from .options import add_arguments
from .server import ReplicateEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m replicate_emulator",
        description="Replicate-compatible API emulator rendering real videos and audio with ffmpeg.",
    )
    return add_arguments(parser).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return serve(parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Run the emulator described by parsed ``add_arguments`` options until Ctrl-C or SIGTERM."""
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = EmulatorConfig(
            **coerce_config_updates(
                {
                    "data_retention_s": args.data_retention,
                    "creates_per_minute": args.creates_per_minute,
                    "other_calls_per_minute": args.other_calls_per_minute,
                    "model_time_scale": args.model_time_scale,
                }
            )
        )
    except ConfigError as exc:
        print(f"replicate emulator: {exc}", file=sys.stderr)
        return 2
    emulator = ReplicateEmulator(
        api_token=args.api_token,
        render_concurrency=args.render_concurrency,
        config=config,
        webhook_secret=args.webhook_secret,
    )
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
