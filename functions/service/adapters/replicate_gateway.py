"""Replicate through the official client (workflow functions only: API functions never import this).

``base_url`` (from ``VIDEOGEN_REPLICATE_BASE_URL``) points the same client at our emulator in
the twin and tests. Errors become the typed exceptions the ASL retries or catches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
import pydantic.v1
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from service.domain.errors import ReplicateRateLimited, ReplicateRejected, ReplicateUnavailable
from service.models.domain import PredictionCall, PredictionRef

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})


@dataclass(frozen=True)
class PredictionSnapshot:
    id: str
    status: str
    fraction: float | None
    output: Any
    error: str | None


def _raise_typed(error: ReplicateError | httpx.HTTPError, action: str) -> None:
    if isinstance(error, httpx.HTTPError):
        raise ReplicateUnavailable(
            f"Replicate could not be reached while trying to {action}: {error}"
        ) from error
    status = error.status or 0
    detail = error.detail or error.title or str(error)
    if status == 429:
        raise ReplicateRateLimited(f"Replicate is throttling requests ({action}): {detail}") from error
    if status >= 500:
        raise ReplicateUnavailable(f"Replicate is unavailable ({action}, HTTP {status}): {detail}") from error
    raise ReplicateRejected(
        f"Replicate rejected the request to {action} (HTTP {status}): {detail}"
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

    def create(self, call: PredictionCall) -> PredictionRef:
        owner_name, _, version = call.model.partition(":")
        try:
            if version:
                prediction = self.client.predictions.create(version=version, input=call.input)
            else:
                prediction = self.client.predictions.create(model=owner_name, input=call.input)
        except (ReplicateError, httpx.HTTPError) as error:
            _raise_typed(error, f"start {call.model}")
            raise  # unreachable: _raise_typed always raises
        return PredictionRef(role=call.role, model=call.model, id=prediction.id, status=prediction.status)

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

    def cancel(self, prediction_id: str) -> None:
        try:
            self.client.predictions.cancel(prediction_id)
        except ValidationErrors as error:
            if not _aborted(error):  # cancelling an aborted prediction answers with it: fine
                raise
        except (ReplicateError, httpx.HTTPError) as error:
            _raise_typed(error, f"cancel prediction {prediction_id}")


def snapshot(prediction: Prediction) -> PredictionSnapshot:
    progress = prediction.progress
    return PredictionSnapshot(
        id=prediction.id,
        status=prediction.status,
        fraction=progress.percentage if progress else None,
        output=prediction.output,
        error=str(prediction.error) if prediction.error else None,
    )


def output_url(output: Any) -> str | None:
    """A video model's output is a URL, or a list whose last item is the final file."""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and output and isinstance(output[-1], str):
        return output[-1]
    return None
