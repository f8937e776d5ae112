"""PollPredictions: read every prediction once, record progress, say whether they are done."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from service.handlers.workflow_wiring import workflow
from service.models.workflow import PredictionsState
from service.observability import replicate_errors_counted, workflow_handler


@workflow_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with replicate_errors_counted():
        return workflow().poll_predictions(PredictionsState.model_validate(event)).model_dump(mode="json")
