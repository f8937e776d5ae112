"""The one local deployment: the service set up off AWS, the same way for the tests, the twin and
the bench.

From the same declarations CDK deploys (``service.catalog``: functions, their settings classes,
tables, resource names; ``statemachines/``: the workflow) it provisions moto — tables, bucket,
the Replicate token secret, a role, the functions, the state machine —, makes moto's DynamoDB as
atomic as DynamoDB (``twin.strict_moto``), gives each function its own environment
(``service.catalog.function_environment``, as CDK does), installs the Lambda runner (worker
processes per function, or in-process for tests), delivers EventBridge's execution status
changes to the functions that subscribe to them (``twin.execution_events``), mints tokens and
stops what is still running. Nothing here is written a second time elsewhere.

``aws_endpoint`` is moto's server (the twin, the bench's load phase) or None for moto in decorator
mode in this process (the tests). ``public_url`` is the address clients reach the twin at: the
functions that presign media for clients sign for it, so every URL a client receives goes
through the one address the user chose.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import threading
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3

from service.adapters.owners_table import OwnersTable
from service.adapters.tokens_table import TokensTable
from service.adapters.usage_plans import UsagePlans
from service.catalog import (
    FUNCTIONS,
    MEDIA_CORS,
    OWNER_THROTTLE,
    QUEUES,
    TABLES,
    FunctionSpec,
    QueueSpec,
    ResourceNames,
    WorkflowTiming,
    function_environment,
    queue_visibility_s,
    replicate_webhook_url,
    runtime_environment,
    workflow_substitutions,
)
from service.domain.operators import Operators
from twin import lambda_runner, strict_moto, workflow_definition
from twin.execution_events import ExecutionEvents
from twin.queues import QueueConsumers

LAMBDA_RUNTIME = "python3.12"
REGION = "us-east-1"
#: Where the twin's functions presign media for clients (status: results; uploads: PUT and GET).
CLIENT_FACING_MEDIA = frozenset({"media:read", "media:upload"})


def _placeholder_zip() -> bytes:
    """moto wants code; the runtimes import the real handlers instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Handlers run locally: see twin/lambda_runner.py\n")
    return buffer.getvalue()


class MotoUsagePlan:
    """The stage's usage plan as API Gateway keeps it (in moto): the twin's gateway asks it whether
    a key is one of the plan's enabled keys, and for the plan's throttle. Read again every
    ``refresh_s``, and whenever a key is not known (a key created a moment ago works at once)."""

    def __init__(self, client: Any, plan_id: str, refresh_s: float = 0.5) -> None:
        self.client = client
        self.plan_id = plan_id
        self.refresh_s = refresh_s
        self._keys: frozenset[str] = frozenset()
        self._throttle: tuple[float, int] = (OWNER_THROTTLE.rate_per_s, OWNER_THROTTLE.burst)
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _read(self) -> None:
        plan = self.client.get_usage_plan(usagePlanId=self.plan_id)
        throttle = plan.get("throttle") or {}
        self._throttle = (float(throttle.get("rateLimit", 0.0)), int(throttle.get("burstLimit", 0)))
        in_plan = {key["id"] for key in self.client.get_usage_plan_keys(usagePlanId=self.plan_id)["items"]}
        enabled = {
            key["value"]
            for key in self.client.get_api_keys(includeValues=True, limit=500)["items"]
            if key["id"] in in_plan and key.get("enabled")
        }
        self._keys = frozenset(enabled)
        self._read_at = time.monotonic()

    def _fresh(self, force: bool = False) -> None:
        with self._lock:
            if force or time.monotonic() - self._read_at >= self.refresh_s:
                self._read()

    def throttle(self) -> tuple[float, int]:
        self._fresh()
        return self._throttle

    def has_key(self, value: str) -> bool:
        self._fresh(force=value not in self._keys)
        return value in self._keys


