"""The function catalog: every Lambda of the service, declared once.

CDK (``infra/``) and the local twin (``videogen``) both read this module, so a function added
here exists in both. It imports nothing from the handlers: reading the catalog never loads
handler code. ``needs`` states the permissions intent; CDK turns it into IAM grants, the twin
ignores it, and the infra tests check the grants match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from service.settings import (
    ControlsSettings,
    DeliverySettings,
    DocsSettings,
    FailTaskSettings,
    FinalizeSettings,
    FunctionSettings,
    PredictionSettings,
    ReplicateWebhookSettings,
    StatusSettings,
    SubmitSettings,
    TokensSettings,
    UploadsSettings,
    WakeSettings,
    variable,
)

Need = Literal[
    "tasks:read",  # GetItem on the tasks table
    "tasks:create",  # PutItem of a new task record (submit)
    "tasks:update",  # UpdateItem: state changes, progress, the id counter
    "tasks:delete",  # DeleteItem: submit's roll-back; the owner's erase; the clean-up's of a tombstone
    "tasks:list",  # Query on the tasks table's owner index (never a Scan)
    "owners:read",  # GetItem on the owners table (limits and usage)
    "owners:count",  # UpdateItem on the owners table: take a slot (submit), free one (terminal writes)
    "owners:webhook-secret",  # UpdateItem on the owners table: create or rotate the webhook secret
    "idempotency:records",  # powertools' idempotency records: Get/Put/Update/DeleteItem on its table
    "tokens:read",
    "executions:start",
    "executions:describe",
    "executions:stop",  # StopExecution: a cancelled task's execution
    "media:read",  # presigned GETs are signed with the function's own credentials
    "media:write",
    "media:upload",  # presigned PUT and GET of client uploads (uploads/ only)
    "media:delete",  # DeleteObject of a task's results (erase; Finalize's own after a cancel)
    "replicate:secret",  # read the Replicate API token from Secrets Manager
    "replicate:webhook-secret",  # read Replicate's webhook signing secret from Secrets Manager
    "executions:wake",  # SendTaskSuccess: end a workflow's wait early (the Replicate webhook route)
    "cleanup:dead-letter",  # send an event it failed to handle to the clean-up's dead-letter queue
    "cursor:key",  # read the list cursors' signing key from Secrets Manager
    "deliveries:consume",  # the deliveries queue: receive, delete, change visibility (backoff)
    "deliveries:dead-letter",  # send a delivery whose retries are spent to the dead-letter queue
]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    description: str
    memory_mb: int = 256
    timeout_s: int = 10
    #: api: behind API Gateway; authorizer; workflow: a state of the ASL; event: invoked by
    #: EventBridge on execution status changes (``execution_events``); queue: consumes a queue of
    #: ``QUEUES`` (an SQS event source mapping).
    kind: Literal["api", "authorizer", "workflow", "event", "queue"] = "api"
    needs: frozenset[Need] = field(default_factory=frozenset)
    #: The ASL placeholder that receives this function's ARN (workflow functions only).
    asl_placeholder: str | None = None
    #: Needs the ffmpeg binary (imageio-ffmpeg) at run time.
    ffmpeg: bool = False
    #: API routes served (method, path template with ``{param}``), behind the authorizer unless
    #: ``public`` or not ``authorized``.
    routes: tuple[tuple[str, str], ...] = ()
    #: Its routes are behind the token authorizer and the owners' usage plan. False only for the
    #: Replicate webhook route, whose authorization is Replicate's signature (checked by the handler).
    authorized: bool = True
    #: Its routes need no token (no authorizer, no usage plan key): the OpenAPI document and its page.
    public: bool = False
    #: Its settings class: the ``VIDEOGEN_*`` variables it reads, hence its environment.
    settings: type[FunctionSettings] = FunctionSettings
    #: Step Functions execution statuses (``service.models.events``) whose change invokes it: an
    #: EventBridge rule on this state machine's executions in CDK, the twin's execution events.
    execution_events: tuple[str, ...] = ()


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="authorizer",
        settings=TokensSettings,
        handler="service.handlers.authorizer.handler",
        description="Token authorizer: Authorization: Token <token>",
        kind="authorizer",
        needs=frozenset({"tokens:read"}),
    ),
    FunctionSpec(
        name="submit",
        settings=SubmitSettings,
        handler="service.handlers.submit.handler",
        description="POST routes: validate, check the owner's limits, record the task, start the workflow",
        needs=frozenset(
            {
                "tasks:create",
                "tasks:update",
                "tasks:delete",
                "owners:read",
                "owners:count",
                "executions:start",
                "idempotency:records",
            }
        ),
        routes=(("POST", "/api/transitions/create-and-generate/"), ("POST", "/generate-video")),
    ),
    FunctionSpec(
        name="status",
        settings=StatusSettings,
        handler="service.handlers.status.handler",
        description="GET routes: task state from DynamoDB, presigned result URLs",
        needs=frozenset({"tasks:read", "tasks:update", "owners:count", "executions:describe", "media:read"}),
        routes=(("GET", "/api/transitions/task-status/{task_id}/"), ("GET", "/video-status/{task_id}")),
    ),
    FunctionSpec(
        name="controls",
        settings=ControlsSettings,
        handler="service.handlers.controls.handler",
        description="Task controls: cancel, delete, list the owner's tasks; the owner's webhook secret",
        needs=frozenset(
            {
                "tasks:read",
                "tasks:update",
                "tasks:delete",
                "tasks:list",
                "owners:count",
                "owners:webhook-secret",
                "executions:stop",
                "media:read",
                "media:delete",
                "cursor:key",
            }
        ),
        routes=(
            ("GET", "/api/tasks/"),
            ("POST", "/api/tasks/{task_id}/cancel/"),
            ("DELETE", "/api/tasks/{task_id}/"),
            ("GET", "/api/webhooks/secret/"),
            ("POST", "/api/webhooks/secret/"),
        ),
    ),
    FunctionSpec(
        name="docs",
        settings=DocsSettings,
        handler="service.handlers.docs.handler",
        description="The OpenAPI document (generated from the handlers) and its interactive page",
        memory_mb=512,
        routes=(("GET", "/openapi.json"), ("GET", "/docs")),
        public=True,
    ),
    FunctionSpec(
        name="uploads",
        settings=UploadsSettings,
        handler="service.handlers.uploads.handler",
        description="POST /api/uploads/: presigned S3 PUT for an input image",
        routes=(("POST", "/api/uploads/"),),
        needs=frozenset({"media:upload"}),
    ),
    FunctionSpec(
        name="replicate_webhooks",
        settings=ReplicateWebhookSettings,
        handler="service.handlers.replicate_webhooks.handler",
        description="Replicate's signed webhooks: record progress and ends, wake the workflow's wait",
        needs=frozenset({"tasks:read", "tasks:update", "replicate:webhook-secret", "executions:wake"}),
        routes=(("POST", "/api/replicate-webhooks/{task_id}"),),
        authorized=False,
    ),
    FunctionSpec(
        name="start_predictions",
        settings=PredictionSettings,
        handler="service.handlers.start_predictions.handler",
        description="Workflow: create the Replicate predictions of the task's job",
        timeout_s=60,
        kind="workflow",
        needs=frozenset({"tasks:read", "tasks:update", "replicate:secret"}),
        asl_placeholder="StartPredictionsFunctionArn",
    ),
    FunctionSpec(
        name="await_wake",
        settings=WakeSettings,
        handler="service.handlers.await_wake.handler",
        description="Workflow: WaitBeforePoll keeps its task token, for a webhook to end the wait early",
        kind="workflow",
        needs=frozenset({"tasks:update"}),
        asl_placeholder="AwaitWakeFunctionArn",
    ),
    FunctionSpec(
        name="poll_predictions",
        settings=PredictionSettings,
        handler="service.handlers.poll_predictions.handler",
        description="Workflow: poll the predictions, record progress",
        timeout_s=60,
        kind="workflow",
        # tasks:read: the owner's URLs, when a prediction failed (its error may show them back)
        needs=frozenset({"tasks:read", "tasks:update", "replicate:secret"}),
        asl_placeholder="PollPredictionsFunctionArn",
    ),
    FunctionSpec(
        name="finalize",
        settings=FinalizeSettings,
        handler="service.handlers.finalize.handler",
        description="Workflow: copy the video to S3, thumbnail it, mark SUCCESS",
        memory_mb=1024,
        timeout_s=300,
        kind="workflow",
        needs=frozenset({"tasks:read", "tasks:update", "owners:count", "media:write", "media:delete"}),
        asl_placeholder="FinalizeFunctionArn",
        ffmpeg=True,
    ),
    FunctionSpec(
        name="fail_task",
        settings=FailTaskSettings,
        handler="service.handlers.fail_task.handler",
        description="Workflow: cancel predictions, mark FAILURE",
        timeout_s=60,
        kind="workflow",
        needs=frozenset({"tasks:read", "tasks:update", "owners:count", "replicate:secret"}),
        asl_placeholder="FailTaskFunctionArn",
    ),
    FunctionSpec(
        name="cleanup",
        settings=FailTaskSettings,
        handler="service.handlers.cleanup.handler",
        description="Executions that ended without the workflow: cancel predictions, mark FAILURE",
        timeout_s=60,
        kind="event",
        # tasks:delete: a deleted task's tombstone, once its predictions are cancelled
        needs=frozenset(
            {
                "tasks:read",
                "tasks:update",
                "tasks:delete",
                "owners:count",
                "replicate:secret",
                "cleanup:dead-letter",
            }
        ),
        execution_events=("FAILED", "TIMED_OUT", "ABORTED"),
    ),
    FunctionSpec(
        name="deliver",
        settings=DeliverySettings,
        handler="service.handlers.deliver.handler",
        description="Caller webhooks: POST each ended task's signed event to its webhook_url, with retries",
        timeout_s=60,
        kind="queue",
        needs=frozenset(
            {
                "tasks:read",
                "tasks:update",
                "owners:read",
                "media:read",
                "deliveries:consume",
                "deliveries:dead-letter",
            }
        ),
    ),
)


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue fed by execution status changes (an EventBridge rule targets it), consumed by a
    function (an event source mapping, partial batch responses), with a dead-letter queue."""

    name: str
    consumer: str
    execution_events: tuple[str, ...]
    #: Messages per invocation: each may take one HTTP attempt (``DeliverySettings.timeout_seconds``).
    batch_size: int = 5
    #: Receives before SQS moves a message to the dead-letter queue: a backstop for a consumer that
    #: crashes on it (the consumer itself sends a delivery whose retries are spent there).
    max_receive_count: int = 50
    retention_days: int = 4


