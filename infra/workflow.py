"""The Step Functions state machine: the ASL file of ``statemachines/``, deployed as it is."""

from __future__ import annotations

from aws_cdk import Aws, Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import REPO_ROOT, StackConfig
from service.catalog import STATE_MACHINE_DEFINITION, WorkflowTiming, workflow_substitutions


class Workflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        workflow_functions: dict[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        self.timing = WorkflowTiming(poll_interval_s=config.poll_interval_seconds, max_polls=config.max_polls)
        arns = {name: function.function_arn for name, function in workflow_functions.items()}

        # A role of its own: invoke exactly the workflow functions (unqualified ARNs, as the ASL
        # names them); CDK adds the log-delivery and X-Ray statements below.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="videogen workflow: invoke its step functions, deliver logs, trace",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=sorted(arns.values()))
        )

        # Kept when the stack is deleted (its history outlives the stack), so its name must not be
        # fixed: a redeploy of the same stage would fail on "already exists". The suffix is the first
        # group of the stack's own id (a uuid), new for every stack; the name keeps the
        # /aws/vendedlogs/ prefix, which keeps CloudWatch's resource policy for log delivery small.
        stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=Fn.join(
                "",
                [
                    f"/aws/vendedlogs/states/{config.prefix}-video-generation-",
                    Fn.select(0, Fn.split("-", stack_uuid)),
                ],
            ),
            retention=config.log_retention,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_file(str(REPO_ROOT / STATE_MACHINE_DEFINITION)),
            definition_substitutions=workflow_substitutions(arns, self.timing),
            role=self.role,
            # Every transition with its data: the state carries task ids, prediction ids, statuses
            # and counters only, and errors their name (the texts are in the task record), so the
            # log holds no prompt, dream, subtitle, voiceover or image URL (docs/decisions.md).
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Step Functions log delivery (logs:CreateLogDelivery, GetLogDelivery, "
                    "ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, "
                    "DescribeLogGroups...) and X-Ray (PutTraceSegments, PutTelemetryRecords, "
                    "GetSampling*) do not support resource-level permissions.",
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
