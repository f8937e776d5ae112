"""The one stack: it composes the capability constructs and does nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from infra.api import Api
from infra.config import StackConfig
from infra.deliveries import Deliveries
from infra.events import ExecutionEventRules
from infra.functions import ServiceFunctions
from infra.observability import Monitored, Observability
from infra.storage import Storage
from infra.web import Web
from infra.workflow import Workflow
from service.catalog import replicate_webhook_url


class VideoGenStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.storage = Storage(self, "Storage", config=config)
        # The caller webhooks' queues first: the deliver function's settings name them.
        self.deliveries = Deliveries(self, "Deliveries", config=config)
        self.functions = ServiceFunctions(
            self, "Functions", config=config, storage=self.storage, deliveries=self.deliveries.queues
        )
        self.workflow = Workflow(
            self, "Workflow", config=config, workflow_functions=self.functions.of_kind("workflow")
        )
        # Executions that end without the workflow's help reach the clean-up through EventBridge.
        self.execution_events = ExecutionEventRules(
            self,
            "ExecutionEvents",
            config=config,
            functions=self.functions.functions,
            state_machine=self.workflow.state_machine,
        )
        # After the machine: submit/status get its ARN, every function its grants. The machine
        # references only workflow functions, which never reference it: no dependency cycle.
        self.functions.connect(self.workflow.state_machine, self.execution_events.dead_letters)
        # Every execution end reaches the deliveries queue, which the deliver function consumes.
        self.deliveries.connect(
            config=config, functions=self.functions.functions, state_machine=self.workflow.state_machine
        )
        self.web = Web(self, "Web", config=config, storage=self.storage)
        self.api = Api(self, "Api", config=config, functions=self.functions, page_origin=self.web.origin)
        # Replicate's webhooks: StartPredictions gives Replicate the API's URL. Built from the API's
        # id, not its stage (the stage depends on submit, which depends on the state machine, which
        # depends on StartPredictions: a cycle).
        self.webhook_url: str | None = None
        if config.replicate_webhooks == "on":
            base = config.replicate_webhook_base_url or (
                f"https://{self.api.rest_api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{config.stage}/"
            )
            self.webhook_url = replicate_webhook_url(base)
            self.functions.give_webhook_url(self.webhook_url)
        self.web.publish(api_url=self.api.rest_api.url, cors_origins=self.api.cors_origins)
        self.observability = Observability(
            self,
            "Observability",
            config=config,
            monitored=Monitored(
                stage=self.api.rest_api.deployment_stage,
                functions=self.functions.functions,
                state_machine=self.workflow.state_machine,
                tables=self.storage.tables,
                dead_letters=self.execution_events.dead_letters,
                webhooks=config.replicate_webhooks == "on",
                deliveries=self.deliveries.queues,
            ),
        )

        outputs = {
            "PageUrl": (self.web.url, "The dashboard page: open it in a browser"),
            "ApiUrl": (
                self.api.rest_api.url,
                "Base URL (ends with /): append api/transitions/..., generate-video, video-status/...",
            ),
            "TasksTableName": (self.storage.tables["tasks"].table_name, "VIDEOGEN_TASKS_TABLE"),
            "TokensTableName": (
                self.storage.tables["tokens"].table_name,
                "VIDEOGEN_TOKENS_TABLE for 'videogen tokens create'",
            ),
            "OwnersTableName": (
                self.storage.tables["owners"].table_name,
                "VIDEOGEN_OWNERS_TABLE for 'videogen tokens create|update' (limits per owner)",
            ),
            "UsagePlanId": (
                self.api.usage_plan.usage_plan_id,
                "VIDEOGEN_USAGE_PLAN_ID for 'videogen tokens create|update' (each owner's API key)",
            ),
            "ExecutionEventsDeadLetterQueueUrl": (
                self.execution_events.dead_letters.queue_url,
                "Execution events the clean-up could not handle",
            ),
            "DeliveriesDeadLetterQueueUrl": (
                self.deliveries.queues["deliveries"][1].queue_url,
                "Caller webhooks whose retries are spent (and messages the deliver function crashed on)",
            ),
            "IdempotencyTableName": (
                self.storage.tables["idempotency"].table_name,
                "Idempotency-Key records of submits (24 h, TTL)",
            ),
            "MediaBucketName": (self.storage.media_bucket.bucket_name, "Finished videos and thumbnails"),
            "ReplicateSecretName": (
                config.replicate_secret_name,
                "Set its value: aws secretsmanager put-secret-value",
            ),
            "ReplicateWebhookSecretName": (
                config.names.replicate_webhook_secret,
                "Set it to Replicate's signing secret (GET /v1/webhooks/default/secret): docs/operations.md",
            ),
            "StateMachineArn": (
                self.workflow.state_machine.state_machine_arn,
                "The video-generation workflow",
            ),
            "StateMachineLogGroup": (
                self.workflow.log_group.log_group_name,
                "Every state transition (kept when the stack is deleted)",
            ),
            "AlarmTopicArn": (self.observability.topic.topic_arn, "Subscribe here to receive the alarms"),
            "DashboardName": (config.prefix, "CloudWatch dashboard"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
