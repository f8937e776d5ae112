"""Data: the DynamoDB tables of the catalog, the media bucket (with its access-log bucket), the
Replicate token secret and Replicate's webhook signing secret."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StackConfig
from infra.permissions import MEDIA_PREFIXES, UPLOAD_PREFIXES
from service.catalog import TABLES

#: Client uploads are inputs for one task: the model fetches them within minutes.
UPLOAD_RETENTION_DAYS = 1


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)

        #: Catalog table name ("tasks", "tokens") → table. Task records and tokens are the
        #: service's state: retained when the stack goes, restorable for 35 days (PITR).
        self.tables: dict[str, dynamodb.Table] = {
            spec.name: dynamodb.Table(
                self,
                f"{spec.name.capitalize()}Table",
                partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                time_to_live_attribute=spec.ttl_attribute,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                removal_policy=RemovalPolicy.RETAIN,
            )
            for spec in TABLES
        }
        for spec in TABLES:
            for index in spec.indexes:
                self.tables[spec.name].add_global_secondary_index(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(
                        name=index.partition_key, type=dynamodb.AttributeType.STRING
                    ),
                    sort_key=dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING),
                    projection_type=dynamodb.ProjectionType.INCLUDE,
                    non_key_attributes=list(index.projected),
                )

        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,  # server access logging supports SSE-S3 only
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.log_retention_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        NagSuppressions.add_resource_suppressions(
            self.access_logs_bucket,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="This bucket is the destination of the media bucket's access logs; "
                    "logging it into itself would loop, and into another bucket would only move the finding.",
                )
            ],
        )

        self.media_bucket = s3.Bucket(
            self,
            "MediaBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,  # presigned GETs need no KMS grant
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="media/",
            lifecycle_rules=[
                *(
                    s3.LifecycleRule(
                        id=f"expire-{prefix.rstrip('/')}",
                        prefix=prefix,
                        expiration=Duration.days(config.retention_days),
                    )
                    for prefix in MEDIA_PREFIXES
                ),
                *(
                    s3.LifecycleRule(
                        id=f"expire-{prefix.rstrip('/')}",
                        prefix=prefix,
                        expiration=Duration.days(UPLOAD_RETENTION_DAYS),
                    )
                    for prefix in UPLOAD_PREFIXES
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        # Ops set the real value after the first deploy (docs/operations.md); until then the
        # workflow fails with ReplicateRejected (401 from Replicate). The generated placeholder
        # keeps any token out of code, context and the template.
        self.replicate_secret = secretsmanager.Secret(
            self,
            "ReplicateApiToken",
            secret_name=config.replicate_secret_name,
            description="Replicate API token for the video-generation workflow; set with put-secret-value",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=40
            ),
            # Deleted with the stack (scheduled for deletion by Secrets Manager): the token
            # itself lives at Replicate and can be issued again.
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Signs the task list's cursors (GET /api/tasks/): generated at deploy, never leaves AWS.
        self.cursor_secret = secretsmanager.Secret(
            self,
            "ListCursorKey",
            secret_name=config.names.cursor_secret,
            description="Signs the task list's cursors (HMAC-SHA256); rotating it only ends open cursors",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        NagSuppressions.add_resource_suppressions(
            self.cursor_secret,
            [
                NagPackSuppression(
                    id="AwsSolutions-SMG4",
                    reason="An HMAC key for list cursors: rotating it (put-secret-value) only makes the "
                    "cursors clients hold answer 422, so clients start the list again; no rotation "
                    "Lambda is worth that.",
                )
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.replicate_secret,
            [
                NagPackSuppression(
                    id="AwsSolutions-SMG4",
                    reason="A third-party API token: Replicate issues and revokes it, so Secrets "
                    "Manager cannot rotate it; ops rotate by hand (docs/operations.md) and the "
                    "functions re-read it every 5 minutes.",
                )
            ],
        )

        # Replicate's webhook signing secret (whsec_..., GET /v1/webhooks/default/secret with the token):
        # ops set it after the first deploy (docs/operations.md). Until then the generated placeholder
        # is no signing key: the webhook route refuses every webhook (the signature-failure alarm
        # says so) and the workflow finishes tasks by polling, as without webhooks.
        self.replicate_webhook_secret = secretsmanager.Secret(
            self,
            "ReplicateWebhookSecret",
            secret_name=config.names.replicate_webhook_secret,
            description="Replicate's webhook signing secret (whsec_...); set with put-secret-value",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=40
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        NagSuppressions.add_resource_suppressions(
            self.replicate_webhook_secret,
            [
                NagPackSuppression(
                    id="AwsSolutions-SMG4",
                    reason="Replicate issues the signing secret (one per account); Secrets Manager cannot "
                    "rotate it. The route re-reads it every 5 minutes.",
                )
            ],
        )
