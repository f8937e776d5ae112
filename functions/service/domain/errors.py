"""Typed exceptions, raised where the fault is known and mapped at the edges.

The API maps them to HTTP (``handlers/http.py``). In the workflow a Lambda that raises reports
the class name as its ``errorType``, which is the error name the ASL ``Retry``/``Catch`` match:
keep these names in step with ``statemachines/video_generation.asl.json``.
"""

from __future__ import annotations


class TaskNotFoundError(Exception):
    """Unknown task, a foreign ARN, or another owner's task: all look the same (404)."""


class SubmitError(Exception):
    """Submitting failed and nothing was left behind; the client may retry."""


class GenerationError(Exception):
    """A failure whose message is safe to show the task's owner as the task's ``error``."""


class ReplicateRateLimited(GenerationError):
    """Replicate answered 429. Retried by the ASL with backoff and jitter."""


class ReplicateUnavailable(GenerationError):
    """Replicate answered 5xx or could not be reached. Retried by the ASL."""


class ReplicateRejected(GenerationError):
    """Replicate refused the call (bad input, unknown model, auth): retrying will not help."""


class OutputUnavailable(GenerationError):
    """The model's output could not be fetched or is not a usable video."""


#: errorType names whose message may be shown to the task's owner as is.
USER_SAFE_ERRORS = frozenset(
    cls.__name__
    for cls in (
        GenerationError,
        ReplicateRateLimited,
        ReplicateUnavailable,
        ReplicateRejected,
        OutputUnavailable,
    )
)