#: Caller webhooks: every execution end reaches the deliveries queue (the task's record says
#: whether it has a webhook_url), SUCCEEDED included; the deliver function consumes it.
QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        name="deliveries",
        consumer="deliver",
        execution_events=("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"),
    ),
)


def queue(name: str) -> QueueSpec:
    for spec in QUEUES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def queue_visibility_s(spec: QueueSpec) -> int:
    """AWS's advice for an event source mapping: six times the consumer's timeout."""
    return 6 * function(spec.consumer).timeout_s


#: Where objects live in the media bucket (finalize writes, status presigns, clients upload).
#: IAM grants and lifecycle rules are scoped to these prefixes.
VIDEO_PREFIX = "videos/"
THUMBNAIL_PREFIX = "thumbnails/"
SUBTITLE_PREFIX = "subtitles/"
UPLOAD_PREFIX = "uploads/"
RESULT_PREFIXES = (VIDEO_PREFIX, THUMBNAIL_PREFIX, SUBTITLE_PREFIX)

#: Where Replicate sends a task's webhooks, below the API's base URL (the task id follows).
REPLICATE_WEBHOOK_PATH = "/api/replicate-webhooks/"


def replicate_webhook_url(api_base_url: str) -> str:
    """The webhook URL StartPredictions gives Replicate (the task id is appended)."""
    return api_base_url.rstrip("/") + REPLICATE_WEBHOOK_PATH


