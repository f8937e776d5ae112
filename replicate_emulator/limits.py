"""Replicate's rate limits: per account (API token), prediction creates and all other ``/v1`` calls
are counted separately over a rolling minute (600 and 3,000 by default). Over the limit the call
is answered 429 with ``Retry-After`` and Replicate's message, and is not counted."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], deque[float]] = {}

    def acquire(self, account: str, bucket: str, per_minute: int) -> float | None:
        """Count one call; None if allowed, else the seconds until one is allowed again."""
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault((account, bucket), deque())
            while calls and calls[0] <= now - WINDOW_S:
                calls.popleft()
            if len(calls) >= per_minute:
                return max(0.0, calls[0] + WINDOW_S - now)
            calls.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


def retry_after_seconds(wait_s: float) -> int:
    """Whole seconds for ``Retry-After`` (at least 1, so a client never retries in a busy loop)."""
    return max(1, math.ceil(wait_s))


def throttled_detail(seconds: int) -> str:
    """Replicate's 429 text (docs: topics/predictions/rate-limits)."""
    return f"Request was throttled. Your rate limit resets in ~{seconds}s."
