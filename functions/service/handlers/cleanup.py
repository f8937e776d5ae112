"""Clean-up of executions that ended without the workflow's help (stopped, timed out, failed).

Invoked by EventBridge ("Step Functions Execution Status Change", statuses FAILED, TIMED_OUT and
ABORTED, this state machine only; the twin delivers the same events). Cancels every prediction
the task record lists as still running and, if the record is not terminal, records FAILURE, which
frees the owner's slot. An error is raised again so that the invocation is retried (then lands
in the dead-letter queue).
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.handlers.workflow_wiring import ender
from service.models.events import ExecutionStatusChange
from service.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = ExecutionStatusChange.of(EventBridgeEvent(event))
    ended = ender().execution_ended(change.name, change.status)
    return {"task_id": change.name, "status": change.status, "ended_task": ended}