#: The ASL file, relative to the repository root; CDK and the twin load this one file.
STATE_MACHINE_DEFINITION = "statemachines/video_generation.asl.json"


AUTHORIZER = "authorizer"
#: How long API Gateway (and the twin's gateway) caches the authorizer's answer for a token: a
#: revoked or expired token keeps working for at most this long (the stack's
#: ``authorizer_cache_seconds``).
AUTHORIZER_CACHE_S = 60


@dataclass(frozen=True)
class OwnerThrottle:
    """Each owner's request rate at the edge: the stage's usage plan, keyed by the owner's API key
    (the stack's ``owner_rate_limit``/``owner_burst_limit``; the twin's gateway enforces the same)."""

    rate_per_s: float = 20.0
    burst: int = 40


OWNER_THROTTLE = OwnerThrottle()

#: powertools' service name and metrics namespace (the functions emit EMF under these).
SERVICE_NAME = "videogen"
METRICS_NAMESPACE = "VideoGen"
#: Requests an API function answered with 500 after catching the exception itself: Lambda's own
#: ``Errors`` metric never sees them, so the function error alarms add this one (dimension ``function``).
INTERNAL_ERRORS_METRIC = "InternalErrors"
#: Predictions whose end PollPredictions learnt, by how (dimension ``seen_by``: webhook, poll).
PREDICTIONS_COMPLETED_METRIC = "PredictionsCompleted"
#: Replicate webhooks the route refused (dimension ``reason``: malformed, stale, signature, secret):
#: alarmed, as forged calls or a signing secret that is not Replicate's.
WEBHOOKS_REFUSED_METRIC = "ReplicateWebhooksRefused"
#: Replicate webhooks the route recorded (dimension ``woke``: whether it ended a workflow's wait).
WEBHOOKS_RECORDED_METRIC = "ReplicateWebhooksRecorded"


