"""The REST API: the catalog's routes, all behind the token authorizer, with logging, throttling,
CORS and gateway errors in the handlers' ``{"detail": ...}`` shape.

Throttling is two-level: the stage's rate and burst bound the whole API, and a usage plan gives
each owner its own rate and burst, keyed by the owner's API key, which the authorizer returns as
the usage identifier (the API's key source is AUTHORIZER; every method requires a key). Clients
never see or send the key: their token is all they have.
"""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StackConfig
from infra.functions import ServiceFunctions
from infra.web import allowed_origins
from service.catalog import AUTHORIZER, CORS, FUNCTIONS, GATEWAY_RESPONSES
from service.domain.auth import HEADER_PATTERN

#: One JSON object per request in the access log group.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "owner": "$context.authorizer.principalId",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerLatency": "$context.authorizer.latency",
    "authorizerError": "$context.authorizer.error",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}

_RESPONSE_TYPES = {
    "UNAUTHORIZED": apigw.ResponseType.UNAUTHORIZED,
    "ACCESS_DENIED": apigw.ResponseType.ACCESS_DENIED,
    "THROTTLED": apigw.ResponseType.THROTTLED,
    "MISSING_AUTHENTICATION_TOKEN": apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
    "DEFAULT_4XX": apigw.ResponseType.DEFAULT_4_XX,
    "DEFAULT_5XX": apigw.ResponseType.DEFAULT_5_XX,
}


def resource_path(route_path: str) -> str:
    """API Gateway resources cannot end in '/': ``/a/b/`` is the resource ``/a/b``. A request to
    ``/a/b/`` is routed to it and the Lambda event keeps the path as sent (``/a/b/``), which is
    what the handlers' routes match; the route paths therefore stay exactly the catalog's."""
    return route_path.rstrip("/") or "/"


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: ServiceFunctions,
        page_origin: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=config.log_retention)
        #: ``*``, or the operator's list with the dashboard page's origin first (infra/web.py).
        self.cors_origins = origins = allowed_origins(config.cors_allow_origins, page_origin)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=config.names.api,
            description="videogen: asynchronous video generation (transitions and dreams)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The usage plan's key comes from the authorizer (usageIdentifierKey), not from clients.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
            # Execution logging needs the account-level CloudWatch role (AWS::ApiGateway::Account).
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
                logging_level=apigw.MethodLoggingLevel(config.api_execution_log_level),
                data_trace_enabled=False,  # request bodies (image URLs, prompts) stay out of logs
                tracing_enabled=True,
                throttling_rate_limit=config.api_throttle_rate_limit,
                throttling_burst_limit=config.api_throttle_burst_limit,
                # Replicate's webhooks get a throttle of their own: logs webhooks (up to 2/s per
                # running prediction) must not use up the one clients share. A throttled webhook
                # costs latency only (Replicate retries a completed one; the workflow polls).
                method_options={
                    f"{resource_path(path)}/{method}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=config.replicate_webhook_rate_limit,
                        throttling_burst_limit=config.replicate_webhook_burst_limit,
                    )
                    for spec in FUNCTIONS
                    if not spec.authorized
                    for method, path in spec.routes
                },
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=origins,
                allow_methods=list(CORS.allow_methods),
                allow_headers=list(CORS.allow_headers),
                expose_headers=list(CORS.expose_headers),
                max_age=Duration.seconds(CORS.max_age_s),
            ),
        )

        self.authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=functions.functions[AUTHORIZER],
            identity_source=apigw.IdentitySource.header("Authorization"),
            # Headers that cannot hold a token are refused (401) without invoking the authorizer.
            validation_regex=HEADER_PATTERN,
            results_cache_ttl=Duration.seconds(config.authorizer_cache_seconds),
        )
        for spec in FUNCTIONS:
            if not spec.routes:
                continue
            integration = apigw.LambdaIntegration(functions.functions[spec.name], allow_test_invoke=False)
            for method, path in spec.routes:
                resource = self.rest_api.root.resource_for_path(resource_path(path))
                if not spec.authorized:
                    self._signed_route(resource.add_method(method, integration, api_key_required=False))
                    continue
                if spec.public:  # the OpenAPI document and its page: no token, no usage plan key
                    public = resource.add_method(
                        method, integration, authorization_type=apigw.AuthorizationType.NONE
                    )
                    NagSuppressions.add_resource_suppressions(
                        public,
                        [
                            NagPackSuppression(
                                id=rule,
                                reason="The API's public OpenAPI document and its page: they carry no "
                                "data, and clients read them before they have a token.",
                            )
                            for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4")
                        ],
                    )
                    continue
                resource.add_method(
                    method,
                    integration,
                    authorizer=self.authorizer,
                    authorization_type=apigw.AuthorizationType.CUSTOM,
                    api_key_required=True,
                )

        self.usage_plan = self.rest_api.add_usage_plan(
            "OwnersUsagePlan",
            name=f"{config.prefix}-owners",
            description="Each owner's rate and burst, keyed by the owner's API key "
            "(videogen tokens create|update adds it; the authorizer returns it)",
            throttle=apigw.ThrottleSettings(
                rate_limit=config.owner_rate_limit, burst_limit=config.owner_burst_limit
            ),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
        )

        # Errors the gateway answers itself (401, 429, ...) must be readable by the calling page too.
        # With a list, the caller's Origin is echoed: these bodies carry no data, and a browser
        # only gets this far from an allowed origin, as every route needs the (preflighted)
        # Authorization header.
        cors_origin = (
            {"Access-Control-Allow-Origin": f"'{origins[0]}'"}
            if len(origins) == 1
            else {"Access-Control-Allow-Origin": "method.request.header.Origin", "Vary": "'Origin'"}
        )
        for response_type, (status, template) in GATEWAY_RESPONSES.items():
            self.rest_api.add_gateway_response(
                f"{response_type.title().replace('_', '')}Response",
                type=_RESPONSE_TYPES[response_type],
                status_code=str(status) if status is not None else None,
                templates={"application/json": template},
                response_headers=cors_origin,
            )

        NagSuppressions.add_resource_suppressions(
            self.rest_api,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG2",
                    reason="Requests are validated by the handlers (powertools + pydantic), which "
                    "answer 422 in the FastAPI shape the spec's clients parse; a gateway model "
                    "would be a second, divergent schema.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-APIG3",
                    reason="No WAF: every route needs a token (authorizer, cached), the stage is "
                    "throttled, and the API serves no browser-rendered content; add a web ACL per "
                    "deployment if abuse shows up.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG4",
                    reason="The API's clients authenticate with 'Authorization: Token <token>' "
                    "(the spec); the Lambda TOKEN authorizer checks it, Cognito is not used.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="The account-level API Gateway CloudWatch role uses AWS's "
                    "AmazonAPIGatewayPushToCloudWatchLogs, the documented policy for execution logging.",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                    ],
                ),
            ],
            apply_to_children=True,
        )

    @staticmethod
    def _signed_route(method: apigw.Method) -> None:
        """A route without the authorizer: Replicate's webhooks, authorized by their signature."""
        NagSuppressions.add_resource_suppressions(
            method,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason="Replicate's webhooks carry no token: the handler verifies Replicate's "
                    "signature (HMAC-SHA256 with the account's signing secret, 5-minute tolerance) "
                    "before reading or writing anything; a forged or stale call is a 401 or 400.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG4",
                    reason="Replicate cannot present a Cognito token; its signature is the authorization.",
                ),
            ],
        )
