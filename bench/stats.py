"""Percentiles without numpy (nearest-rank on sorted samples, as load tools report them)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN for no samples."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def median(values: Sequence[float]) -> float:
    """The middle sample (the mean of the middle two for an even count)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2)


def summary(values: Sequence[float], digits: int = 2) -> dict[str, float | int]:
    """``n``, ``p50``, ``p90``, ``p99``, ``max`` of the samples, rounded."""
    return {
        "n": len(values),
        "p50": round(median(values), digits),
        "p90": round(percentile(values, 90), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits) if values else math.nan,
    }
