"""WaitBeforePoll (``lambda:invoke.waitForTaskToken``): keep the wait's task token in the record.

The state waits until a ``completed`` webhook sends the token back (SendTaskSuccess) or its
TimeoutSeconds, the poll interval, runs out; either way PollPredictions comes next. ``PollNow``
(caught by name in the ASL) skips the wait when a webhook came while no wait was stored.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from service.handlers.workflow_wiring import errors_recorded, waiter
from service.models.workflow import WaitInput
from service.observability import workflow_handler


@workflow_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wait = WaitInput.model_validate(event)
    with errors_recorded(waiter(), wait.state.task_id):
        waiter().await_wake(wait.state, wait.token)
    return {"task_id": wait.state.task_id, "waiting": True}