@dataclass
class LocalDeployment:
    """Call :meth:`provision` once, :meth:`close` at the end (or use it as a context manager)."""

    stage: str = "local"
    timing: WorkflowTiming = field(default_factory=WorkflowTiming)
    replicate_base_url: str | None = None
    replicate_api_token: str = "local-replicate-token"
    #: Overrides of settings fields (``stale_after_seconds``: "0"...), for the functions that have them.
    settings: Mapping[str, str] = field(default_factory=dict)
    aws_endpoint: str | None = None
    public_url: str | None = None
    runtime: Literal["in-process", "workers"] = "in-process"
    #: Execution environments per function (workers runtime).
    max_workers: int = 4
    #: powertools in the functions: quiet by default (the twin's terminal, the tests' output).
    log_level: str = "WARNING"
    #: Each owner's request rate and burst at the gateway (the stage's usage plan).
    owner_rate_limit: float = OWNER_THROTTLE.rate_per_s
    owner_burst_limit: int = OWNER_THROTTLE.burst
    #: Origins browsers may call from (the API's CORS, the media bucket's CORS rule).
    cors_origin: str = "*"
    #: The API's address as Replicate reaches it (its webhooks go to ``…/api/replicate-webhooks/``),
    #: or None: no webhooks, the workflow polls (a deployment without a public webhook URL).
    webhook_base_url: str | None = None

    state_machine_arn: str = ""
    usage_plan_id: str = ""
    function_arns: dict[str, str] = field(default_factory=dict)
    #: Queue name → (URL, its dead-letter queue's URL).
    queue_urls: dict[str, tuple[str, str]] = field(default_factory=dict)
    _runtime: lambda_runner.Runtime | None = None
    _events: ExecutionEvents | None = None
    _consumers: QueueConsumers | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def names(self) -> ResourceNames:
        return ResourceNames(self.stage)

    # -- AWS clients ---------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A client of this deployment's AWS (moto's server, or moto in this process), made once per
        service: a new session loads botocore's endpoint data (~1 MB of JSON), which for each of
        the twin's execution events cost more than the event itself."""
        if self.aws_endpoint is None:
            from service.adapters import aws

            return aws.client(service)
        with self._clients_lock:  # a boto3 client is thread-safe; making one is not
            if service not in self._clients:
                self._clients[service] = boto3.session.Session().client(  # type: ignore[call-overload]
                    service,
                    endpoint_url=self.aws_endpoint,
                    region_name=REGION,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",
                )
            return self._clients[service]

    # -- the functions' configuration ----------------------------------------------------------------
    def values(self) -> dict[str, str]:
        """Settings field → value for this deployment (each function takes the fields it declares)."""
        values: dict[str, str] = {
            "tasks_table": self.names.table("tasks"),
            "tokens_table": self.names.table("tokens"),
            "owners_table": self.names.table("owners"),
            "media_bucket": self.names.media_bucket,
            "replicate_secret_name": self.names.replicate_secret,
            "replicate_webhook_secret_name": self.names.replicate_webhook_secret,
            "idempotency_table": self.names.table("idempotency"),
            "cursor_secret_name": self.names.cursor_secret,
        }
        if self.webhook_base_url:
            values["replicate_webhook_url"] = replicate_webhook_url(self.webhook_base_url)
        if "deliveries" in self.queue_urls:
            values["deliveries_queue_url"], values["deliveries_dead_letter_queue_url"] = self.queue_urls[
                "deliveries"
            ]
        if self.state_machine_arn:
            values["state_machine_arn"] = self.state_machine_arn
        if self.replicate_base_url:
            values["replicate_base_url"] = self.replicate_base_url
            # Finalize downloads outputs from the emulator, the twin's Replicate delivery host.
            parts = urlsplit(self.replicate_base_url)
            values["output_origins"] = f"{parts.scheme}://{parts.netloc}"
        return values | dict(self.settings)

    def _replicate_signing_secret(self) -> str:
        if not self.replicate_base_url:
            return "not-set"
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.replicate_base_url.rstrip('/')}/v1/webhooks/default/secret",
            headers={"Authorization": f"Bearer {self.replicate_api_token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return str(json.loads(answer.read())["key"])
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            return "not-set"

    def function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """The function's ``VIDEOGEN_*`` variables (its settings class decides which)."""
        return function_environment(spec, self.values())

    def process_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """A worker's whole environment, as Lambda builds one: runtime variables, AWS (moto), the
        powertools variables and the function's own settings."""
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "VIDEOGEN_", "MOTO_", "POWERTOOLS_"))
        }
        environment = {
            **inherited,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": self.names.function(spec.name),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            **runtime_environment(self.log_level),
            "POWERTOOLS_TRACE_DISABLED": "true",
            **self.function_environment(spec),
        }
        if self.aws_endpoint:
            environment["AWS_ENDPOINT_URL"] = self.aws_endpoint
        if self.public_url and spec.needs & CLIENT_FACING_MEDIA:
            environment["AWS_ENDPOINT_URL_S3"] = self.public_url
        return environment

    # -- provisioning --------------------------------------------------------------------------------
    def provision(self) -> LocalDeployment:
        """Tables, bucket, secret, role, functions and the state machine; then the Lambda runner."""
        names = self.names
        strict_moto.install()
        dynamodb = self.client("dynamodb")
        for table in TABLES:
            keys = {table.partition_key} | {k for i in table.indexes for k in (i.partition_key, i.sort_key)}
            indexes = [
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.partition_key, "KeyType": "HASH"},
                        {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.projected)},
                }
                for index in table.indexes
            ]
            dynamodb.create_table(
                TableName=names.table(table.name),
                KeySchema=[{"AttributeName": table.partition_key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in sorted(keys)],
                BillingMode="PAY_PER_REQUEST",
                **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
            )
            if table.ttl_attribute:
                dynamodb.update_time_to_live(
                    TableName=names.table(table.name),
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        s3 = self.client("s3")
        s3.create_bucket(Bucket=names.media_bucket)
        s3.put_bucket_cors(  # the stack's rule (infra/web.py), for the twin's one origin policy
            Bucket=names.media_bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedMethods": list(MEDIA_CORS.methods),
                        "AllowedOrigins": [self.cors_origin],
                        "AllowedHeaders": list(MEDIA_CORS.headers),
                        "MaxAgeSeconds": MEDIA_CORS.max_age_s,
                    }
                ]
            },
        )
        self.usage_plan_id = self.client("apigateway").create_usage_plan(
            name=f"{names.prefix}-owners",
            description="Each owner's rate and burst (its API key, returned by the authorizer)",
            throttle={"rateLimit": self.owner_rate_limit, "burstLimit": self.owner_burst_limit},
        )["id"]
        self.client("secretsmanager").create_secret(
            Name=names.replicate_secret, SecretString=self.replicate_api_token
        )
        # As operators do after a deploy (docs/operations.md): Replicate's signing secret, read with
        # the API token from GET /v1/webhooks/default/secret. Without a reachable Replicate (API
        # tests), a value that verifies nothing: every webhook is refused, as on a fresh stack.
        self.client("secretsmanager").create_secret(
            Name=names.replicate_webhook_secret, SecretString=self._replicate_signing_secret()
        )
        # The list cursors' signing key, generated as the stack's is.
        self.client("secretsmanager").create_secret(
            Name=names.cursor_secret, SecretString=base64.b64encode(os.urandom(32)).decode()
        )
        for queue_spec in QUEUES:
            self.queue_urls[queue_spec.name] = self._create_queue(queue_spec)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                 "Action": "sts:AssumeRole"}
            ],
        }  # fmt: skip
        role_arn = self.client("iam").create_role(
            RoleName=f"{names.prefix}-role", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]

        lambda_client = self.client("lambda")
        code = _placeholder_zip()
        for spec in FUNCTIONS:
            created = lambda_client.create_function(
                FunctionName=names.function(spec.name),
                Runtime=LAMBDA_RUNTIME,
                Role=role_arn,
                Handler=spec.handler,
                Code={"ZipFile": code},
                Description=spec.description,
                Timeout=spec.timeout_s,
                MemorySize=spec.memory_mb,
            )
            self.function_arns[spec.name] = created["FunctionArn"]

        definition = workflow_definition.render(workflow_substitutions(self.function_arns, self.timing))
        machine = self.client("stepfunctions").create_state_machine(
            name=names.state_machine, definition=definition, roleArn=role_arn, type="STANDARD"
        )
        self.state_machine_arn = machine["stateMachineArn"]
        self._install_runtime()
        self._events = ExecutionEvents(
            self.client("stepfunctions"),
            self.state_machine_arn,
            self._invoke_event,
            region=REGION,
            enqueue=self._enqueue,
        )
        self._consumers = QueueConsumers(
            self.client("sqs"),
            {name: urls[0] for name, urls in self.queue_urls.items()},
            self.invoke,
            region=REGION,
        )
        return self

    def _create_queue(self, spec: QueueSpec) -> tuple[str, str]:
        """The queue and its dead-letter queue, as the stack makes them (redrive after
        ``max_receive_count`` receives; visibility six times the consumer's timeout)."""
        sqs = self.client("sqs")
        dead = sqs.create_queue(QueueName=self.names.dead_letter_queue(spec.name))["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        url = sqs.create_queue(
            QueueName=self.names.queue(spec.name),
            Attributes={
                "VisibilityTimeout": str(queue_visibility_s(spec)),
                "MessageRetentionPeriod": str(spec.retention_days * 86400),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(spec.max_receive_count)}
                ),
            },
        )["QueueUrl"]
        return url, dead

    def _enqueue(self, spec: QueueSpec, event: dict[str, Any]) -> None:
        """An EventBridge rule's SQS target: the event, as JSON, is the message."""
        self.client("sqs").send_message(QueueUrl=self.queue_urls[spec.name][0], MessageBody=json.dumps(event))

    @property
    def queue_consumers(self) -> QueueConsumers:
        """The stand-in for the stack's event source mappings: ``drain()`` (tests), or ``start()``."""
        if self._consumers is None:
            raise RuntimeError("provision() first")
        return self._consumers

    def _install_runtime(self) -> None:
        runtime: lambda_runner.Runtime
        if self.runtime == "workers":
            runtime = lambda_runner.WorkerPoolRuntime(self.process_environment, self.max_workers)
        else:
            runtime = lambda_runner.InProcessRuntime(self.function_environment)
        self._runtime = runtime
        lambda_runner.install()
        for spec in FUNCTIONS:
            lambda_runner.register(self.names.function(spec.name), spec, runtime)

    @property
    def lambda_runtime(self) -> lambda_runner.Runtime:
        if self._runtime is None:
            raise RuntimeError("provision() first")
        return self._runtime

    def invoke(self, spec: FunctionSpec, event: Any) -> tuple[str, bool]:
        """Invoke a function as API Gateway does (the authorizer, a route's handler)."""
        name = self.names.function(spec.name)
        arn = self.function_arns.get(spec.name, f"arn:aws:lambda:{REGION}:123456789012:function:{name}")
        return self.lambda_runtime.invoke(spec, event, lambda_runner.context_for(spec, name, arn))

    def _invoke_event(self, spec: FunctionSpec, event: dict[str, Any]) -> bool:
        """An EventBridge target's invocation (asynchronous in AWS): True if the function failed."""
        return self.invoke(spec, event)[1]

    @property
    def execution_events(self) -> ExecutionEvents:
        """The stand-in for the stack's EventBridge rules: ``deliver()`` once (tests), or ``start()``."""
        if self._events is None:
            raise RuntimeError("provision() first")
        return self._events

    def gateway(self, authorizer_cache_s: float = 0.0) -> Any:
        """The API Gateway emulator in front of this deployment's functions, with its usage plan."""
        from twin.gateway import ApiGateway

        def invoke(spec: FunctionSpec, event: dict[str, Any]) -> tuple[Any, bool]:
            payload, errored = self.invoke(spec, event)
            return json.loads(payload), errored

        return ApiGateway(
            invoke,
            stage=self.stage,
            authorizer_cache_s=authorizer_cache_s,
            cors_origin=self.cors_origin,
            usage_plan=MotoUsagePlan(self.client("apigateway"), self.usage_plan_id),
        )

    def warm(self) -> None:
        """Start one execution environment per function now (workers runtime), not at first use."""
        if isinstance(self._runtime, lambda_runner.WorkerPoolRuntime):
            self._runtime.warm(list(FUNCTIONS))

    # -- operations ------------------------------------------------------------------------------------
    def operators(self) -> Operators:
        """What ``videogen tokens`` does, against this deployment (usage plan included)."""
        dynamodb = self.client("dynamodb")
        return Operators(
            TokensTable(self.names.table("tokens"), client=dynamodb),
            OwnersTable(self.names.table("owners"), client=dynamodb),
            UsagePlans(self.usage_plan_id, client=self.client("apigateway")),
        )

    def mint_token(self, owner: str, token: str | None = None, *, expires_in_s: int | None = None) -> str:
        """A token for ``owner``, as ``videogen tokens create`` makes one (hash, usage plan key)."""
        return self.operators().create_token(owner, token=token, expires_in_s=expires_in_s)

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        executions: list[dict[str, Any]] = []
        for page in self.client("stepfunctions").get_paginator("list_executions").paginate(**kwargs):
            executions.extend(page["executions"])
        return executions

    def stop_execution(self, arn: str, error: str = "", cause: str = "") -> None:
        """StopExecution, retried while moto has not started the execution's worker yet (moto 5.2
        raises AttributeError then; reported upstream as a race)."""
        sfn = self.client("stepfunctions")
        for _ in range(100):
            try:
                sfn.stop_execution(executionArn=arn, error=error, cause=cause)
                return
            except AttributeError:
                time.sleep(0.02)
            except sfn.exceptions.ExecutionDoesNotExist:
                return
        raise RuntimeError(f"moto never started the execution's worker: {arn}")

    def stop_executions(self) -> None:
        """Stop what is still running, so no execution outlives its deployment."""
        for execution in self.executions("RUNNING"):
            self.stop_execution(execution["executionArn"])

    def stop_functions(self) -> None:
        """End every execution environment (worker processes) now."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            lambda_runner.unregister(runtime)
            runtime.close()

    def close(self) -> None:
        """Stop delivering events, stop executions, then the function environments."""
        if self._events is not None:
            self._events.stop()
        if self._consumers is not None:
            self._consumers.stop()
        if self.state_machine_arn:
            with contextlib.suppress(Exception):  # moto already gone: nothing left to stop
                self.stop_executions()
        self.stop_functions()

    def __enter__(self) -> LocalDeployment:
        return self.provision()

    def __exit__(self, *exc: object) -> None:
        self.close()
