"""The emulator's command-line options, shared by ``videogen emulator`` and ``python -m replicate_emulator``.

Kept apart (standard library and ``config`` only) so that building the ``videogen`` command line
does not import the emulator itself.
"""

from __future__ import annotations

import argparse

from .config import CREATES_PER_MINUTE, DATA_RETENTION_S, OTHER_CALLS_PER_MINUTE


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The emulator's options (shared by ``videogen emulator`` and ``python -m replicate_emulator``)."""
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
        "--data-retention",
        type=float,
        default=DATA_RETENTION_S,
        metavar="SECONDS",
        help="remove a finished prediction's input, output, logs and files after this long (default 3600)",
    )
    parser.add_argument(
        "--creates-per-minute",
        type=int,
        default=CREATES_PER_MINUTE,
        help="prediction creates per minute before 429 (600)",
    )
    parser.add_argument(
        "--other-calls-per-minute",
        type=int,
        default=OTHER_CALLS_PER_MINUTE,
        help="other /v1 calls per minute before 429 (3000)",
    )
    parser.add_argument(
        "--model-time-scale",
        type=float,
        default=0.0,
        metavar="FACTOR",
        help="each run lasts at least the model's typical time times this (0: as fast as ffmpeg renders)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=None,
        help="the account's webhook signing secret, whsec_<base64> (default: a new random one)",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="logging level; INFO also logs every HTTP request (default INFO)"
    )
    return parser