def runtime_environment(log_level: str) -> dict[str, str]:
    """The powertools variables every function gets (CDK and the twin alike)."""
    return {
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": log_level,
    }


#: Error bodies the gateway itself answers with (CDK gateway responses, the twin's gateway),
#: in the handlers' JSON shape: ``{"detail": ...}``.
GATEWAY_ERRORS: dict[int, str] = {
    401: "Invalid or missing token: send 'Authorization: Token <your token>'",
    403: "User is not authorized to access this resource",
    404: "Not Found",
    429: "Too many requests: slow down and retry",
    500: "Internal server error",
}

#: API Gateway's gateway responses, as the stack deploys them and the twin answers them: response
#: type → (status code, or None to keep API Gateway's; the body's mapping template, in which
#: ``$context.requestId`` and ``$context.error.messageString`` are API Gateway variables).
GATEWAY_RESPONSES: dict[str, tuple[int | None, str]] = {
    "UNAUTHORIZED": (401, json.dumps({"detail": GATEWAY_ERRORS[401]})),
    "ACCESS_DENIED": (403, json.dumps({"detail": GATEWAY_ERRORS[403]})),
    "THROTTLED": (429, json.dumps({"detail": GATEWAY_ERRORS[429]})),
    # An unknown route (or a method a route does not have) is API Gateway's "Missing
    # Authentication Token" 403; we answer it as the 404 it is.
    "MISSING_AUTHENTICATION_TOKEN": (404, json.dumps({"detail": GATEWAY_ERRORS[404]})),
    # Any other 4xx keeps its status; messageString is API Gateway's message as a quoted JSON string.
    "DEFAULT_4XX": (None, '{"detail": $context.error.messageString}'),
    "DEFAULT_5XX": (None, json.dumps({"detail": GATEWAY_ERRORS[500], "request_id": "$context.requestId"})),
}


