"""EventBridge rules on the state machine's execution status changes, one per catalog function with
``execution_events`` (the clean-up of executions that ended without the workflow's help).

An event EventBridge cannot deliver after its retries, and an invocation that failed after
Lambda's own two retries, both land in one dead-letter queue (encrypted, TLS only, kept 14 days),
watched by an alarm (``infra/observability.py``). The twin delivers the same events
(``twin/execution_events.py``).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StackConfig
from infra.functions import pascal_case
from service.catalog import EXECUTION_EVENTS_DEAD_LETTER_DAYS, FUNCTIONS
from service.models.events import DETAIL_TYPE, SOURCE

#: Lambda retries a failed asynchronous invocation this many times (its default, stated).
ASYNC_RETRIES = 2
#: EventBridge retries a delivery (throttled, or the function unavailable) for up to this long.
DELIVERY_RETRY_HOURS = 24


def execution_end_rule(
    scope: Construct,
    name: str,
    *,
    config: StackConfig,
    state_machine: sfn.StateMachine,
    statuses: tuple[str, ...],
) -> events.Rule:
    """The rule that matches ``state_machine``'s executions ending in ``statuses``, for ``name``'s target
    (a function here, a queue in ``infra/deliveries.py``)."""
    return events.Rule(
        scope,
        f"{pascal_case(name)}Rule",
        description=f"{name}: executions of {config.names.state_machine} that end {', '.join(statuses)}",
        event_pattern=events.EventPattern(
            source=[SOURCE],
            detail_type=[DETAIL_TYPE],
            detail={"stateMachineArn": [state_machine.state_machine_arn], "status": list(statuses)},
        ),
    )


class ExecutionEventRules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: dict[str, lambda_.Function],
        state_machine: sfn.StateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=f"{config.prefix}-execution-events-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(EXECUTION_EVENTS_DEAD_LETTER_DAYS),
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letters,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason="This queue is itself the dead-letter queue of the execution-event rules "
                    "and of the clean-up function's failed invocations; operators read and redrive it.",
                )
            ],
        )
        self.rules: dict[str, events.Rule] = {}
        for spec in FUNCTIONS:
            if not spec.execution_events:
                continue
            function = functions[spec.name]
            rule = execution_end_rule(
                self, spec.name, config=config, state_machine=state_machine, statuses=spec.execution_events
            )
            rule.add_target(
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=185,  # EventBridge's maximum; the age below bounds it
                    max_event_age=Duration.hours(DELIVERY_RETRY_HOURS),
                )
            )
            # Failed invocations (after Lambda's retries) go to the same queue. The L1 construct:
            # the L2 destination would also grant GetQueueAttributes/GetQueueUrl, which Lambda does
            # not use; the function's role gets sqs:SendMessage from its catalog need.
            lambda_.CfnEventInvokeConfig(
                self,
                f"{pascal_case(spec.name)}AsyncConfig",
                function_name=function.function_name,
                qualifier="$LATEST",
                maximum_retry_attempts=ASYNC_RETRIES,
                maximum_event_age_in_seconds=6 * 3600,
                destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                    on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(
                        destination=self.dead_letters.queue_arn
                    )
                ),
            )
            self.rules[spec.name] = rule
