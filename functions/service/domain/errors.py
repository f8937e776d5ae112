"""Typed exceptions, raised where the fault is known and mapped at the edges.

The API maps them to HTTP (``handlers/http.py``). In the workflow a Lambda that raises reports
the class name as its ``errorType``, which is the error name the ASL ``Retry``/``Catch`` match:
keep these names in step with ``statemachines/video_generation.asl.json``.

A ``GenerationError``'s message becomes the task's ``error``, in the API's own terms: it never
names the model provider, a model id or one of the provider's URLs, and it speaks of the request's
fields (``front_image``), not the model's (``start_image``). What the provider really said stays
in ``upstream`` and goes to the logs with the task id (``public_text`` does the rewording).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any


class TaskNotFoundError(Exception):
    """Unknown task, a foreign ARN, or another owner's task: all look the same (404)."""


class SubmitError(Exception):
    """Submitting failed and nothing was left behind; the client may retry."""


class LimitExceeded(Exception):
    """An owner's submit would exceed one of its limits (429): nothing was written or started."""

    def __init__(self, message: str, *, retry_after_s: int, limit: str) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)
        self.limit = limit


class InvalidField(ValueError):
    """A request field the models accepted but the domain refuses (a webhook_url that resolves to a
    private address, a list cursor that is not ours): a 422 in the models' shape."""

    def __init__(self, loc: list[str | int], message: str, kind: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.kind = kind


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was used before with another request (422)."""


class IdempotencyInProgress(Exception):
    """A submit with this Idempotency-Key is still being accepted (409)."""


class TaskAlreadyEnded(Exception):
    """A workflow step found its task already terminal (cancelled, or ended from outside): it
    cancels what it just created and stops the workflow."""


class PollNow(Exception):
    """The workflow's wait (WaitBeforePoll) found that a webhook already told of a prediction's end
    that the workflow has not polled yet, or that the task ended: poll at once instead of waiting.
    The ASL catches it by this name; its message is fixed (no user data reaches the history)."""


class PredictionsStillRunning(Exception):
    """A cancel did not go through (Replicate unreachable): raised after the task was recorded, so
    that the caller is retried (the ASL's retry of MarkFailed; Lambda's and then the dead-letter
    queue for the clean-up) and the predictions do not run on unnoticed."""


class StepFailed(Exception):
    """A workflow step failed for a reason that is ours, not the owner's: the details are in the
    function's log (with the task id), never in the execution history."""


class GenerationError(Exception):
    """A failure whose message is safe to show the task's owner as the task's ``error``."""


class UpstreamError(GenerationError):
    """The model provider refused or failed a call: a message for the owner, the provider's own
    words (``upstream``, for the logs) and, for a 422, the fields it named."""

    def __init__(
        self,
        message: str,
        *,
        upstream: str = "",
        status: int | None = None,
        invalid_fields: Iterable[Mapping[str, Any]] = (),
        role: str | None = None,
    ) -> None:
        super().__init__(message)
        self.upstream = upstream or message
        self.status = status
        self.invalid_fields = [dict(f) for f in invalid_fields]
        self.role = role

    def reworded(self, message: str) -> UpstreamError:
        """The same error (same type: the ASL matches it) with another message for the owner."""
        return type(self)(
            message,
            upstream=self.upstream,
            status=self.status,
            invalid_fields=self.invalid_fields,
            role=self.role,
        )


class ReplicateRateLimited(UpstreamError):
    """Replicate answered 429. Retried by the ASL with backoff and jitter."""


class ReplicateUnavailable(UpstreamError):
    """Replicate answered 5xx or could not be reached. Retried by the ASL."""


class ReplicateRejected(UpstreamError):
    """Replicate refused the call (bad input, unknown model, auth): retrying will not help."""


class OutputUnavailable(GenerationError):
    """The model's output could not be fetched or is not a usable video (retried by the ASL)."""


class OutputExpired(GenerationError):
    """The model's output was deleted before we copied it (outputs live an hour): not retried."""


class OutputRefused(GenerationError):
    """The model's output is at an address Finalize must not download from: retrying will not help."""


#: errorType names whose message may be shown to the task's owner as is.
USER_SAFE_ERRORS = frozenset(
    cls.__name__
    for cls in (
        GenerationError,
        ReplicateRateLimited,
        ReplicateUnavailable,
        ReplicateRejected,
        OutputUnavailable,
        OutputExpired,
        OutputRefused,
    )
)

# -- in the API's own terms ----------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?|data):[^\s'\"<>]+", re.IGNORECASE)
_PROVIDER = re.compile(r"\breplicate(?:\.com|\.delivery)?\b", re.IGNORECASE)


def public_text(
    text: str,
    *,
    fields: Mapping[str, str],
    own_urls: Iterable[str] = (),
    model_refs: Iterable[str] = (),
) -> str:
    """``text`` from the provider, reworded for the task's owner: the model's input names become
    the request's (``fields``; ``input.start_image`` too), URLs other than the owner's own become
    "a URL", the model ids (``model_refs``, with or without version) "the model", and the
    provider's name "the model service"."""
    kept = {url.rstrip(".,;:)") for url in own_urls}
    urls: list[str] = []

    def hold(match: re.Match[str]) -> str:
        found = match.group(0)
        bare = found.rstrip(".,;:)")
        urls.append(bare if bare in kept else "a URL")
        return f"\x00{len(urls) - 1}\x00{found[len(bare) :]}"

    out = _URL.sub(hold, text)
    names = {ref for ref in model_refs} | {ref.split(":", 1)[0] for ref in model_refs}
    for ref in sorted(names, key=len, reverse=True):
        out = out.replace(ref, "the model")
    out = _PROVIDER.sub("the model service", out)
    for model_field, api_field in fields.items():
        out = re.sub(rf"(?<![\w.])(?:input\.)?{re.escape(model_field)}(?!\w)", api_field, out)
    return re.sub("\x00(\\d+)\x00", lambda m: urls[int(m.group(1))], out).strip()
