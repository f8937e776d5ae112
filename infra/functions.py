"""Every Lambda of the catalog, from one set of defaults: a new catalog entry is a new function.

Defaults (here, and only here): Python 3.12 on arm64, JSON log format into an explicit log group
with retention, X-Ray active tracing, a role of its own that may write only its own log group,
the powertools environment. What differs per function comes from ``service.catalog``: handler,
memory, timeout, layers (by ``kind`` and ``ffmpeg``), settings environment and grants (by ``needs``).
"""

from __future__ import annotations

from aws_cdk import Duration, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.bundling import RUNTIME, code_asset, layer_code
from infra.config import StackConfig
from infra.layer_specs import API_LAYER, DEPLOYED_LAYERS, FFMPEG_LAYER, WORKFLOW_LAYER, LayerSpec
from infra.permissions import GrantTargets, grant_needs
from infra.storage import Storage
from service.catalog import FUNCTIONS, FunctionSpec, function_environment, runtime_environment
from service.settings import variable

#: arm64 (Graviton): about 20% cheaper per GB-second than x86_64 at equal or better speed for
#: this I/O-bound Python, and every native dependency ships aarch64 wheels (pydantic-core,
#: imageio-ffmpeg's static ffmpeg).
ARCHITECTURE = lambda_.Architecture.ARM_64

#: Finalize downloads the model's video (up to ``max_video_bytes``, 500 MB) and writes a
#: thumbnail in /tmp: the default 512 MB would not hold it.
FFMPEG_TMP = Size.mebibytes(2048)


def pascal_case(name: str) -> str:
    """``start_predictions`` → ``StartPredictions`` (construct ids)."""
    return "".join(part.capitalize() for part in name.split("_"))


def layers_for(spec: FunctionSpec) -> tuple[LayerSpec, ...]:
    """API functions get the API layer only: replicate and ffmpeg never reach them."""
    if spec.kind in ("api", "authorizer"):
        return (API_LAYER,)
    return (WORKFLOW_LAYER, FFMPEG_LAYER) if spec.ffmpeg else (WORKFLOW_LAYER,)


