"""Caller webhooks: each queue of the catalog (``service.catalog.QUEUES``), fed by an EventBridge rule
on the state machine's execution status changes, consumed by its function through an event source
mapping with partial batch responses; a dead-letter queue for what the consumer gives up on (it
sends a delivery whose retries are spent there) or crashes on (SQS's redrive policy). The twin runs
the same (``twin/queues.py``, ``twin/execution_events.py``).
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
from infra.events import execution_end_rule
from infra.functions import pascal_case
from service.catalog import QUEUES, queue_visibility_s


class Deliveries(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        #: Queue name → (queue, its dead-letter queue); created before the functions' grants.
        self.queues: dict[str, tuple[sqs.Queue, sqs.Queue]] = {}
        for spec in QUEUES:
            cid = pascal_case(spec.name)
            dead = sqs.Queue(
                self,
                f"{cid}DeadLetters",
                queue_name=config.names.dead_letter_queue(spec.name),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),
            )
            NagSuppressions.add_resource_suppressions(
                dead,
                [
                    NagPackSuppression(
                        id="AwsSolutions-SQS3",
                        reason=f"This queue is itself the dead-letter queue of {spec.name}: deliveries "
                        "whose retries are spent, and messages its consumer crashed on; operators read "
                        "and redrive it (docs/operations.md).",
                    )
                ],
            )
            queue = sqs.Queue(
                self,
                f"{cid}Queue",
                queue_name=config.names.queue(spec.name),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(spec.retention_days),
                visibility_timeout=Duration.seconds(queue_visibility_s(spec)),
                dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=spec.max_receive_count),
            )
            self.queues[spec.name] = (queue, dead)

    def connect(
        self, *, config: StackConfig, functions: dict[str, lambda_.Function], state_machine: sfn.StateMachine
    ) -> None:
        """The rules that feed each queue, and each consumer's event source mapping."""
        self.rules: dict[str, events.Rule] = {}
        for spec in QUEUES:
            queue, dead = self.queues[spec.name]
            rule = execution_end_rule(
                self, spec.name, config=config, state_machine=state_machine, statuses=spec.execution_events
            )
            rule.add_target(
                targets.SqsQueue(
                    queue,
                    dead_letter_queue=dead,
                    retry_attempts=185,  # EventBridge's maximum; the age below bounds it
                    max_event_age=Duration.hours(24),
                )
            )
            self.rules[spec.name] = rule
            functions[spec.consumer].add_event_source_mapping(
                f"{pascal_case(spec.name)}Mapping",
                event_source_arn=queue.queue_arn,
                batch_size=spec.batch_size,
                report_batch_item_failures=True,
            )
