"""Least privilege from the catalog: each ``need`` of a function becomes its narrowest IAM grant.

No ``grant_*`` helpers here on purpose: they add actions the code never calls (Query, Scan,
DescribeTable, BatchGetItem, DescribeSecret, versions of ``lambda:InvokeFunction``...). Every
action below is one the adapters in ``functions/service/adapters`` actually call.
``TransactWriteItems`` has no IAM action of its own: each of its items is authorized as the
PutItem, UpdateItem or DeleteItem it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo

from service.catalog import OWNER_INDEX, RESULT_PREFIXES, UPLOAD_PREFIX, FunctionSpec, Need

#: The key prefixes Finalize writes and the status function presigns (``functions/service/domain``):
#: media grants and the bucket's lifecycle rules are limited to these.
MEDIA_PREFIXES = RESULT_PREFIXES
#: Client uploads (``POST /api/uploads/``): written by clients through presigned PUTs, read by the
#: model through presigned GETs, expired after a day.
UPLOAD_PREFIXES = (UPLOAD_PREFIX,)


@dataclass(frozen=True)
class GrantTargets:
    """The resources the needs refer to."""

    tasks_table: dynamodb.ITable
    tokens_table: dynamodb.ITable
    owners_table: dynamodb.ITable
    media_bucket: s3.IBucket
    replicate_secret: secretsmanager.ISecret
    replicate_webhook_secret: secretsmanager.ISecret
    state_machine: sfn.StateMachine
    #: Where the clean-up's events go when it cannot handle them (``infra/events.py``).
    cleanup_dead_letters: sqs.IQueue
    idempotency_table: dynamodb.ITable
    cursor_secret: secretsmanager.ISecret
    #: The caller webhooks' queue and its dead-letter queue (``infra/deliveries.py``).
    deliveries: sqs.IQueue
    deliveries_dead_letters: sqs.IQueue

    def owner_index_arn(self) -> str:
        return f"{self.tasks_table.table_arn}/index/{OWNER_INDEX.name}"

    def executions_arn(self) -> str:
        """``arn:…:execution:<machine name>:*`` — this machine's executions, no other's."""
        return Stack.of(self.state_machine).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def media_object_arns(self) -> list[str]:
        return self.object_arns(MEDIA_PREFIXES)

    def object_arns(self, prefixes: tuple[str, ...]) -> list[str]:
        return [self.media_bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]


#: need → (actions, resources). The infra tests restate this intent independently.
NEED_GRANTS: dict[Need, tuple[tuple[str, ...], Callable[[GrantTargets], list[str]]]] = {
    "tasks:read": (("dynamodb:GetItem",), lambda t: [t.tasks_table.table_arn]),
    "tasks:create": (("dynamodb:PutItem",), lambda t: [t.tasks_table.table_arn]),
    "tasks:update": (("dynamodb:UpdateItem",), lambda t: [t.tasks_table.table_arn]),
    "tasks:delete": (("dynamodb:DeleteItem",), lambda t: [t.tasks_table.table_arn]),
    # The owner's task list: Query on the owner index only (never the table, never a Scan).
    "tasks:list": (("dynamodb:Query",), lambda t: [t.owner_index_arn()]),
    "owners:read": (("dynamodb:GetItem",), lambda t: [t.owners_table.table_arn]),
    # Taking a slot (submit) and freeing one (terminal writes), inside TransactWriteItems.
    "owners:count": (("dynamodb:UpdateItem",), lambda t: [t.owners_table.table_arn]),
    "owners:webhook-secret": (("dynamodb:UpdateItem",), lambda t: [t.owners_table.table_arn]),
    # powertools' DynamoDBPersistenceLayer: a conditional PutItem (with the old item on failure),
    # GetItem, UpdateItem (the answer), DeleteItem (a submit that failed frees its key).
    "idempotency:records": (
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
        lambda t: [t.idempotency_table.table_arn],
    ),
    "tokens:read": (("dynamodb:GetItem",), lambda t: [t.tokens_table.table_arn]),
    "executions:start": (("states:StartExecution",), lambda t: [t.state_machine.state_machine_arn]),
    "executions:describe": (("states:DescribeExecution",), lambda t: [t.executions_arn()]),
    "executions:stop": (("states:StopExecution",), lambda t: [t.executions_arn()]),
    # Presigned GETs are signed with the function's own credentials: it needs GetObject itself.
    # Uploads too: their file_url (the model's input) is a presigned GET.
    "media:read": (("s3:GetObject",), lambda t: t.object_arns(MEDIA_PREFIXES)),
    # upload_file switches to multipart above 8 MB: PutObject covers the parts, Abort the cleanup.
    "media:write": (("s3:PutObject", "s3:AbortMultipartUpload"), GrantTargets.media_object_arns),
    # Presigned PUTs are signed with the function's credentials: one single PUT, uploads/ only.
    "media:upload": (("s3:PutObject", "s3:GetObject"), lambda t: t.object_arns(UPLOAD_PREFIXES)),
    # DeleteObjects is authorized as s3:DeleteObject on each key.
    "media:delete": (("s3:DeleteObject",), GrantTargets.media_object_arns),
    "replicate:secret": (("secretsmanager:GetSecretValue",), lambda t: [t.replicate_secret.secret_arn]),
    "replicate:webhook-secret": (
        ("secretsmanager:GetSecretValue",),
        lambda t: [t.replicate_webhook_secret.secret_arn],
    ),
    # SendTaskSuccess has no resource-level permission for a callback's task token (the token is
    # the authorization; a statement naming the state machine is an implicit deny at run time).
    "executions:wake": (("states:SendTaskSuccess",), lambda t: ["*"]),
    # Lambda sends a failed asynchronous invocation to the on-failure destination with the role.
    "cleanup:dead-letter": (("sqs:SendMessage",), lambda t: [t.cleanup_dead_letters.queue_arn]),
    "cursor:key": (("secretsmanager:GetSecretValue",), lambda t: [t.cursor_secret.secret_arn]),
    # The event source mapping reads with the function's role; the function sets each retry's delay.
    "deliveries:consume": (
        ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"),
        lambda t: [t.deliveries.queue_arn],
    ),
    "deliveries:dead-letter": (("sqs:SendMessage",), lambda t: [t.deliveries_dead_letters.queue_arn]),
}

if set(NEED_GRANTS) != set(get_args(Need)):  # a need added to the catalog must get its grant here
    raise RuntimeError(f"Needs without a grant: {set(get_args(Need)) - set(NEED_GRANTS)}")


def grant_needs(function: lambda_.Function, spec: FunctionSpec, targets: GrantTargets) -> None:
    """Attach one statement per need of ``spec`` to the function's role."""
    for need in sorted(spec.needs):
        actions, resources = NEED_GRANTS[need]
        function.add_to_role_policy(iam.PolicyStatement(actions=list(actions), resources=resources(targets)))
    wildcards = []
    if spec.needs & {"media:read", "media:write", "media:upload", "media:delete"}:
        wildcards.append(
            RegexAppliesTo(
                regex=r"/^Resource::<.*MediaBucket[0-9A-F]+\.Arn>\/(videos|thumbnails|subtitles|uploads)\/\*$/g"
            )
        )
    if spec.needs & {"executions:describe", "executions:stop"}:
        wildcards.append(RegexAppliesTo(regex=r"/^Resource::arn:.*:execution:.*:\*$/g"))
    if wildcards and function.role is not None:
        NagSuppressions.add_resource_suppressions(
            function.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Object and execution ids are minted at run time (task ids), so the grant "
                        "names a key prefix (videos/*, thumbnails/*, subtitles/*, uploads/*) or this state machine's "
                        "executions (execution:<machine>:*); the actions are single, read or put only."
                    ),
                    applies_to=wildcards,
                )
            ],
            apply_to_children=True,
        )
