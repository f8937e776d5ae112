"""Finalize: copy the video into S3, make its thumbnail, mark the task SUCCESS."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.handlers.workflow_wiring import errors_recorded, finalizer
from service.models.workflow import PredictionsState
from service.observability import metrics, workflow_handler


@workflow_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = PredictionsState.model_validate(event)
    with errors_recorded(finalizer(), state.task_id):
        finished = finalizer().finalize(state)
    metrics.add_dimension(name="kind", value=state.kind.value)
    metrics.add_metric(name="TasksSucceeded", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="PollsPerTask", unit=MetricUnit.Count, value=state.polls)
    if finished.generation_seconds is not None:
        metrics.add_metric(
            name="GenerationSeconds", unit=MetricUnit.Seconds, value=finished.generation_seconds
        )
    return {"task_id": state.task_id, "state": "SUCCESS"}
