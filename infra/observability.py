"""One dashboard and the alarms, all to one SNS topic. Each alarm has a runbook entry in
``docs/operations.md`` under its name."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.functions import pascal_case
from service.catalog import (
    FUNCTIONS,
    INTERNAL_ERRORS_METRIC,
    METRICS_NAMESPACE,
    PREDICTIONS_COMPLETED_METRIC,
    SERVICE_NAME,
    WEBHOOKS_RECORDED_METRIC,
    WEBHOOKS_REFUSED_METRIC,
)

PERIOD = Duration.minutes(5)

#: Values of the ``kind`` dimension (``service.models.domain.TaskKind``; a test keeps them equal).
TASK_KINDS = ("transition", "dream")
#: Values of the ``error_type`` dimension of ReplicateErrors (``service.domain.errors``).
REPLICATE_ERROR_TYPES = ("ReplicateRateLimited", "ReplicateUnavailable", "ReplicateRejected")
#: Why the Replicate webhook route refused a webhook (``service.domain.replicate_webhooks``).
WEBHOOK_REFUSALS = ("malformed", "stale", "signature", "secret")
#: How PollPredictions learnt a prediction's end.
COMPLETION_SOURCES = ("webhook", "poll")
#: Count metrics by kind, and the others with the statistic that reads right.
TASK_COUNTS = ("TasksSubmitted", "TasksSucceeded", "TasksFailed", "TasksTimedOut")
#: The deliver function's counts (``service.handlers.deliver``).
WEBHOOK_COUNTS = ("WebhookAttemptsDelivered", "WebhookAttemptsFailed", "WebhookDeliveriesGivenUp")
#: Failed webhook attempts in 5 minutes that page: receivers fail on their own, but this many at
#: once says our side cannot reach anyone (egress, DNS, a bug in the signer...).
WEBHOOK_FAILED_ATTEMPTS_ALARM = 25


def business_metric(name: str, statistic: str = "Sum", **dimensions: str) -> cw.Metric:
    """A powertools EMF metric. powertools adds ``service`` to every metric's dimensions, and a
    CloudWatch metric is identified by all of them: without ``service`` the graph stays empty."""
    label = " ".join([name, *dimensions.values(), *([] if statistic == "Sum" else [statistic])])
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME, **dimensions},
        statistic=statistic,
        period=PERIOD,
        label=label,
    )


@dataclass(frozen=True)
class Monitored:
    """What the dashboard and alarms look at."""

    stage: apigw.Stage
    functions: dict[str, lambda_.Function]
    state_machine: sfn.StateMachine
    tables: dict[str, dynamodb.Table]
    #: Execution events the clean-up could not handle.
    dead_letters: sqs.IQueue
    #: The caller webhooks' queues: name → (queue, dead-letter queue).
    deliveries: dict[str, tuple[sqs.IQueue, sqs.IQueue]]
    #: Replicate's webhooks are on (their alarm and widgets are there either way: off, they stay empty).
    webhooks: bool = True


class Observability(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, monitored: Monitored
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        # Not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS-managed SNS key,
        # and the notifications carry alarm names and states only.
        self.topic = sns.Topic(self, "AlarmTopic", display_name=f"{config.prefix} alarms", enforce_ssl=True)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: list[cw.Alarm] = []
        self._alarms(monitored)
        self.dashboard = self._dashboard(monitored)

    # -- alarms -----------------------------------------------------------------------------------
    def _alarm(
        self, construct_id: str, name: str, description: str, runbook: str | None = None, **props: object
    ) -> cw.Alarm:
        """``runbook``: the heading in docs/operations.md (default: the alarm's own name)."""
        alarm = cw.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.config.prefix}-{name}",
            alarm_description=f"{description} Runbook: docs/operations.md#{runbook or name}",
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            **props,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _alarms(self, m: Monitored) -> None:
        self._alarm(
            "Api5xxRate",
            "api-5xx-rate",
            f"More than {self.config.alarm_api_5xx_percent}% of API requests answered 5xx in 5 minutes.",
            metric=cw.MathExpression(
                expression="IF(requests > 0, 100 * errors / requests, 0)",
                using_metrics={
                    "errors": m.stage.metric_server_error(period=PERIOD, statistic="Sum"),
                    "requests": m.stage.metric_count(period=PERIOD, statistic="Sum"),
                },
                label="5xx %",
                period=PERIOD,
            ),
            threshold=self.config.alarm_api_5xx_percent,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
        )
        self._alarm(
            "ExecutionsFailed",
            "executions-failed",
            f"At least {self.config.alarm_failed_executions} workflow executions failed in 5 minutes.",
            metric=m.state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            threshold=self.config.alarm_failed_executions,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )
        self._alarm(
            "ExecutionsTimedOut",
            "executions-timed-out",
            "A workflow execution hit its TimeoutSeconds backstop (the poll budget should end it first).",
            metric=m.state_machine.metric_timed_out(period=PERIOD, statistic="Sum"),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )
        self._alarm(
            "CleanupDeadLetters",
            "cleanup-dead-letters",
            "An execution that ended without the workflow's help could not be cleaned up: its "
            "predictions may still run and its owner's slot may still be held.",
            metric=m.dead_letters.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )
        self._alarm(
            "ReplicateWebhookSignatureFailures",
            "replicate-webhook-signature-failures",
            f"At least {self.config.alarm_webhook_signature_failures} Replicate webhooks were refused "
            "for their signature (forged, or the signing secret is not Replicate's) in 5 minutes.",
            metric=cw.MathExpression(
                expression="FILL(signature, 0) + FILL(secret, 0)",
                using_metrics={
                    reason: business_metric(WEBHOOKS_REFUSED_METRIC, reason=reason)
                    for reason in ("signature", "secret")
                },
                label="webhooks refused for their signature",
                period=PERIOD,
            ),
            threshold=self.config.alarm_webhook_signature_failures,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )
        for name, (_queue, dead) in m.deliveries.items():
            self._alarm(
                f"{pascal_case(name)}DeadLetters",
                f"{name}-dead-letters",
                "A caller webhook was given up after its retries (24 h), or the deliver function kept "
                "failing on a message: the owner's receiver never got that task's end.",
                metric=dead.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                threshold=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
            )
        self._alarm(
            "WebhookAttemptsFailed",
            "webhook-attempts-failed",
            f"{WEBHOOK_FAILED_ATTEMPTS_ALARM} or more caller webhook attempts failed in 5 minutes.",
            metric=business_metric("WebhookAttemptsFailed"),
            threshold=WEBHOOK_FAILED_ATTEMPTS_ALARM,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )
        for spec in FUNCTIONS:
            function = m.functions[spec.name]
            slug = spec.name.replace("_", "-")
            cid = pascal_case(spec.name)
            if spec.kind != "authorizer":
                # The authorizer signals every rejected token as an error (raise "Unauthorized"):
                # its errors are not alarmed; its crashes surface as 5xx (api-5xx-rate).
                threshold = (
                    1
                    if spec.kind in ("api", "event", "queue")
                    else self.config.alarm_workflow_function_errors
                )
                errors: cw.IMetric = function.metric_errors(period=PERIOD, statistic="Sum")
                if spec.kind == "api":
                    # An exception the handler caught and answered 500 is no Lambda error: add those.
                    errors = cw.MathExpression(
                        expression="FILL(crashed, 0) + FILL(answered500, 0)",
                        using_metrics={
                            "crashed": errors,
                            "answered500": business_metric(INTERNAL_ERRORS_METRIC, function=spec.name),
                        },
                        label="errors and 500 answers",
                        period=PERIOD,
                    )
                self._alarm(
                    f"{cid}Errors",
                    f"{slug}-errors",
                    f"The {spec.name} function failed or answered 500 {threshold} or more times in 5 minutes.",
                    runbook="function-errors",
                    metric=errors,
                    threshold=threshold,
                    comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=1,
                )
            self._alarm(
                f"{cid}Throttles",
                f"{slug}-throttles",
                f"The {spec.name} function was throttled in the last 5 minutes.",
                runbook="function-throttles",
                metric=function.metric_throttles(period=PERIOD, statistic="Sum"),
                threshold=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
            )

    # -- dashboard --------------------------------------------------------------------------------
    def _dashboard(self, m: Monitored) -> cw.Dashboard:
        dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=self.config.prefix, default_interval=Duration.hours(6)
        )
        stage = m.stage
        dashboard.add_widgets(
            cw.TextWidget(markdown=f"# videogen ({self.config.stage}): API", width=24, height=1)
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="API requests",
                left=[stage.metric_count(period=PERIOD, statistic="Sum", label="requests")],
                width=8,
            ),
            cw.GraphWidget(
                title="API errors",
                left=[
                    stage.metric_client_error(period=PERIOD, statistic="Sum", label="4xx"),
                    stage.metric_server_error(period=PERIOD, statistic="Sum", label="5xx"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="API latency (ms)",
                left=[
                    stage.metric_latency(period=PERIOD, statistic="p50", label="p50"),
                    stage.metric_latency(period=PERIOD, statistic="p99", label="p99"),
                    stage.metric_integration_latency(period=PERIOD, statistic="p99", label="integration p99"),
                ],
                width=8,
            ),
        )

        dashboard.add_widgets(cw.TextWidget(markdown="# Lambda functions", width=24, height=1))
        dashboard.add_widgets(
            *(
                cw.GraphWidget(
                    title=f"{spec.name}: errors, throttles, p99 duration",
                    left=[
                        m.functions[spec.name].metric_errors(period=PERIOD, statistic="Sum", label="errors"),
                        m.functions[spec.name].metric_throttles(
                            period=PERIOD, statistic="Sum", label="throttles"
                        ),
                    ],
                    right=[
                        m.functions[spec.name].metric_duration(period=PERIOD, statistic="p99", label="p99 ms")
                    ],
                    width=6,
                )
                for spec in FUNCTIONS
            )
        )

        machine = m.state_machine
        dashboard.add_widgets(cw.TextWidget(markdown="# Workflow (Step Functions)", width=24, height=1))
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Executions",
                left=[
                    machine.metric_started(period=PERIOD, statistic="Sum", label="started"),
                    machine.metric_succeeded(period=PERIOD, statistic="Sum", label="succeeded"),
                    machine.metric_failed(period=PERIOD, statistic="Sum", label="failed"),
                    machine.metric_timed_out(period=PERIOD, statistic="Sum", label="timed out"),
                    machine.metric_aborted(period=PERIOD, statistic="Sum", label="aborted"),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Execution time (ms)",
                left=[
                    machine.metric_time(period=PERIOD, statistic="p50", label="p50"),
                    machine.metric_time(period=PERIOD, statistic="p99", label="p99"),
                ],
                width=12,
            ),
        )

        dashboard.add_widgets(
            cw.TextWidget(markdown=f"# Tasks (namespace {METRICS_NAMESPACE})", width=24, height=1)
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Tasks by outcome and kind",
                left=[business_metric(name, kind=kind) for name in TASK_COUNTS for kind in TASK_KINDS],
                width=12,
            ),
            cw.GraphWidget(
                title="Replicate errors by type",
                left=[
                    business_metric("ReplicateErrors", error_type=error) for error in REPLICATE_ERROR_TYPES
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Generation time (s), submit to finalized",
                left=[
                    business_metric("GenerationSeconds", statistic, kind=kind)
                    for kind in TASK_KINDS
                    for statistic in ("p50", "p90")
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Polls per task",
                left=[business_metric("PollsPerTask", "Average", kind=kind) for kind in TASK_KINDS],
                width=12,
            ),
        )

        dashboard.add_widgets(
            cw.GraphWidget(
                title="Prediction ends: learnt from a webhook vs by polling Replicate",
                left=[
                    business_metric(PREDICTIONS_COMPLETED_METRIC, seen_by=source)
                    for source in COMPLETION_SOURCES
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="Replicate webhooks: recorded (woke a wait or not) and refused",
                left=[business_metric(WEBHOOKS_RECORDED_METRIC, woke=woke) for woke in ("true", "false")],
                right=[
                    business_metric(WEBHOOKS_REFUSED_METRIC, reason=reason) for reason in WEBHOOK_REFUSALS
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(cw.TextWidget(markdown="# Caller webhooks", width=24, height=1))
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Webhook attempts",
                left=[business_metric(name) for name in WEBHOOK_COUNTS],
                width=8,
            ),
            *(
                cw.GraphWidget(
                    title=f"{name} queue: waiting, oldest (s), dead letters",
                    left=[
                        queue.metric_approximate_number_of_messages_visible(
                            period=PERIOD, statistic="Maximum", label="waiting"
                        ),
                        dead.metric_approximate_number_of_messages_visible(
                            period=PERIOD, statistic="Maximum", label="dead letters"
                        ),
                    ],
                    right=[
                        queue.metric_approximate_age_of_oldest_message(
                            period=PERIOD, statistic="Maximum", label="oldest (s)"
                        )
                    ],
                    width=8,
                )
                for name, (queue, dead) in m.deliveries.items()
            ),
        )

        dashboard.add_widgets(cw.TextWidget(markdown="# DynamoDB", width=24, height=1))
        dashboard.add_widgets(
            *(
                cw.GraphWidget(
                    title=f"{name} table throttles",
                    left=[
                        table.metric("ReadThrottleEvents", period=PERIOD, statistic="Sum", label="read"),
                        table.metric("WriteThrottleEvents", period=PERIOD, statistic="Sum", label="write"),
                    ],
                    width=12,
                )
                for name, table in m.tables.items()
            )
        )
        return dashboard
