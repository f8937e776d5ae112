"""Per-owner limits on submits: tasks in flight, submits per minute, submits per day.

Every task spends money at Replicate, so no owner may run more than its share. The decision is
made here, on the usage read from the owners table; the write that records it is conditional on
that usage being unchanged (``OwnersTable.admission``), so concurrent submits can never exceed a
limit: the losers re-read and decide again.

The minute and the day are fixed windows (epoch minutes; UTC days): cheap to keep in one item,
and a burst across a window boundary gets at most two windows' worth.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.adapters.owners_table import Admission, OwnerUsage
from service.domain.errors import LimitExceeded

MINUTE_S = 60
DAY_S = 86_400
#: Retry-After when every slot is taken: tasks take minutes; a client should not hammer.
IN_FLIGHT_RETRY_S = 10


@dataclass(frozen=True)
class Limits:
    max_in_flight: int
    per_minute: int
    per_day: int

    def for_owner(self, usage: OwnerUsage) -> Limits:
        """The owner's overrides where it has any, these defaults elsewhere."""
        return Limits(
            max_in_flight=usage.max_in_flight if usage.max_in_flight is not None else self.max_in_flight,
            per_minute=usage.per_minute if usage.per_minute is not None else self.per_minute,
            per_day=usage.per_day if usage.per_day is not None else self.per_day,
        )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def admit(usage: OwnerUsage, limits: Limits, now: float) -> Admission:
    """One more submit for this owner, or :class:`LimitExceeded` naming the limit and its value."""
    second = int(now)
    minute, day = second // MINUTE_S, second // DAY_S
    minute_count = usage.minute_count if usage.minute_window == minute else 0
    day_count = usage.day_count if usage.day_window == day else 0
    if usage.in_flight >= limits.max_in_flight:
        raise LimitExceeded(
            f"At most {_plural(limits.max_in_flight, 'task')} in flight for this owner: "
            "wait for one to finish",
            retry_after_s=IN_FLIGHT_RETRY_S,
            limit="max_in_flight",
        )
    if minute_count >= limits.per_minute:
        wait = (minute + 1) * MINUTE_S - second
        raise LimitExceeded(
            f"At most {_plural(limits.per_minute, 'submit')} per minute for this owner: retry in {wait} s",
            retry_after_s=wait,
            limit="per_minute",
        )
    if day_count >= limits.per_day:
        wait = (day + 1) * DAY_S - second
        raise LimitExceeded(
            f"At most {_plural(limits.per_day, 'submit')} per day (UTC) for this owner: "
            f"retry after midnight UTC, in {wait // 3600} h {wait % 3600 // 60} min",
            retry_after_s=wait,
            limit="per_day",
        )
    return Admission(minute, minute_count + 1, day, day_count + 1)
