"""The synthesized stack, checked against the catalog and the issue's intent: functions, API,
data, workflow, least privilege, observability, cdk-nag and cfn-lint. Offline, one synthesis."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest

from service.catalog import (
    AUTHORIZER,
    AUTHORIZER_CACHE_S,
    FUNCTIONS,
    GATEWAY_ERRORS,
    STATE_MACHINE_DEFINITION,
    TABLES,
    TOMBSTONE_DAYS,
    FunctionSpec,
    Need,
    WorkflowTiming,
)
from service.settings import variable
from tests.infra.conftest import Synth

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = (ROOT / "docs/operations.md").read_text()


# -- helpers -----------------------------------------------------------------------------------------
def render(value: Any) -> str:
    """A CloudFormation value as text: ``{"Ref": X}`` → ``<X>``, GetAtt → ``<X.Attr>``, Join joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"<{arg}>"
        if key == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if key == "Fn::Join":
            return arg[0].join(render(part) for part in arg[1])
    return json.dumps(value, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def only(items: dict[str, Any]) -> tuple[str, Any]:
    assert len(items) == 1, sorted(items)
    return next(iter(items.items()))


def function_resource(synth: Synth, spec: FunctionSpec) -> tuple[str, dict[str, Any]]:
    return only(
        {
            k: v
            for k, v in synth.of_type("AWS::Lambda::Function").items()
            if v["Properties"]["Handler"] == spec.handler
        }
    )


def role_grants(synth: Synth, role_id: str) -> set[tuple[str, str]]:
    """Every (action, resource) the role's inline and attached-by-CDK policies allow."""
    statements: list[dict[str, Any]] = []
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for policy in synth.resources[role_id]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    grants = set()
    for statement in statements:
        assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                grants.add((action, render(resource)))
    return grants


def function_grants(synth: Synth, spec: FunctionSpec) -> set[tuple[str, str]]:
    _, function = function_resource(synth, spec)
    return role_grants(synth, function["Properties"]["Role"]["Fn::GetAtt"][0])


def table_id(synth: Synth, name: str) -> str:
    key = next(t.partition_key for t in TABLES if t.name == name)
    return only(
        {
            k: v
            for k, v in synth.of_type("AWS::DynamoDB::Table").items()
            if v["Properties"]["KeySchema"][0]["AttributeName"] == key
        }
    )[0]


def media_bucket(synth: Synth) -> tuple[str, dict[str, Any]]:
    return only({k: v for k, v in synth.of_type("AWS::S3::Bucket").items() if "MediaBucket" in k})


def environment(synth: Synth, spec: FunctionSpec) -> dict[str, Any]:
    return dict(function_resource(synth, spec)[1]["Properties"]["Environment"]["Variables"])


# -- functions -------------------------------------------------------------------------------------
#: CDK's BucketDeployment (the dashboard page, infra/web.py) brings a Lambda, its role and the AWS
#: CLI layer: CDK-managed, run only while deploying, its cdk-nag findings suppressed in infra/web.py.
CDK_DEPLOYMENT = ("CustomCDKBucketDeployment", "WebDeploy")


def is_cdk_deployment(logical_id: str) -> bool:
    return logical_id.startswith(CDK_DEPLOYMENT)


def test_every_catalog_function_exists_with_the_shared_defaults(synth: Synth) -> None:
    ours = [k for k in synth.of_type("AWS::Lambda::Function") if not is_cdk_deployment(k)]
    assert len(ours) == len(FUNCTIONS)
    assert len(synth.of_type("AWS::Lambda::Function")) == len(FUNCTIONS) + 1, "and CDK's page deployment"
    roles = set()
    for spec in FUNCTIONS:
        _, function = function_resource(synth, spec)
        props = function["Properties"]
        assert props["MemorySize"] == spec.memory_mb, spec.name
        assert props["Timeout"] == spec.timeout_s, spec.name
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        log_group = synth.resources[props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] == synth.config.log_retention_days
        roles.add(props["Role"]["Fn::GetAtt"][0])
    assert len(roles) == len(FUNCTIONS), "each function has a role of its own"


def test_functions_share_one_code_asset_and_get_only_their_layers(synth: Synth) -> None:
    ours = {k: v for k, v in synth.of_type("AWS::Lambda::LayerVersion").items() if not is_cdk_deployment(k)}
    layers = {k: v["Properties"]["Description"] for k, v in ours.items()}
    keys = {v["Properties"]["Content"]["S3Key"] for v in ours.values()}
    assert len(keys) == len(layers) == 3, "each layer is its own asset (the bundling cache key differs)"
    code = set()
    for spec in FUNCTIONS:
        _, function = function_resource(synth, spec)
        code.add(function["Properties"]["Code"]["S3Key"])
        carried = " ".join(layers[ref["Ref"]] for ref in function["Properties"]["Layers"])
        if spec.kind in ("api", "authorizer"):
            assert "replicate" not in carried and "ffmpeg" not in carried, spec.name
            assert "powertools" in carried and "pydantic" in carried
        else:
            assert "replicate" in carried and "httpx" in carried, spec.name
            assert ("ffmpeg" in carried) == spec.ffmpeg, spec.name
        if spec.ffmpeg:
            assert function["Properties"]["EphemeralStorage"] == {"Size": 2048}
    assert len(code) == 1


def test_layer_bundling_installs_exactly_the_lock_for_the_lambda_platform() -> None:
    from aws_cdk import aws_lambda as lambda_

    from infra.bundling import API_LAYER, FFMPEG_LAYER, WORKFLOW_LAYER, pip_command
    from infra.layer_specs import lock_path

    command = pip_command(WORKFLOW_LAYER, Path("/out/python"), lambda_.Architecture.ARM_64)
    text = " ".join(command)
    for flag in (
        "--require-hashes",  # every file checked against the lock's hashes
        "--no-deps",  # nothing but what the lock pins
        f"--requirement {lock_path(WORKFLOW_LAYER)}",
        "--only-binary=:all:",
        "--python-version 3.12",
        "--platform manylinux2014_aarch64",
        "--platform manylinux_2_28_aarch64",
        "--target /out/python",
    ):
        assert flag in text
    assert not any(arg.startswith(("boto3", "moto", "flask", "replicate")) for arg in command)
    assert str(lock_path(API_LAYER)) in pip_command(API_LAYER, Path("/o"), lambda_.Architecture.ARM_64)
    assert "--platform manylinux_2_28_x86_64" in " ".join(
        pip_command(FFMPEG_LAYER, Path("/o"), lambda_.Architecture.X86_64)
    )


def test_layer_content_is_machine_independent_and_readable_by_lambda(tmp_path: Path) -> None:
    from infra.bundling import _drop_console_scripts, _make_lambda_readable

    # Given what pip --target leaves: console scripts with this machine's shebang, listed in RECORD
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/dotenv").write_text("#!/home/me/.venv/bin/python\n")
    (tmp_path / "dotenv-1.0.dist-info").mkdir()
    record = tmp_path / "dotenv-1.0.dist-info/RECORD"
    record.write_text("dotenv/__init__.py,sha256=x,1\n../../bin/dotenv,sha256=y,2\n")
    binaries = tmp_path / "imageio_ffmpeg/binaries"
    binaries.mkdir(parents=True)
    (binaries / "ffmpeg-linux-aarch64-v9").write_bytes(b"\x7fELF")
    (binaries / "ffmpeg-linux-aarch64-v9").chmod(0o600)
    # When the layer is finished
    _drop_console_scripts(tmp_path)
    _make_lambda_readable(tmp_path)
    # Then nothing machine-specific is left, and ffmpeg can run from the read-only /opt
    assert not (tmp_path / "bin").exists()
    assert record.read_text() == "dotenv/__init__.py,sha256=x,1\n"
    assert (binaries / "ffmpeg-linux-aarch64-v9").stat().st_mode & 0o777 == 0o755
    assert record.stat().st_mode & 0o444 == 0o444


def test_each_function_gets_exactly_the_variables_its_settings_class_declares(synth: Synth) -> None:
    for spec in FUNCTIONS:
        env = environment(synth, spec)
        assert env["POWERTOOLS_SERVICE_NAME"] == "videogen"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "VideoGen"
        assert env["POWERTOOLS_LOG_LEVEL"] == synth.config.log_level
        videogen = {k for k in env if k.startswith("VIDEOGEN_")}
        declared = {variable(name) for name in spec.settings.fields()}
        required = {variable(name) for name in spec.settings.required()}
        assert required <= videogen <= declared, f"{spec.name}: {videogen} vs {declared}"
        needs = spec.needs
        assert ("VIDEOGEN_TASKS_TABLE" in env) == bool(
            needs & {"tasks:read", "tasks:create", "tasks:update", "tasks:delete", "tasks:list"}
        ), spec.name
        assert ("VIDEOGEN_TOKENS_TABLE" in env) == ("tokens:read" in needs), spec.name
        assert ("VIDEOGEN_OWNERS_TABLE" in env) == bool(
            needs & {"owners:read", "owners:count", "owners:webhook-secret"}
        ), spec.name
        assert ("VIDEOGEN_MEDIA_BUCKET" in env) == bool(
            needs & {"media:read", "media:write", "media:upload", "media:delete"}
        ), spec.name
        assert ("VIDEOGEN_STATE_MACHINE_ARN" in env) == bool(
            needs & {"executions:start", "executions:describe", "executions:stop"}
        ), spec.name
        assert ("VIDEOGEN_IDEMPOTENCY_TABLE" in env) == ("idempotency:records" in needs), spec.name
        assert ("VIDEOGEN_CURSOR_SECRET_NAME" in env) == ("cursor:key" in needs), spec.name
        assert ("VIDEOGEN_DELIVERIES_QUEUE_URL" in env) == ("deliveries:consume" in needs), spec.name
        assert ("VIDEOGEN_REPLICATE_SECRET_NAME" in env) == ("replicate:secret" in needs), spec.name
    submit = environment(synth, next(s for s in FUNCTIONS if "executions:start" in s.needs))
    assert submit["VIDEOGEN_TRANSITION_MODEL"] == "kwaivgi/kling-v1.6-pro"
    assert submit["VIDEOGEN_DREAM_MODEL"] == "kwaivgi/kling-v1.6-standard"
    assert submit["VIDEOGEN_TASKS_TABLE"] == {"Ref": table_id(synth, "tasks")}
    assert submit["VIDEOGEN_OWNERS_TABLE"] == {"Ref": table_id(synth, "owners")}
    # The per-owner limits: the deployment's defaults, from CDK context
    assert (
        (
            submit["VIDEOGEN_MAX_IN_FLIGHT"],
            submit["VIDEOGEN_SUBMITS_PER_MINUTE"],
            submit["VIDEOGEN_SUBMITS_PER_DAY"],
        )
        == (
            str(synth.config.owner_max_in_flight),
            str(synth.config.owner_submits_per_minute),
            str(synth.config.owner_submits_per_day),
        )
        == ("20", "60", "500")
    )
    for spec in FUNCTIONS:
        if "replicate:secret" in spec.needs:
            assert (
                environment(synth, spec)["VIDEOGEN_REPLICATE_SECRET_NAME"]
                == synth.config.replicate_secret_name
            )


# -- API ----------------------------------------------------------------------------------------------
def _resource_paths(synth: Synth) -> dict[str, str]:
    resources = synth.of_type("AWS::ApiGateway::Resource")

    def path(resource_id: str) -> str:
        props = resources[resource_id]["Properties"]
        parent = props["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {rid: path(rid) for rid in resources}


def _methods(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    paths = _resource_paths(synth)
    methods = {}
    for method in synth.of_type("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = props["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        methods[(props["HttpMethod"], path)] = props
    return methods


def test_api_routes_are_exactly_the_catalog_routes_each_behind_the_authorizer(synth: Synth) -> None:
    from infra.api import resource_path

    authorizer_id, _ = only(synth.of_type("AWS::ApiGateway::Authorizer"))
    methods = {key: props for key, props in _methods(synth).items() if key[0] != "OPTIONS"}
    expected = {(method, resource_path(path)): spec for spec in FUNCTIONS for method, path in spec.routes}
    assert set(methods) == set(expected)
    public = {key for key, spec in expected.items() if spec.public}
    assert public == {("GET", "/openapi.json"), ("GET", "/docs")}  # the document and its page only
    for key in public:
        props = methods[key]
        assert props["AuthorizationType"] == "NONE" and not props.get("ApiKeyRequired"), key
        assert "AuthorizerId" not in props
    for key, spec in expected.items():
        if key in public:
            continue
        props = methods[key]
        if not spec.authorized:  # Replicate's webhooks: the handler checks Replicate's signature
            assert props["AuthorizationType"] == "NONE" and "AuthorizerId" not in props, key
            assert props.get("ApiKeyRequired") in (False, None), key
        else:
            assert props["AuthorizationType"] == "CUSTOM"
            assert props["ApiKeyRequired"] is True, key  # each owner is metered by its usage plan key
            assert props["AuthorizerId"] == {"Ref": authorizer_id}
        assert props["Integration"]["Type"] == "AWS_PROXY"
        function_id, _ = function_resource(synth, spec)
        assert f"<{function_id}.Arn>" in render(props["Integration"]["Uri"]), key


def test_only_the_replicate_webhook_route_goes_without_the_authorizer_and_has_its_own_throttle(
    synth: Synth,
) -> None:
    from infra.api import resource_path

    unsigned = [(method, path) for spec in FUNCTIONS if not spec.authorized for method, path in spec.routes]
    assert unsigned == [("POST", "/api/replicate-webhooks/{task_id}")]
    _, stage = only(synth.of_type("AWS::ApiGateway::Stage"))
    settings = {s["ResourcePath"]: s for s in stage["Properties"]["MethodSettings"]}
    webhook = settings["/~1api~1replicate-webhooks~1{task_id}"]
    assert (
        webhook["HttpMethod"] == "POST"
        and resource_path(unsigned[0][1]) == "/api/replicate-webhooks/{task_id}"
    )
    assert (webhook["ThrottlingRateLimit"], webhook["ThrottlingBurstLimit"]) == (
        synth.config.replicate_webhook_rate_limit,
        synth.config.replicate_webhook_burst_limit,
    )


def test_start_and_poll_give_replicate_the_apis_webhook_url_built_from_the_api_id(synth: Synth) -> None:
    from service.catalog import function

    rest_api_id, _ = only(synth.of_type("AWS::ApiGateway::RestApi"))
    for name in ("start_predictions", "poll_predictions", "await_wake"):
        url = render(environment(synth, function(name))["VIDEOGEN_REPLICATE_WEBHOOK_URL"])
        assert url.startswith(f"https://<{rest_api_id}>.execute-api.") and url.endswith(
            f"/{synth.config.stage}/api/replicate-webhooks/"
        ), url
    for spec in FUNCTIONS:
        if spec.name not in ("start_predictions", "poll_predictions", "await_wake"):
            assert "VIDEOGEN_REPLICATE_WEBHOOK_URL" not in environment(synth, spec), spec.name


def test_with_webhooks_off_no_function_gets_a_webhook_url(tmp_path: Path) -> None:
    # A second, smaller synthesis (no cdk-nag): a deployment that behaves exactly as before webhooks
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra import SKIP_BUNDLING
    from infra.config import StackConfig, cdk_json_context
    from infra.stack import VideoGenStack

    app = App(
        context={**cdk_json_context(), **SKIP_BUNDLING, "replicate_webhooks": "off"}, outdir=str(tmp_path)
    )
    stack = VideoGenStack(app, "NoWebhooks", config=StackConfig.from_node(app.node))
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    for resource in functions.values():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        assert "VIDEOGEN_REPLICATE_WEBHOOK_URL" not in variables


def test_trailing_slash_routes_map_to_their_resource_and_stay_verbatim_for_the_handlers() -> None:
    # API Gateway resources cannot end in '/': /a/b/ is served by the resource /a/b, and the
    # Lambda event keeps the path as sent, which the handlers' routes (with the slash) match.
    from infra.api import resource_path

    routes = {path for spec in FUNCTIONS for _, path in spec.routes}
    assert "/api/transitions/create-and-generate/" in routes
    assert "/api/transitions/task-status/{task_id}/" in routes
    assert resource_path("/api/transitions/create-and-generate/") == "/api/transitions/create-and-generate"
    assert (
        resource_path("/api/transitions/task-status/{task_id}/") == "/api/transitions/task-status/{task_id}"
    )
    assert resource_path("/generate-video") == "/generate-video"


def test_authorizer_is_the_catalog_token_authorizer_with_caching(synth: Synth) -> None:
    _, authorizer = only(synth.of_type("AWS::ApiGateway::Authorizer"))
    props = authorizer["Properties"]
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == synth.config.authorizer_cache_seconds == 60
    assert AUTHORIZER_CACHE_S == 60  # the twin's gateway caches as long (docs: revoked within 60 s)
    # Junk headers never invoke the authorizer: the identity validation expression is the one the
    # twin's gateway applies (service.domain.auth)
    from service.domain.auth import HEADER_PATTERN

    assert props["IdentityValidationExpression"] == HEADER_PATTERN
    function_id, _ = function_resource(synth, next(s for s in FUNCTIONS if s.name == AUTHORIZER))
    assert f"<{function_id}.Arn>" in render(props["AuthorizerUri"])


def test_each_owner_has_its_own_rate_and_burst_through_the_usage_plan(synth: Synth) -> None:
    rest_api_id, rest_api = only(synth.of_type("AWS::ApiGateway::RestApi"))
    assert rest_api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"  # the key is the authorizer's
    _, plan = only(synth.of_type("AWS::ApiGateway::UsagePlan"))
    props = plan["Properties"]
    assert props["Throttle"] == {
        "RateLimit": synth.config.owner_rate_limit,
        "BurstLimit": synth.config.owner_burst_limit,
    }
    assert (synth.config.owner_rate_limit, synth.config.owner_burst_limit) == (20, 40)
    [stage] = props["ApiStages"]
    assert stage["ApiId"] == {"Ref": rest_api_id}
    stage_id, _ = only(synth.of_type("AWS::ApiGateway::Stage"))
    assert stage["Stage"] == {"Ref": stage_id}
    # No owner alone can use up the stage's throttle
    assert synth.config.owner_rate_limit < synth.config.api_throttle_rate_limit
    outputs = synth.template_json["Outputs"]
    assert "UsagePlanId" in outputs and "OwnersTableName" in outputs


def test_gateway_errors_use_the_handlers_json_shape(synth: Synth) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    for response_type, status in (("UNAUTHORIZED", 401), ("ACCESS_DENIED", 403), ("THROTTLED", 429)):
        props = responses[response_type]
        assert props["StatusCode"] == str(status)
        assert json.loads(props["ResponseTemplates"]["application/json"]) == {
            "detail": GATEWAY_ERRORS[status]
        }
    assert json.loads(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"]) == {
        "detail": GATEWAY_ERRORS[404]
    }
    assert (
        responses["DEFAULT_4XX"]["ResponseTemplates"]["application/json"]
        == '{"detail": $context.error.messageString}'
    )
    five = json.loads(responses["DEFAULT_5XX"]["ResponseTemplates"]["application/json"])
    assert five == {"detail": GATEWAY_ERRORS[500], "request_id": "$context.requestId"}
    for props in responses.values():
        assert props["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"


def test_stage_logs_throttles_and_traces(synth: Synth) -> None:
    _, stage = only(synth.of_type("AWS::ApiGateway::Stage"))
    props = stage["Properties"]
    assert props["StageName"] == synth.config.stage
    assert props["TracingEnabled"] is True
    access = props["AccessLogSetting"]
    log_group = synth.resources[access["DestinationArn"]["Fn::GetAtt"][0]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == synth.config.log_retention_days
    fields = json.loads(access["Format"])
    assert {"requestId", "status", "ip", "resourcePath", "owner", "responseLatency"} <= set(fields)
    [settings] = [s for s in props["MethodSettings"] if s["ResourcePath"] == "/*"]  # and the webhooks' own
    assert settings["HttpMethod"] == "*"
    assert settings["LoggingLevel"] == synth.config.api_execution_log_level
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] == synth.config.api_throttle_rate_limit
    assert settings["ThrottlingBurstLimit"] == synth.config.api_throttle_burst_limit


def test_cors_preflight_on_every_route_without_credentials(synth: Synth) -> None:
    from infra.api import resource_path

    methods = _methods(synth)
    for spec in FUNCTIONS:
        for _, path in spec.routes:
            preflight = methods[("OPTIONS", resource_path(path))]
            assert preflight["AuthorizationType"] == "NONE"
            headers = preflight["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
            assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]
            assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"


# -- data -----------------------------------------------------------------------------------------------
def test_tables_follow_the_catalog(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::DynamoDB::Table", len(TABLES))
    for spec in TABLES:
        table = synth.resources[table_id(synth, spec.name)]
        props = table["Properties"]
        assert props["KeySchema"] == [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
        keys = {spec.partition_key} | {k for i in spec.indexes for k in (i.partition_key, i.sort_key)}
        assert sorted(d["AttributeName"] for d in props["AttributeDefinitions"]) == sorted(keys)
        assert {d["AttributeType"] for d in props["AttributeDefinitions"]} == {"S"}
        indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {i.name for i in spec.indexes}
        for index in spec.indexes:
            deployed = indexes[index.name]
            assert deployed["KeySchema"] == [
                {"AttributeName": index.partition_key, "KeyType": "HASH"},
                {"AttributeName": index.sort_key, "KeyType": "RANGE"},
            ]
            assert deployed["Projection"]["ProjectionType"] == "INCLUDE"
            assert sorted(deployed["Projection"]["NonKeyAttributes"]) == sorted(index.projected)
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        if spec.ttl_attribute:
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props
        assert table["DeletionPolicy"] == "Retain"


def test_the_tasks_table_expires_records_and_tombstones_by_their_expires_at(synth: Synth) -> None:
    # A deleted task's tombstone whose clean-up never came is removed by the table's TTL
    from service.models.domain import Task, Tombstone

    [tasks] = [spec for spec in TABLES if spec.name == "tasks"]
    assert tasks.ttl_attribute == "expires_at"
    assert {"expires_at"} <= set(Task.model_fields) & set(Tombstone.model_fields)
    table = synth.resources[table_id(synth, "tasks")]
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_media_bucket_is_private_tls_only_encrypted_logged_and_expires_media(synth: Synth) -> None:
    bucket_id, bucket = media_bucket(synth)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props.get("VersioningConfiguration", {}).get("Status") != "Enabled"
    expiring = {
        rule["Prefix"]: rule["ExpirationInDays"]
        for rule in props["LifecycleConfiguration"]["Rules"]
        if "Prefix" in rule and rule["Status"] == "Enabled"
    }
    assert expiring == {
        "videos/": synth.config.retention_days,
        "thumbnails/": synth.config.retention_days,
        "subtitles/": synth.config.retention_days,
        "uploads/": 1,  # client uploads are inputs of one task
    }
    log_bucket_id = props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert synth.resources[log_bucket_id]["Type"] == "AWS::S3::Bucket"

    for target in (bucket_id, log_bucket_id):
        (policy,) = (
            p
            for p in synth.of_type("AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": target}
        )
        denies_plain_http = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies_plain_http, target


def test_replicate_secret_is_generated_never_given(synth: Synth) -> None:
    from aws_cdk.assertions import Match

    # The Replicate token, Replicate's webhook signing secret and the list cursors' signing key: all
    # generated, none given
    synth.template.resource_count_is("AWS::SecretsManager::Secret", 3)
    for name in (
        synth.config.replicate_secret_name,
        synth.config.names.replicate_webhook_secret,
        synth.config.names.cursor_secret,
    ):
        synth.template.has_resource_properties(
            "AWS::SecretsManager::Secret",
            {
                "Name": name,
                "GenerateSecretString": Match.object_like({"ExcludePunctuation": True}),
                "SecretString": Match.absent(),
            },
        )


# -- workflow -----------------------------------------------------------------------------------------
def test_state_machine_deploys_the_asl_file_with_every_placeholder_substituted(synth: Synth) -> None:
    from twin import workflow_definition

    _, machine = only(synth.of_type("AWS::StepFunctions::StateMachine"))
    props = machine["Properties"]
    # DefinitionBody.from_file uploads the very file as an asset; CloudFormation substitutes.
    key = props["DefinitionS3Location"]["Key"]
    staged = synth.assembly_dir / f"asset.{key}"
    assert staged.read_text() == (ROOT / STATE_MACHINE_DEFINITION).read_text()
    substitutions = props["DefinitionSubstitutions"]
    assert set(substitutions) == workflow_definition.placeholders(), "no placeholder left unresolved"
    for spec in FUNCTIONS:
        if spec.asl_placeholder:
            function_id, _ = function_resource(synth, spec)
            assert substitutions[spec.asl_placeholder] == {"Fn::GetAtt": [function_id, "Arn"]}
    timing = WorkflowTiming(
        poll_interval_s=synth.config.poll_interval_seconds, max_polls=synth.config.max_polls
    )
    assert substitutions["PollIntervalSeconds"] == "5" == str(timing.poll_interval_s)
    assert substitutions["MaxPolls"] == "120" == str(timing.max_polls)
    assert substitutions["DeadlineSeconds"] == str(timing.deadline_s)
    assert substitutions["ExecutionTimeoutSeconds"] == str(timing.execution_timeout_s)
    # And the substituted text is a valid definition.
    rendered = workflow_definition.render(
        {k: v if isinstance(v, str) else "arn:aws:lambda:r:1:function:f" for k, v in substitutions.items()}
    )
    assert json.loads(rendered)["StartAt"] == "StartPredictions"
    assert props["StateMachineType"] == "STANDARD"


def test_state_machine_logs_everything_traces_and_has_its_own_narrow_role(synth: Synth) -> None:
    _, machine = only(synth.of_type("AWS::StepFunctions::StateMachine"))
    props = machine["Properties"]
    logging = props["LoggingConfiguration"]
    # Every transition with its data: the data is references only (tests/workflow/test_no_orphans.py)
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    log_group = synth.resources[
        logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    ]
    # Retained on delete, so never a fixed name: a redeploy of the stage would collide with it.
    name = render(log_group["Properties"]["LogGroupName"])
    assert name.startswith(f"/aws/vendedlogs/states/{synth.config.prefix}-video-generation-")
    assert "AWS::StackId" in json.dumps(log_group["Properties"]["LogGroupName"])
    assert log_group["DeletionPolicy"] == "Retain"
    assert props["TracingConfiguration"] == {"Enabled": True}

    grants = role_grants(synth, props["RoleArn"]["Fn::GetAtt"][0])
    invoked = {resource for action, resource in grants if action == "lambda:InvokeFunction"}
    workflow = {f"<{function_resource(synth, spec)[0]}.Arn>" for spec in FUNCTIONS if spec.kind == "workflow"}
    assert invoked == workflow, "exactly the workflow functions, unqualified"
    others = {action for action, resource in grants if action != "lambda:InvokeFunction"}
    assert all(action.startswith(("logs:", "xray:")) for action in others), others


def test_executions_that_end_without_the_workflow_reach_the_cleanup_through_eventbridge(synth: Synth) -> None:
    from service.catalog import function

    machine_id, _ = only(synth.of_type("AWS::StepFunctions::StateMachine"))
    cleanup_id, _ = function_resource(synth, function("cleanup"))
    queue_id, queue = only(
        {k: v for k, v in synth.of_type("AWS::SQS::Queue").items() if "ExecutionEvents" in k}
    )
    _, rule = only({k: v for k, v in synth.of_type("AWS::Events::Rule").items() if "CleanupRule" in k})
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [{"Ref": machine_id}], "status": ["FAILED", "TIMED_OUT", "ABORTED"]},
    }
    [target] = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [cleanup_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 24 * 3600
    # EventBridge may invoke the clean-up, from this rule only
    permission = only(
        {
            k: v
            for k, v in synth.of_type("AWS::Lambda::Permission").items()
            if v["Properties"]["Principal"] == "events.amazonaws.com"
        }
    )[1]["Properties"]
    assert permission["FunctionName"] == {"Fn::GetAtt": [cleanup_id, "Arn"]}
    # Invocations that fail after Lambda's retries land in the same queue
    _, invoke_config = only(synth.of_type("AWS::Lambda::EventInvokeConfig"))
    config = invoke_config["Properties"]
    assert config["FunctionName"] == {"Ref": cleanup_id} and config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}}
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 86400
    # A deleted task's tombstone lives as long as its execution's dead-lettered event may be handed
    # back to the clean-up (docs/operations.md), and no longer
    assert queue["Properties"]["MessageRetentionPeriod"] == TOMBSTONE_DAYS * 86400
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
    }
    dead_letters = alarms[f"{synth.config.prefix}-cleanup-dead-letters"]
    assert dead_letters["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dead_letters["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
    ]
    assert alarms[f"{synth.config.prefix}-cleanup-errors"]["Threshold"] == 1
    assert "ExecutionEventsDeadLetterQueueUrl" in synth.template_json["Outputs"]


# -- least privilege ------------------------------------------------------------------------------------
def _intent(synth: Synth) -> dict[str, set[tuple[str, str]]]:
    """The issue's reading of each need, restated independently of infra/permissions.py."""
    tasks, tokens, owners = table_id(synth, "tasks"), table_id(synth, "tokens"), table_id(synth, "owners")
    idempotency = table_id(synth, "idempotency")
    queues = synth.of_type("AWS::SQS::Queue")
    queue = only({k: v for k, v in queues.items() if "ExecutionEvents" in k})[0]
    deliveries = only({k: v for k, v in queues.items() if k.startswith("DeliveriesDeliveriesQueue")})[0]
    delivery_dlq = only({k: v for k, v in queues.items() if k.startswith("DeliveriesDeliveriesDeadLetters")})[
        0
    ]
    bucket, _ = media_bucket(synth)
    secrets = synth.of_type("AWS::SecretsManager::Secret")
    by_secret_name = {v["Properties"]["Name"]: k for k, v in secrets.items()}
    secret = by_secret_name[synth.config.replicate_secret_name]
    webhook_secret = by_secret_name[synth.config.names.replicate_webhook_secret]
    cursor = by_secret_name[synth.config.names.cursor_secret]
    machine, _ = only(synth.of_type("AWS::StepFunctions::StateMachine"))
    objects = [f"<{bucket}.Arn>/{prefix}*" for prefix in ("videos/", "thumbnails/", "subtitles/")]
    uploads = f"<{bucket}.Arn>/uploads/*"
    return {
        "tasks:read": {("dynamodb:GetItem", f"<{tasks}.Arn>")},
        "tasks:create": {("dynamodb:PutItem", f"<{tasks}.Arn>")},
        "tasks:update": {("dynamodb:UpdateItem", f"<{tasks}.Arn>")},
        "tasks:delete": {("dynamodb:DeleteItem", f"<{tasks}.Arn>")},
        "tasks:list": {("dynamodb:Query", f"<{tasks}.Arn>/index/by-owner")},
        "owners:webhook-secret": {("dynamodb:UpdateItem", f"<{owners}.Arn>")},
        "idempotency:records": {
            (a, f"<{idempotency}.Arn>")
            for a in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        },
        "executions:stop": {
            (
                "states:StopExecution",
                f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{machine}.Name>:*",
            )
        },
        "media:delete": {("s3:DeleteObject", o) for o in objects},
        "cursor:key": {("secretsmanager:GetSecretValue", f"<{cursor}>")},
        "deliveries:consume": {
            (a, f"<{deliveries}.Arn>")
            for a in (
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            )
        },
        "deliveries:dead-letter": {("sqs:SendMessage", f"<{delivery_dlq}.Arn>")},
        "tokens:read": {("dynamodb:GetItem", f"<{tokens}.Arn>")},
        "owners:read": {("dynamodb:GetItem", f"<{owners}.Arn>")},
        "owners:count": {("dynamodb:UpdateItem", f"<{owners}.Arn>")},
        "cleanup:dead-letter": {("sqs:SendMessage", f"<{queue}.Arn>")},
        "executions:start": {("states:StartExecution", f"<{machine}>")},
        "executions:describe": {
            (
                "states:DescribeExecution",
                f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{machine}.Name>:*",
            )
        },
        "media:read": {("s3:GetObject", o) for o in objects},
        "media:write": {(a, o) for a in ("s3:PutObject", "s3:AbortMultipartUpload") for o in objects},
        "media:upload": {("s3:PutObject", uploads), ("s3:GetObject", uploads)},
        "replicate:secret": {("secretsmanager:GetSecretValue", f"<{secret}>")},
        "replicate:webhook-secret": {("secretsmanager:GetSecretValue", f"<{webhook_secret}>")},
        # SendTaskSuccess has no resource-level permission for a callback's task token
        "executions:wake": {("states:SendTaskSuccess", "*")},
    }


def test_every_need_has_an_intended_grant(synth: Synth) -> None:
    assert set(_intent(synth)) == set(get_args(Need))


def test_only_submit_creates_task_records_and_only_submit_the_controls_and_cleanup_delete_them(
    synth: Synth,
) -> None:
    # Status and the workflow steps change records (UpdateItem) and read them; none writes whole items.
    # The owner's delete turns a record into a tombstone with an UpdateItem, not a PutItem.
    tasks = f"<{table_id(synth, 'tasks')}.Arn>"
    for spec in FUNCTIONS:
        actions = {action for action, resource in function_grants(synth, spec) if resource == tasks}
        creates = {"dynamodb:PutItem", "dynamodb:DeleteItem"} & actions
        expected = {
            "submit": {"dynamodb:PutItem", "dynamodb:DeleteItem"},  # the record; its roll-back
            "controls": {"dynamodb:DeleteItem"},  # the owner's erase
            "cleanup": {"dynamodb:DeleteItem"},  # a deleted task's tombstone, its predictions cancelled
        }.get(spec.name, set())
        assert creates == expected, spec.name


def test_each_function_is_granted_exactly_its_needs(synth: Synth) -> None:
    intent = _intent(synth)
    for spec in FUNCTIONS:
        _, function = function_resource(synth, spec)
        log_group = f"<{function['Properties']['LoggingConfig']['LogGroup']['Ref']}.Arn>"
        baseline = {
            ("logs:CreateLogStream", log_group),
            ("logs:PutLogEvents", log_group),
            ("xray:PutTraceSegments", "*"),
            ("xray:PutTelemetryRecords", "*"),
        }
        expected = baseline.union(*(intent[need] for need in spec.needs))
        assert function_grants(synth, spec) == expected, spec.name


def test_status_and_submit_cannot_reach_what_they_do_not_need(synth: Synth) -> None:
    by_name = {spec.name: {action for action, _ in function_grants(synth, spec)} for spec in FUNCTIONS}
    assert "states:StartExecution" not in by_name["status"]
    assert not any(action.startswith("secretsmanager:") for action in by_name["status"])
    assert not any(action.startswith("secretsmanager:") for action in by_name["submit"])

    def readers(secret: str) -> set[str]:
        return {
            spec.name
            for spec in FUNCTIONS
            if any(
                a == "secretsmanager:GetSecretValue" and secret in r for a, r in function_grants(synth, spec)
            )
        }

    # Only the steps that call Replicate read its token; Finalize only downloads outputs; the webhook
    # route reads the signing secret (and only that one: tests/infra's intent).
    assert readers("ReplicateApiToken") == {"start_predictions", "poll_predictions", "fail_task", "cleanup"}
    assert readers("ListCursorKey") == {"controls"}  # the list's cursor key, and not the Replicate token
    assert {name for name, actions in by_name.items() if "secretsmanager:GetSecretValue" in actions} == {
        "start_predictions",
        "poll_predictions",
        "fail_task",
        "cleanup",
        "replicate_webhooks",
        "controls",
    }
    # One function may end a workflow's wait: the webhook route
    assert {name for name, actions in by_name.items() if "states:SendTaskSuccess" in actions} == {
        "replicate_webhooks"
    }
    assert not any(a.startswith(("s3:", "states:")) for a in by_name[AUTHORIZER])
    # Uploads sign a PUT and a GET under uploads/ only; no results, no tasks, no workflow.
    uploads = function_grants(synth, next(s for s in FUNCTIONS if s.name == "uploads"))
    assert {(a, r.rsplit("/", 2)[-2]) for a, r in uploads if a.startswith("s3:")} == {
        ("s3:PutObject", "uploads"),
        ("s3:GetObject", "uploads"),
    }
    assert not any(a.startswith(("dynamodb:", "states:", "secretsmanager:")) for a in by_name["uploads"])
    writers = {name for name, grants in by_name.items() if "s3:PutObject" in grants}
    assert writers == {"finalize", "uploads"}


def test_no_wildcard_actions_and_no_wildcard_resources_on_data(synth: Synth) -> None:
    # services (and a callback's task token) without resource-level permissions
    resource_star_allowed = re.compile(r"^(xray:|logs:|states:SendTaskSuccess$)")
    for policy_id, policy in synth.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (policy_id, action)
                if any(resource == "*" for resource in as_list(statement["Resource"])):
                    assert resource_star_allowed.match(action), (policy_id, action)
    for role_id, role in synth.of_type("AWS::IAM::Role").items():
        if "CloudWatchRole" in role_id:  # API Gateway's account-level logging role (documented suppression)
            continue
        if is_cdk_deployment(role_id):  # CDK's BucketDeployment handler: tests/infra/test_web.py
            continue
        assert "ManagedPolicyArns" not in role["Properties"], role_id


# -- observability -------------------------------------------------------------------------------------
def _dashboard_metrics(synth: Synth) -> list[list[Any]]:
    _, dashboard = only(synth.of_type("AWS::CloudWatch::Dashboard"))
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    metrics = []
    for widget in body["widgets"]:
        for side in ("metrics",):
            metrics += widget.get("properties", {}).get(side, [])
    return metrics


def test_dashboard_shows_api_lambda_workflow_business_and_dynamodb(synth: Synth) -> None:
    from service.domain import errors
    from service.models.domain import TaskKind

    metrics = _dashboard_metrics(synth)
    names = {(m[0], m[1]) for m in metrics if isinstance(m[0], str)}
    for name in ("Count", "4XXError", "5XXError", "Latency"):
        assert ("AWS/ApiGateway", name) in names
    for name in ("Errors", "Throttles", "Duration"):
        assert ("AWS/Lambda", name) in names
    for name in (
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
        "ExecutionTime",
    ):
        assert ("AWS/States", name) in names
    for name in ("ReadThrottleEvents", "WriteThrottleEvents"):
        assert ("AWS/DynamoDB", name) in names
    lambda_functions = {m[m.index("FunctionName") + 1] for m in metrics if m[0] == "AWS/Lambda"}
    assert lambda_functions == {f"<{function_resource(synth, spec)[0]}>" for spec in FUNCTIONS}

    business = [m for m in metrics if m[0] == "VideoGen"]
    by_kind = {(m[1], m[m.index("kind") + 1]) for m in business if "kind" in m}
    for name in (
        "TasksSubmitted",
        "TasksSucceeded",
        "TasksFailed",
        "TasksTimedOut",
        "GenerationSeconds",
        "PollsPerTask",
    ):
        for kind in TaskKind:
            assert (name, kind.value) in by_kind
    error_types = {m[m.index("error_type") + 1] for m in business if m[1] == "ReplicateErrors"}
    assert error_types == {"ReplicateRateLimited", "ReplicateUnavailable", "ReplicateRejected"}
    assert all(hasattr(errors, name) for name in error_types)
    # Replicate's webhooks: how each prediction's end was learnt, what the route recorded and refused
    seen_by = {m[m.index("seen_by") + 1] for m in business if m[1] == "PredictionsCompleted"}
    assert seen_by == {"webhook", "poll"}
    refusals = {m[m.index("reason") + 1] for m in business if m[1] == "ReplicateWebhooksRefused"}
    assert refusals == {"malformed", "stale", "signature", "secret"}
    # powertools adds service=<POWERTOOLS_SERVICE_NAME> to every metric's dimensions.
    assert all(m[m.index("service") + 1] == "videogen" for m in business)
    # Caller webhooks: the deliver function's counts, the queue's depth and age, its dead letters
    from infra.observability import WEBHOOK_COUNTS
    from service.handlers import deliver

    emitted = set(re.findall(r'"(Webhook\w+)"', Path(deliver.__file__).read_text()))
    assert emitted == set(WEBHOOK_COUNTS) == {m[1] for m in business if m[1].startswith("Webhook")}
    for name in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert ("AWS/SQS", name) in names


def test_alarms_cover_api_5xx_executions_and_every_function_and_notify_the_topic(synth: Synth) -> None:
    topic_id, _ = only(synth.of_type("AWS::SNS::Topic"))
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
    }
    prefix = synth.config.prefix
    expected = {
        f"{prefix}-api-5xx-rate",
        f"{prefix}-executions-failed",
        f"{prefix}-executions-timed-out",
        f"{prefix}-cleanup-dead-letters",
        f"{prefix}-replicate-webhook-signature-failures",
        f"{prefix}-deliveries-dead-letters",
        f"{prefix}-webhook-attempts-failed",
    }
    for spec in FUNCTIONS:
        slug = spec.name.replace("_", "-")
        expected.add(f"{prefix}-{slug}-throttles")
        if spec.kind != "authorizer":  # it reports rejected tokens as errors
            expected.add(f"{prefix}-{slug}-errors")
    assert set(alarms) == expected
    for name, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": topic_id}], name
        assert props["TreatMissingData"] == "notBreaching"
    api = alarms[f"{prefix}-api-5xx-rate"]
    expression = next(m for m in api["Metrics"] if "Expression" in m)
    assert "errors / requests" in expression["Expression"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in api["Metrics"] if "MetricStat" in m} == {
        "5XXError",
        "Count",
    }
    signatures = alarms[f"{prefix}-replicate-webhook-signature-failures"]
    refused = {
        m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
        for m in signatures["Metrics"]
        if "MetricStat" in m and m["MetricStat"]["Metric"]["MetricName"] == "ReplicateWebhooksRefused"
    }
    assert refused == {"signature", "secret"}
    assert signatures["Threshold"] == synth.config.alarm_webhook_signature_failures
    assert alarms[f"{prefix}-executions-failed"]["MetricName"] == "ExecutionsFailed"
    assert alarms[f"{prefix}-executions-timed-out"]["MetricName"] == "ExecutionsTimedOut"
    for spec in FUNCTIONS:
        if spec.kind != "api":
            continue
        # A handler that catches an exception and answers 500 raises no Lambda error: both count.
        alarm = alarms[f"{prefix}-{spec.name.replace('_', '-')}-errors"]
        stats = {
            (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"]): {
                d["Name"]: render(d["Value"]) for d in m["MetricStat"]["Metric"]["Dimensions"]
            }
            for m in alarm["Metrics"]
            if "MetricStat" in m
        }
        function_id, _ = function_resource(synth, spec)
        assert stats[("AWS/Lambda", "Errors")] == {"FunctionName": f"<{function_id}>"}
        assert stats[("VideoGen", "InternalErrors")] == {"function": spec.name, "service": "videogen"}
        (expression,) = (m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
        assert "+" in expression and alarm["Threshold"] == 1


def test_every_alarm_links_to_its_runbook_entry(synth: Synth) -> None:
    headings = set(re.findall(r"^### (\S+)", OPERATIONS, flags=re.MULTILINE))
    for alarm in synth.of_type("AWS::CloudWatch::Alarm").values():
        description = alarm["Properties"]["AlarmDescription"]
        anchor = re.search(r"docs/operations\.md#(\S+)$", description)
        assert anchor and anchor.group(1) in headings, f"no runbook heading for: {description}"


def test_alarm_topic_has_no_subscription_without_an_email(synth: Synth) -> None:
    assert synth.config.alarm_email is None
    assert not synth.of_type("AWS::SNS::Subscription")
    _, policy = only(synth.of_type("AWS::SNS::TopicPolicy"))
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_alarm_email_from_context_subscribes_to_the_topic(tmp_path: Path) -> None:
    # A second, smaller synthesis (no cdk-nag): only the subscription differs.
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra import SKIP_BUNDLING
    from infra.config import StackConfig, cdk_json_context
    from infra.stack import VideoGenStack

    app = App(
        context={**cdk_json_context(), **SKIP_BUNDLING, "alarm_email": "ops@example.com"},
        outdir=str(tmp_path),
    )
    stack = VideoGenStack(app, "WithEmail", config=StackConfig.from_node(app.node))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Subscription", 1)
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_outputs_give_operators_what_the_runbook_uses(synth: Synth) -> None:
    outputs = set(synth.template_json["Outputs"])
    assert {"ApiUrl", "TokensTableName", "ReplicateSecretName", "StateMachineArn", "AlarmTopicArn"} <= outputs
    assert {"DeliveriesDeadLetterQueueUrl", "IdempotencyTableName"} <= outputs


def test_every_execution_end_reaches_the_deliveries_queue_and_its_consumer(synth: Synth) -> None:
    from service.catalog import QUEUES, function, queue_visibility_s

    [spec] = QUEUES
    machine_id, _ = only(synth.of_type("AWS::StepFunctions::StateMachine"))
    queues = synth.of_type("AWS::SQS::Queue")
    queue_id, queue = only({k: v for k, v in queues.items() if k.startswith("DeliveriesDeliveriesQueue")})
    dead_id, dead = only({k: v for k, v in queues.items() if k.startswith("DeliveriesDeliveriesDeadLetters")})
    # EventBridge: every end of this state machine's executions, SUCCEEDED included, into the queue
    _, rule = only({k: v for k, v in synth.of_type("AWS::Events::Rule").items() if "DeliveriesRule" in k})
    assert rule["Properties"]["EventPattern"]["detail"] == {
        "stateMachineArn": [{"Ref": machine_id}],
        "status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"],
    }
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dead_id, "Arn"]}}
    # ... allowed by the queue's policy, for this rule only
    policies = [p["Properties"] for p in synth.of_type("AWS::SQS::QueuePolicy").values()]
    sends = [
        s
        for p in policies
        if {"Ref": queue_id} in p["Queues"]
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert len(sends) == 1 and "sqs:SendMessage" in sends[0]["Action"]  # CDK adds the attribute reads
    assert "aws:SourceArn" in sends[0]["Condition"]["ArnEquals"]
    # The queue: encrypted, TLS only, redriven to its dead-letter queue, visibility 6x the consumer's timeout
    props = queue["Properties"]
    assert props["SqsManagedSseEnabled"] is True and dead["Properties"]["SqsManagedSseEnabled"] is True
    assert props["VisibilityTimeout"] == queue_visibility_s(spec) == 6 * function("deliver").timeout_s
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_id, "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    # The deliver function reads it with partial batch responses
    deliver_id, _ = function_resource(synth, function("deliver"))
    _, mapping = only(synth.of_type("AWS::Lambda::EventSourceMapping"))
    mapping = mapping["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["FunctionName"] == {"Ref": deliver_id}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == spec.batch_size
    # The idempotency records expire with a TTL
    idempotency = synth.resources[table_id(synth, "idempotency")]["Properties"]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


# -- compliance -----------------------------------------------------------------------------------------
def test_cdk_nag_aws_solutions_finds_nothing_unsuppressed(synth: Synth) -> None:
    from aws_cdk.assertions import Annotations, Match

    annotations = Annotations.from_stack(synth.stack)
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert [(e.id, str(e.entry.data)[:160]) for e in errors] == []
    assert [(w.id, str(w.entry.data)[:160]) for w in warnings] == []


def test_every_suppression_says_why(synth: Synth) -> None:
    suppressions = [
        rule
        for resource in synth.resources.values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert suppressions
    for rule in suppressions:
        assert len(rule["reason"]) >= 40, rule


def test_cfn_lint_finds_no_errors(synth: Synth) -> None:
    from infra.validation import lint_template

    assert lint_template(synth.template_path) == []


def test_the_synthesis_check_reports_what_cfn_lint_finds(synth: Synth, tmp_path: Path) -> None:
    # make synth, make package and the CDK CLI's runs of app.py all fail on these (infra.validation)
    from infra.validation import lint_template

    broken = json.loads(synth.template_path.read_text())
    function_id, _ = function_resource(synth, FUNCTIONS[0])
    broken["Resources"][function_id]["Properties"]["Runtime"] = "python2.1"
    path = tmp_path / "broken.template.json"
    path.write_text(json.dumps(broken))
    assert any(function_id in finding and "python2.1" in finding for finding in lint_template(path))


# -- configuration ----------------------------------------------------------------------------------------
def test_context_from_the_cli_arrives_as_strings_and_is_coerced() -> None:
    from aws_cdk import App

    from infra.config import StackConfig

    app = App(
        context={
            "max_polls": "60",
            "poll_interval_seconds": "2",
            "alarm_email": "ops@example.com",
            "cors_allow_origins": "https://a.example,https://b.example",
        }
    )
    config = StackConfig.from_node(app.node)
    assert (config.max_polls, config.poll_interval_seconds) == (60, 2)
    assert config.alarm_email == "ops@example.com"
    assert config.cors_allow_origins == ("https://a.example", "https://b.example")
    assert StackConfig.from_node(App(context={"alarm_email": ""}).node).alarm_email is None


@pytest.mark.parametrize(
    "context",
    [
        {"stage": "Prod!"},
        {"max_polls": "many"},
        {"log_retention_days": 31},
        {"log_level": "verbose"},
        {"transition_model": "no-owner"},
        {"transition_model": "kwaivgi/kling-v1.6-standard"},  # the catalog: no end_image, dreams only
        {"dream_model": "nobody/text-to-video"},  # not in the model catalog
        {"authorizer_cache_seconds": 7200},
        {"owner_rate_limit": 50},
        {"owner_burst_limit": 101},
        {"owner_max_in_flight": 0},
        {"alarm_email": "not-an-address"},
        {"max_poll": 60},
        {"max-polls": 60},
        {"alarm_emial": "ops@example.com"},
    ],
)
def test_invalid_context_fails_synthesis_with_a_clear_message(context: dict[str, Any]) -> None:
    from aws_cdk import App

    from infra.config import ConfigError, StackConfig

    with pytest.raises(ConfigError, match=next(iter(context))):
        StackConfig.from_node(App(context=context).node)


def test_model_ids_are_checked_as_the_functions_check_them_at_cold_start() -> None:
    from infra.config import ConfigError, StackConfig
    from service.settings import SubmitSettings

    defaults = StackConfig()
    settings = SubmitSettings.from_environment(
        {
            "VIDEOGEN_TASKS_TABLE": "t",
            "VIDEOGEN_OWNERS_TABLE": "o",
            "VIDEOGEN_STATE_MACHINE_ARN": "a",
            "VIDEOGEN_IDEMPOTENCY_TABLE": "i",
        }
    )
    assert (defaults.transition_model, defaults.dream_model) == (
        settings.transition_model,
        settings.dream_model,
    )
    with pytest.raises(ConfigError) as refused:
        StackConfig(dream_model="kwaivgi/kling-v1.6-pro")
    assert "dream_model: kwaivgi/kling-v1.6-pro cannot be the dream model" in str(refused.value)


def test_the_cdk_clis_own_context_keys_are_accepted() -> None:
    # `cdk acknowledge 12345` writes this to cdk.context.json; every later synth must still work
    from aws_cdk import App

    from infra.config import StackConfig

    context = {
        "acknowledged-issue-numbers": [34892, 12345],
        "notices-cache-refresh": "daily",  # a kebab-case key a newer CLI may add
        "availability-zones:account=123456789012:region=eu-west-1": ["eu-west-1a"],
        "aws:cdk:enable-path-metadata": True,
        "@aws-cdk/core:checkSecretUsage": True,
        "max_polls": 7,
    }
    assert StackConfig.from_node(App(context=context).node).max_polls == 7


def test_cdk_json_holds_every_setting_and_the_issue_defaults() -> None:
    from infra.config import StackConfig, cdk_json_context

    context = cdk_json_context()
    assert set(StackConfig.__dataclass_fields__) <= set(context)
    assert context["transition_model"] == "kwaivgi/kling-v1.6-pro"
    assert context["dream_model"] == "kwaivgi/kling-v1.6-standard"
    assert (context["poll_interval_seconds"], context["max_polls"]) == (5, 120)
    assert "aws:cdk:bundling-stacks" not in context, "the CLI must bundle on deploy"
    for key in StackConfig.__dataclass_fields__:
        assert f"`{key}`" in OPERATIONS, f"docs/operations.md does not document {key}"
