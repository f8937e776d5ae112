"""StartPredictions: create the job's Replicate predictions (the job is read from the task record)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from service.handlers.workflow_wiring import errors_recorded, workflow
from service.models.workflow import ExecutionInput
from service.observability import replicate_errors_counted, workflow_handler


@workflow_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = ExecutionInput.model_validate(event)
    with errors_recorded(workflow(), state.task_id), replicate_errors_counted():
        return workflow().start_predictions(state).model_dump(mode="json")