@dataclass(frozen=True)
class CorsPolicy:
    """The CORS preflight every route answers (API Gateway's mock OPTIONS methods; the twin's gateway).
    Browser clients send their token in a header, never cookies."""

    allow_headers: tuple[str, ...] = ("Authorization", "Content-Type", "Idempotency-Key")
    expose_headers: tuple[str, ...] = ("Retry-After", "Idempotent-Replayed")
    max_age_s: int = 3600

    @property
    def allow_methods(self) -> tuple[str, ...]:
        """Every method a route serves, plus OPTIONS."""
        methods = {method for spec in FUNCTIONS for method, _ in spec.routes} | {"OPTIONS"}
        return tuple(sorted(methods))


CORS = CorsPolicy()


@dataclass(frozen=True)
class MediaCorsRule:
    """The media bucket's CORS rule (the stack's, the twin's): pages on the API's allowed origins may
    PUT uploads and read media with CORS (``<video crossorigin>``, the WebVTT ``<track>``)."""

    methods: tuple[str, ...] = ("GET", "HEAD", "PUT")
    headers: tuple[str, ...] = ("Content-Type",)
    max_age_s: int = 3600


MEDIA_CORS = MediaCorsRule()


def function_environment(
    spec: FunctionSpec, values: Mapping[str, str], *, later: frozenset[str] = frozenset()
) -> dict[str, str]:
    """A function's ``VIDEOGEN_*`` environment: a variable for each field of its settings class that
    the deployment gives a value (``values``: field name → value). CDK (with CloudFormation
    tokens as values) and the twin both build functions' environments here; a required field
    without a value is an error now, not a surprise at the function's first invocation.
    ``later``: fields the caller adds once they exist (CDK: the state machine's ARN)."""
    fields = spec.settings.fields()
    missing = sorted(spec.settings.required() - values.keys() - later)
    if missing:
        raise KeyError(f"{spec.name}: no value for {', '.join(variable(name) for name in missing)}")
    return {variable(name): str(values[name]) for name in fields if name in values}


