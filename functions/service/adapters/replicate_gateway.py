"""Replicate through the official client (workflow functions only: API functions never import this).

``base_url`` (from ``VIDEOGEN_REPLICATE_BASE_URL``) points the same client at our emulator in
the twin and tests. Errors become the typed exceptions the ASL retries or catches; their messages
never name the provider or the model (the owner reads them), the provider's own words travel in
``upstream`` for the logs.

Models are addressed as the catalog says: official ones by name, community ones by version.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pydantic
import pydantic.v1
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from service.domain import progress
from service.domain.errors import ReplicateRateLimited, ReplicateRejected, ReplicateUnavailable
from service.domain.predictions import TERMINAL, PredictionSnapshot, model_log_style, output_url, parse_time
from service.models.domain import PredictionCall, PredictionRef, utcnow

__all__ = ["TERMINAL", "PredictionSnapshot", "ReplicateGateway", "log_fraction", "output_url", "snapshot"]

#: The webhook events we ask for: the start, the logs (progress), the end. Not ``output``: our models'
#: outputs come at the end, with ``completed``.
WEBHOOK_EVENTS = ("start", "logs", "completed")

#: ``- input.start_image: Does not match format 'uri'`` lines of a 422's detail.
_INVALID_FIELD = re.compile(r"^- (?P<field>[\w.]+): (?P<description>.+)$", re.MULTILINE)


def _raise_typed(error: ReplicateError | httpx.HTTPError, action: str, role: str | None = None) -> None:
    """The typed exception for a failed call. Messages are the owner's to read; the provider's
    answer goes in ``upstream`` (the workflow logs it with the task id)."""
    if isinstance(error, httpx.HTTPError):
        raise ReplicateUnavailable(
            "The video generation service could not be reached; please try again later",
            upstream=f"{action}: {type(error).__name__}: {error}",
        ) from error
    status = error.status or 0
    detail = error.detail or error.title or str(error)
    upstream = f"{action}: HTTP {status}: {error.title or ''}: {detail}"
    if status == 429:
        raise ReplicateRateLimited(
            "The video generation service is busy; please try again in a few minutes",
            upstream=upstream,
            status=status,
        ) from error
    if status >= 500:
        raise ReplicateUnavailable(
            "The video generation service is unavailable right now; please try again later",
            upstream=upstream,
            status=status,
        ) from error
    fields = [m.groupdict() for m in _INVALID_FIELD.finditer(detail)] if status == 422 else []
    raise ReplicateRejected(
        f"The video generation service refused the request (HTTP {status})",
        upstream=upstream,
        status=status,
        invalid_fields=fields,
        role=role,
    ) from error


#: replicate 1.0.7 validates with pydantic's v1 API when available, v2 otherwise.
ValidationErrors = (pydantic.ValidationError, pydantic.v1.ValidationError)


def _aborted(error: pydantic.ValidationError | pydantic.v1.ValidationError) -> bool:
    """replicate 1.0.7's Prediction model rejects the status ``aborted`` (a deadline hit before the
    prediction started) with a ValidationError; recognise exactly that case (v1 reports the value
    as ``ctx.given``, v2 as ``input``)."""
    return any(
        tuple(e.get("loc", ())) == ("status",)
        and "aborted" in (e.get("input"), (e.get("ctx") or {}).get("given"))
        for e in error.errors()
    )


class ReplicateGateway:
    def __init__(self, api_token: str, base_url: str | None = None, timeout: float = 30.0) -> None:
        kwargs: dict[str, Any] = {"api_token": api_token, "timeout": httpx.Timeout(timeout)}
        if base_url:
            kwargs["base_url"] = base_url
        self.client = replicate.Client(**kwargs)

    def create(self, call: PredictionCall, *, webhook: str | None = None) -> PredictionRef:
        """Start a prediction; with ``webhook``, Replicate calls it on the events we read
        (:data:`WEBHOOK_EVENTS`; ``start`` and ``completed`` are always sent)."""
        owner_name, _, version = call.model.partition(":")
        hooks: dict[str, Any] = (
            {"webhook": webhook, "webhook_events_filter": list(WEBHOOK_EVENTS)} if webhook else {}
        )
        try:
            if version:
                prediction = self.client.predictions.create(version=version, input=call.input, **hooks)
            else:
                prediction = self.client.predictions.create(model=owner_name, input=call.input, **hooks)
        except (ReplicateError, httpx.HTTPError) as error:
            _raise_typed(error, f"start {call.model}", call.role)
            raise  # unreachable: _raise_typed always raises
        return PredictionRef(
            role=call.role,
            model=call.model,
            id=prediction.id,
            status=prediction.status,
            hooked=webhook is not None,
            checked_at=utcnow(),
        )

    def get(self, prediction_id: str) -> PredictionSnapshot:
        try:
            prediction = self.client.predictions.get(prediction_id)
        except ValidationErrors as error:
            if _aborted(error):
                return PredictionSnapshot(
                    prediction_id, "aborted", None, None, "The prediction was aborted before it started"
                )
            raise
        except (ReplicateError, httpx.HTTPError) as error:
            _raise_typed(error, f"read prediction {prediction_id}")
            raise
        return snapshot(prediction)

    def cancel(self, prediction_id: str) -> str:
        """Cancel a prediction; its status afterwards (``canceled``, or the terminal one it had)."""
        try:
            return str(self.client.predictions.cancel(prediction_id).status)
        except ValidationErrors as error:
            if not _aborted(error):  # cancelling an aborted prediction answers with it: fine
                raise
            return "aborted"
        except (ReplicateError, httpx.HTTPError) as error:
            _raise_typed(error, f"cancel prediction {prediction_id}")
            raise


def snapshot(prediction: Prediction) -> PredictionSnapshot:
    return PredictionSnapshot(
        id=prediction.id,
        status=prediction.status,
        fraction=log_fraction(prediction),
        output=prediction.output,
        error=str(prediction.error) if prediction.error else None,
        started_at=parse_time(prediction.started_at),
    )


def log_fraction(prediction: Prediction) -> float | None:
    """Progress from the logs, read the way this model writes it (the catalog's ``progress.logs``):
    a tqdm bar, audiocraft's token counter, or nothing (``service.domain.progress.log_fraction``,
    which the Replicate webhook route reads webhooks with too)."""
    return progress.log_fraction(prediction.logs, model_log_style(prediction.model))