class ServiceFunctions(Construct):
    """The catalog's functions; ``connect`` wires what needs the state machine (built after them)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        deliveries: dict[str, tuple[sqs.IQueue, sqs.IQueue]],
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.storage = storage
        #: Queue name → (queue, dead-letter queue): the deliver function's settings.
        self.deliveries = deliveries
        # One asset for all functions: the handlers are ``service.handlers.<name>.handler``.
        self.code = code_asset()
        self.layers = {
            layer.name: lambda_.LayerVersion(
                self,
                f"{pascal_case(layer.name)}Layer",
                code=layer_code(layer, ARCHITECTURE),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description=f"videogen {layer.name} dependencies: {layer.description}",
            )
            for layer in DEPLOYED_LAYERS
        }
        #: Catalog name → function.
        self.functions: dict[str, lambda_.Function] = {spec.name: self._function(spec) for spec in FUNCTIONS}

    def of_kind(self, *kinds: str) -> dict[str, lambda_.Function]:
        return {spec.name: self.functions[spec.name] for spec in FUNCTIONS if spec.kind in kinds}

    def _function(self, spec: FunctionSpec) -> lambda_.Function:
        cid = pascal_case(spec.name)
        log_group = logs.LogGroup(self, f"{cid}Logs", retention=self.config.log_retention)
        role = iam.Role(
            self,
            f"{cid}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"videogen {spec.name}: its log group, X-Ray and the catalog needs {sorted(spec.needs)}",
        )
        # Instead of AWSLambdaBasicExecutionRole (logs:* on every log group): its own group only.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        function = lambda_.Function(
            self,
            cid,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self.code,
            handler=spec.handler,
            layers=[self.layers[layer.name] for layer in layers_for(spec)],
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            ephemeral_storage_size=FFMPEG_TMP if spec.ffmpeg else None,
            environment=self._environment(spec),
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="X-Ray active tracing: xray:PutTraceSegments and PutTelemetryRecords "
                    "do not support resource-level permissions (Resource must be *)"
                    + (
                        "; nor does states:SendTaskSuccess for a callback's task token (the token is "
                        "the authorization), granted to this function alone."
                        if "executions:wake" in spec.needs
                        else "."
                    ),
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            function,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason="python3.12 (supported by Lambda until 2028-10-31) because what we ship is "
                    "proven on it: make package compiles every .pyc with a CPython 3.12 and "
                    "tests/package imports every handler on 3.12 from the bundle. The newest runtime needs "
                    "its own CPython on the build machines to compile the bytecode (they have none), or "
                    "packaging stops; move deliberately: infra/bytecode.PYTHON_VERSION, make lock, "
                    "make package.",
                )
            ],
        )
        return function

    def _values(self) -> dict[str, str]:
        """Settings field → value for this stack (tokens for resource names; the state machine's
        ARN is added in ``connect``). Each function takes the fields its settings class declares."""
        return {
            "tasks_table": self.storage.tables["tasks"].table_name,
            "tokens_table": self.storage.tables["tokens"].table_name,
            "owners_table": self.storage.tables["owners"].table_name,
            "media_bucket": self.storage.media_bucket.bucket_name,
            "replicate_secret_name": self.config.replicate_secret_name,
            "replicate_webhook_secret_name": self.config.names.replicate_webhook_secret,
            "webhook_reconcile_seconds": str(self.config.replicate_webhook_reconcile_seconds),
            "task_ttl_days": str(self.config.retention_days),
            "transition_model": self.config.transition_model,
            "dream_model": self.config.dream_model,
            "max_in_flight": str(self.config.owner_max_in_flight),
            "submits_per_minute": str(self.config.owner_submits_per_minute),
            "submits_per_day": str(self.config.owner_submits_per_day),
            "idempotency_table": self.storage.tables["idempotency"].table_name,
            "cursor_secret_name": self.config.names.cursor_secret,
            "deliveries_queue_url": self.deliveries["deliveries"][0].queue_url,
            "deliveries_dead_letter_queue_url": self.deliveries["deliveries"][1].queue_url,
        }

    def give_webhook_url(self, url: str) -> None:
        """Replicate's webhooks on: the functions that read ``replicate_webhook_url`` get it (the API's
        URL exists only once the API does, after the functions)."""
        for spec in FUNCTIONS:
            if "replicate_webhook_url" in spec.settings.fields():
                self.functions[spec.name].add_environment(variable("replicate_webhook_url"), url)

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        """powertools settings for all; the ``VIDEOGEN_*`` variables of the function's settings class
        (``service.catalog.function_environment``, as the twin builds them)."""
        return {
            **runtime_environment(self.config.log_level),
            **function_environment(spec, self._values(), later=frozenset({"state_machine_arn"})),
        }

    def connect(self, state_machine: sfn.StateMachine, cleanup_dead_letters: sqs.IQueue) -> None:
        """Once the state machine (and the execution-event rules' dead-letter queue) exist: the
        machine's ARN where executions are started or described, and every function's grants from
        its needs. (The machine references only workflow functions, which never need it: no cycle.)"""
        targets = GrantTargets(
            tasks_table=self.storage.tables["tasks"],
            tokens_table=self.storage.tables["tokens"],
            owners_table=self.storage.tables["owners"],
            media_bucket=self.storage.media_bucket,
            replicate_secret=self.storage.replicate_secret,
            replicate_webhook_secret=self.storage.replicate_webhook_secret,
            state_machine=state_machine,
            cleanup_dead_letters=cleanup_dead_letters,
            idempotency_table=self.storage.tables["idempotency"],
            cursor_secret=self.storage.cursor_secret,
            deliveries=self.deliveries["deliveries"][0],
            deliveries_dead_letters=self.deliveries["deliveries"][1],
        )
        for spec in FUNCTIONS:
            function = self.functions[spec.name]
            if "state_machine_arn" in spec.settings.fields():
                function.add_environment(variable("state_machine_arn"), state_machine.state_machine_arn)
            grant_needs(function, spec, targets)
