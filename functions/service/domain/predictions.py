"""A Replicate prediction as the workflow reads it, from a poll or from a webhook.

No Replicate client here: the webhook route is an API function and never imports it (project rule),
while the workflow's gateway (``service.adapters.replicate_gateway``) builds the same snapshots from
the client's objects. A webhook's body is the prediction object ``GET /v1/predictions/{id}``
returns, so both read the same fields the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.progress import log_fraction
from service.model_catalog import catalog

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
#: Every status a prediction may have (``aborted``: a ``Cancel-After`` deadline hit before it started).
STATUSES = frozenset({"starting", "processing", *TERMINAL})


@dataclass(frozen=True)
class PredictionSnapshot:
    id: str
    status: str
    fraction: float | None
    output: Any
    error: str | None
    started_at: datetime | None = None


def parse_time(value: Any) -> datetime | None:
    """Replicate's ISO time (``…Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def model_log_style(model: str | None) -> str:
    """How ``model`` prints its progress (the catalog's ``progress.logs``; tqdm when unknown)."""
    entry = catalog().entry_for(model or "")
    return entry.progress.logs if entry is not None else "tqdm"


def snapshot_of(body: dict[str, Any], model: str | None = None) -> PredictionSnapshot:
    """A prediction object (a webhook's body, an API answer) as the workflow reads it."""
    error = body.get("error")
    return PredictionSnapshot(
        id=str(body.get("id") or ""),
        status=str(body.get("status") or ""),
        fraction=log_fraction(
            body.get("logs") if isinstance(body.get("logs"), str) else None,
            model_log_style(model or body.get("model")),
        ),
        output=body.get("output"),
        error=str(error) if error else None,
        started_at=parse_time(body.get("started_at")),
    )


def output_url(output: Any) -> str | None:
    """A video model's output is a URL, or a list whose last item is the final file."""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and output and isinstance(output[-1], str):
        return output[-1]
    return None
