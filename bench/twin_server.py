"""The local twin in a process of its own, for :mod:`bench.twin_load` to drive over loopback.

As ``videogen serve`` (production timing: 5 s waits, 120 polls), plus what the bench needs and
the banner does not print: the Replicate emulator's URL, whose ``/_emulator/predictions`` tells
when each emulated model finished. Writes ``{"base_url", "token", "replicate_url", ...}`` to
``--ready-file`` once serving; stops when its stdin closes or on SIGTERM.

``python -m bench.twin_server --ready-file PATH``
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any


def _stop_on_sigterm(*_: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ready-file", type=Path, required=True)
    # Replicate does not queue our predictions behind each other; the emulator's default of 2
    # render slots would, once tasks carry two predictions (video and music).
    parser.add_argument("--render-concurrency", type=int, default=4)
    # The load phases submit hundreds of tasks as one owner within a minute: far above any owner's
    # limits, which they lift (0 keeps the deployment's defaults).
    parser.add_argument("--owner-limit", type=int, default=100_000, help="per-owner limits and rate")
    parser.add_argument(
        "--no-replicate-webhooks",
        dest="replicate_webhooks",
        action="store_false",
        help="polling only (a deployment without a public webhook URL)",
    )
    parser.add_argument("--poll-interval", type=int, default=None, help="seconds (default: production's 5)")
    args = parser.parse_args(argv)

    from service.catalog import WorkflowTiming
    from twin.server import Twin, TwinConfig, free_port

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    config = TwinConfig(
        port=free_port(),
        render_concurrency=args.render_concurrency,
        replicate_webhooks=args.replicate_webhooks,
    )
    if args.poll_interval:
        config.timing = WorkflowTiming(poll_interval_s=args.poll_interval, max_polls=10)
    if args.owner_limit:
        limit = str(args.owner_limit)
        config.settings = {"max_in_flight": limit, "submits_per_minute": limit, "submits_per_day": limit}
        config.owner_rate_limit = config.owner_burst_limit = args.owner_limit
    twin = Twin(config)
    try:
        twin.start()
        ready = {
            "base_url": twin.base_url,
            "token": twin.token,
            # Not printed by `videogen serve`; the emulator object is the twin's own.
            "replicate_url": twin.replicate_url,
            "example_request": twin.example_request(),
            "started_in_s": round(twin.started_in_s, 2),
            "poll_interval_s": twin.config.timing.poll_interval_s,
            "replicate_webhooks": twin.config.replicate_webhooks,
            # moto's endpoint: the executions' histories (not printed by `videogen serve` either)
            "aws_endpoint": twin.deployment.aws_endpoint,
        }
        partial = args.ready_file.with_suffix(".partial")
        partial.write_text(json.dumps(ready))
        partial.replace(args.ready_file)  # appears whole
        sys.stdin.read()  # until the bench closes our stdin
    finally:
        twin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
