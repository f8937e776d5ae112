"""PollPredictions: read every prediction once (or what its webhooks recorded), record progress,
say whether they are done."""

from typing import Any

from aws_lambda_powertools import single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.catalog import PREDICTIONS_COMPLETED_METRIC
from service.handlers.workflow_wiring import errors_recorded, workflow
from service.models.workflow import PredictionsState
from service.observability import metrics, replicate_errors_counted, workflow_handler


@workflow_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = PredictionsState.model_validate(event)
    seen: dict[str, str] = {}
    with errors_recorded(workflow(), state.task_id), replicate_errors_counted():
        result = workflow().poll_predictions(state, seen).model_dump(mode="json")
    _count_completions(seen)
    return result


def _count_completions(seen: dict[str, str]) -> None:
    """How each prediction's end was learnt: from a webhook or by asking Replicate (the dashboard's
    "Prediction ends: webhook vs poll")."""
    if is_metrics_disabled():  # single_metric prints even then (powertools 3.x)
        return
    for source in sorted(set(seen.values())):
        count = sum(1 for how in seen.values() if how == source)
        with single_metric(
            name=PREDICTIONS_COMPLETED_METRIC, unit=MetricUnit.Count, value=count, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="seen_by", value=source)