@dataclass(frozen=True)
class ResourceNames:
    """The names a stage's resources get, in CDK and in the twin alike (CloudFormation names the
    tables, the bucket and the functions of a real stack; the twin uses these)."""

    stage: str

    @property
    def prefix(self) -> str:
        """``videogen-<stage>``: API, alarms, dashboard, log groups."""
        return f"videogen-{self.stage}"

    @property
    def replicate_secret(self) -> str:
        return f"videogen/{self.stage}/replicate-api-token"

    @property
    def replicate_webhook_secret(self) -> str:
        """Replicate's webhook signing secret (``whsec_…``, from ``GET /v1/webhooks/default/secret``)."""
        return f"videogen/{self.stage}/replicate-webhook-secret"

    @property
    def cursor_secret(self) -> str:
        return f"videogen/{self.stage}/list-cursor-key"

    def queue(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def dead_letter_queue(self, name: str) -> str:
        return f"{self.prefix}-{name}-dlq"

    @property
    def api(self) -> str:
        return f"{self.prefix}-api"

    @property
    def state_machine(self) -> str:
        return f"{self.prefix}-video-generation"

    def table(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    @property
    def media_bucket(self) -> str:
        return f"{self.prefix}-media"

    def function(self, name: str) -> str:
        return f"{self.prefix}-{name.replace('_', '-')}"


def function(name: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    raise KeyError(name)


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index: its keys and the attributes it carries (INCLUDE projection)."""

    name: str
    partition_key: str
    sort_key: str
    projected: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    name: str
    partition_key: str
    ttl_attribute: str | None = None
    indexes: tuple[IndexSpec, ...] = ()


#: The tasks of one owner, newest first (``GET /api/tasks/``): what a list item shows, and no more,
#: so that a poll's update of the record writes a small index item (not the job).
OWNER_INDEX = IndexSpec(
    name="by-owner",
    partition_key="owner",
    sort_key="created_at",
    projected=(
        "execution_arn",
        "kind",
        "state",
        "progress",
        "result",
        "error",
        "transition_id",
        "generated_transition_id",
        "updated_at",
        "webhook",
    ),
)

#: The DynamoDB tables (the key names are the adapters' contract).
TABLES: tuple[TableSpec, ...] = (
    TableSpec(name="tasks", partition_key="task_id", ttl_attribute="expires_at", indexes=(OWNER_INDEX,)),
    TableSpec(name="tokens", partition_key="token_hash", ttl_attribute="expires_at"),
    TableSpec(name="owners", partition_key="owner"),
    # powertools' idempotency records (DynamoDBPersistenceLayer's default attribute names).
    TableSpec(name="idempotency", partition_key="id", ttl_attribute="expiration"),
)

#: The clean-up's dead-letter queue keeps an event it could not handle this long (``infra/events.py``).
EXECUTION_EVENTS_DEAD_LETTER_DAYS = 14
#: A deleted task's tombstone (``Tombstone``: the predictions the clean-up must still cancel) expires
#: by the tasks table's TTL after this long if no clean-up removed it: as long as a dead-lettered
#: event of its execution can still be handed to the clean-up again (``docs/operations.md``).
TOMBSTONE_DAYS = EXECUTION_EVENTS_DEAD_LETTER_DAYS


#: Step Functions keeps at most this many events in an execution's history; beyond it the execution fails.
HISTORY_EVENTS_LIMIT = 25_000
#: History events of one poll cycle, at most: WaitBeforePoll (entered, scheduled, started, submitted,
#: timed out or succeeded, exited: 6; or 5 when PollNow, or 5 + WaitWithoutWake's 2 when its
#: function failed), PollPredictions (5) and PredictionsDone? (2). Measured by
#: tests/workflow/test_replicate_webhooks.py.
EVENTS_PER_POLL_CYCLE = 14
#: The most polls a deployment may allow: their history, with 1,000 events left for the start, the
#: end and retries, stays within the limit.
MAX_POLLS_LIMIT = (HISTORY_EVENTS_LIMIT - 1_000) // EVENTS_PER_POLL_CYCLE


@dataclass(frozen=True)
class WorkflowTiming:
    """Wait seconds and poll budget: production 5 s x 120 polls; tests shorten them."""

    poll_interval_s: int = 5
    max_polls: int = 120
    #: Headroom on top of the poll budget for StartPredictions, Finalize and retries.
    finalize_margin_s: int = 900

    @property
    def deadline_s(self) -> int:
        return self.poll_interval_s * self.max_polls

    @property
    def execution_timeout_s(self) -> int:
        return self.deadline_s + self.finalize_margin_s


def workflow_substitutions(function_arns: dict[str, str], timing: WorkflowTiming) -> dict[str, str]:
    """Every ``${Placeholder}`` of the ASL file: function ARNs by catalog name, plus the timing."""
    values = {spec.asl_placeholder: function_arns[spec.name] for spec in FUNCTIONS if spec.asl_placeholder}
    values |= {
        "PollIntervalSeconds": str(timing.poll_interval_s),
        "MaxPolls": str(timing.max_polls),
        "DeadlineSeconds": str(timing.deadline_s),
        "ExecutionTimeoutSeconds": str(timing.execution_timeout_s),
    }
    return values
