"""MarkFailed / MarkTimedOut: cancel what still runs, record FAILURE with a clear error."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.handlers.workflow_wiring import ender, errors_recorded
from service.models.workflow import FailTaskInput
from service.observability import metrics, workflow_handler


@workflow_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = FailTaskInput.model_validate(event)
    with errors_recorded(ender(), state.task_id):
        result = ender().fail_task(state)
    metrics.add_dimension(name="kind", value=state.kind.value)
    metrics.add_metric(
        name="TasksTimedOut" if state.reason == "timed_out" else "TasksFailed", unit=MetricUnit.Count, value=1
    )
    metrics.add_metric(name="PollsPerTask", unit=MetricUnit.Count, value=state.polls)
    return result
